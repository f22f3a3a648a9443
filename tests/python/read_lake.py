"""Reads every table of LAKE/current with pyarrow, pandas, polars and duckdb, without reader
options, and checks row counts and sampled values against the manifest.

Usage: python read_lake.py LAKE        (exit status 0 when every check holds)
"""
import json
import os
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

lake = sys.argv[1]
current = os.path.join(lake, "current")
with open(os.path.join(current, "manifest.json")) as f:
    manifest = json.load(f)
tables = ["comments", "mentions", "entity_windows", "alerts", "dead_letters"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def expected(table):
    return manifest["tables"][table]["rows"]


# pyarrow.dataset
for t in tables:
    tab = ds.dataset(os.path.join(current, t)).to_table()
    check(tab.num_rows == expected(t), f"pyarrow {t}: {tab.num_rows} rows, manifest {expected(t)}")
comments = ds.dataset(os.path.join(current, "comments")).to_table()
check(str(comments.schema.field("created_at").type) == "timestamp[us, tz=UTC]", "created_at is UTC microseconds")
check(str(comments.schema.field("entity_ids").type).startswith("list<"), "entity_ids is a list")
print("pyarrow: ok")

# pandas
frames = {t: pd.read_parquet(os.path.join(current, t)) for t in tables}
for t, df in frames.items():
    check(len(df) == expected(t), f"pandas {t}: {len(df)} rows, manifest {expected(t)}")
c = frames["comments"]
m = frames["mentions"]
check(str(c["created_at"].dt.tz) == "UTC", "pandas created_at is tz-aware UTC")
check(set(m["comment_id"]).issubset(set(c["id"])), "every mention's comment is in comments")
check(c["id"].is_unique, "comment ids are unique (upsert)")
with_entities = c[c["entity_ids"].map(len) > 0]
check(len(with_entities) > 0, "some comments mention entities")
# Sampled values: a comment's entity_ids equal its mentions' entity ids (entities still in the catalog).
sample = with_entities.sort_values("id").iloc[0]
ids = set(m[m["comment_id"] == sample["id"]]["entity_id"].astype(str))
check(ids.issubset(set(sample["entity_ids"])), f"mentions of {sample['id']} match its entity_ids")
w = frames["entity_windows"]
check((w["window_end"] > w["window_start"]).all(), "windows end after they start")
check(w["alert"].dtype == bool, "alert is boolean")
a = frames["alerts"]
check(set(a["kind"].astype(str)).issubset({"fired", "updated", "retracted"}), "alert kinds")
check(a["alert_id"].str.startswith("velocity/").all(), "alert ids")
d = frames["dead_letters"]
check(d["raw"].map(lambda b: isinstance(b, bytes)).all(), "dead letter raw bytes are binary")
print("pandas: ok")

# polars (lazy scan of the directory)
for t in tables:
    n = pl.scan_parquet(os.path.join(current, t)).select(pl.len()).collect().item()
    check(n == expected(t), f"polars {t}: {n} rows, manifest {expected(t)}")
    # Every column of every file: files of one table must share one schema for this.
    full = pl.read_parquet(os.path.join(current, t))
    check(full.height == expected(t), f"polars {t}: full read has {full.height} rows")
top_pl = (
    pl.scan_parquet(os.path.join(current, "mentions"))
    .group_by("entity_id")
    .agg(pl.len().alias("n"))
    .sort(["n", "entity_id"], descending=[True, False])
    .head(1)
    .collect()
)
print("polars: ok")

# duckdb
con = duckdb.connect()
for t in tables:
    n = con.execute(f"select count(*) from read_parquet('{current}/{t}/**/*.parquet')").fetchone()[0]
    check(n == expected(t), f"duckdb {t}: {n} rows, manifest {expected(t)}")
    rows = con.execute(f"select * from read_parquet('{current}/{t}/**/*.parquet')").fetchall()
    check(len(rows) == expected(t), f"duckdb {t}: full read has {len(rows)} rows")
top_db = con.execute(
    f"select entity_id, count(*) n from read_parquet('{current}/mentions/**/*.parquet') group by 1 order by 2 desc, 1 limit 1"
).fetchone()
check(str(top_db[0]) == str(top_pl["entity_id"][0]) and top_db[1] == top_pl["n"][0], f"duckdb and polars agree on the top entity: {top_db} vs {top_pl.rows()}")
total = con.execute(f"select sum(mentions) from read_parquet('{current}/entity_windows/**/*.parquet')").fetchone()[0]
check(total is not None and total > 0, "windows hold mentions")
print("duckdb: ok")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
