#!/usr/bin/env python3
"""Builds a German -> English sentence translation task from Debian's trans-de-en (Frank Richter's Ding dictionary).

Each line of /usr/share/trans/de-en is one entry, "German side :: English side"; both sides hold the same number of
segments separated by " | ", the n-th German segment translated by the n-th English one. Besides headwords the
segments hold example sentences. We keep a segment pair when the German segment, after cleaning, ends in ".", "?"
or "!", has at least four words and does not end in a dictionary abbreviation ("jdn.", "etw.", ...: those are phrase
entries, not sentences). Cleaning, on both sides: usage labels in square brackets ([ugs.], [Br.]) and grammar tags
in braces ({m}, {vt}) are removed; where a side lists alternatives separated by "; ", the first is kept; spaces are
collapsed. A German sentence seen in an earlier entry is skipped, so no source text is in two splits.

Splits are by entry (seeded shuffle of the entries that yield pairs: 90% train, 5% validation, 5% test), so the
sentences of one entry never straddle splits. Columns: entry (the entry's line number in the dictionary file),
source (German), target (English). The same files every time for the same dictionary version.

    apt-get install trans-de-en
    python3 data/tasks/de-en/build.py
"""
import csv
import os
import random
import re
import sys

DICTIONARY = "/usr/share/trans/de-en"
SEED = 20261207
SPLIT = {"train": 0.90, "validation": 0.05}  # of the entries; the rest is test
ABBREVIATIONS = {"jd.", "jdn.", "jdm.", "jds.", "etw.", "sb.", "sth.", "usw.", "etc.", "o.ä.", "u.a.", "z.B.", "bzw."}


def clean(text):
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = text.split("; ")[0]
    return " ".join(text.split()).replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")


def is_sentence(german):
    words = german.split()
    return german.endswith((".", "?", "!")) and len(words) >= 4 and words[-1] not in ABBREVIATIONS


def entries():
    with open(DICTIONARY, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.startswith("#") or " :: " not in line:
                continue
            german, english = line.rstrip("\n").split(" :: ", 1)
            de, en = german.split(" | "), english.split(" | ")
            if len(de) != len(en):
                continue
            pairs = []
            for d, e in zip(de, en):
                if not is_sentence(d.strip()):   # the raw segment must look like a sentence too
                    continue
                source, target = clean(d), clean(e)
                if is_sentence(source) and target:
                    pairs.append((source, target))
            if pairs:
                yield number, pairs


def main():
    if not os.path.exists(DICTIONARY):
        sys.exit(f"{DICTIONARY}: not found; install Debian's trans-de-en first")
    seen = set()
    kept = []
    for number, pairs in entries():
        fresh = [(s, t) for s, t in pairs if s not in seen]
        seen.update(s for s, _ in fresh)
        if fresh:
            kept.append((number, fresh))
    rng = random.Random(SEED)
    order = list(range(len(kept)))
    rng.shuffle(order)
    n = len(order)
    cut1, cut2 = int(n * SPLIT["train"]), int(n * (SPLIT["train"] + SPLIT["validation"]))
    splits = {"train": sorted(order[:cut1]), "validation": sorted(order[cut1:cut2]), "test": sorted(order[cut2:])}
    here = os.path.dirname(os.path.abspath(__file__))
    for name, indices in splits.items():
        path = os.path.join(here, f"{name}.csv")
        rows = 0
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["entry", "source", "target"])
            for i in indices:
                number, pairs = kept[i]
                for source, target in pairs:
                    w.writerow([number, source, target])
                    rows += 1
        os.replace(path + ".tmp", path)
        print(f"{name}: {len(indices)} entries, {rows} pairs -> {path}")


if __name__ == "__main__":
    main()
