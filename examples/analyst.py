"""An analyst's first look at a chatter lake.

    python examples/analyst.py [LAKE]          (default: ./lake)

Reads the current snapshot with pandas (any Parquet reader works: polars, duckdb, pyarrow)
and prints the top movers (windows whose mentions rose most against their baseline), the
alert timeline, and one entity's velocity curve. With matplotlib installed it also saves the
curve as velocity.png.
"""
import json
import os
import sys

import pandas as pd

lake = sys.argv[1] if len(sys.argv) > 1 else "lake"
current = os.path.join(lake, "current")
with open(os.path.join(current, "manifest.json")) as f:
    manifest = json.load(f)
print(f"Snapshot {manifest['id']}: watermark {manifest['watermark']}, "
      f"{manifest['tables']['comments']['rows']} comments, "
      f"{manifest['tables']['mentions']['rows']} mentions")

windows = pd.read_parquet(os.path.join(current, "entity_windows"))
mentions = pd.read_parquet(os.path.join(current, "mentions"))
alerts = pd.read_parquet(os.path.join(current, "alerts"))

print("\nTop movers (highest z-score windows with at least 5 mentions):")
movers = (
    windows[windows["mentions"] >= 5]
    .sort_values(["z", "mentions"], ascending=False)
    .drop_duplicates("entity_id")
    .head(10)
)
print(movers[["entity_id", "entity_name", "window_start", "mentions", "baseline_mean", "z", "ratio"]]
      .to_string(index=False))

print("\nMost mentioned entities:")
print(mentions.groupby("entity_name", observed=True).size().sort_values(ascending=False).head(10).to_string())

print("\nAlert timeline:")
if alerts.empty:
    print("(no alerts)")
else:
    print(alerts.sort_values("window_start")[["window_start", "kind", "entity_id", "mentions", "z"]]
          .to_string(index=False))

if not movers.empty:
    entity = movers.iloc[0]["entity_id"]
    curve = windows[windows["entity_id"] == entity].sort_values("window_start")
    print(f"\nVelocity curve of {entity} (mentions per window vs baseline):")
    for row in curve.itertuples():
        bar = "#" * min(int(row.mentions), 60)
        print(f"{row.window_start:%Y-%m-%d %H:%M} {int(row.mentions):5d} (baseline {row.baseline_mean:6.1f}) {bar}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ax = curve.plot(x="window_start", y=["mentions", "baseline_mean"], figsize=(10, 4))
        ax.set_title(f"{entity}: mentions per window")
        plt.savefig("velocity.png", bbox_inches="tight")
        print("saved velocity.png")
    except ImportError:
        pass
