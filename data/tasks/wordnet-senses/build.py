#!/usr/bin/env python3
"""Builds three sense tasks from Debian's wordnet-base (WordNet 3.0) usage examples.

A synset's gloss is "definition; "example"; "example"". We keep the examples that contain one of the synset's own
lemmas as a whole word (case-insensitive), so we know which word the example illustrates and where it is:

* pair-*.csv   (--task pair)   text = a definition, text_pair = an example sentence, label = yes when the example is
  that synset's own, no when it is an example of another sense of the same word (balanced 50/50).
* choice-*.jsonl (--task choice) text = an example with the word blanked as "___", choices = 4 definitions: the right
  one, then other senses of the same word (random same-part-of-speech definitions when the word has fewer than 4),
  shuffled; label = the right index.
* span-*.csv   (--task span)   question = the definition, context = the example, answer / answer_start = the word's
  occurrence (its exact characters and offset).

Splits are by word (a word's examples all fall in one split), sampling is seeded: the same files every time.

    apt-get install wordnet-base
    python3 data/tasks/wordnet-senses/build.py
"""
import csv
import json
import os
import random
import re
import sys

WN = "/usr/share/wordnet"
POS = ["noun", "verb", "adj", "adv"]
SEED = 20261127
SIZES = {"train": 2000, "validation": 300, "test": 300}
SPLIT = {"train": 0.8, "validation": 0.1}  # of the words; the rest is test


def synsets():
    for pos in POS:
        with open(os.path.join(WN, f"data.{pos}"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                count = int(fields[3], 16)
                lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).replace("_", " ") for i in range(count)]
                parts = [p.strip() for p in re.split(r';\s*(?=")', gloss.strip())]
                definition = parts[0].rstrip(";").strip()
                examples = [p.strip().rstrip(";").strip().strip('"').strip() for p in parts[1:]]
                yield f"{pos}:{fields[0]}", pos, lemmas, definition, [e for e in examples if e]


def occurrence(lemma, example):
    """The first whole-word, case-insensitive occurrence of lemma in example, as (start, text), or None."""
    m = re.search(r"(?<![\w-])" + re.escape(lemma) + r"(?![\w-])", example, re.IGNORECASE)
    return (m.start(), m.group(0)) if m else None


def main():
    if not os.path.exists(os.path.join(WN, "data.noun")):
        sys.exit(f"{WN}: not found; install Debian's wordnet-base first")
    rng = random.Random(SEED)
    definitions = {}           # synset -> definition
    by_pos = {p: [] for p in POS}
    # (word, pos) -> list of (synset, example, start, text) for examples that contain the word
    uses = {}
    senses = {}                # (word, pos) -> synsets having that lemma
    for sid, pos, lemmas, definition, examples in synsets():
        if not definition:
            continue
        definitions[sid] = definition
        by_pos[pos].append(sid)
        for lemma in lemmas:
            key = (lemma.lower(), pos)
            senses.setdefault(key, []).append(sid)
            for ex in examples:
                hit = occurrence(lemma, ex)
                if hit:
                    uses.setdefault(key, []).append((sid, ex, hit[0], hit[1]))
    words = sorted(k for k in uses if len(set(senses[k])) >= 2)
    rng.shuffle(words)
    n = len(words)
    cut1, cut2 = int(n * SPLIT["train"]), int(n * (SPLIT["train"] + SPLIT["validation"]))
    split_words = {"train": words[:cut1], "validation": words[cut1:cut2], "test": words[cut2:]}
    out = os.path.dirname(os.path.abspath(__file__))
    for name, ws in split_words.items():
        pair, choice, span = [], [], []
        for key in ws:
            word, pos = key
            for sid, ex, start, text in uses[key]:
                definition = definitions[sid]
                span.append([sid, word, definition, ex, start, text])
                others = [s for s in dict.fromkeys(senses[key]) if s != sid]
                # negatives: another sense's example of the same word (if it has one), else skip the negative
                other_uses = [u for u in uses[key] if u[0] != sid]
                if other_uses:
                    neg = rng.choice(other_uses)
                    pair.append([sid, word, definition, ex, "yes"])
                    pair.append([sid, word, definition, neg[1], "no"])
                distractors = rng.sample(others, min(3, len(others)))
                while len(distractors) < 3:
                    s = rng.choice(by_pos[pos])
                    if s != sid and s not in distractors:
                        distractors.append(s)
                options = [sid] + distractors
                rng.shuffle(options)
                blanked = ex[:start] + "___" + ex[start + len(text):]
                choice.append({"synset": sid, "word": word, "text": blanked, "choices": [definitions[s] for s in options],
                               "label": str(options.index(sid)), "same_word_distractors": min(3, len(others))})
        size = SIZES[name]
        pair = rng.sample(pair, min(size, len(pair)))
        choice = rng.sample(choice, min(size, len(choice)))
        span = rng.sample(span, min(size, len(span)))
        with open(os.path.join(out, f"pair-{name}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["synset", "word", "text", "text_pair", "label"])
            w.writerows(sorted(pair))
        with open(os.path.join(out, f"span-{name}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["synset", "word", "question", "context", "answer_start", "answer"])
            w.writerows(sorted(span))
        with open(os.path.join(out, f"choice-{name}.jsonl"), "w", encoding="utf-8") as f:
            for row in sorted(choice, key=lambda r: (r["synset"], r["text"])):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        yes = sum(r[4] == "yes" for r in pair)
        labels = [r["label"] for r in choice]
        print(f"{name}: {len(ws)} words; pair {len(pair)} (yes {yes}, no {len(pair) - yes}); "
              f"choice {len(choice)} (labels {[labels.count(str(i)) for i in range(4)]}, "
              f"all-same-word distractors {sum(r['same_word_distractors'] == 3 for r in choice)}); span {len(span)}")


if __name__ == "__main__":
    main()
