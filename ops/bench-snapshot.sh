#!/usr/bin/env bash
# The cost of a full snapshot of many small days, old and new binaries alternated:
#
#   ops/bench-snapshot.sh OLD_BINARY NEW_BINARY [RUNS] [INPUT]
#
# INPUT defaults to ../shared/data/real-comments/twitter_stocknet_2014.jsonl.gz (41,877 tweets
# over 365 days), with the real catalog, 2 workers, a fresh lake each run. Prints per run the
# wall time, the snapshot's parts seconds (workers writing their partitions, in parallel), its
# publish seconds, files and bytes (from --summary-json), then the medians and new/old.
# BENCHMARKS.md ("Snapshots of small days") has the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: ops/bench-snapshot.sh OLD_BINARY NEW_BINARY [RUNS] [INPUT]}
new=${2:?usage: ops/bench-snapshot.sh OLD_BINARY NEW_BINARY [RUNS] [INPUT]}
runs=${3:-5}
data=../shared/data
input=${4:-$data/real-comments/twitter_stocknet_2014.jsonl.gz}
catalog=$data/real-entities/entities.jsonl
for f in "$input" "$catalog"; do
  [ -e "$f" ] || { echo "ops/bench-snapshot.sh: SKIPPED: $f is absent" >&2; exit 0; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq "$runs"); do
  for tag in old new; do
    bin=$old
    [ "$tag" = new ] && bin=$new
    rm -rf "$work/lake"
    "$bin" run -i "$input" -e "$catalog" -w 2 --lake "$work/lake" -q \
      --summary-json "$work/$tag.json" >/dev/null 2>"$work/err" \
      || { echo "ops/bench-snapshot.sh: $bin failed: $(tail -2 "$work/err")" >&2; exit 1; }
    python3 - "$work/$tag.json" "$tag" >>"$work/rows" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = s["snapshot_stats"]
print(sys.argv[2], s["elapsed_seconds"], st["parts_seconds"], st["publish_seconds"], st["new_files"], st["new_bytes"])
PY
    tail -1 "$work/rows"
  done
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def med(tag, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == tag)
for name, i in (("wall s", 1), ("parts s", 2), ("publish s", 3)):
    o, n = med("old", i), med("new", i)
    print(f"median {name}: old {o:.3f}, new {n:.3f} ({n / o:.2f}x)")
PY
