#!/usr/bin/env bash
# Secret scan, a CI gate: Yelp's detect-secrets (PyPI) over every file git knows of (tracked,
# plus new files that .gitignore does not ignore), less what is not ours or not text:
# web/node_modules/, target/, Cargo.lock, web/package-lock.json, fonts, PNGs and Parquet
# fixtures. Any finding that the committed baseline .secrets.baseline does not record fails:
# exit 1, one `file:line: kind of secret` line per finding. Exit 2 when detect-secrets is
# missing or the checkout is not a git work tree.
#
#   ops/scan-secrets.sh            check (CI)
#   ops/scan-secrets.sh --update   rescan and rewrite .secrets.baseline, keeping the audit marks
#                                  of findings it already has: review `git diff` before committing
#
# A finding that is a test dummy, not a secret: end its line with `// pragma: allowlist secret`
# (`# pragma: allowlist secret` in shell, TOML, YAML and Python), or record it in the baseline
# with --update and say in the commit why it is fake. Nothing is verified over the network
# (--no-verify): a key that is found is never sent anywhere.
#
# The tool: $DETECT_SECRETS, else detect-secrets on PATH, else
# $CHATTER_CACHE/venv/bin/detect-secrets (the venv ops/test.sh makes from
# ops/python-requirements.txt; CHATTER_CACHE defaults to ~/.cache/chatter). detect-secrets-hook
# is taken from beside it. Written with detect-secrets 1.5.0.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=.secrets.baseline
cache=${CHATTER_CACHE:-$HOME/.cache/chatter}
# Paths never scanned. The same regex is recorded in the baseline's filters, so that a
# `detect-secrets scan --baseline .secrets.baseline` run by hand skips them too.
# fuzz/corpus/manifest_parse holds manifests whose sha256 checksums look like hex secrets.
exclude='^(web/node_modules/|target/|fuzz/corpus/manifest_parse/)|^((fuzz/)?Cargo\.lock|web/package-lock\.json|\.secrets\.baseline)$|\.(ttf|otf|png|parquet)$'

mode=check
case "${1:-}" in
  "") ;;
  --update) mode=update ;;
  *)
    echo "usage: ops/scan-secrets.sh [--update]" >&2
    exit 2
    ;;
esac

pin=$(sed -n 's/^detect-secrets==//p' ops/python-requirements.txt 2>/dev/null | head -n 1)
pin=${pin:-1.5.0}
if [[ -n ${DETECT_SECRETS:-} ]]; then
  ds=$(command -v -- "$DETECT_SECRETS" 2>/dev/null || true)
elif command -v detect-secrets >/dev/null 2>&1; then
  ds=$(command -v detect-secrets)
else
  ds=$cache/venv/bin/detect-secrets
fi
hook=
if [[ -n $ds && -x $ds ]]; then
  hook=$(dirname -- "$ds")/detect-secrets-hook
  [[ -x $hook ]] || hook=$(command -v detect-secrets-hook 2>/dev/null || true)
fi
if [[ -z $hook ]]; then
  echo "ops/scan-secrets.sh: detect-secrets is missing: python3 -m venv \"$cache/venv\" && \"$cache/venv/bin/pip\" install detect-secrets==$pin (or set DETECT_SECRETS to its path)" >&2
  exit 2
fi
version=$("$ds" --version 2>/dev/null || echo unknown)
if [[ $version != "$pin" ]]; then
  echo "ops/scan-secrets.sh: warning: detect-secrets $version, but ops/python-requirements.txt pins $pin: findings may differ" >&2
fi

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "ops/scan-secrets.sh: not a git work tree: the scan covers the files git knows of" >&2
  exit 2
fi
files=()
while IFS= read -r -d '' file; do
  # Deleted in the work tree but still in the index, or a symlink (its target is scanned).
  [[ -f $file && ! -L $file ]] || continue
  [[ $file =~ $exclude ]] && continue
  files+=("$file")
done < <(git ls-files -z --cached --others --exclude-standard | sort -zu)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "ops/scan-secrets.sh: git lists no file to scan" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ $mode == update ]]; then
  if [[ -f $baseline ]]; then
    "$ds" scan --no-verify --baseline "$baseline" -- "${files[@]}"
  else
    "$ds" scan --no-verify --exclude-files "$exclude" -- "${files[@]}" >"$tmp/new"
    mv "$tmp/new" "$baseline"
  fi
  count=$(grep -c '"hashed_secret"' "$baseline" || true)
  echo "ops/scan-secrets.sh: $baseline now records $count finding(s) in ${#files[@]} files: review them (git diff $baseline) before committing it"
  exit 0
fi

if [[ ! -f $baseline ]]; then
  echo "ops/scan-secrets.sh: no $baseline: create it with ops/scan-secrets.sh --update, review it and commit it" >&2
  exit 2
fi
# With no new finding, the hook rewrites the baseline it is given when recorded findings moved
# or went away (exit 3): give it a copy, so that a check never changes the committed file.
cp "$baseline" "$tmp/baseline"
status=0
"$hook" --no-verify --baseline "$tmp/baseline" -- "${files[@]}" >"$tmp/out" 2>&1 || status=$?
case $status in
  0) ;;
  3)
    echo "ops/scan-secrets.sh: note: $baseline is out of date (recorded findings moved to other lines or are gone): refresh it with ops/scan-secrets.sh --update" >&2
    ;;
  1)
    found=$(awk '
      /^Secret Type:/ { sub(/^Secret Type:[ \t]*/, ""); kind = $0 }
      /^Location:/ { sub(/^Location:[ \t]*/, ""); print "  " $0 ": " kind }
    ' "$tmp/out")
    if [[ -z $found ]]; then
      cat "$tmp/out" >&2
    fi
    {
      echo "ops/scan-secrets.sh: FAILED: possible secrets that $baseline does not record:"
      [[ -z $found ]] || echo "$found"
      echo "A real secret: remove it, rotate it, and keep it out of git (a file or an environment variable)."
      echo "A test dummy: end its line with '// pragma: allowlist secret' (or '# pragma: allowlist secret'), or record it with ops/scan-secrets.sh --update."
    } >&2
    exit 1
    ;;
  *)
    cat "$tmp/out" >&2
    echo "ops/scan-secrets.sh: detect-secrets-hook failed (exit $status)" >&2
    exit "$status"
    ;;
esac
echo "ops/scan-secrets.sh: scanned ${#files[@]} files; $(grep -c '"hashed_secret"' "$baseline" || true) finding(s) recorded in $baseline, none new"
echo "ops/scan-secrets.sh: ok"
