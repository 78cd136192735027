#!/usr/bin/env python3
"""Builds a sequence-to-sequence task, "word in context -> definition", from the shipped wordnet-senses span files.

Each span row pairs a WordNet definition (question) with one of its synset's usage examples (context) and the defined
word's occurrence in it (answer). Here the source is "word: example" and the target the definition, e.g.
"emergent: an emergent republic" -> "coming into existence". The splits are wordnet-senses' (by word: no word is in
two splits), so the model must write definitions for words it never saw defined. No randomness: row for row.

    python3 data/tasks/wordnet-gloss/build.py
"""
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SENSES = os.path.join(HERE, "..", "wordnet-senses")


def main():
    for split in ["train", "validation", "test"]:
        with open(os.path.join(SENSES, f"span-{split}.csv"), encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        path = os.path.join(HERE, f"{split}.csv")
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["synset", "source", "target"])
            for r in rows:
                w.writerow([r["synset"], f"{r['answer']}: {r['context']}", r["question"]])
        os.replace(path + ".tmp", path)
        print(f"{split}: {len(rows)} pairs -> {path}")


if __name__ == "__main__":
    main()
