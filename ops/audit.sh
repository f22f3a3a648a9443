#!/usr/bin/env bash
# Dependency gates, run by ops/test.sh (= .ci/run) and usable alone:
#   advisories  cargo-audit against the offline RustSec database (no fetch): any advisory not
#               ignored, with its reason, in .cargo/audit.toml fails
#   licences, bans, sources
#               cargo-deny with deny.toml
# The tools are built from crates.io once, at pinned versions, into $CHATTER_CACHE/tools
# (default ~/.cache/chatter/tools); later runs reuse them. The database is
# $CHATTER_ADVISORY_DB (default ../shared/advisory-db, beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

AUDIT_VERSION=0.22.2
DENY_VERSION=0.20.2
cache="${CHATTER_CACHE:-$HOME/.cache/chatter}"
tools="$cache/tools"
db="${CHATTER_ADVISORY_DB:-../shared/advisory-db}"
export PATH="$tools/bin:$PATH"

# Builds `crate` at `version` into $tools unless that version is there already. The tools are
# built at opt-level 1 with many codegen units: they run for seconds, and this halves the
# minutes a clean machine spends building them.
install() {
  local crate=$1 version=$2 binary=$3
  if "$tools/bin/$binary" --version 2>/dev/null | grep -q " $version\$"; then
    return
  fi
  echo "== installing $crate $version into $tools (once; later runs reuse it)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --quiet --root "$tools" --target-dir "$cache/tools-build" \
    "$crate@$version"
  rm -rf "$cache/tools-build"
}

if [ ! -d "$db/crates" ]; then
  echo "ops/audit.sh: no RustSec advisory database at $db: put one there (git clone https://github.com/rustsec/advisory-db) or set CHATTER_ADVISORY_DB" >&2
  exit 2
fi
install cargo-audit "$AUDIT_VERSION" cargo-audit
install cargo-deny "$DENY_VERSION" cargo-deny

echo "== cargo audit (RustSec database $(cut -c1-12 "$db/SOURCE-COMMIT.txt" 2>/dev/null || echo "at $db"), offline)"
cargo audit --db "$db" --no-fetch --stale --file Cargo.lock

echo "== cargo deny check licenses bans sources"
# Errors only: duplicate versions are warnings (deny.toml says why); `cargo deny check bans`
# lists them.
cargo deny --locked --log-level error check licenses bans sources
