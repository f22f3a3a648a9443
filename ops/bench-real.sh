#!/usr/bin/env bash
# Old vs new binary on the real job, alternated (this machine is shared and noisy: compare
# medians of runs taken side by side). All five r/wallstreetbets files of ../shared/data, the
# real catalog, 2 workers, no lake. Prints each run's wall time, CPU time, comments/s and peak
# RSS, then the medians and the ratio new/old, and checks that both binaries emitted the same
# alert events (emitted_at, the wall clock, aside; with different epoch sizes as_of, the
# watermark at decision, aside too).
#
#   ops/bench-real.sh OLD_BINARY NEW_BINARY [RUNS]      (default 3 runs each)
#   CHATTER_BENCH_ARGS="--no-lake -w 1" ops/bench-real.sh …   other run options (both)
#   CHATTER_BENCH_OLD_ARGS="--batch-size 5000" …              options for the old one only
#   CHATTER_BENCH_NEW_ARGS=… (the same for the new one); scaling, one binary:
#   CHATTER_BENCH_ARGS=--no-lake CHATTER_BENCH_OLD_ARGS="-w 1" CHATTER_BENCH_NEW_ARGS="-w 2" \
#     ops/bench-real.sh target/release/chatter target/release/chatter
set -euo pipefail
usage="usage: ops/bench-real.sh OLD_BINARY NEW_BINARY [RUNS]"
old="${1:?$usage}"
new="${2:?$usage}"
runs="${3:-3}"
for bin in "$old" "$new"; do
  [ -x "$bin" ] || { echo "ops/bench-real.sh: $bin is not an executable chatter binary" >&2; exit 2; }
done
data="$(cd "$(dirname "$0")/.." && pwd)/../shared/data"
[ -d "$data/real-comments" ] || { echo "ops/bench-real.sh: $data is absent: nothing to measure" >&2; exit 2; }
inputs=()
for f in "$data"/real-comments/reddit_*.jsonl.gz; do inputs+=(-i "$f"); done
read -r -a args <<<"${CHATTER_BENCH_ARGS:---no-lake -w 2}"
read -r -a old_args <<<"${CHATTER_BENCH_OLD_ARGS:-}"
read -r -a new_args <<<"${CHATTER_BENCH_NEW_ARGS:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "real job: ${#inputs[@]} inputs ($(( ${#inputs[@]} / 2 )) files), options: ${args[*]}; $runs runs each, alternated"
for run in $(seq 1 "$runs"); do
  for which in old new; do
    bin=$old; extra=("${old_args[@]}")
    if [ "$which" = new ]; then bin=$new; extra=("${new_args[@]}"); fi
    start=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$tmp/$which-$run.cpu" \
      "$bin" run -q "${args[@]}" "${extra[@]}" "${inputs[@]}" -e "$data/real-entities/entities.jsonl" \
      --alerts-out "$tmp/alerts-$which-$run.jsonl" --dead-letters-out /dev/null \
      --summary-json "$tmp/$which-$run.json" >/dev/null 2>"$tmp/$which-$run.err" \
      || { cat "$tmp/$which-$run.err" >&2; exit 1; }
    python3 - "$tmp" "$which" "$run" "$(date +%s.%N)" "$start" <<'PY'
import json, sys
tmp, which, run, end, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
s = json.load(open(f"{tmp}/{which}-{run}.json"))
user, system = map(float, open(f"{tmp}/{which}-{run}.cpu").read().split()[-2:])
json.dump({"wall": end - start, "cpu": user + system}, open(f"{tmp}/{which}-{run}.proc", "w"))
print(f"{which} run {run}: {end - start:5.2f} s wall, {user + system:5.2f} s CPU, "
      f"{s['lines'] / s['elapsed_seconds']:9,.0f} comments/s, peak RSS {s['peak_rss_bytes'] / 2**20:4,.0f} MiB, "
      f"{s['alerts_fired']} fired")
PY
  done
done
python3 - "$tmp" "$runs" <<'PY'
import json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
def events(path, skip):
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k not in skip}, sort_keys=True)
                  for line in open(path))
med = {}
for which in ("old", "new"):
    s = [json.load(open(f"{tmp}/{which}-{r}.json")) for r in range(1, runs + 1)]
    p = [json.load(open(f"{tmp}/{which}-{r}.proc")) for r in range(1, runs + 1)]
    med[which] = {
        "rate": statistics.median(x["lines"] / x["elapsed_seconds"] for x in s),
        "wall": statistics.median(x["wall"] for x in p),
        "cpu": statistics.median(x["cpu"] for x in p),
        "rss": statistics.median(x["peak_rss_bytes"] for x in s) / 2**20,
    }
    m = med[which]
    print(f"{which}: median {m['rate']:,.0f} comments/s, {m['wall']:.2f} s wall, {m['cpu']:.2f} s CPU, peak RSS {m['rss']:,.0f} MiB")
print(f"new / old: throughput {med['new']['rate'] / med['old']['rate']:.2f}x, "
      f"wall {med['old']['wall'] / med['new']['wall']:.2f}x faster, CPU {med['old']['cpu'] / med['new']['cpu']:.2f}x less, "
      f"peak RSS {med['new']['rss'] / med['old']['rss']:.2f} of old")
old, new = events(f"{tmp}/alerts-old-1.jsonl", {"emitted_at"}), events(f"{tmp}/alerts-new-1.jsonl", {"emitted_at"})
if old == new:
    print(f"alert events: identical ({len(new)})")
elif events(f"{tmp}/alerts-old-1.jsonl", {"emitted_at", "as_of"}) == events(f"{tmp}/alerts-new-1.jsonl", {"emitted_at", "as_of"}):
    print(f"alert events: identical but for as_of, the watermark at decision ({len(new)}; the epoch sizes differ)")
else:
    print("alert events: DIFFERENT", file=sys.stderr)
    sys.exit(1)
PY
