#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Print the red target's state transitions as a reStructuredText table,
drawn from the table the kernel checks them against (red_state_next in
dm-red/red-target.c).

Usage:
  tools/state-table.py              print the table
  tools/state-table.py --check DOC  exit 1 if DOC's table (between the
                                    comments "state-table: begin" and
                                    "state-table: end") differs from it
"""
import re
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
SRC = TOP / "dm-red" / "red-target.c"
ORDER = ["active", "joining", "draining", "failed", "promoting", "writeback", "held"]


def transitions(src: str) -> dict:
    m = re.search(r"red_state_next\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if not m:
        raise SystemExit(f"state-table: no red_state_next table in {SRC}")
    rows = {}
    for key, body in re.findall(r"\[(0|DM_RED_STATE_\w+)\]\s*=\s*([^,\[]*(?:\|[^,\[]*)*),",
                                m.group(1)):
        name = "(set-up)" if key == "0" else key[len("DM_RED_STATE_"):].lower()
        rows[name] = [t.lower() for t in re.findall(r"S\((\w+)\)", body)]
    if set(ORDER) - set(rows):
        raise SystemExit(f"state-table: states missing from the table: {set(ORDER) - set(rows)}")
    return rows


def table(rows: dict) -> str:
    names = ["(set-up)"] + ORDER
    lines = [(n, ", ".join(f"``{t}``" for t in sorted(rows[n], key=ORDER.index)) or "(none)")
             for n in names]
    lines = [(n if n == "(set-up)" else f"``{n}``", t) for n, t in lines]
    w1 = max(len("from"), *(len(a) for a, _ in lines))
    w2 = max(len("may go to"), *(len(b) for _, b in lines))
    rule = f" {'=' * w1} {'=' * w2}"
    out = [rule, f" {'from'.ljust(w1)} may go to", rule]
    out += [f" {a.ljust(w1)} {b}".rstrip() for a, b in lines]
    out.append(rule)
    return "\n".join(out) + "\n"


def main() -> int:
    text = table(transitions(SRC.read_text()))
    if len(sys.argv) == 1:
        sys.stdout.write(text)
        return 0
    if len(sys.argv) != 3 or sys.argv[1] != "--check":
        sys.stderr.write(__doc__)
        return 2
    doc = Path(sys.argv[2]).read_text()
    m = re.search(r"\.\. state-table: begin\n\n(.*?)\n\.\. state-table: end", doc, re.S)
    if not m:
        sys.stderr.write(f"state-table: no state-table markers in {sys.argv[2]}\n")
        return 1
    if m.group(1) != text:
        sys.stderr.write(f"state-table: the table in {sys.argv[2]} differs from "
                         f"red_state_next in {SRC.relative_to(TOP)}; regenerate it with "
                         "tools/state-table.py\n")
        return 1
    print(f"state-table: {sys.argv[2]} matches red_state_next")
    return 0


if __name__ == "__main__":
    sys.exit(main())
