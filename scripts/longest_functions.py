#!/usr/bin/env python3
"""The longest functions in the Rust sources (src/ and python/src by default): a function
starts at a line whose first token after the indentation and qualifiers is `fn`, and ends at
the first later line that is its indentation followed by `}`. Prints `lines path:line name`.

    scripts/longest_functions.py [--top 5] [DIR ...]
"""

import re
import sys
from pathlib import Path

FN = re.compile(r"^(\s*)(?:pub(?:\([a-z]+\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def functions(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        indent, name = m.group(1), m.group(2)
        # A declaration without a body (trait method) ends with `;` before any `{`.
        j = i
        while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j < len(lines) and "{" not in lines[j]:
            continue
        if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
            yield 1, i + 1, name
            continue
        for k in range(j + 1, len(lines)):
            if lines[k] == indent + "}" or lines[k].startswith(indent + "}") and lines[k].strip() in ("}", "})", "});", "},"):
                yield k - i + 1, i + 1, name
                break


def main():
    args = sys.argv[1:]
    top = 5
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i : i + 2]
    root = Path(__file__).resolve().parent.parent
    dirs = [Path(a) for a in args] or [root / "src", root / "python" / "src"]
    found = []
    for d in dirs:
        for p in sorted(d.rglob("*.rs")):
            for n, line, name in functions(p):
                found.append((n, f"{p.relative_to(root)}:{line}", name))
    found.sort(reverse=True)
    for n, where, name in found[:top]:
        print(f"{n:5d} {where} {name}")


if __name__ == "__main__":
    main()
