#!/usr/bin/env bash
# HTTP benchmarks (BENCHMARKS.md, "The live face"): API latency at 200 concurrent clients on
# loopback for each route (wrk), the dashboard's first load to interactive in headless
# chromium, and the pipeline's throughput with the server under load versus without.
#
#   ops/bench-http.sh [BINARY] [COMMENTS] [RUNS]
#
# BINARY defaults to target/release/chatter, COMMENTS (of the throughput job) to 1000000,
# RUNS (alternated with and without load) to 3. Needs wrk and chromium (Debian packages) and
# web/node_modules (cd web && npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/chatter}")"
comments="${2:-1000000}"
runs="${3:-3}"
command -v wrk >/dev/null || { echo "bench-http.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
printf '[http]\nrate_limit = 0.0\n' > chatter.toml

echo "== API latency: a finished run of 100,000 generated comments, served with its lake"
"$bin" gen --comments 100000 --out api >/dev/null
"$bin" run -q -c chatter.toml -i api/comments.jsonl -e api/entities.jsonl --lake api/lake --alerts-out /dev/null \
  --http 127.0.0.1:18901 --keep-serving 2> api/stderr &
for _ in $(seq 1 600); do grep -q "still serving" api/stderr 2>/dev/null && break; sleep 0.2; done
base=http://127.0.0.1:18901
alert=$(curl -s "$base/api/v1/alerts?limit=1" | python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["alerts"][0]["alert_id"], safe=""))')
entity=$(curl -s "$base/api/v1/entities/top?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entities"][0]["entity_id"])')
printf '| route | requests/s | p50 ms | p99 ms | max ms | non-2xx |\n|---|---|---|---|---|---|\n' > api.md
for route in /healthz /metrics /api/v1/status /api/v1/entities/top "/api/v1/entities/$entity" \
  "/api/v1/entities/$entity/windows" /api/v1/alerts "/api/v1/alerts/$alert" /api/v1/snapshots /; do
  wrk -t 2 -c 200 -d 10s --latency "$base$route" > wrk.txt  # (first: a cold cache)
  p50=$(awk '$1=="50%"{print $2}' wrk.txt); p99=$(awk '$1=="99%"{print $2}' wrk.txt)
  max=$(awk '$1=="Latency"{print $4}' wrk.txt); rps=$(awk '$1=="Requests/sec:"{print $2}' wrk.txt)
  bad=$(awk '/Non-2xx/{print $NF}' wrk.txt); bad=${bad:-0}
  ms() { python3 -c "import sys; v=sys.argv[1]; u=''.join(c for c in v if c.isalpha()); n=float(v[:len(v)-len(u)]); print(round(n*{'us':0.001,'ms':1,'s':1000}[u],2))" "$1"; }
  shown=$(echo "$route" | sed "s#$entity#{id}#; s#$alert#{alert_id}#")
  echo "| \`$shown\` | $rps | $(ms "$p50") | $(ms "$p99") | $(ms "$max") | $bad |" >> api.md
done
cat api.md

echo "== dashboard first load to interactive (headless chromium, 5 loads)"
node "$OLDPWD/ops/bench-dashboard.mjs" "$base" 5

kill %1 2>/dev/null || true
wait 2>/dev/null || true

echo "== pipeline throughput, $comments comments, 2 workers, --no-lake: alone vs with the API under load"
"$bin" gen --comments "$comments" --out job >/dev/null
job() {
  local load=$1 port=18902
  "$bin" run -q -c chatter.toml -i job/comments.jsonl -e job/entities.jsonl -w 2 --no-lake \
    --alerts-out /dev/null --dead-letters-out /dev/null --http 127.0.0.1:$port \
    --summary-json summary.json 2> job.stderr &
  local pid=$!
  for _ in $(seq 1 100); do grep -q "serving http" job.stderr 2>/dev/null && break; sleep 0.05; done
  local base="http://127.0.0.1:$port"
  if [ "$load" = flood ]; then
    # 200 clients as fast as they go (wrk shares the 2 cores with the pipeline).
    # The clients run at nice 19, standing in for other machines.
    (nice -n 19 wrk -t 1 -c 180 -d 600s "$base/api/v1/status" > /dev/null 2>&1 &
     nice -n 19 wrk -t 1 -c 20 -d 600s "$base/api/v1/entities/top" > /dev/null 2>&1 &
     wait) &
  elif [ "$load" = dashboards ]; then
    # 20 dashboards: each polls status every 2 s, top entities and one entity every 5 s,
    # and holds the alert stream open.
    nice -n 19 python3 "$OLDPWD/ops/bench-dashboards.py" "$base" 20 &
  fi
  wait $pid
  pkill -f "wrk -t 1 -c" 2>/dev/null || true
  pkill -f "bench-dashboards.py" 2>/dev/null || true
  python3 -c 'import json; s=json.load(open("summary.json")); print(round(s["lines"]/s["elapsed_seconds"]))'
}
alone=(); dashboards=(); flood=()
for i in $(seq 1 "$runs"); do
  alone+=("$(job alone)"); dashboards+=("$(job dashboards)"); flood+=("$(job flood)")
  echo "run $i: alone ${alone[-1]}/s, 20 dashboards ${dashboards[-1]}/s, 200-client flood ${flood[-1]}/s"
done
python3 - "${alone[*]}" "${dashboards[*]}" "${flood[*]}" <<'EOF'
import statistics, sys
a, d, f = ([float(x) for x in arg.split()] for arg in sys.argv[1:4])
ma, md, mf = statistics.median(a), statistics.median(d), statistics.median(f)
print(f"median alone {ma:,.0f}/s; 20 dashboards {md:,.0f}/s ({md / ma:.3f}); 200-client flood {mf:,.0f}/s ({mf / ma:.3f})")
EOF
