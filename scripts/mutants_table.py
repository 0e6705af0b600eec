#!/usr/bin/env python3
"""Per-file table of cargo-mutants outcomes: caught / missed / timeout / unviable / share.

Usage: mutants_table.py OUTCOMES.json [OUTCOMES.json ...] (later files win for a mutant seen twice,
so a rerun of the missed ones after new tests replaces their first outcome).

OUTCOMES.json@src/a.rs,src/b.rs: this file's outcomes replace every earlier outcome of those source
files, for a rerun of whole files whose code moved (the mutants' names carry line numbers, so the
first run's names would otherwise stay beside the rerun's)."""
import json
import sys
from collections import defaultdict

KIND = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout", "Unviable": "unviable"}
latest = {}
for arg in sys.argv[1:]:
    path, _, replaced = arg.partition("@")
    replaced = set(filter(None, replaced.split(",")))
    latest = {n: v for n, v in latest.items() if v[0] not in replaced}
    for o in json.load(open(path))["outcomes"]:
        m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
        if m and o["summary"] in KIND:
            latest[m["name"]] = (m["file"], KIND[o["summary"]])
per = defaultdict(lambda: defaultdict(int))
for name, (f, k) in latest.items():
    per[f][k] += 1
print("| file | caught | missed | timeout | unviable | caught share of viable |")
print("|---|---:|---:|---:|---:|---:|")
for f in sorted(per):
    c = per[f]
    viable = c["caught"] + c["missed"] + c["timeout"]
    share = f"{(c['caught'] + c['timeout']) / viable:.0%}" if viable else "n/a"
    print(f"| {f} | {c['caught']} | {c['missed']} | {c['timeout']} | {c['unviable']} | {share} |")
missed = sorted(n for n, (f, k) in latest.items() if k == "missed")
if missed:
    print("\nmissed:")
    for n in missed:
        print("  " + n)
