#!/usr/bin/env bash
# Disaster-recovery drill with measured RTO and RPO (ops/runbooks/disaster-recovery.md).
#
#   ops/dr-drill.sh [COMMENTS] [RATE]      default 120000 comments produced at 2000/s
#
# On a real broker (tansu, ops/broker.sh) a producer keeps writing comments the whole time,
# while:
#   1. chatter runs from Kafka with a lake (snapshots every 5 s) and serves /readyz;
#   2. a backup is taken while it runs (`chatter backup`);
#   3. disaster: chatter is killed (SIGKILL) and its lake directory deleted;
#   4. recovery: the backup is restored onto a fresh directory (`chatter restore`) and chatter
#      started on it; the clock stops when /readyz answers 200 (RTO), and again when it has
#      caught up with the producer;
#   5. when the producer is done and chatter has read everything, it is stopped (SIGTERM) and
#      its lake compared with a reference: a from-scratch bounded run over the same topic.
# RPO is reported twice: the age of the backup's snapshot when the lake was lost (the work to
# redo from Kafka), and the records lost (the recovered lake against the reference: 0 while
# Kafka still holds what the backup had not seen).
#
# Prints one line per step and a closing `dr-drill: RTO … RPO …` line; exits 1 if the
# recovered lake differs from the reference. Uses target/release/chatter (CHATTER_BIN to
# change). Takes about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

comments=${1:-120000}
rate=${2:-2000}
# shellcheck source=ops/lib/drill.sh
. ops/lib/drill.sh
wait_ready() {
  local deadline=$(( $(date +%s) + ${1:-120} ))
  until [ "$(readyz)" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "ops/dr-drill.sh: chatter never became ready" >&2; exit 1; }
    sleep 0.1
  done
}
start_chatter() { # LAKE LOG
  "$bin" run --kafka "$brokers" --topic comments --lake "$1" --snapshot-interval 5s \
    --http "127.0.0.1:$hport" -q --alerts-out "$work/alerts.jsonl" \
    --dead-letters-out "$work/dead.jsonl" --summary-json "$1.summary.json" 2>"$2" &
  pids+=($!)
  chatter_pid=$!
}

brokers=$(bash ops/broker.sh start "$work/broker" "$kport")
echo "dr-drill: broker at $brokers; producing $comments comments at $rate/s"
"$bin" gen --comments "$comments" --rate "$rate" --partitions 2 \
  --to "kafka://$brokers/comments" 2>"$work/gen.log" &
producer=$!
pids+=($producer)
sleep 2

start_chatter "$work/lake" "$work/run1.log"
wait_ready
echo "dr-drill: chatter ready on the lake"
sleep 15
"$bin" backup --lake "$work/lake" --to "$work/backup" 2>"$work/backup.log"
backup_id=$(sed -n 's/.*backed up snapshot \([0-9]*\) .*/\1/p' "$work/backup.log")
# When the backed-up snapshot was published (its manifest's created_at).
backup_at=$(python3 -c "import json, datetime; m = json.load(open('$(find "$work/backup" -name manifest.json | sort | tail -1)')); print(datetime.datetime.fromisoformat(m['created_at'].replace('Z', '+00:00')).timestamp())")
echo "dr-drill: backup of snapshot $backup_id taken while running ($(cat "$work/backup.log" | tail -1))"
sleep 10

# Disaster: the process and its disk are gone.
kill -9 "$chatter_pid"
wait "$chatter_pid" 2>/dev/null || true
failed_at=$(now)
rm -rf "$work/lake"
rpo_age=$(python3 -c "print(f'{$failed_at - $backup_at:.1f}')")
echo "dr-drill: disaster: chatter killed and its lake deleted; the backup's snapshot is ${rpo_age}s old"

# Recovery.
"$bin" restore --from "$work/backup" --lake "$work/lake2" 2>"$work/restore.log"
echo "dr-drill: restored onto a fresh directory in $(since "$failed_at")s"
start_chatter "$work/lake2" "$work/run2.log"
wait_ready 300
rto=$(since "$failed_at")
echo "dr-drill: ready again ${rto}s after the failure"
until [ "$(status_field lag_records)" = 0 ] && ! kill -0 "$producer" 2>/dev/null; do
  sleep 0.2
done
caught_up=$(since "$failed_at")
echo "dr-drill: caught up with the producer (lag 0, producer done) ${caught_up}s after the failure"
wait "$producer"
kill -TERM "$chatter_pid"
wait "$chatter_pid"

# The reference: every record, from scratch, in one bounded run.
"$bin" run --kafka "$brokers" --topic comments --bounded --lake "$work/ref" -q \
  --alerts-out "$work/ref-alerts.jsonl" --dead-letters-out "$work/ref-dead.jsonl" \
  --summary-json "$work/ref.summary.json" 2>"$work/ref.log"
read -r lost detail < <(compare_lakes "$work/lake2" "$work/ref")
echo "dr-drill: the recovered lake is $detail"
echo "dr-drill: RTO ${rto}s to ready (${caught_up}s to caught up); RPO: the backup was ${rpo_age}s old, ${lost} records lost"
[ "${detail#equal}" != "$detail" ]
