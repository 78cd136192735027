#!/usr/bin/env python3
"""Markdown table of benchmarks/prompting/run.sh's metrics: accuracy per task, shots and calibration,
mean ± sample standard deviation over the demonstration seeds (zero-shot has one run)."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
acc = defaultdict(list)
demos = defaultdict(list)
gold = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(.+)-k(\d+)-s(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    task, k = m.group(1), int(m.group(2))
    j = json.load(open(path))
    for cal, v in j["calibrations"].items():
        acc[(task, k, cal)].append(v["accuracy"])
    demos[(task, k)].append(j["demonstrations_mean"])
    conf = next(iter(j["calibrations"].values()))["confusion"]
    gold[task] = (j["labels"], [sum(row) for row in conf])

def cell(values):
    if not values:
        return "–"
    mean = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f} ({len(values)})"

tasks = ["supersense", "kjv-next-verse", "senses-pair", "senses-choice"]
shots = sorted({k for (_, k, _) in acc})
print("| task | shots | demos fitted | none | contextual | pmi |")
print("|---|---:|---:|---:|---:|---:|")
for t in tasks:
    for k in shots:
        if (t, k, "none") not in acc:
            continue
        d = statistics.mean(demos[(t, k)])
        print(f"| {t} | {k} | {d:.2f} | " + " | ".join(cell(acc[(t, k, c)]) for c in ["none", "contextual", "pmi"]) + " |")

print()
for t in tasks:
    if t in gold:
        labels, counts = gold[t]
        print(f"{t}: gold labels of the subset: " + ", ".join(f"{l} {c}" for l, c in zip(labels, counts)))

# How concentrated the predictions are: per task, shots and calibration, the answer given most often and how many
# of the queries got it (summed over the seeds' runs, so out of 100 x runs).
print()
print("| task | shots | none | contextual | pmi |")
print("|---|---:|---|---|---|")
top = defaultdict(lambda: defaultdict(int))
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(.+)-k(\d+)-s(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    j = json.load(open(path))
    for cal, v in j["calibrations"].items():
        for p, n in enumerate(map(sum, zip(*v["confusion"]))):
            top[(m.group(1), int(m.group(2)), cal)][j["labels"][p]] += n
for t in tasks:
    for k in shots:
        if (t, k, "none") not in top:
            continue
        cells = []
        for c in ["none", "contextual", "pmi"]:
            counts = top[(t, k, c)]
            label = max(counts, key=counts.get)
            cells.append(f"{label} {100 * counts[label] / sum(counts.values()):.0f}%")
        print(f"| {t} | {k} | " + " | ".join(cells) + " |")
