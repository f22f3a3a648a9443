# Sourced by ops/dr-drill.sh and ops/fault-drill.sh: the chatter binary, a scratch directory,
# two free ports (Kafka, HTTP), background processes killed and the broker stopped on exit,
# and the comparison of a lake with a reference lake.
drill=$(basename "$0" .sh)
bin=${CHATTER_BIN:-target/release/chatter}
[ -x "$bin" ] || { echo "ops/$drill.sh: $bin is missing: cargo build --release" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v curl >/dev/null || { echo "ops/$drill.sh: curl is missing" >&2; exit 2; }

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kport=$(free_port)
hport=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  bash ops/broker.sh stop "$work/broker" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
# Seconds (one decimal) since a `now` reading.
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/readyz" || true; }
status_field() {
  curl -fsS "http://127.0.0.1:$hport/api/v1/status" 2>/dev/null \
    | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1'))" 2>/dev/null || echo none
}

# compare_lakes GOT WANT: prints "LOST DETAIL": comments missing from GOT, and "equal to the
# reference (…)" or "differs: {…}". Rows per table of the current snapshots. The alert history
# is shown, not compared: how often an alert is updated depends on where epochs fall, which
# differs between a run that was interrupted and one that read everything in one go.
compare_lakes() {
  python3 - "$1/current/manifest.json" "$2/current/manifest.json" <<'PY'
import json, sys
got, want = ({t: s["rows"] for t, s in json.load(open(p))["tables"].items()} for p in sys.argv[1:3])
compared = ["comments", "mentions", "entity_windows", "dead_letters"]
diff = {t: (got.get(t), want.get(t)) for t in compared if got.get(t) != want.get(t)}
lost = max(0, want.get("comments", 0) - got.get("comments", 0))
shown = ", ".join(f"{t} {want.get(t)}" for t in compared)
alerts = f"; alert events {got.get('alerts')} (reference {want.get('alerts')})"
print(lost, ("differs: " + str(diff)) if diff else "equal to the reference (" + shown + ")" + alerts)
PY
}
