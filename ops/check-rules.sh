#!/usr/bin/env bash
# promtool's checks of the Prometheus files the compose stack mounts:
#   - the alerting rules are valid (ops/prometheus/rules.yml);
#   - their unit tests pass (ops/prometheus/rules.test.yml);
#   - the config is valid and its rule_files resolve (ops/prometheus/prometheus.yml: they are
#     relative to it, so the same path works in the repo and in the container's /etc/prometheus);
#   - every query of the Grafana dashboards parses as PromQL (Grafana's $variables replaced by
#     sample values).
# The structure (mounts, scrape target, documented metric names) is tests/python/check_compose.py.
# Exits 2 when promtool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  echo "ops/check-rules.sh: promtool is missing: install it (Debian/Ubuntu: apt-get install prometheus;" \
    "or take promtool from a release tarball at https://github.com/prometheus/prometheus/releases)" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "ops/check-rules.sh: python3 is missing" >&2; exit 2; }

echo "== promtool check rules ops/prometheus/rules.yml"
promtool check rules ops/prometheus/rules.yml
echo "== promtool test rules ops/prometheus/rules.test.yml"
promtool test rules ops/prometheus/rules.test.yml
echo "== promtool check config ops/prometheus/prometheus.yml"
promtool check config ops/prometheus/prometheus.yml

echo "== the Grafana dashboards' queries parse (promtool test rules)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/dashboards.test.yml" ops/grafana/dashboards/*.json <<'PY'
import json
import re
import sys

out, paths = sys.argv[1], sys.argv[2:]
values = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


def panels_of(items):
    for panel in items:
        yield panel
        yield from panels_of(panel.get("panels", []))


tests = []
for path in paths:
    dashboard = json.load(open(path))
    for panel in panels_of(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            expr = re.sub(r"\$\{?(\w+)(?::\w+)?\}?", lambda m: values.get(m.group(1), ".*"), target["expr"])
            # No input series: each query must parse and evaluate to nothing.
            tests.append({"expr": expr, "eval_time": "1m", "exp_samples": []})
if not tests:
    sys.exit("no dashboard queries found")
with open(out, "w") as f:
    json.dump({"rule_files": [], "tests": [{"interval": "1m", "input_series": [], "promql_expr_test": tests}]}, f, indent=1)
print(f"{len(tests)} queries from {len(paths)} dashboards")
PY
promtool test rules "$tmp/dashboards.test.yml"
echo "ops/check-rules.sh: ok"
