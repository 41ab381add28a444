"""Rewrite the generated blocks of README.md, RESULTS.md and model_hub/README.md from the committed artifacts
(repo-only: a pip install has no README). ``charclf readme [--check]`` runs this script.

    python tools/write_readme.py            # rewrite the blocks
    python tools/write_readme.py --check    # exit 1, naming the first differing line, if a block is stale

README.md's block between ``<!-- FINDINGS:START -->`` and ``<!-- FINDINGS:END -->`` is
``charclf.study.headline.findings_markdown()`` (notebook 00 shows the same table). RESULTS.md's results block
(``<!-- RESULTS:START -->`` ... ``END``) is ``charclf.study.report.results_markdown()``; its smoke-test block
(``<!-- SMOKE:START -->`` ... ``END``) holds the quick profile's tables, which are no result. model_hub/README.md's
block (``<!-- HUB:START -->`` ... ``END``) is the table of the shipped models, from their folders
(``charclf.apps.hub_index``). The text around the markers is left as it is.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charclf.errors import CharclfError, ConfigError
from charclf.fileio import atomic_write_text
from charclf.provenance import REPO_ROOT, read_text

START, END = "<!-- RESULTS:START -->", "<!-- RESULTS:END -->"
RESTORE = "restore it with git (only the blocks between its markers are generated; the rest is written by hand)"
BLOCKS = {  # file -> [(marker name, builder)]
    "README.md": [("FINDINGS", lambda root: _findings(root))],
    "RESULTS.md": [("RESULTS", lambda root: _results(root)), ("SMOKE", lambda root: _results(root, smoke=True))],
    "model_hub/README.md": [("HUB", lambda root: _hub(root))],
}


def _hub(root) -> str:
    from charclf.apps.hub_index import hub_index_markdown

    # The repository's model_hub (``root``, a runs folder in the tests, does not hold one).
    return hub_index_markdown(REPO_ROOT / "model_hub")


def _findings(root) -> str:
    from charclf.study.headline import findings_markdown

    # ``root`` is a runs folder (outputs/runs) in the tests; the findings read the repository above it.
    return findings_markdown(Path(root).parent.parent if root else None)


def _results(root, *, smoke: bool = False) -> str:
    from charclf.study.report import results_markdown

    # The repository's own outputs unless told otherwise (not $CHARCLF_OUTPUTS_DIR: tests point that elsewhere).
    return results_markdown(root or REPO_ROOT / "outputs" / "runs", smoke=smoke)


def replace_block(text: str, name: str, body: str, *, where: str = "") -> str:
    """``text`` with what lies between ``<!-- NAME:START -->`` and ``<!-- NAME:END -->`` replaced by ``body``."""
    start, end = f"<!-- {name}:START -->", f"<!-- {name}:END -->"
    if start not in text or end not in text:
        raise ConfigError(f"{where}: markers {start} / {end} not found. Fix: put them where the block goes")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(path: Path, blocks, root=None) -> str:
    """The text ``path`` should hold: its current text with every generated block rebuilt."""
    text = read_text(path, RESTORE)  # a folder or non-UTF-8 bytes: one line naming it, not a traceback
    for name, build in blocks:
        text = replace_block(text, name, build(root), where=str(path))
    return text


def blocks_for(path: Path) -> list:
    """The :data:`BLOCKS` of ``path``: by its path in this repository (``model_hub/README.md`` is not the top
    README.md), else by its file name (the tests' copies); a file named otherwise gets the RESULTS block."""
    try:
        own = BLOCKS.get(Path(path).resolve().relative_to(REPO_ROOT.resolve()).as_posix())
    except ValueError:
        own = BLOCKS.get(Path(path).name)
    return own or BLOCKS["RESULTS.md"][:1]


def write_readme(readme: str | Path = REPO_ROOT / "README.md", root=None, *, blocks=None) -> Path:
    """Rewrite ``readme``'s generated blocks (``blocks``: by default :func:`blocks_for` it)."""
    readme = Path(readme)
    blocks = blocks or blocks_for(readme)
    atomic_write_text(readme, render(readme, blocks, root))  # a failed write leaves the old file whole
    return readme


def first_difference(committed: str, expected: str) -> str | None:
    """``"line N: committed '...' / generated '...'"`` for the first line that differs, or None."""
    old, new = committed.splitlines(), expected.splitlines()
    for number, (a, b) in enumerate(zip(old, new), 1):
        if a != b:
            return f"line {number}: committed {a[:120]!r} / generated {b[:120]!r}"
    if len(old) != len(new):
        number = min(len(old), len(new)) + 1
        return f"line {number}: the committed file has {len(old)} lines, the generated one {len(new)}"
    return None


def check(repo: Path = REPO_ROOT, root=None) -> list[str]:
    """One line per file whose generated blocks are stale (empty: all current)."""
    problems = []
    for name, blocks in BLOCKS.items():
        path = repo / name
        difference = first_difference(read_text(path, RESTORE), render(path, blocks, root))
        if difference:
            problems.append(f"{name} is stale at {difference}. Fix: python tools/write_readme.py")
    return problems


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a generated block is stale")
    args = parser.parse_args(argv)
    try:  # a damaged artifact the blocks read is one line naming it, not a traceback
        if args.check:
            problems = check()
            for line in problems:
                print(line)
            return 1 if problems else 0
        # Every file rendered before any is written: one unreadable file leaves all three as they were.
        texts = {REPO_ROOT / name: render(REPO_ROOT / name, blocks) for name, blocks in BLOCKS.items()}
        for path, text in texts.items():
            atomic_write_text(path, text)
            print(f"updated {path}")
    except CharclfError as err:  # 2, as the CLI's errors: 1 means "stale" for --check
        print(f"{parser.prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
