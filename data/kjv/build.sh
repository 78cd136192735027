#!/usr/bin/env bash
# Rebuilds data/kjv/train.txt and data/kjv/validation.txt from Debian's bible-kjv-text package.
# Needs a Debian 12 machine with apt sources configured (run `apt-get update` first); no root needed
# for `apt-get download`. The text is read with the package's own `bible` program (from bible-kjv),
# which is only unpacked into a temporary folder, never installed.
#
# Output format (see data/README.md): one document per book; a document is the book's name on its
# first line followed by one verse per line with the "Book C:V" reference stripped. Documents are
# separated by a blank line followed by a line holding only a form feed (U+000C), which is what
# Ptm.Data.TextSource splits on.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
expected_version="4.38"
# Held-out books (about 10% of the verse text), spread over history, wisdom, prophets, gospels, epistles.
heldout="Judges|Ruth|Ezra|Ecclesiastes|Daniel|Jonah|Mark|Romans|Hebrews"

work="$(mktemp -d)"
chmod 755 "$work"  # lets apt's unprivileged _apt user write the downloads
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download bible-kjv-text bible-kjv >/dev/null
for deb in bible-kjv-text_*.deb bible-kjv_*.deb; do
  version="$(dpkg-deb -f "$deb" Version)"
  if [[ "$version" != "$expected_version" ]]; then
    echo "warning: $deb is version $version, data/README.md documents $expected_version" >&2
  fi
  dpkg-deb -x "$deb" root
done

# -f turns pretty-printing off: one verse per line, prefixed with its reference ("Ge1:1 In the ...").
"$work/root/usr/bin/bible" -f -p "$work/root/usr/lib" gen1:1-rev22:21 > verses.txt

awk -v heldout="^(${heldout})\$" -v train="$here/train.txt" -v validation="$here/validation.txt" '
BEGIN {
  n = split("Genesis|Exodus|Leviticus|Numbers|Deuteronomy|Joshua|Judges|Ruth|1 Samuel|2 Samuel|" \
            "1 Kings|2 Kings|1 Chronicles|2 Chronicles|Ezra|Nehemiah|Esther|Job|Psalms|Proverbs|" \
            "Ecclesiastes|Song of Solomon|Isaiah|Jeremiah|Lamentations|Ezekiel|Daniel|Hosea|Joel|Amos|" \
            "Obadiah|Jonah|Micah|Nahum|Habakkuk|Zephaniah|Haggai|Zechariah|Malachi|Matthew|Mark|Luke|" \
            "John|Acts|Romans|1 Corinthians|2 Corinthians|Galatians|Ephesians|Philippians|Colossians|" \
            "1 Thessalonians|2 Thessalonians|1 Timothy|2 Timothy|Titus|Philemon|Hebrews|James|1 Peter|" \
            "2 Peter|1 John|2 John|3 John|Jude|Revelation", names, "|")
  book = 0; ntrain = 0; nval = 0
}
{
  if (!match($0, /^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ /)) { print "unexpected line " NR ": " $0 > "/dev/stderr"; exit 1 }
  abbrev = $0; sub(/[0-9]+:[0-9]+ .*/, "", abbrev)
  text = substr($0, RLENGTH + 1)
  sub(/[ \t\r]+$/, "", text)
  if (abbrev != current) {
    current = abbrev; book++
    if (book > n) { print "more than " n " books" > "/dev/stderr"; exit 1 }
    out = (names[book] ~ heldout) ? validation : train
    if (out == train) { if (ntrain++) printf "\n\f\n" > out } else { if (nval++) printf "\n\f\n" > out }
    print names[book] > out
  }
  print text > out
  verses++
}
END {
  if (book != n || verses != 31102) { print "expected 66 books and 31102 verses, got " book " and " verses > "/dev/stderr"; exit 1 }
  printf "books: %d train, %d validation; verses: %d\n", ntrain, nval, verses
}' verses.txt
wc -c "$here/train.txt" "$here/validation.txt"
