#!/usr/bin/env python3
"""The reference side of tests/import.rs's Sigma comparison.

For each Sigma rule file given, generate events from the rule's own values (each value, its
case flipped, with text around it, cut short, missing fields), convert the rule with pySigma's
SQLite backend, load the events into SQLite (columns COLLATE NOCASE: Sigma's matching ignores
case) and print, as one JSON line per rule, the events and the indices the SQL matched.
"""
import json
import sqlite3
import sys

import yaml
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection


def unescaped(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v) and v[i + 1] in "*?\\":
            out.append(v[i + 1])
            i += 2
            continue
        if c == "*":
            out.append("zz")
        elif c == "?":
            out.append("q")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def candidates(mods, value):
    """Values that should match, and near misses, for one field test."""
    if isinstance(value, bool) or value is None:
        return [value]
    if isinstance(value, (int, float)):
        return [value, value + 1]
    v = unescaped(str(value))
    if "contains" in mods:
        return ["pre" + v + "post", ("pre" + v + "post").swapcase(), v[1:], "other"]
    if "startswith" in mods:
        return [v + "post", v.swapcase(), "pre" + v, v[:-1]]
    if "endswith" in mods:
        return ["pre" + v, ("pre" + v).swapcase(), v + "post", v[1:]]
    return [v, v.swapcase(), v + "x", ""]


def events_for(rule):
    det = rule["detection"]
    idents = [k for k in det if k not in ("condition", "timeframe")]
    tests = {}  # identifier -> list of (field, mods, values)
    for k in idents:
        body = det[k]
        maps = body if isinstance(body, list) else [body]
        for m in maps:
            if not isinstance(m, dict):
                continue
            for key, vals in m.items():
                field, *mods = key.split("|")
                vals = vals if isinstance(vals, list) else [vals]
                tests.setdefault(k, []).append((field, mods, vals))
    # Each identifier's tests with their first values; all of them together; then each
    # field of the whole varied (other values, case flipped, near misses) or missing.
    bases = []
    for k, ts in tests.items():
        base = {}
        for field, mods, vals in ts:
            if vals and field not in base:
                if "all" in mods and all(isinstance(v, str) for v in vals):
                    # Every value at once: `contains|all` holds only then.
                    base[field] = " ".join(unescaped(v) for v in vals)
                else:
                    base[field] = candidates(mods, vals[0])[0]
        bases.append(base)
    union = {}
    for b in bases:
        for k, v in b.items():
            union.setdefault(k, v)
    events = [dict(union)] + [dict(b) for b in bases]
    for ts in tests.values():
        for field, mods, vals in ts:
            for v in vals[:3]:
                for c in candidates(mods, v):
                    for base in (union,):
                        e = dict(base)
                        e[field] = c
                        events.append(e)
            e = dict(union)
            e.pop(field, None)
            events.append(e)
    # Values that are not None only; SQLite's NULL stands for a missing field.
    out = []
    for e in events:
        e = {k: v for k, v in e.items() if v is not None and not isinstance(v, bool)}
        if e and e not in out:
            out.append(e)
    return out


def main():
    backend = sqliteBackend()
    for path in sys.argv[1:]:
        text = open(path, encoding="utf-8").read()
        rule = yaml.safe_load(text)
        events = events_for(rule)
        try:
            queries = backend.convert(SigmaCollection.from_yaml(text))
        except Exception as e:  # pySigma refuses the rule: nothing to compare
            print(json.dumps({"rule": path, "skipped": str(e)}))
            continue
        cols = sorted({k for e in events for k in e})
        db = sqlite3.connect(":memory:")
        db.execute(
            "CREATE TABLE logs (_i INTEGER, %s)"
            % ", ".join('"%s" COLLATE NOCASE' % c for c in cols)
        )
        for i, e in enumerate(events):
            names = ["_i"] + ['"%s"' % k for k in e]
            db.execute(
                "INSERT INTO logs (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(names))),
                [i] + list(e.values()),
            )
        matched = set()
        try:
            for q in queries:
                for row in db.execute(q.replace("SELECT *", "SELECT _i", 1)):
                    matched.add(row[0])
        except sqlite3.Error as e:
            print(json.dumps({"rule": path, "skipped": "sqlite: %s" % e}))
            continue
        print(json.dumps({"rule": path, "events": events, "matched": sorted(matched)}))


if __name__ == "__main__":
    main()
