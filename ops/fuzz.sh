#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with cargo-fuzz (libFuzzer, AddressSanitizer) on the
# nightly toolchain: comment and entity decode, the Kafka key/tombstone envelope, chatter.toml,
# a snapshot's manifest.json, and the report's --week/--from/--to parsers (fuzz/fuzz_targets).
#
#   ops/fuzz.sh                 each target for FUZZ_SECONDS (default 30) from its seed corpus
#   ops/fuzz.sh envelope 600    one target, for 10 minutes
#
# Seeds are fuzz/corpus/TARGET (committed); inputs found to add coverage go to a scratch
# directory, not the repo (copy good ones into fuzz/corpus by hand). A crash stops with the
# input's path under fuzz/artifacts/TARGET and the command that replays it; fix it and add the
# input as a regression test of the crate it broke. Run by ops/test.sh (= .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ops/lib/tools.sh
. ops/lib/tools.sh

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "ops/fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
  exit 2
fi
install_tool cargo-fuzz "$FUZZ_VERSION" cargo-fuzz

seconds=${2:-${FUZZ_SECONDS:-30}}
if [ $# -ge 1 ]; then
  targets=("$1")
else
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

# FUZZ_BUILD: "" (default) is optimised with debug assertions and overflow checks, the best for
# long runs; "--dev" builds in about half the time and runs slower (ops/test.sh uses it for its
# short runs).
build=${FUZZ_BUILD:-}
echo "== building the fuzz targets (nightly, AddressSanitizer${build:+, $build})"
# shellcheck disable=SC2086
cargo +nightly fuzz build --fuzz-dir fuzz $build

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  [ -d "fuzz/corpus/$target" ] || { echo "ops/fuzz.sh: no seed corpus fuzz/corpus/$target" >&2; exit 2; }
  mkdir -p "$scratch/$target"
  echo "== fuzzing $target for ${seconds}s ($(find "fuzz/corpus/$target" -type f | wc -l) seeds)"
  # shellcheck disable=SC2086
  if ! cargo +nightly fuzz run --fuzz-dir fuzz $build "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      2>"$scratch/$target.log"; then
    tail -40 "$scratch/$target.log" >&2
    echo "ops/fuzz.sh: $target crashed: the input is under fuzz/artifacts/$target/; replay it with" \
      "cargo +nightly fuzz run --fuzz-dir fuzz $build $target fuzz/artifacts/$target/<file>" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$scratch/$target.log" | tr '\n' ' '
  echo
done
echo "ops/fuzz.sh: ok (${#targets[@]} targets, ${seconds}s each)"
