#!/usr/bin/env python3
"""Rebuilds the WordNet supersense task from Debian's wordnet-base (WordNet 3.0).

Each example is a noun synset's gloss (the definition, without its quoted usage examples) and the label is the
synset's lexicographer file ("supersense"), restricted to six noun classes. Sampling and splitting are seeded, so
the same data files come out every time:

    apt-get install wordnet-base
    python3 data/tasks/wordnet-supersense/build.py
"""
import csv
import os
import random
import re
import sys

DATA = "/usr/share/wordnet/data.noun"
# WordNet's lexicographer file numbers (lexnames(5WN)).
CLASSES = {5: "noun.animal", 6: "noun.artifact", 13: "noun.food", 15: "noun.location", 18: "noun.person", 20: "noun.plant"}
PER_CLASS = {"train": 400, "validation": 60, "test": 60}
SEED = 20261127


def glosses():
    with open(DATA, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            lexfile, words = int(fields[1]), int(fields[3], 16)
            if lexfile not in CLASSES:
                continue
            lemma = fields[4].replace("_", " ")
            definition = re.split(r';\s*"', gloss.strip())[0].strip().rstrip(";").strip()
            if definition:
                yield fields[0], lemma, definition, CLASSES[lexfile]


def main():
    if not os.path.exists(DATA):
        sys.exit(f"{DATA}: not found; install Debian's wordnet-base first")
    by_class = {}
    for offset, lemma, definition, label in glosses():
        by_class.setdefault(label, []).append((offset, lemma, definition, label))
    rng = random.Random(SEED)
    splits = {name: [] for name in PER_CLASS}
    for label in sorted(by_class):
        rows = sorted(by_class[label])
        rng.shuffle(rows)
        start = 0
        for name, n in PER_CLASS.items():
            splits[name].extend(rows[start:start + n])
            start += n
    out = os.path.dirname(os.path.abspath(__file__))
    for name, rows in splits.items():
        rows.sort(key=lambda r: r[0])  # synset offset: a stable order (training shuffles anyway)
        with open(os.path.join(out, f"{name}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["synset", "word", "text", "label"])
            w.writerows(rows)
        print(f"{name}: {len(rows)} examples")


if __name__ == "__main__":
    main()
