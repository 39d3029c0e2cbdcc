#!/usr/bin/env python3
"""Regenerate a corpus directory's phrases.json from a reference extractor.

    python3 tests/corpus/phrases.py tests/corpus/docx pandoc
    python3 tests/corpus/phrases.py tests/corpus/html pandoc
    python3 tests/corpus/phrases.py DIR pdftotext --out -      (print, write nothing)

The reference text is `pandoc -t plain --wrap=none FILE` (docx, html) or
`pdftotext -enc UTF-8 FILE -` (pdf). A phrase is four consecutive words of it, taken
at --count even positions of each file and kept in document order. Only phrases of
plain words are kept: each word made of letters, ASCII digits and .,;:'"()- with at
least one letter or digit. Phrases never span a blank line, a table row (a line with
a run of two or more spaces inside it, a line of only dashes, `=`, `+`, `|`, `:`, or
one starting with `|` or `+`), a table caption, or a bracketed span such as a
footnote marker `[1]` or an image's `[alt text]`. A file with no such phrase is left
out (and named on stderr). Standard library only.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

TOOLS = {
    "pandoc": {".docx": "docx", ".html": "html", ".htm": "html"},
    "pdftotext": {".pdf": None},
}

LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\(?\d+[.)]|\(?[A-Za-z][.)]|#\.)\s+")
TABLE_RULE = re.compile(r"^[\s\-=+:|]+$")
INNER_GAP = re.compile(r"\S {2,}\S")
BRACKETED = re.compile(r"\[[^\]]*\]")
PUNCT = set(".,;:'\"()-")


def reference_text(tool, path, reader):
    if tool == "pandoc":
        cmd = ["pandoc", "-f", reader, "-t", "plain", "--wrap=none", str(path)]
    else:
        cmd = ["pdftotext", "-enc", "UTF-8", str(path), "-"]
    run = subprocess.run(cmd, capture_output=True)
    if run.returncode != 0:
        sys.stderr.write(f"{path.name}: {tool} failed: {run.stderr.decode(errors='replace')}\n")
        return ""
    return run.stdout.decode("utf-8", errors="replace")


def segments(text):
    """Runs of words that may form phrases: cut at blank lines, tables and brackets."""
    out, current = [], []

    def cut():
        if current:
            out.append(list(current))
            current.clear()

    for raw in text.replace("\f", "\n").splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if (
            not stripped
            or TABLE_RULE.match(line)
            or stripped.startswith(("|", "+", ": "))
        ):
            cut()
            continue
        marker = LIST_MARKER.match(line)
        body = line[marker.end() :].strip() if marker else stripped
        if INNER_GAP.search(body):
            cut()
            continue
        if marker:
            cut()  # a list item starts a new run
        for i, part in enumerate(BRACKETED.split(body)):
            if i:
                cut()
            current.extend(part.split())
    cut()
    return out


def plain_word(word):
    return all(c.isalpha() or c in "0123456789" or c in PUNCT for c in word) and any(
        c.isalpha() or c in "0123456789" for c in word
    )


def choose(text, count):
    return pick(segments(text), count)


def pick(segs, count):
    """Up to count phrases from runs of words (see segments), at even positions, in order."""
    words, starts = [], []  # starts: indices in words where a good phrase begins
    for seg in segs:
        base = len(words)
        words.extend(seg)
        for i in range(len(seg) - 3):
            if all(plain_word(w) for w in seg[i : i + 4]):
                starts.append(base + i)
    if not starts or not words:
        return []
    chosen, last_end, seen = [], -1, set()
    for k in range(count):
        target = int((k + 0.5) * len(words) / count)
        # the first good start at or after the target that does not overlap the previous
        pick = next((s for s in starts if s >= target and s > last_end), None)
        if pick is None:
            break
        phrase = " ".join(words[pick : pick + 4])
        if phrase in seen:
            continue
        seen.add(phrase)
        chosen.append(phrase)
        last_end = pick + 3
    return chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("tool", choices=sorted(TOOLS))
    ap.add_argument("--count", type=int, default=6, help="phrases per file (default 6)")
    ap.add_argument("--out", help="output file, '-' for stdout (default DIR/phrases.json)")
    args = ap.parse_args()

    readers = TOOLS[args.tool]
    result = {}
    for path in sorted(args.dir.iterdir()):
        if path.suffix.lower() not in readers:
            continue
        phrases = choose(reference_text(args.tool, path, readers[path.suffix.lower()]), args.count)
        if phrases:
            result[path.stem] = phrases
        else:
            sys.stderr.write(f"{path.name}: no phrase of plain words; left out\n")
    data = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    out = args.out or str(args.dir / "phrases.json")
    if out == "-":
        sys.stdout.write(data)
    else:
        Path(out).write_text(data, encoding="utf-8")


if __name__ == "__main__":
    main()
