#!/usr/bin/env bash
# Fault drill: the Kafka broker goes down for a minute in the middle of a stream.
#
#   ops/fault-drill.sh [DOWN_SECONDS] [COMMENTS] [RATE]     default 60 s, 90000 at 1000/s
#
# A real broker (tansu with sqlite storage, so its data survives the restart) receives a
# steady stream from a producer (`chatter gen --rate`) while chatter reads it with a lake and
# serves /readyz. After 15 s the broker is stopped for DOWN_SECONDS, then started again. The
# drill checks that chatter neither exits nor reports ready while the broker is away
# (/readyz 503), that it is ready again after, and, once the producer is done and chatter has
# read everything, that its lake equals a from-scratch bounded run over the same topic: no
# record lost, none duplicated. Prints a line per step and a closing `fault-drill:` line;
# exits 1 on any failed check. Uses target/release/chatter (CHATTER_BIN to change).
set -euo pipefail
cd "$(dirname "$0")/.."

down=${1:-60}
comments=${2:-90000}
rate=${3:-1000}
# shellcheck source=ops/lib/drill.sh
. ops/lib/drill.sh
fail() { echo "fault-drill: FAILED: $*" >&2; exit 1; }

brokers=$(bash ops/broker.sh start "$work/broker" "$kport" sqlite)
echo "fault-drill: broker at $brokers (sqlite); producing $comments comments at $rate/s"
"$bin" gen --comments "$comments" --rate "$rate" --partitions 2 \
  --to "kafka://$brokers/comments" 2>"$work/gen.log" &
producer=$!
pids+=($producer)
sleep 2
"$bin" run --kafka "$brokers" --topic comments --lake "$work/lake" --snapshot-interval 5s \
  --http "127.0.0.1:$hport" -q --alerts-out "$work/alerts.jsonl" \
  --dead-letters-out "$work/dead.jsonl" 2>"$work/run.log" &
chatter=$!
pids+=($chatter)
deadline=$(( $(date +%s) + 60 ))
until [ "$(readyz)" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "chatter never became ready"
  sleep 0.1
done
sleep 13

bash ops/broker.sh stop "$work/broker" >/dev/null
stopped=$(date +%s)
echo "fault-drill: broker stopped for ${down}s"
not_ready=0
while [ $(( $(date +%s) - stopped )) -lt "$down" ]; do
  kill -0 "$chatter" 2>/dev/null || fail "chatter exited while the broker was down: $(tail -3 "$work/run.log")"
  [ "$(readyz)" = 503 ] && not_ready=1
  sleep 1
done
[ "$not_ready" = 1 ] || fail "/readyz never answered 503 while the broker was down"
echo "fault-drill: chatter stayed up and answered /readyz 503 while the broker was down"
bash ops/broker.sh start "$work/broker" "$kport" sqlite >/dev/null
restarted=$(now)
deadline=$(( $(date +%s) + 120 ))
until [ "$(readyz)" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "chatter not ready 120 s after the broker came back"
  sleep 0.1
done
back=$(since "$restarted")
echo "fault-drill: broker back; chatter ready again ${back}s later"
wait "$producer" || fail "the producer failed while the broker was down: $(tail -3 "$work/gen.log")"
until [ "$(status_field lag_records)" = 0 ]; do
  kill -0 "$chatter" 2>/dev/null || fail "chatter exited: $(tail -3 "$work/run.log")"
  sleep 0.2
done
caught=$(since "$restarted")
echo "fault-drill: producer done; chatter caught up ${caught}s after the broker came back"
kill -TERM "$chatter"
wait "$chatter" || fail "chatter did not stop cleanly on SIGTERM"

"$bin" run --kafka "$brokers" --topic comments --bounded --lake "$work/ref" -q \
  --alerts-out "$work/ref-alerts.jsonl" --dead-letters-out "$work/ref-dead.jsonl" 2>"$work/ref.log"
read -r _ result < <(compare_lakes "$work/lake" "$work/ref")
[ "${result#equal}" != "$result" ] || fail "the lake $result"
echo "fault-drill: the lake is $result"
echo "fault-drill: broker down ${down}s: no exit, /readyz 503 while down, ready ${back}s after it returned, caught up in ${caught}s, nothing lost or duplicated"
