"""Writes the replay benchmark's scenario (the shape of benches/replay.rs: 800 cpu gauges and
100 + 100 request/error counters, 1,440 samples each at 1m) for the command line and for
promtool:

    python3 benches/replay_scenario.py /tmp/scenario
    vigil replay --rules benches/replay.rules --input /tmp/scenario/data.jsonl \
        --interval 1m --stats --quiet
    (cd /tmp/scenario && time promtool test rules test.yml)

The PromQL rules mirror benches/replay.rules (ranges 1 ms shorter for promtool 2.42's closed
windows; zscore written out with avg/stddev_over_time).
"""

import json
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vigil-replay-scenario"
os.makedirs(out, exist_ok=True)
rnd = random.Random(20261123)
STEPS, CPU, CTR = 1440, 800, 100

series = []
for i in range(CPU):
    v, vals = 50.0, []
    for _ in range(STEPS):
        v = min(100.0, max(0.0, v + (rnd.random() - 0.5) * 12))
        if rnd.random() < 0.002:
            v = 99.0
        vals.append(round(v, 2))
    series.append(("cpu", {"host": f"h{i:03}", "svc": f"s{i % 10}"}, vals))
for name, rate in (("reqs_total", 300.0), ("errs_total", 6.0)):
    for i in range(CTR):
        r = rate * (5 if name == "errs_total" and i % 17 == 0 else 1)
        v, vals = 0.0, []
        for _ in range(STEPS):
            v += round(rnd.random() * 2 * r)
            vals.append(v)
        series.append((name, {"host": f"h{i:03}", "svc": f"s{i % 10}"}, vals))

with open(os.path.join(out, "data.jsonl"), "w") as f:
    for m in range(STEPS):
        for name, labels, vals in series:
            f.write(json.dumps({"ts": m * 60000, "metric": name, "labels": labels, "value": vals[m]}) + "\n")

rules = [
    ("cpu_hot", "cpu > 90", "5m"),
    ("cpu_avg", "avg_over_time(cpu[4m59s999ms]) > 80", ""),
    ("cpu_max", "max_over_time(cpu[9m59s999ms]) > 97", ""),
    ("cpu_slope", "deriv(cpu[14m59s999ms]) > 0.05", ""),
    ("cpu_predict", "predict_linear(cpu[29m59s999ms], 3600) > 100", ""),
    ("cpu_zscore", "(cpu - avg_over_time(cpu[59m59s999ms])) / stddev_over_time(cpu[59m59s999ms]) > 3", "5m"),
    ("cpu_floor", "min_over_time(cpu[4m59s999ms]) < 2", ""),
    ("cpu_noisy", "stddev_over_time(cpu[9m59s999ms]) > 25", ""),
    ("error_ratio", "rate(errs_total[4m59s999ms]) / rate(reqs_total[4m59s999ms]) > 0.05", "2m"),
    ("svc_load", "sum by (svc) (rate(reqs_total[4m59s999ms])) > 20", ""),
]
with open(os.path.join(out, "rules.yml"), "w") as f:
    f.write("groups:\n  - name: bench\n    interval: 1m\n    rules:\n")
    for name, expr, for_ in rules:
        f.write(f"      - alert: {name}\n        expr: {expr}\n")
        if for_:
            f.write(f"        for: {for_}\n")

with open(os.path.join(out, "test.yml"), "w") as f:
    f.write("rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n")
    for name, labels, vals in series:
        sel = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        f.write(f"      - series: '{sel}'\n        values: '{' '.join(str(v) for v in vals)}'\n")
    # One check at the end, so promtool evaluates every rule at every minute.
    f.write("    alert_rule_test:\n      - eval_time: 1439m\n        alertname: never_defined\n        exp_alerts: []\n")
print(out)
