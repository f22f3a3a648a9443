"""Simulated dashboards for ops/bench-http.sh: N clients, each polling /api/v1/status every
2 s and the top entities and the first entity's windows every 5 s, as the dashboard does, and
holding the alert stream open. Runs until killed."""
import sys
import threading
import time
import urllib.request

base, clients = sys.argv[1], int(sys.argv[2])


def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            return answer.read()
    except Exception:
        return b""


def dashboard(i):
    time.sleep(i * 0.1)
    tick = 0
    while True:
        get("/api/v1/status")
        if tick % 5 == 0:
            get("/api/v1/entities/top?by=mentions&limit=15")
            get("/api/v1/alerts?limit=50")
        tick += 2
        time.sleep(2)


def stream():
    try:
        with urllib.request.urlopen(base + "/api/v1/alerts/stream", timeout=600) as answer:
            while answer.read(4096):
                pass
    except Exception:
        pass


for i in range(clients):
    threading.Thread(target=dashboard, args=(i,), daemon=True).start()
    threading.Thread(target=stream, daemon=True).start()
while True:
    time.sleep(60)
