"""Static checks of docker-compose.yml and the Dockerfile (no Docker engine here).

Usage: check_compose.py REPO_DIR. Prints what it checked; exits 1 with the first failure.
"""
import pathlib
import sys

import yaml

repo = pathlib.Path(sys.argv[1])


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


compose = yaml.safe_load((repo / "docker-compose.yml").read_text())
services = compose.get("services") or fail("no services")
for name in ["kafka", "topics", "chatter", "producer"]:
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
for volume in chatter.get("volumes", []):
    source = volume.split(":")[0]
    if not source.startswith(".") and source not in (compose.get("volumes") or {}):
        fail(f"volume {source} is not declared")
print(f"docker-compose.yml: ok ({len(services)} services)")

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
