"""Parses a /metrics exposition with prometheus_client's strict OpenMetrics parser and checks
the families chatter documents (docs/api.md) have the right types. Prints "metrics: ok"."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
families = {f.name: f for f in text_string_to_metric_families(text)}
want = {
    "chatter_records": "counter",
    "chatter_dead_letters": "counter",
    "chatter_alerts": "counter",
    "chatter_epoch_duration_seconds": "histogram",
    "chatter_http_requests": "counter",
    "chatter_http_request_duration_seconds": "histogram",
    "chatter_watermark_lag_seconds": "gauge",
    "chatter_state_live_comments": "gauge",
    "chatter_snapshot_bytes": "gauge",
    "process_resident_memory_bytes": "gauge",
}
problems = []
for name, kind in want.items():
    family = families.get(name)
    if family is None:
        problems.append(f"{name}: missing")
    elif family.type != kind:
        problems.append(f"{name}: {family.type}, want {kind}")
for family in families.values():
    for sample in family.samples:
        if "entity_id" in sample.labels:
            problems.append(f"{sample.name}: an entity id as a label")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"metrics: ok ({len(families)} families)")
