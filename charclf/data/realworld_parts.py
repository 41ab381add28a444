"""The real-world set's two parts: *dev*, where preprocessing and model choices are made, and *heldout*, read
once per choice to report it.

The split keeps together what shares a hand or a photo, so a choice tuned to one writer's strokes or one page's
light is not rewarded on the held-out part:

* ``tablet_chars74k``: by writer (Chars74K names a file ``imgCCC-WWW.png``: class CCC, writer WWW);
* every other source: by file, so the cells cut out of one photographed card (``photo_cards``) stay together.
  ``photo_pen`` and ``scan_cursive`` name no writer; their files are the finest unit they give.

The split is frozen in ``charclf/data/realworld/parts.csv`` (source, group, part), made once by
:func:`draw_parts`: within each source the groups were ordered by a salted sha256 of their name and dealt
alternately to dev and heldout, so each source is halved by groups and nobody chose which group went where.
Frozen, so that adding images to the set never moves a group that choices were already made on; a group the file
lacks (a new one, or another manifest's) goes by the parity of the same hash. Artifacts record the file's sha256
(:func:`split_facts`), so numbers from two splits are never compared as one. The split was made on 7 Dec 2026,
after the preprocessing and the class prior had been developed on the whole set: the held-out part is held out
for the choices made since.
"""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

PARTS = ("dev", "heldout")
SALT = "charclf-realworld-parts-v1"
PARTS_PATH = Path(__file__).resolve().parent / "realworld" / "parts.csv"
COLUMNS = ("source", "group", "part")
_CHARS74K_FILE = re.compile(r"img\d{3}-(\d{3})\.png$")


def split_group(source: str, path: str) -> str:
    """The unit that stays whole in one part: a Chars74K writer, else the source file."""
    if source == "tablet_chars74k":
        found = _CHARS74K_FILE.search(path)
        if found:
            return f"writer {found.group(1)}"
    return path


def _rank(source: str, group: str) -> int:
    return int(hashlib.sha256(f"{SALT}\0{source}\0{group}".encode()).hexdigest()[:16], 16)


def draw_parts(rows) -> dict[tuple[str, str], str]:
    """(source, group) -> part for the groups of ``rows`` (manifest rows): each source's groups in salted-hash
    order, dealt alternately to dev and heldout. Run once to make ``parts.csv``; the package reads the file."""
    groups: dict[str, set[str]] = {}
    for row in rows:
        groups.setdefault(row.source, set()).add(split_group(row.source, row.path))
    return {(source, group): PARTS[i % 2] for source, names in groups.items()
            for i, group in enumerate(sorted(names, key=lambda g: _rank(source, g)))}


@functools.cache
def frozen_parts(path: Path = PARTS_PATH) -> dict[tuple[str, str], str]:
    """The committed split: (source, group) -> part; a damaged file is one line naming it."""
    from charclf.data.realworld import csv_records
    from charclf.errors import DataError

    fix = "restore it from git (`git checkout charclf/data/realworld/parts.csv`)"
    out = {}
    for line, rec in enumerate(csv_records(path, COLUMNS, fix), start=2):
        if rec["part"] not in PARTS or (rec["source"], rec["group"]) in out:
            raise DataError(path, f"line {line}: part {rec['part']!r} is not one of {', '.join(PARTS)}, or the "
                                  "group is listed twice", fix)
        out[(rec["source"], rec["group"])] = rec["part"]
    return out


def part_of(source: str, path: str) -> str:
    """``dev`` or ``heldout`` for the image at ``path`` of ``source`` (a manifest row's source and path)."""
    group = split_group(source, path)
    return frozen_parts().get((source, group)) or PARTS[_rank(source, group) % 2]


def split_facts() -> dict:
    """What an artifact records of the split it used: the rule's salt and the frozen file's sha256."""
    from charclf.data.download import file_digest

    return {"file": "charclf/data/realworld/parts.csv", "sha256": file_digest(PARTS_PATH, "sha256"), "salt": SALT}

