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

# shellcheck source=ops/lib/tools.sh
. ops/lib/tools.sh
db="${CHATTER_ADVISORY_DB:-../shared/advisory-db}"

if [ ! -d "$db/crates" ]; then
  echo "ops/audit.sh: no RustSec advisory database at $db: put one there (git clone https://github.com/rustsec/advisory-db) or set CHATTER_ADVISORY_DB" >&2
  exit 2
fi
install_tool cargo-audit "$AUDIT_VERSION" cargo-audit
install_tool cargo-deny "$DENY_VERSION" cargo-deny

echo "== cargo audit (RustSec database $(cut -c1-12 "$db/SOURCE-COMMIT.txt" 2>/dev/null || echo "at $db"), offline)"
cargo audit --db "$db" --no-fetch --stale --file Cargo.lock

echo "== cargo deny check licenses bans sources"
# Errors only: duplicate versions are warnings (deny.toml says why); `cargo deny check bans`
# lists them.
cargo deny --locked --log-level error check licenses bans sources
