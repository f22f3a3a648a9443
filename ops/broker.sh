#!/usr/bin/env bash
# A real Kafka-API broker on 127.0.0.1 for tests and local runs: tansu (crates.io), installed
# on first use into a cache outside the repo (~/.cache/chatter/tansu; CHATTER_CACHE moves it).
# The first install compiles it (at opt-level 1, see install below): minutes, once.
#
#   ops/broker.sh install                      install tansu if missing; print its path
#   ops/broker.sh start DIR [PORT] [memory|sqlite]
#                                              start a broker whose files (pid, log, sqlite
#                                              data) live in DIR; print host:port when it
#                                              accepts connections (default port 19092,
#                                              storage memory)
#   ops/broker.sh stop DIR                     stop the broker started in DIR
#   ops/broker.sh user PORT NAME PASSWORD      create a SASL/SCRAM-SHA-512 user (on a broker
#                                              started without auth; with sqlite storage it
#                                              survives a restart with auth)
#   CHATTER_BROKER_AUTH=1 ops/broker.sh start … require SASL authentication
#   ops/broker.sh add-partitions DIR TOPIC N   grow TOPIC to N partitions in the sqlite store of
#                                              the (stopped) broker of DIR: tansu 0.6 answers
#                                              CreatePartitions with UnsupportedFeature
#
# sqlite storage survives a broker restart (stop, then start with the same DIR).
set -euo pipefail

cache="${CHATTER_CACHE:-$HOME/.cache/chatter}"
bin="$cache/tansu/bin/tansu"

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

install() {
  if [ ! -x "$bin" ]; then
    command -v cargo >/dev/null || { echo "ops/broker.sh: cargo is missing: install Rust (rustup.rs)" >&2; exit 2; }
    echo "ops/broker.sh: installing tansu into $cache/tansu (first time only: several minutes)" >&2
    mkdir -p "$cache/tansu"
    # At opt-level 1 with many codegen units and no debug info: far quicker to build than the
    # default release profile, and still fast enough that the broker is not what a test or a
    # benchmark measures (CHATTER_TANSU_OPT_LEVEL=3 for the default).
    CARGO_PROFILE_RELEASE_OPT_LEVEL="${CHATTER_TANSU_OPT_LEVEL:-1}" CARGO_PROFILE_RELEASE_LTO=false \
      CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_RELEASE_DEBUG=false \
      cargo install tansu --locked --features libsql,dynostore --root "$cache/tansu" \
      --target-dir "$cache/tansu-build" >&2
    rm -rf "$cache/tansu-build"
  fi
}

start() {
  local dir=${1:?}; local port=${2:-19092}; local storage=${3:-memory}
  install
  mkdir -p "$dir/tansu"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    echo "ops/broker.sh: a broker already runs from $dir (pid $(cat "$dir/broker.pid")): stop it first" >&2
    exit 1
  fi
  local engine
  case "$storage" in
    memory) engine="memory://tansu/" ;;
    sqlite) engine="sqlite://tansu/broker.db" ;;
    *) echo "ops/broker.sh: storage '$storage' is not memory or sqlite" >&2; exit 2 ;;
  esac
  local auth=()
  if [ "${CHATTER_BROKER_AUTH:-0}" = 1 ]; then auth=(--authentication); fi
  (cd "$dir" && exec "$bin" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "$engine" "${auth[@]}" >>"$dir/broker.log" 2>&1) &
  echo $! >"$dir/broker.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
      echo "ops/broker.sh: the broker exited at start; its log: $dir/broker.log" >&2
      tail -5 "$dir/broker.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "ops/broker.sh: the broker did not accept connections on 127.0.0.1:$port within 10 s; log: $dir/broker.log" >&2
  exit 1
}

stop() {
  local dir=${1:?}
  [ -f "$dir/broker.pid" ] || return 0
  local pid; pid=$(cat "$dir/broker.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/broker.pid"
}

add_partitions() {
  local dir=${1:?}; local topic=${2:?}; local count=${3:?}
  if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    echo "ops/broker.sh: the broker of $dir runs: stop it first" >&2
    exit 1
  fi
  python3 - "$dir/tansu/broker.db" "$topic" "$count" <<'PY'
import sqlite3, sys
path, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = sqlite3.connect(path)
row = db.execute("select id, partitions from topic where name = ?", (topic,)).fetchone()
if row is None:
    sys.exit(f"ops/broker.sh: no topic {topic!r} in {path}")
topic_id, partitions = row
if count <= partitions:
    sys.exit(f"ops/broker.sh: {topic} has {partitions} partitions already")
db.execute("update topic set partitions = ? where id = ?", (count, topic_id))
for partition in range(partitions, count):
    cursor = db.execute("insert into topition (topic, partition) values (?, ?)", (topic_id, partition))
    db.execute("insert into watermark (topition) values (?)", (cursor.lastrowid,))
db.commit()
PY
}

case "${1:-}" in
  install) install; echo "$bin" ;;
  start) shift; [ $# -ge 1 ] || usage; start "$@" ;;
  stop) shift; [ $# -ge 1 ] || usage; stop "$1" ;;
  add-partitions) shift; [ $# -ge 3 ] || usage; add_partitions "$@" ;;
  user) shift; [ $# -ge 3 ] || usage; install
        "$bin" user create --broker "tcp://127.0.0.1:$1" "$2" "$3" ;;
  *) usage ;;
esac
