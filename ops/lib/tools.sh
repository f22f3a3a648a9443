# Sourced by ops/*.sh: builds cargo tools from crates.io once, at pinned versions, into
# $CHATTER_CACHE/tools (default ~/.cache/chatter/tools); later runs reuse them.
cache="${CHATTER_CACHE:-$HOME/.cache/chatter}"
tools="$cache/tools"
export PATH="$tools/bin:$PATH"

# install_tool CRATE VERSION BINARY: builds CRATE@VERSION unless BINARY --version already says
# VERSION. The tools are built at opt-level 1 with many codegen units: they run for seconds to
# minutes, and this halves the time a clean machine spends building them. They share one
# target directory, kept in the cache, so the dependencies they have in common (same version,
# same features) are built once.
# The pinned versions (ops/audit.sh, ops/fuzz.sh, ops/test.sh use these).
AUDIT_VERSION=0.22.2
DENY_VERSION=0.20.2
FUZZ_VERSION=0.13.2
TARPAULIN_VERSION=0.37.5

install_tool() {
  local crate=$1 version=$2 binary=$3
  if "$tools/bin/$binary" --version 2>/dev/null | grep -q " $version\$"; then
    return
  fi
  echo "== installing $crate $version into $tools (once; later runs reuse it)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --quiet --root "$tools" --target-dir "$cache/tools-build" \
    "$crate@$version"
}

# Every tool .ci/run uses, one after the other in the shared target directory, which is then
# removed (the binaries stay in $tools).
install_all_tools() {
  install_tool cargo-audit "$AUDIT_VERSION" cargo-audit
  install_tool cargo-deny "$DENY_VERSION" cargo-deny
  install_tool cargo-tarpaulin "$TARPAULIN_VERSION" cargo-tarpaulin
  install_tool cargo-fuzz "$FUZZ_VERSION" cargo-fuzz
  rm -rf "$cache/tools-build"
}
