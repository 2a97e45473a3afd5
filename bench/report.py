#!/usr/bin/env python3
"""Copies sections of one bench run's markdown into a document.

    report.py RUN.md TARGET NAME SECTIONS [--partial-ok] [--out FILE]

RUN.md is what build/bench writes ($BENCH_OUT.md): sections that start with
`<!-- bench-section: NAME -->`, after a first line `<!-- bench-run: full -->`
(or `partial: why`). TARGET (README.md, docs/bench.md) holds the block
`<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`; its inside is replaced by
the SECTIONS named (comma-separated, in that order), so that the document
shows exactly one run's figures. A partial run (BENCH_ONLY, a smaller scale,
a peer missing...) is refused unless --partial-ok (bench-fs, bench-smoke).
--out writes the result elsewhere instead of TARGET (bench-smoke checks a copy).
"""
import argparse
import re
import sys


def fail(msg):
    print(f"report.py: {msg}", file=sys.stderr)
    sys.exit(1)


def sections_of(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].startswith("<!-- bench-run: "):
        fail(f"{path}: not the markdown of a bench run (no '<!-- bench-run: ' first line)")
    kind = lines[0][len("<!-- bench-run: "):].rstrip().removesuffix("-->").strip()
    found, name = {}, None
    for line in lines[1:]:
        m = re.match(r"<!-- bench-section: ([a-z0-9-]+) -->$", line.rstrip("\n"))
        if m:
            name = m.group(1)
            found[name] = []
        elif name is not None:
            found[name].append(line)
    if "end" not in found:
        fail(f"{path}: cut short (no 'end' section): the run did not finish")
    return kind, {k: "".join(v).strip("\n") + "\n" for k, v in found.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("target")
    ap.add_argument("name")
    ap.add_argument("sections")
    ap.add_argument("--partial-ok", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()

    kind, sections = sections_of(a.run)
    if kind != "full" and not a.partial_ok:
        fail(f"{a.run} is from a {kind} run: `make bench` with no BENCH_* overrides makes a full one "
             "(or pass --partial-ok)")
    wanted = [s for s in a.sections.split(",") if s]
    missing = [s for s in wanted if s not in sections]
    if missing:
        fail(f"{a.run} has no section {', '.join(missing)} (it has {', '.join(sorted(sections))})")
    body = "\n".join(sections[s] for s in wanted)

    try:
        doc = open(a.target, encoding="utf-8").read()
    except OSError as e:
        fail(f"{a.target}: {e.strerror}")
    begin, end = f"<!-- bench:{a.name} -->", f"<!-- /bench:{a.name} -->"
    if doc.count(begin) != 1 or doc.count(end) != 1 or doc.index(begin) > doc.index(end):
        fail(f"{a.target}: needs exactly one '{begin}' followed by one '{end}'")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    out = f"{head}{begin}\n{body}{end}{tail}"
    dest = a.out or a.target
    try:
        with open(dest, "w", encoding="utf-8") as f:
            f.write(out)
    except OSError as e:
        fail(f"{dest}: {e.strerror}")
    print(f"report.py: {dest}: block '{a.name}' now holds {', '.join(wanted)} of {a.run}")


if __name__ == "__main__":
    main()
