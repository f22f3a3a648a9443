#!/usr/bin/env bash
# Old vs new binary on the brief's real job, alternated (this machine is shared and noisy:
# compare medians of runs taken side by side). All five r/wallstreetbets files, the real
# catalog, 2 workers, no lake; prints comments/s and peak RSS per run, then the medians.
#
#   ops/bench-ab.sh OLD_BINARY NEW_BINARY [RUNS]      (default 3 runs each)
#   CHATTER_AB_ARGS="--no-lake -w 1" ops/bench-ab.sh …   other run options
set -euo pipefail
old="${1:?usage: ops/bench-ab.sh OLD_BINARY NEW_BINARY [RUNS]}"
new="${2:?usage: ops/bench-ab.sh OLD_BINARY NEW_BINARY [RUNS]}"
runs="${3:-3}"
data="$(cd "$(dirname "$0")/.." && pwd)/../shared/data"
[ -d "$data/real-comments" ] || { echo "ops/bench-ab.sh: $data is absent: nothing to measure" >&2; exit 2; }
inputs=()
for f in "$data"/real-comments/reddit_*.jsonl.gz; do inputs+=(-i "$f"); done
args=(${CHATTER_AB_ARGS:---no-lake -w 2})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for run in $(seq 1 "$runs"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    "$bin" run -q "${args[@]}" "${inputs[@]}" -e "$data/real-entities/entities.jsonl" \
      --alerts-out "$tmp/alerts-$which-$run.jsonl" --dead-letters-out /dev/null \
      --summary-json "$tmp/$which-$run.json" >/dev/null 2>"$tmp/$which-$run.err" \
      || { cat "$tmp/$which-$run.err" >&2; exit 1; }
    python3 - "$tmp/$which-$run.json" "$which" "$run" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} run {sys.argv[3]}: {s['lines'] / s['elapsed_seconds']:,.0f} comments/s, peak RSS {s['peak_rss_bytes'] / 2**20:,.0f} MiB, {s['alerts_fired']} fired")
PY
  done
done
python3 - "$tmp" "$runs" <<'PY'
import json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
med = {}
for which in ("old", "new"):
    rates = [json.load(open(f"{tmp}/{which}-{r}.json")) for r in range(1, runs + 1)]
    med[which] = statistics.median(s["lines"] / s["elapsed_seconds"] for s in rates)
    print(f"{which}: median {med[which]:,.0f} comments/s")
print(f"new / old = {med['new'] / med['old']:.3f}")
PY
