#!/usr/bin/env bash
# Lake benchmarks (BENCHMARKS.md, "The lake"), on 2M synthetic comments at 60 a minute, so
# they span 23 days (generated once into target/bench-data):
#   1. a full snapshot of 2M comments: write time and bytes;
#   2. the next snapshot when one day of the 23 changed (edits appended as a second input);
#   3. restore rate and recovery time (process start to caught up) of that lake.
# Retention is 60 days so every comment stays live: the worst case for snapshot and restore.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin="$PWD/target/release/chatter"
data="$PWD/target/bench-data/gen-2000000-seed42-cpm60"
if [ ! -f "$data/comments.jsonl" ]; then
  echo "generating 2M comments into $data ..."
  "$bin" gen --comments 2000000 --seed 42 --comments-per-minute 60 --out "$data"
fi
work="$PWD/target/bench-lake"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
cat > bench.toml <<'TOML'
[windows]
retention = "60d"
TOML
python3 - "$data/comments.jsonl" > edits.jsonl <<'PY'
import json, sys
# 1% of the comments of one day in the middle (the 12th of the 23), edited: same id, new text.
def comments():
    with open(sys.argv[1], "rb") as f:
        for line in f:
            try:
                c = json.loads(line)
            except ValueError:
                continue
            if not isinstance(c, dict) or c.get("deleted"):
                continue
            t = c.get("created_at")
            if isinstance(t, str) and t.startswith("2021-"):  # not malformed, not epoch ms
                yield t[:10], c
days = sorted({day for day, _ in comments()})
target = days[min(11, len(days) - 1)]
picked = [c for day, c in comments() if day == target]
for c in picked[::100]:
    c["text"] = c.get("text", "") + " (edited) $AAA"
    print(json.dumps(c))
PY
run() { # tag, extra args...
  local tag=$1; shift
  /usr/bin/env time -f "%e s wall, %M KiB peak RSS" -o "time-$tag.txt" \
    "$bin" run -c bench.toml -e "$data/entities.jsonl" -q --alerts-out /dev/null \
      --dead-letters-out /dev/null --lake lake --snapshot-interval 1h \
      --summary-json "summary-$tag.json" "$@" 2> "log-$tag.txt"
  echo "== $tag: $(cat "time-$tag.txt")"
  python3 - "summary-$tag.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = s.get("snapshot_stats") or {}
print(f"   records {s['lines']}, restored {s['restored']} in {s['restore_seconds'] or 0:.2f} s"
      + (f" ({s['restored'] / s['restore_seconds']:,.0f}/s)" if s.get('restore_seconds') else ""))
if st:
    print(f"   snapshot: parts {st['parts_seconds']:.2f} s + publish {st['publish_seconds']:.2f} s, "
          f"{st['new_files']} new files ({st['new_bytes'] / 1e6:.1f} MB), {st['linked_files']} linked")
PY
}
run full -i "$data/comments.jsonl"
echo "   lake: $(du -sh lake/current/ | cut -f1) ($(find -L lake/current -name '*.parquet' | wc -l) files)"
run edits -i "$data/comments.jsonl" -i edits.jsonl
echo "   edits: $(wc -l < edits.jsonl) edited comments (1%) of one day of $(ls lake/current/comments | wc -l)"
run recover -i "$data/comments.jsonl" -i edits.jsonl
echo "   (recover: the wall time above is the recovery time objective: start, verify checksums, restore, catch up)"
