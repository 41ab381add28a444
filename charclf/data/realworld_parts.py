"""The real-world set's two parts: *dev*, where preprocessing and model choices are made, and *heldout*, read
once per choice to report it.

The split keeps together what shares a hand or a photo, so a choice tuned to one writer's strokes or one page's
light is not rewarded on the held-out part:

* ``tablet_chars74k``: by writer (Chars74K names a file ``imgCCC-WWW.png``: class CCC, writer WWW);
* every other source: by file, so the cells cut out of one photographed card (``photo_cards``) stay together.
  ``photo_pen`` and ``scan_cursive`` name no writer; their files are the finest unit they give.

Within each source the groups of the package's manifest are ordered by a salted sha256 of their name and dealt
alternately to dev and heldout, so each source is split in half by groups (by rows only roughly: groups differ in
size) and nobody chose which group went where. A row of another manifest whose group the package's manifest
lacks goes by the parity of the same hash. The split was made on 7 Dec 2026, after the preprocessing and the
class prior had been developed on the whole set: the held-out part is held out for the choices made since.
"""
from __future__ import annotations

import functools
import hashlib
import re

PARTS = ("dev", "heldout")
SALT = "charclf-realworld-parts-v1"
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


@functools.cache
def _package_parts() -> dict[tuple[str, str], str]:
    """(source, group) -> part for every group of the package's manifest."""
    from charclf.data.realworld import read_manifest

    groups: dict[str, set[str]] = {}
    for row in read_manifest():
        groups.setdefault(row.source, set()).add(split_group(row.source, row.path))
    parts = {}
    for source, names in groups.items():
        for i, group in enumerate(sorted(names, key=lambda g: _rank(source, g))):
            parts[(source, group)] = PARTS[i % 2]
    return parts


def part_of(source: str, path: str) -> str:
    """``dev`` or ``heldout`` for the image at ``path`` of ``source`` (a manifest row's source and path)."""
    group = split_group(source, path)
    return _package_parts().get((source, group)) or PARTS[_rank(source, group) % 2]
