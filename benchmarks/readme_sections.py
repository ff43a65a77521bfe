"""Sections of benchmarks/README.md that other benchmark scripts own.

`run.py` rewrites the main table; scripts such as `bench_vmap.py` write their own section between
`<!-- section: NAME -->` and `<!-- /section: NAME -->` markers. Each keeps the others' sections.
"""
from __future__ import annotations

import os
import re

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
_SECTION = re.compile(r"<!-- section: (?P<name>[\w-]+) -->\n.*?<!-- /section: (?P=name) -->\n", re.S)


def sections(text: str) -> list[str]:
    """Every marked section of `text`, markers included, in order."""
    return [m.group(0) for m in _SECTION.finditer(text)]


def write_section(name: str, body: str, path: str = README) -> None:
    """Put `body` in section `name` of the README (replacing it, or appended at the end)."""
    block = f"<!-- section: {name} -->\n{body.rstrip()}\n<!-- /section: {name} -->\n"
    text = open(path).read() if os.path.exists(path) else ""
    pattern = re.compile(rf"<!-- section: {re.escape(name)} -->\n.*?<!-- /section: {re.escape(name)} -->\n", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)
