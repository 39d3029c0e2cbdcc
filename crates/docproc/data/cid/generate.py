#!/usr/bin/env python3
"""Regenerates the CID tables of Adobe's CJK character collections (*.bin here) from Adobe's
cid2code.txt files (https://github.com/adobe-type-tools/cmap-resources, BSD-3-Clause, see
LICENSE here), for PDF fonts that name a collection but carry no ToUnicode map.

    python3 crates/docproc/data/cid/generate.py CMAP_RESOURCES_CHECKOUT

Each CID is read through the collection's national character set where it has a code there
(decoded at run time by encoding_rs, which docpipe has anyway), else by its Unicode value;
codes in a character set run in the order of the CIDs, so the table is mostly runs and small.

Format, all numbers LEB128 varints (deltas zigzag-encoded):
  runs: count, then (kind, length) per run, in CID order from CID 0;
        kind 0 = a code in the character set, 1 = a Unicode scalar, 2 = no character
  then, for each CID of kind 0 or 1 in CID order, its value minus the previous value of the
  same kind minus 1 (so consecutive values are 0).
"""
import pathlib
import sys

COLLECTIONS = [
    # (file, directory in cmap-resources, character-set column, Unicode column)
    ("Japan1", "Adobe-Japan1-7", "EUC", "UniJIS-UTF32"),
    ("GB1", "Adobe-GB1-6", "GBK-EUC", "UniGB-UTF32"),
    ("CNS1", "Adobe-CNS1-7", "HKscs-B5", "UniCNS-UTF32"),
    ("Korea1", "Adobe-Korea1-2", "KSCms-UHC", "UniKS-UTF32"),
]


def first_value(cell):
    """The first of a cell's comma-separated hex values ('v' marks a vertical form); a
    space where the cell offers one (Japan1 CID 1 is no-break space or space)."""
    values = [int(v.rstrip("v"), 16) for v in cell.split(",")]
    return 0x20 if 0x20 in values else values[0]


def varint(n, out):
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def table(path, charset, unicode):
    lines = [l.rstrip("\n").split("\t") for l in path.open(encoding="utf-8") if not l.startswith("#")]
    head, rows = lines[0], lines[1:]
    ci, ui = head.index(charset), head.index(unicode)
    kinds, values = [], []
    for cid, row in enumerate(rows):
        assert int(row[0]) == cid, f"CIDs out of order at {row[0]}"
        if row[ci] != "*":
            kinds.append(0)
            values.append(first_value(row[ci]))
        elif row[ui] != "*":
            kinds.append(1)
            values.append(first_value(row[ui]))
        else:
            kinds.append(2)
            values.append(None)
    runs = []
    for kind in kinds:
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    out = bytearray()
    varint(len(runs), out)
    for kind, length in runs:
        varint(kind, out)
        varint(length, out)
    previous = [0, 0]
    for kind, value in zip(kinds, values):
        if kind == 2:
            continue
        varint(zigzag(value - previous[kind] - 1), out)
        previous[kind] = value
    return bytes(out)


def main():
    root = pathlib.Path(sys.argv[1])
    here = pathlib.Path(__file__).parent
    for name, directory, charset, unicode in COLLECTIONS:
        data = table(root / directory / "cid2code.txt", charset, unicode)
        (here / f"{name}.bin").write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
