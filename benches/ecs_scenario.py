"""Writes the real-shape event benchmark's input and its two rule packs (issue "Hot path"):
ECS-like process/network/file events and Falco-like syscall alerts as JSON lines, nested
objects, arrays of strings (`event.category`, `event.type`, `tags`), Windows paths and
command lines with escapes, 12-20 fields and about 300 bytes each.

    python3 benches/ecs_scenario.py /tmp/ecs.jsonl 1000000
    # writes /tmp/ecs.jsonl, /tmp/ecs_rare.rules (100 rules, ~0.1% of events match one)
    # and /tmp/ecs_heavy.rules (100 rules, 1-2 matches per event)
    cargo bench --bench ecs   # runs it and the baselines, prints ratios
"""

import json
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vigil-ecs.jsonl"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
random.seed(7)
t0 = 1_795_428_000_000
hosts = [f"ws-{i:04d}" for i in range(500)]
users = [f"user{i}" for i in range(2_000)]
procs = ["svchost.exe", "chrome.exe", "explorer.exe", "powershell.exe", "cmd.exe",
         "python.exe", "java.exe", "nginx", "bash", "sshd", "curl", "systemd"]
rare = [f"tool{i}.exe" for i in range(100)]
parents = ["explorer.exe", "services.exe", "bash", "systemd", "winword.exe"]
tags_pool = ["prod", "edr", "windows", "linux", "beats", "pci", "dmz"]
ips = [f"10.{i // 250}.{i % 250}.{i % 9 + 1}" for i in range(5_000)]
falco_rules = ["Terminal shell in container", "Write below etc", "Read sensitive file untrusted",
               "Unexpected outbound connection", "Launch Privileged Container"]


def ecs_process(i):
    name = random.choice(rare) if random.random() < 0.001 else random.choice(procs)
    pid = random.randint(100, 65535)
    return {
        "@timestamp": f"2026-11-23T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
        "event": {"kind": "event", "category": ["process"], "type": ["start"],
                  "module": "sysmon", "code": 1},
        "host": {"name": random.choice(hosts), "os": {"family": random.choice(["windows", "linux"])}},
        "user": {"name": random.choice(users), "domain": "CORP"},
        "process": {"name": name, "pid": pid,
                    "executable": f"C:\\Windows\\System32\\{name}",
                    "command_line": f"\"{name}\" /c run --id {pid}",
                    "parent": {"name": random.choice(parents), "pid": random.randint(100, 65535)}},
        "tags": random.sample(tags_pool, 2),
    }


def ecs_network(i):
    return {
        "@timestamp": f"2026-11-23T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
        "event": {"kind": "event", "category": ["network"], "type": ["connection", "allowed"],
                  "module": "zeek", "duration": random.randint(1, 10**7)},
        "source": {"ip": random.choice(ips), "port": random.randint(1024, 65535)},
        "destination": {"ip": random.choice(ips), "port": random.choice([22, 80, 443, 3389, 8443])},
        "network": {"transport": random.choice(["tcp", "udp"]), "bytes": random.randint(40, 10**6)},
        "host": {"name": random.choice(hosts)},
        "tags": random.sample(tags_pool, 2),
    }


def ecs_file(i):
    d = random.choice(["C:\\Users\\Public", "C:\\Windows\\Temp", "C:\\ProgramData\\App"])
    return {
        "@timestamp": f"2026-11-23T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
        "event": {"kind": "event", "category": ["file"], "type": [random.choice(["creation", "change", "deletion"])],
                  "module": "sysmon", "code": 11},
        "file": {"path": f"{d}\\{random.randint(0, 9999)}.{random.choice(['tmp', 'dll', 'ps1', 'txt'])}",
                 "size": random.randint(0, 10**7)},
        "process": {"name": random.choice(procs), "pid": random.randint(100, 65535)},
        "host": {"name": random.choice(hosts)},
        "user": {"name": random.choice(users)},
    }


def falco(i):
    return {
        "time": f"2026-11-23T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}000000Z",
        "rule": random.choice(falco_rules), "priority": random.choice(["Warning", "Notice", "Error"]),
        "source": "syscall", "tags": ["container", "mitre_execution", random.choice(tags_pool)],
        "output_fields": {"container.id": f"{random.getrandbits(48):012x}",
                          "proc.name": random.choice(procs), "proc.cmdline": "sh -c \"ls /etc\"",
                          "user.name": random.choice(users), "fd.name": "/etc/shadow",
                          "evt.type": random.choice(["open", "openat", "execve", "connect"])},
        "hostname": random.choice(hosts),
    }


kinds = [ecs_process] * 4 + [ecs_network] * 3 + [ecs_file] * 2 + [falco]
with open(out, "w") as f:
    for i in range(n):
        e = random.choice(kinds)(i)
        f.write(json.dumps({"ts": t0 + i * 3, "event": e}, separators=(",", ":")) + "\n")

base = os.path.splitext(out)[0]

# ECS says what happened in `event.category`, not `event.type`: the rule index lint is moot.
rare_rules = ["# 100 rules, about 0.1% of the events match one (benches/ecs_scenario.py).",
              "# vigil: allow-file(V1013)", "package ecs_rare", ""]
for k in range(100):
    if k < 60:
        cond = f'"process" in event.event.category and event.process.name == "tool{k}.exe" and event.process.parent.name in ["explorer.exe", "winword.exe"]'
    elif k < 80:
        cond = f'"network" in event.event.category and event.destination.port == 3389 and event.source.ip == "10.0.{k}.1" and "dmz" in event.tags'
    elif k < 95:
        cond = f'"file" in event.event.category and event.file.path endswith "\\\\{k}7.ps1" and event.process.name == "powershell.exe"'
    else:
        cond = f'event.rule == "Launch Privileged Container" and event.output_fields.proc.name == "curl" and event.output_fields.user.name == "user{k}"'
    rare_rules += [f"rule r{k} {{", "  severity warning", f"  on event where {cond}", '  summary "r"', "}", ""]
with open(base + "_rare.rules", "w") as f:
    f.write("\n".join(rare_rules))

heavy_rules = ["# 100 rules, 1-2 match each event (benches/ecs_scenario.py).",
               "# vigil: allow-file(V1013)", "package ecs_heavy", ""]
for k in range(100):
    if k < 40:
        lo, hi = 100 + k * 1636, 100 + (k + 1) * 1636
        cond = f'"process" in event.event.category and event.process.pid >= {lo} and event.process.pid < {hi}'
    elif k < 70:
        lo, hi = 1024 + (k - 40) * 2151, 1024 + (k - 39) * 2151
        cond = f'"network" in event.event.category and event.source.port >= {lo} and event.source.port < {hi}'
    elif k < 90:
        lo, hi = (k - 70) * 500_001, (k - 69) * 500_001
        cond = f'"file" in event.event.category and event.file.size >= {lo} and event.file.size < {hi}'
    else:
        cond = f'event.source == "syscall" and event.output_fields.proc.name == "{procs[k - 90]}"'
    extra = ' and event.host.name startswith "ws-"' if k % 2 == 0 else ""
    heavy_rules += [f"rule h{k} {{", "  severity warning", f"  on event where {cond}{extra}", '  summary "h"', "}", ""]
# A second match for most events: process and file events by their tags or module.
heavy_rules += ['rule h_tag {', '  severity warning', '  on event where "edr" in event.tags or event.event.module == "sysmon"', '  summary "t"', '}', '']
with open(base + "_heavy.rules", "w") as f:
    f.write("\n".join(heavy_rules))
