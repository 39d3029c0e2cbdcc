#!/usr/bin/env python3
"""Regenerate tests/corpus/office/phrases.json from reference extractors.

    python3 tests/corpus/office/phrases.py                 (writes office/phrases.json)
    python3 tests/corpus/office/phrases.py --out -         (print, write nothing)

Keys are file names with their extension (a sheet-x.xlsx and a sheet-x.ods may both exist).
The reference text of each file comes from a tool installed from a package registry:

- .odt .rtf .epub: `pandoc -t plain --wrap=none FILE` (Debian pandoc), with a Lua filter
  that makes headings paragraphs and drops small capitals (the plain writer would put
  level-1 headings and small caps in capitals; the file stores mixed case), cut
  into runs of words as ../phrases.py does (blank lines, table rows, list items, brackets);
  rows of one-column simple tables, which it would miss, are dropped first.
- .xlsx: `markitdown FILE` (PyPI markitdown[xlsx]); each cell of its Markdown tables is a run
  of its own, so a phrase never crosses cells. Sheet-name headings, pandas' `Unnamed: N`
  column names and `NaN` fillers are not text of the file and are skipped.
- .ods: pandas.read_excel(FILE, sheet_name=None, header=None, engine="odf") (PyPI pandas,
  odfpy), the same pandas reading markitdown does for .xlsx; each non-empty cell a run.
- .pptx: `markitdown FILE` (PyPI markitdown[pptx]); each text line is a run of its own.
  Skipped: slide-number comments, images (their alt text), tables, chart sections and
  speaker notes (docpipe leaves notes and charts out). A `# ` heading marker is dropped.
- .eml: Python's standard `email` package (policy.default): the Subject header (encoded words
  decoded) is a run of its own, then the body part get_body(("plain", "html")) picks, its
  charset and transfer encoding decoded; an HTML body is reduced to its text first. The body
  is cut into runs like pandoc text (../phrases.py segments()).

Phrases are then picked as in ../phrases.py: four consecutive plain words of one run, at
--count even positions of the file, in document order. A file with no such phrase is left
out and named on stderr. Run it with a Python that has markitdown[xlsx,pptx], pandas and
odfpy (for example a venv: pip install 'markitdown[xlsx,pptx]' odfpy).
"""

import argparse
import email
import email.policy
import html.parser
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from phrases import pick, segments  # noqa: E402  (tests/corpus/phrases.py)

HERE = Path(__file__).resolve().parent
PANDOC = {".odt": "odt", ".rtf": "rtf", ".epub": "epub"}
NOT_CELL_TEXT = re.compile(r"^(?:NaN|Unnamed: \d+(?:\.\d+)?)$")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode(errors="replace"))
    return out.stdout.decode("utf-8", errors="replace")


def markitdown(path):
    exe = Path(sys.executable).with_name("markitdown")
    return run([str(exe) if exe.exists() else "markitdown", str(path)])


def table_cells(line):
    line = line.strip()
    if not line.startswith("|") or re.fullmatch(r"[|\s:-]+", line):
        return []
    return [c.strip() for c in line.strip("|").split(" | ")]


def xlsx_runs(path):
    runs = []
    for line in markitdown(path).splitlines():
        for cell in table_cells(line):
            if cell and not NOT_CELL_TEXT.match(cell):
                runs.append(cell.split())
    return runs


def ods_runs(path):
    import pandas as pd

    runs = []
    for frame in pd.read_excel(path, sheet_name=None, header=None, engine="odf").values():
        for row in frame.itertuples(index=False):
            for value in row:
                if isinstance(value, str) and value.strip():
                    runs.append(value.split())
    return runs


def pptx_runs(path):
    runs, skipping = [], False
    for line in markitdown(path).splitlines():
        s = line.strip()
        if s.startswith("<!-- Slide number"):
            skipping = False
            continue
        if s.startswith("### Notes:") or s.startswith("### Chart"):
            skipping = True  # until the next slide
            continue
        if skipping or not s or s.startswith(("![", "|", "<!--")):
            continue
        s = re.sub(r"^#+\s+", "", s)
        runs.append(s.split())
    return runs


class _Text(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title"}

    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        self.parts.append(data)


def eml_runs(path):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    runs = [str(msg.get("subject", "")).split()]
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/html":
        parser = _Text()
        parser.feed(text)
        text = "".join(parser.parts)
    return runs + segments(text)


# pandoc's plain writer puts level-1 headings and small capitals in capitals; keep the
# case of the text as the file stores it.
KEEP_HEADING_CASE = (
    "function Header(el) return pandoc.Para(el.content) end\n"
    "function SmallCaps(el) return el.content end\n"
)
RULE = re.compile(r"^\s+-{2,}(?:\s+-{2,})*\s*$")


def drop_one_column_rows(text):
    """Blank out the rows of pandoc's simple tables of one column (an indented line next to an
    indented rule of dashes), which ../phrases.py would take for plain text."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        near_rule = any(0 <= j < len(lines) and RULE.match(lines[j]) for j in (i - 1, i + 1))
        out.append("" if line.startswith("  ") and near_rule and not RULE.match(line) else line)
    return "\n".join(out)


def runs_of(path):
    ext = path.suffix.lower()
    if ext in PANDOC:
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            lua.write(KEEP_HEADING_CASE)
            lua.flush()
            cmd = ["pandoc", "-f", PANDOC[ext], "-t", "plain", "--wrap=none", "-L", lua.name, str(path)]
            return segments(drop_one_column_rows(run(cmd)))
    return {".xlsx": xlsx_runs, ".ods": ods_runs, ".pptx": pptx_runs, ".eml": eml_runs}[ext](path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=HERE)
    ap.add_argument("--count", type=int, default=6, help="phrases per file (default 6)")
    ap.add_argument("--out", help="output file, '-' for stdout (default DIR/phrases.json)")
    args = ap.parse_args()

    result = {}
    for path in sorted(args.dir.iterdir()):
        if path.suffix.lower() not in {*PANDOC, ".xlsx", ".ods", ".pptx", ".eml"}:
            continue
        phrases = pick(runs_of(path), args.count)
        if phrases:
            result[path.name] = phrases
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
