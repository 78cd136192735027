#!/usr/bin/env python3
"""Builds a sentence-pair task from the shipped KJV text (data/kjv): does verse B follow verse A?

text = a verse, text_pair = the verse that follows it in its book ("yes"), or a verse drawn
from another book of the same split ("no"), balanced. This is next-sentence prediction (Devlin et al. 2018, §3.1)
as a fine-tuning task. Training pairs come from data/kjv/train.txt (the books the shipped models are pre-trained
on); validation and test pairs come from the held-out books in data/kjv/validation.txt, which no pre-trained model
has seen: validation from Judges, Ruth, Ezra and Ecclesiastes, test from Daniel, Jonah, Mark, Romans and Hebrews.
Seeded: the same files every time.

    python3 data/tasks/kjv-next-verse/build.py
"""
import csv
import os
import random

SEED = 20261127
SIZES = {"train": 2000, "validation": 300, "test": 300}
VALIDATION_BOOKS = {"Judges", "Ruth", "Ezra", "Ecclesiastes"}


def books(path):
    """{book name: [verse, ...]} from a data/kjv file (documents split by a form-feed line, name first)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for doc in text.split("\n\f\n"):
        lines = [l for l in doc.strip("\n\f").split("\n") if l.strip()]
        if lines:
            out[lines[0]] = lines[1:]
    return out


def pairs(book_verses, n, rng):
    names = sorted(book_verses)
    rows = []
    for i in range(n):
        book = rng.choice(names)
        verses = book_verses[book]
        k = rng.randrange(len(verses) - 1)
        if i % 2 == 0:
            rows.append([book, verses[k], verses[k + 1], "yes"])
        else:
            other = rng.choice([b for b in names if b != book])
            rows.append([book, verses[k], rng.choice(book_verses[other]), "no"])
    rng.shuffle(rows)
    return rows


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "kjv")
    train = books(os.path.join(root, "train.txt"))
    held = books(os.path.join(root, "validation.txt"))
    splits = {
        "train": train,
        "validation": {b: v for b, v in held.items() if b in VALIDATION_BOOKS},
        "test": {b: v for b, v in held.items() if b not in VALIDATION_BOOKS},
    }
    rng = random.Random(SEED)
    out = os.path.dirname(os.path.abspath(__file__))
    for name, book_verses in splits.items():
        rows = pairs(book_verses, SIZES[name], rng)
        with open(os.path.join(out, f"{name}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["book", "text", "text_pair", "label"])
            w.writerows(rows)
        print(f"{name}: {len(rows)} pairs from {len(book_verses)} books ({', '.join(sorted(book_verses)) if name != 'train' else 'the training books'})")


if __name__ == "__main__":
    main()
