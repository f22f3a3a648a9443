"""The numbers a brief must show, computed independently with duckdb from a lake's current
snapshot: headline counts (this period and the previous one of the same length) and the top
entities by mentions. Prints one JSON object.

    python brief_truth.py LAKE FROM TO TOP
"""
import json
import sys

import duckdb

lake, start, end, top = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
db = duckdb.connect()
db.execute("SET TimeZone = 'UTC'")


def scalar(sql, *args):
    return db.execute(sql, list(args)).fetchone()[0]


def period(a, b):
    comments = scalar(
        f"SELECT count(*) FROM read_parquet('{lake}/current/comments/**/*.parquet', hive_partitioning=false) "
        "WHERE created_at >= ?::TIMESTAMPTZ AND created_at < ?::TIMESTAMPTZ", a, b)
    mentions = scalar(
        f"SELECT count(*) FROM read_parquet('{lake}/current/mentions/**/*.parquet', hive_partitioning=false) "
        "WHERE created_at >= ?::TIMESTAMPTZ AND created_at < ?::TIMESTAMPTZ", a, b)
    entities = scalar(
        f"SELECT count(DISTINCT entity_id) FROM read_parquet('{lake}/current/mentions/**/*.parquet', hive_partitioning=false) "
        "WHERE created_at >= ?::TIMESTAMPTZ AND created_at < ?::TIMESTAMPTZ", a, b)
    fired = scalar(
        f"SELECT count(*) FROM read_parquet('{lake}/current/alerts/**/*.parquet', hive_partitioning=false) "
        "WHERE kind = 'fired' AND window_start >= ?::TIMESTAMPTZ AND window_start < ?::TIMESTAMPTZ", a, b)
    return {"comments": comments, "mentions": mentions, "entities": entities, "fired": fired}


length = scalar("SELECT epoch(?::TIMESTAMPTZ) - epoch(?::TIMESTAMPTZ)", end, start)
before = scalar("SELECT strftime((?::TIMESTAMPTZ - to_seconds(?)) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')", start, length)
rows = db.execute(
    f"SELECT entity_id, count(*) AS n FROM read_parquet('{lake}/current/mentions/**/*.parquet', hive_partitioning=false) "
    "WHERE created_at >= ?::TIMESTAMPTZ AND created_at < ?::TIMESTAMPTZ "
    "GROUP BY entity_id ORDER BY n DESC, entity_id LIMIT ?", [start, end, top]).fetchall()
print(json.dumps({
    "now": period(start, end),
    "previous": period(before, start),
    "top": [[entity, n] for entity, n in rows],
}))
