"""Writes the event benchmark's input: 1,000,000 events as JSON lines over one day (logins,
flows, processes, file operations, requests), for benches/events.rules:

    python3 benches/events_scenario.py /tmp/events.jsonl
    vigil replay --rules benches/events.rules --input /tmp/events.jsonl --stats --quiet
"""

import json
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vigil-events.jsonl"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
random.seed(42)
t0 = 1_795_428_000_000
ips = [f"10.{i // 250}.{i % 250}.{i % 7}" for i in range(10_000)]
users = [f"user{i}" for i in range(1_000)]
hosts = [f"host-{i}" for i in range(200)]
countries = ["CH", "DE", "FR", "GB", "US", "BR", "CN"]
tools = [f"tool{i}" for i in range(40)] + ["whoami", "netstat"]
common = ["nginx", "python3", "java", "bash", "sh", "systemd", "cron", "sshd"]
pnames = ["bash", "nginx", "systemd", "sshd", "java"]
ops = ["read"] * 70 + ["write"] * 20 + ["scan"] * 8 + ["upload"] * 2
home = {u: random.choice(countries[:4]) for u in users}
with open(out, "w") as f:
    for i in range(n):
        ts = t0 + i * 86  # one day
        r = random.random()
        if r < 0.30:
            ip = random.choice(ips[:2000]) if random.random() < 0.5 else random.choice(ips)
            e = {"type": "login", "success": random.random() < 0.7, "user": random.choice(users),
                 "src_ip": ip}
            u = e["user"]
            e["country"] = random.choice(countries) if random.random() < 0.005 else home[u]
        elif r < 0.50:
            e = {"type": "flow", "src_ip": random.choice(ips), "user": random.choice(users),
                 "dport": random.choice([80, 443, 1003, 1017, 22]), "bytes": int(random.expovariate(1 / 60_000))}
        elif r < 0.70:
            e = {"type": "proc", "host": random.choice(hosts),
                 "proc": {"name": random.choice(tools) if random.random() < 0.05 else random.choice(common),
                          "pname": random.choice(pnames), "pid": random.randint(1, 65535)}}
        elif r < 0.85:
            e = {"type": "file", "host": random.choice(hosts), "op": random.choice(ops),
                 "path": f"/etc/app{random.randint(0, 60)}/conf.{random.randint(0, 9)}" if random.random() < 0.05
                 else f"/var/lib/data/{random.randint(0, 999)}.db"}
        else:
            e = {"type": "request", "host": random.choice(hosts), "latency": round(random.expovariate(1.0), 4),
                 "path": "/api/v1/orders"}
        f.write(json.dumps({"ts": ts, "event": e}, separators=(",", ":")) + "\n")
