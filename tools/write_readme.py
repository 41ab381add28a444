"""Rewrite README.md's results block from the committed artifacts (repo-only: a pip install has no README).

    python tools/write_readme.py

Replaces what lies between ``<!-- RESULTS:START -->`` and ``<!-- RESULTS:END -->`` with
``charclf.study.report.results_markdown()``; the rest of the README is left as it is.
"""
from __future__ import annotations

import sys
from pathlib import Path

from charclf.provenance import REPO_ROOT
from charclf.study.report import results_markdown

START, END = "<!-- RESULTS:START -->", "<!-- RESULTS:END -->"


def write_readme(readme: str | Path = REPO_ROOT / "README.md", root=None) -> Path:
    readme = Path(readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme}: markers {START} / {END} not found")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{results_markdown(root)}\n{END}{tail}")
    return readme


if __name__ == "__main__":
    print(f"updated {write_readme()}")
    sys.exit(0)
