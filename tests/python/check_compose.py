"""Static checks of docker-compose.yml, the Dockerfile, and the Prometheus and Grafana files
the compose stack mounts (no Docker engine here).

Usage: check_compose.py REPO_DIR. Prints what it checked; exits 1 with the first failure.
promtool's own checks of the rules and the config are ops/check-rules.sh.
"""
import json
import pathlib
import re
import sys
import tomllib

import yaml

repo = pathlib.Path(sys.argv[1])


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


compose = yaml.safe_load((repo / "docker-compose.yml").read_text())
services = compose.get("services") or fail("no services")
for name in ["kafka", "topics", "chatter", "producer", "prometheus", "grafana"]:
    if name not in services:
        fail(f"service {name} is missing")

kafka = services["kafka"]
if not str(kafka.get("image", "")).startswith("apache/kafka:"):
    fail("kafka must run the official apache/kafka image")
env = kafka.get("environment", {})
if "broker" not in env.get("KAFKA_PROCESS_ROLES", "") or "controller" not in env.get("KAFKA_PROCESS_ROLES", ""):
    fail("kafka must run in KRaft mode (broker,controller roles)")
if "healthcheck" not in kafka:
    fail("kafka needs a healthcheck for depends_on")

script = "\n".join(services["topics"]["command"])
for topic in ["comments", "entities", "chatter.alerts", "chatter.velocity", "chatter.dlq"]:
    if f"--topic {topic} " not in script:
        fail(f"topic {topic} is not created")
if "cleanup.policy=compact" not in script:
    fail("the catalog and window-stats topics must be compacted")
if services["topics"]["depends_on"]["kafka"]["condition"] != "service_healthy":
    fail("topics must wait for a healthy kafka")

chatter = services["chatter"]
if chatter.get("build") != ".":
    fail("chatter must build from the repo's Dockerfile")
mounts = [v.split(":") for v in chatter.get("volumes", [])]
config = [m for m in mounts if m[1] == "/etc/chatter/chatter.toml"]
if not config or not (repo / config[0][0]).is_file():
    fail("chatter's config mount must name a file in the repo")
if chatter["depends_on"]["topics"]["condition"] != "service_completed_successfully":
    fail("chatter must wait for the topics")

producer = services["producer"]["command"]
if producer[:2] != ["gen", "--to"] or not producer[2].startswith("kafka://kafka:9092/"):
    fail("the producer must run chatter gen --to kafka://kafka:9092/...")
for name, service in services.items():
    for dep in service.get("depends_on", {}):
        if dep not in services:
            fail(f"{name} depends on unknown service {dep}")
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            if not (repo / source).exists():
                fail(f"{name} mounts {source}, which is not in the repo")
        elif source not in (compose.get("volumes") or {}):
            fail(f"volume {source} of {name} is not declared")
built = {s["image"] for s in services.values() if "build" in s and "image" in s}
for name, service in services.items():
    image = str(service.get("image", ""))
    if "build" in service or image in built:
        continue
    if not re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+(-[\w.]+)?|[\w./-]+@sha256:[0-9a-f]{64}", image):
        fail(f"the image of {name} must be pinned to a version tag (is {image!r})")
print(f"docker-compose.yml: ok ({len(services)} services)")


def mounts(service):
    """(host source, container target) of each bind mount of a service."""
    out = []
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        if parts[0].startswith("."):
            out.append((repo / parts[0], parts[1]))
    return out


def host_path(name, container_path):
    """The repo path a service sees at container_path, through its bind mounts."""
    best = None
    for source, target in mounts(services[name]):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            if best is None or len(target) > len(best[1]):
                best = (source, target)
    if best is None:
        fail(f"{name}: {container_path} is not in any mount from the repo")
    source, target = best
    rest = container_path[len(target):].lstrip("/")
    return (source / rest) if rest else source


def container_port(name, port):
    published = [str(p) for p in services[name].get("ports", [])]
    if not any(p.split(":")[-1] == str(port) for p in published):
        fail(f"{name} does not publish its port {port} ({published})")
    for p in published:
        if not p.startswith("127.0.0.1:"):
            fail(f"{name} publishes {p} beyond localhost: bind it to 127.0.0.1")


# The metrics chatter exposes: the table of docs/api.md, "Metrics (`/metrics`)".
api = (repo / "docs/api.md").read_text()
if "## Metrics (`/metrics`)" not in api:
    fail("docs/api.md has no Metrics section")
section = api.split("## Metrics (`/metrics`)", 1)[1].split("\n## ", 1)[0]
documented = dict(re.findall(r"^\| `([a-zA-Z_:][\w:]*)` \| ([^|]+?) \|", section, re.M))
if len(documented) < 10:
    fail(f"docs/api.md's metric table has only {len(documented)} metrics")
known_series = set(documented)
for metric, kind in documented.items():
    if kind.startswith("histogram"):
        known_series |= {f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "offset", "bool", "inf", "nan", "atan2"}


def metric_names(expr):
    """The series names a PromQL expression (or a Grafana label_values query) selects."""
    call = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if call:
        expr = call.group(1)
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\$\{?\w+(:\w+)?\}?", "1", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)\s*(\()?", e):
        if m.group(2) or m.group(1).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(1))
    return names


# Prometheus: its config and rules, from the repo through its mounts.
prom = services["prometheus"]
if not str(prom.get("image", "")).startswith("prom/prometheus:"):
    fail("prometheus must run the official prom/prometheus image")
args = [str(a) for a in prom.get("command", [])]
config_arg = [a.split("=", 1)[1] for a in args if a.startswith("--config.file=")]
if not config_arg:
    fail("prometheus must name its --config.file")
prom_config_path = host_path("prometheus", config_arg[0])
if not prom_config_path.is_file():
    fail(f"prometheus's config {config_arg[0]} is not a file in the repo ({prom_config_path})")
for name in ["prometheus", "grafana"]:
    for volume in services[name].get("volumes", []):
        if volume.startswith(".") and not volume.endswith(":ro"):
            fail(f"{name} must mount {volume.split(':')[0]} read-only")
listen_args = [a.split("=", 1)[1] for a in args if a.startswith("--web.listen-address=")]
prom_port = int(listen_args[0].rsplit(":", 1)[1]) if listen_args else 9090
container_port("prometheus", prom_port)
prom_config = yaml.safe_load(prom_config_path.read_text())
rule_paths = []
for pattern in prom_config.get("rule_files") or fail("prometheus.yml loads no rule_files"):
    if pattern.startswith("/"):
        matched = [host_path("prometheus", pattern)]
    else:
        matched = sorted(prom_config_path.parent.glob(pattern))
    if not matched or not all(p.is_file() for p in matched):
        fail(f"prometheus.yml's rule file {pattern} is not in the repo next to it")
    rule_paths += matched

chatter_toml = tomllib.loads((repo / config[0][0]).read_text())
listen = chatter_toml.get("http", {}).get("listen", "")
if ":" not in listen:
    fail("ops/docker/chatter.toml must set [http] listen (host:port) for Prometheus to scrape")
listen_host, listen_port = listen.rsplit(":", 1)
if listen_host not in ("0.0.0.0", "[::]"):
    fail(f"chatter listens on {listen}: inside a container it must be 0.0.0.0 to be reachable")
container_port("chatter", listen_port)
jobs = {}
for job in prom_config.get("scrape_configs") or []:
    targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    jobs[job["job_name"]] = (job, targets)
scraping = [name for name, (job, targets) in jobs.items() if f"chatter:{listen_port}" in targets]
if not scraping:
    fail(f"prometheus.yml does not scrape chatter:{listen_port}, where chatter listens")
scrape_job = jobs[scraping[0]][0]
if scrape_job.get("metrics_path", "/metrics") != "/metrics":
    fail("the chatter scrape job must read /metrics")

rules = []
for path in rule_paths:
    groups = (yaml.safe_load(path.read_text()) or {}).get("groups") or fail(f"{path}: no groups")
    rules += [rule for group in groups for rule in group.get("rules", [])]
alerts = [rule for rule in rules if "alert" in rule]
recorded = {rule["record"] for rule in rules if "record" in rule}
if not alerts:
    fail("no alerting rules")


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


runbooks = {}
for rule in alerts:
    name = rule["alert"]
    if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
        fail(f"alert {name} needs a severity label (critical, warning or info)")
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        if not annotations.get(key):
            fail(f"alert {name} has no {key} annotation")
    doc, _, anchor = annotations["runbook_url"].partition("#")
    doc_path = repo / doc
    if not doc_path.is_file():
        fail(f"alert {name}'s runbook {doc} is not in the repo")
    if doc_path not in runbooks:
        runbooks[doc_path] = {slug(h) for h in re.findall(r"^#+ (.+)$", doc_path.read_text(), re.M)}
    if anchor not in runbooks[doc_path]:
        fail(f"alert {name}'s runbook anchor #{anchor} is not a heading of {doc}")
# Prometheus's own `up` is the one series not from chatter.
for rule in rules:
    name = rule.get("alert") or rule["record"]
    unknown = metric_names(str(rule["expr"])) - known_series - recorded - {"up"}
    if unknown:
        fail(f"rule {name} uses {sorted(unknown)}, which docs/api.md does not list")
    for job in re.findall(r'\bjob="([^"]*)"', str(rule["expr"])):
        if job not in jobs:
            fail(f"rule {name} selects job {job!r}, which prometheus.yml does not scrape")
print(f"prometheus: ok ({len(alerts)} alerts with runbooks, scrapes chatter:{listen_port}{scrape_job.get('metrics_path', '/metrics')})")


# Grafana: provisioning (data source, dashboard provider) and the dashboards' queries.
grafana = services["grafana"]
if not str(grafana.get("image", "")).startswith("grafana/grafana:"):
    fail("grafana must run the official grafana/grafana image")
genv = grafana.get("environment", {})
if str(genv.get("GF_AUTH_ANONYMOUS_ENABLED", "")).lower() != "false":
    fail("grafana must turn anonymous access off (GF_AUTH_ANONYMOUS_ENABLED: \"false\")")
if not str(genv.get("GF_SECURITY_ADMIN_PASSWORD", "")).startswith("${"):
    fail("grafana's admin password must come from the environment (${...:-default})")
container_port("grafana", 3000)
provisioning = host_path("grafana", "/etc/grafana/provisioning")
sources = []
for path in sorted((provisioning / "datasources").glob("*.y*ml")):
    sources += (yaml.safe_load(path.read_text()) or {}).get("datasources", [])
uids = {d.get("uid") for d in sources}
for source in sources:
    url = re.fullmatch(r"https?://([\w.-]+):(\d+)/?", source.get("url", ""))
    if source.get("type") == "prometheus":
        if not url or url.group(1) != "prometheus" or int(url.group(2)) != prom_port:
            fail(f"the Prometheus data source must point to http://prometheus:{prom_port} (is {source.get('url')})")
if not any(d.get("type") == "prometheus" for d in sources):
    fail("grafana provisions no Prometheus data source")
dashboards = []
providers = []
for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
    providers += (yaml.safe_load(path.read_text()) or {}).get("providers", [])
if not providers:
    fail("grafana provisions no dashboard provider")
for provider in providers:
    folder = host_path("grafana", provider["options"]["path"])
    found = sorted(folder.glob("*.json"))
    if not found:
        fail(f"the dashboard provider {provider['name']} finds no dashboard in {folder}")
    dashboards += found
home = genv.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
if home and not host_path("grafana", home).is_file():
    fail(f"grafana's home dashboard {home} is not a file in the repo")


def panels_of(items):
    for panel in items:
        yield panel
        yield from panels_of(panel.get("panels", []))


expressions = 0
panel_count = 0
for path in dashboards:
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        fail(f"{path.relative_to(repo)} is not JSON: {e}")
    if not dashboard.get("uid") or not dashboard.get("schemaVersion"):
        fail(f"{path.relative_to(repo)} needs a uid and a schemaVersion")
    queries = []
    for panel in panels_of(dashboard.get("panels", [])):
        panel_count += 1
        for target in panel.get("targets", []):
            queries.append((panel.get("title"), target.get("expr", ""), target.get("datasource") or panel.get("datasource")))
        if panel.get("type") != "row" and not panel.get("targets"):
            fail(f"{path.relative_to(repo)}: panel {panel.get('title')!r} has no query")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query
            queries.append((f"${variable['name']}", query, variable.get("datasource")))
    for title, expr, datasource in queries:
        if not expr.strip():
            fail(f"{path.relative_to(repo)}: {title!r} has an empty query")
        if isinstance(datasource, dict) and datasource.get("uid") not in uids:
            fail(f"{path.relative_to(repo)}: {title!r} uses data source {datasource.get('uid')!r}, not a provisioned one ({sorted(uids)})")
        unknown = metric_names(expr) - known_series
        if unknown:
            fail(f"{path.relative_to(repo)}: {title!r} queries {sorted(unknown)}, which docs/api.md does not list")
        expressions += 1
print(f"grafana: ok ({len(dashboards)} dashboards, {panel_count} panels, {expressions} queries of documented metrics)")

lines = [l.strip() for l in (repo / "Dockerfile").read_text().splitlines()]
instructions = [l for l in lines if l and not l.startswith("#")]
stages = [l for l in instructions if l.startswith("FROM ")]
if len(stages) < 2 or " AS " not in stages[0]:
    fail("the Dockerfile must be multi-stage")
users = [l for l in instructions if l.startswith("USER ")]
if not users or users[-1].split()[1] in ("root", "0"):
    fail("the runtime stage must run as a non-root user")
if not any(l.startswith("HEALTHCHECK") for l in instructions):
    fail("the Dockerfile needs a HEALTHCHECK")
health = " ".join(l for l in lines if "chatter" in l and "health" in l)
if '"health"' not in health:
    fail("the HEALTHCHECK must run chatter health")
for line in instructions:
    if line.startswith("COPY ") and "--from=" not in line:
        for source in line.split()[1:-1]:
            if not (repo / source).exists():
                fail(f"COPY source {source} does not exist")
print(f"Dockerfile: ok ({len(stages)} stages, user {users[-1].split()[1]})")
