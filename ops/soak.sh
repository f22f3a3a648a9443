#!/usr/bin/env bash
# Soak test: chatter on a real broker at a steady load for a long time, with a retention short
# enough that its state is replaced many times over; records RSS, live state and lag.
#
#   ops/soak.sh [MINUTES] [RATE] [OUT] [PER_MINUTE]
#       default 30 minutes at 2000 comments/s, into target/soak (soak.csv and soak.svg),
#       200 comments per minute of event time
#
# The producer (`chatter gen --rate`) writes RATE comments/s with one minute of event time per
# PER_MINUTE comments: at the defaults event time runs 10 minutes a second. With
# `windows.retention = "2h"` the live state turns over every 12 s of wall time, and a UTC day
# of event time (the lake's partition) every 144 s: 12 days in a 30-minute soak. The day
# matters as much as the retention: the lake rewrites the open day's partition at each
# snapshot, so the comments evicted from live state stay in memory until their day closes
# (BENCHMARKS.md, "Soak"); a soak shorter than a few event-days measures that day's growth,
# not a leak. Every 10 s the script samples the process's RSS, /api/v1/status (live comments,
# window rows, lag) and writes a row of soak.csv; at the end it draws soak.svg and prints the
# verdict:
#   RSS growth after a 5-minute warm-up (the second half against the first, both the medians
#   and the peaks) under 5%, and the lag bounded (its maximum after warm-up under 10 s of
#   input).
# Not part of .ci/run (it takes MINUTES); BENCHMARKS.md ("Soak") has the command and the result.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-30}
rate=${2:-2000}
out=${3:-target/soak}
per_minute=${4:-200}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# shellcheck source=ops/lib/drill.sh
. ops/lib/drill.sh

comments=$(( minutes * 60 * rate ))
brokers=$(bash ops/broker.sh start "$work/broker" "$kport")
cat >"$work/chatter.toml" <<EOF
[windows]
retention = "2h"
[kafka]
brokers = "$brokers"
topics = ["comments"]
EOF
echo "soak: broker at $brokers; $comments comments at $rate/s for $minutes min, $per_minute per minute of event time; retention 2h of event time"
"$bin" gen --comments "$comments" --rate "$rate" --partitions 2 --comments-per-minute "$per_minute" \
  --to "kafka://$brokers/comments" 2>"$work/gen.log" &
producer=$!
pids+=($producer)
sleep 2
"$bin" run --config "$work/chatter.toml" --kafka "$brokers" --lake "$work/lake" \
  --http "127.0.0.1:$hport" -q --alerts-out "$work/alerts.jsonl" \
  --dead-letters-out "$work/dead.jsonl" 2>"$work/run.log" &
chatter=$!
pids+=($chatter)

started=$(date +%s)
echo "seconds,rss_mb,live_comments,window_rows,lag_records,records" >"$out/soak.csv"
while kill -0 "$producer" 2>/dev/null; do
  sleep 10
  kill -0 "$chatter" 2>/dev/null || { echo "soak: chatter exited: $(tail -3 "$work/run.log")" >&2; exit 1; }
  rss=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$chatter/status")
  row=$(curl -fsS "http://127.0.0.1:$hport/api/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
state = s.get("state") or {}
records = sum(x.get("records", 0) for x in s.get("sources", []))
print(",".join(str(v) for v in (state.get("live_comments"), state.get("window_rows"), s.get("lag_records"), records)))' || echo ",,,")
  echo "$(( $(date +%s) - started )),$rss,$row" >>"$out/soak.csv"
done
kill -TERM "$chatter"
wait "$chatter" || { echo "soak: chatter did not stop cleanly" >&2; exit 1; }

python3 - "$out/soak.csv" "$out/soak.svg" "$rate" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["rss_mb"] and r["live_comments"] not in ("", "None")]
rate = float(sys.argv[3])
t = [int(r["seconds"]) for r in rows]
series = {
    "RSS (MB)": [float(r["rss_mb"]) for r in rows],
    "live comments (thousands)": [int(r["live_comments"]) / 1000 for r in rows],
    "lag (thousands of records)": [int(r["lag_records"] or 0) / 1000 for r in rows],
}
def window(lo, hi, values):
    return [v for s, v in zip(t, values) if lo <= s < hi] or values
end = t[-1]
# After a 5-minute warm-up, the first half against the second: medians and peaks. State that
# cycles (the retention, the lake's open day) gives a sawtooth; only a leak moves both.
warm = window(300, (300 + end) / 2, series["RSS (MB)"])
last = window((300 + end) / 2, end + 1, series["RSS (MB)"])
growth = 100 * (statistics.median(last) / statistics.median(warm) - 1)
peak_growth = 100 * (max(last) / max(warm) - 1)
lag_after = window(300, end + 1, series["lag (thousands of records)"])
max_lag_s = max(lag_after) * 1000 / rate
# A plot of the three series over time: one panel each, hand-drawn SVG (no plotting library).
width, height, pad = 720, 170, 40
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height * 3}" font-family="sans-serif" font-size="12">']
for i, (name, values) in enumerate(series.items()):
    top = i * height
    hi = max(values) * 1.1 or 1
    pts = " ".join(f"{pad + (s / max(end, 1)) * (width - 2 * pad):.1f},{top + height - pad / 2 - (v / hi) * (height - pad * 1.5):.1f}" for s, v in zip(t, values))
    svg.append(f'<text x="{pad}" y="{top + 16}">{name}: max {max(values):.1f}, last {values[-1]:.1f}</text>')
    svg.append(f'<line x1="{pad}" y1="{top + height - pad / 2}" x2="{width - pad}" y2="{top + height - pad / 2}" stroke="#999"/>')
    svg.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{pts}"/>')
svg.append(f'<text x="{pad}" y="{height * 3 - 4}">minutes 0 to {end / 60:.0f}</text></svg>')
open(sys.argv[2], "w").write("\n".join(svg))
verdict = "ok" if growth < 5 and peak_growth < 5 and max_lag_s < 10 else "MISSED"
half = (300 + end) / 120
print(f"soak: {verdict}: RSS median {statistics.median(warm):.0f} MB and peak {max(warm):.0f} MB in minutes 5-{half:.0f}, {statistics.median(last):.0f} MB and {max(last):.0f} MB after ({growth:+.1f}%, peak {peak_growth:+.1f}%); live comments {series['live comments (thousands)'][-1]:.0f}k at the end; max lag after warm-up {max_lag_s:.1f} s of input")
sys.exit(0 if verdict == "ok" else 1)
EOF
echo "soak: $out/soak.csv and $out/soak.svg"
