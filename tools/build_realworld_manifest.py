"""Write ``charclf/data/realworld/manifest.csv`` from git snapshots of the public source repositories.

Run by a maintainer, not by users: it reads git snapshots of the sources laid out as ``DIR/OWNER+NAME/repo``
(bare clones: ``git clone --bare https://github.com/OWNER/NAME DIR/OWNER+NAME/repo``), picks a fixed, spread-out subset of each source, checks that
every picked file decodes as an image, and records for each: the raw URL at the pinned commit, its sha256, the
label and how the label is known. Users never run this; they fetch what the committed manifest lists with
``charclf data fetch-realworld``.

    python tools/build_realworld_manifest.py --mirror DIR
"""
from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from charclf.data.realworld import (MANIFEST_PATH, SOURCES, ManifestRow, kind_of, mirror_git_dir,  # noqa: E402
                                    raw_url, write_manifest)

LETTERS_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The VU CharWizard cards: a 5 x 3 grid printed with these letters in this order (visible in every frame).
CARD_LAYOUT = ("ABCDI", "KOLMR", "EHXWT")
CARD_FRAMES = {"raw-data/dataset-2025/frames": (3, 33, 49), "raw-data/dataset-2024/frames": (5, 40, 110)}
# Per source, images per class by kind: lower case and digits get more where a source has them, so that the
# set is not dominated by capitals (the cards are capitals only).
PER_CLASS = {"photo_pen": {"digit": 10, "upper": 5, "lower": 7}, "tablet_chars74k": {"upper": 5, "lower": 7},
             "scan_cursive": {"digit": 3, "upper": 2, "lower": 2}}
CARD_INSET = 0.06  # crop this share of the cell off each side, so the printed grid lines stay mostly outside


def git(gitdir: Path, *args: str) -> bytes:
    from charclf.errors import DataError

    try:
        return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True).stdout
    except (subprocess.CalledProcessError, OSError) as err:
        said = (getattr(err, "stderr", b"") or b"").decode("utf-8", "replace").strip().splitlines()
        raise DataError(gitdir, f"`git {' '.join(args[:2])}` failed ({said[-1] if said else err})",
                        "clone the source there as this tool's docstring says (git clone --bare "
                        "https://github.com/OWNER/NAME DIR/OWNER+NAME/repo), at the commit SOURCES pins") from None


def ls(gitdir: Path, commit: str, under: str) -> list[str]:
    out = git(gitdir, "-c", "core.quotepath=false", "ls-tree", "-r", "--name-only", commit, "--", under)
    return out.decode("utf-8").splitlines()


def spread(items: list, k: int) -> list:
    """``k`` items evenly spread over ``items`` (a fixed choice, not random: the manifest must be reproducible)."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] if k > 1 else items[0] for i in range(k)]


def numeric_key(path: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", path))


class Picker:
    def __init__(self, mirror: Path, source_id: str):
        self.source = SOURCES[source_id]
        self.source_id = source_id
        self.gitdir = mirror_git_dir(mirror, self.source["repo"])
        self.commit = self.source["commit"]
        self.rows: list[ManifestRow] = []
        self._seen: set[str] = set()

    def add(self, path: str, label: str, crop: tuple[int, int, int, int] | None = None) -> bool:
        data = git(self.gitdir, "show", f"{self.commit}:{path}")
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                size = img.size
        except Exception as err:  # noqa: BLE001 - any undecodable file is simply not picked
            print(f"skip {self.source_id}:{path}: not a decodable image ({err})", file=sys.stderr)
            return False
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest}:{crop}"
        if key in self._seen:  # the same bytes twice would count one writing twice
            return False
        self._seen.add(key)
        if crop is not None and not (0 <= crop[0] < crop[2] <= size[0] and 0 <= crop[1] < crop[3] <= size[1]):
            raise SystemExit(f"{path}: crop {crop} outside the {size} image")
        n = sum(r.source == self.source_id for r in self.rows)
        self.rows.append(ManifestRow(id=f"{self.source_id}-{n:04d}", source=self.source_id, label=label,
                                     capture=self.source["capture"], path=path,
                                     url=raw_url(self.source["repo"], self.commit, path), sha256=digest,
                                     crop=crop))
        return True

    def add_spread(self, paths: list[str], label: str, k: int) -> None:
        """Add ``k`` decodable images spread over ``paths`` (undecodable ones are replaced by the next)."""
        chosen = 0
        for path in spread(paths, k) + [p for p in paths if p not in spread(paths, k)]:
            if chosen >= k:
                break
            chosen += self.add(path, label)


def pick_photo_pen(mirror: Path) -> list[ManifestRow]:
    """Phone photos of pen on paper, one character per file: PNG/{DIGIT_d,CAP_X,SMALL_x}_N.png."""
    p = Picker(mirror, "photo_pen")
    files = ls(p.gitdir, p.commit, "PNG")
    for label in "0123456789" + LETTERS_UPPER + LETTERS_UPPER.lower():
        prefix = "DIGIT" if label.isdigit() else "CAP" if label.isupper() else "SMALL"
        pat = re.compile(rf"^PNG/{prefix}_{re.escape(label)}_\d+\.png$", re.IGNORECASE)
        # Case matters in the letter (CAP_A vs SMALL_a), not in the extension (.png / .PNG).
        paths = sorted((f for f in files if pat.match(f) and f.split("/")[1].split("_")[1] == label), key=numeric_key)
        p.add_spread(paths, label, PER_CLASS["photo_pen"][kind_of(label)])
    return p.rows


def pick_tablet(mirror: Path) -> list[ManifestRow]:
    """Chars74K EnglishHnd (tablet PC drawings): Img/imgCCC-WWW.png, class CCC in Chars74K's order 0-9 A-Z a-z,
    WWW the writer (1..55). The snapshot holds classes 011-036 (A-Z) and 045-062 (i-z)."""
    p = Picker(mirror, "tablet_chars74k")
    files = ls(p.gitdir, p.commit, "Img")
    order = "0123456789" + LETTERS_UPPER + LETTERS_UPPER.lower()
    by_class: dict[int, list[str]] = {}
    for f in files:
        m = re.match(r"^Img/img(\d{3})-(\d{3})\.png$", f)
        if m:
            by_class.setdefault(int(m.group(1)), []).append(f)
    for cls in sorted(by_class):
        label = order[cls - 1]
        p.add_spread(sorted(by_class[cls], key=numeric_key), label, PER_CLASS["tablet_chars74k"][kind_of(label)])
    return p.rows


def pick_scan_cursive(mirror: Path) -> list[ManifestRow]:
    """CHoiCe: 28x28 crops of scanned cursive pages, V0.3/data/<k>/<char> (n).png; label.txt lists the 62
    characters in folder order, and each file name starts with its character (both are checked)."""
    p = Picker(mirror, "scan_cursive")
    order = git(p.gitdir, "show", f"{p.commit}:V0.3/label.txt").decode().split()
    files = ls(p.gitdir, p.commit, "V0.3/data")
    for k, label in enumerate(order):
        paths = sorted((f for f in files if f.startswith(f"V0.3/data/{k}/")), key=numeric_key)
        bad = [f for f in paths if not f.split("/")[-1].startswith(f"{label} (")]
        if bad:
            raise SystemExit(f"{bad[0]}: file name disagrees with label.txt's {label!r} for folder {k}")
        p.add_spread(paths, label, PER_CLASS["scan_cursive"][kind_of(label)])
    return p.rows


def pick_cards(mirror: Path) -> list[ManifestRow]:
    """VU CharWizard: photos of 5 x 3 cards of capitals written with a marker; each cell is one character."""
    p = Picker(mirror, "photo_cards")
    for folder, frames in CARD_FRAMES.items():
        for n in frames:
            path = f"{folder}/frame_{n}.png"
            with Image.open(io.BytesIO(git(p.gitdir, "show", f"{p.commit}:{path}"))) as img:
                w, h = img.size
            cw, ch = w / 5, h / 3
            for r, row in enumerate(CARD_LAYOUT):
                for c, label in enumerate(row):
                    box = (round((c + CARD_INSET) * cw), round((r + CARD_INSET) * ch),
                           round((c + 1 - CARD_INSET) * cw), round((r + 1 - CARD_INSET) * ch))
                    p.add(path, label, box)
    return p.rows


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, required=True, help="folder holding OWNER+NAME/repo git snapshots")
    parser.add_argument("--out", type=Path, default=MANIFEST_PATH)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out (the committed "
                        "manifest by default)")
    args = parser.parse_args(argv)
    from charclf.fileio import refuse_to_replace

    refuse_to_replace(args.out, overwrite=args.overwrite)  # before reading any snapshot
    rows = (pick_photo_pen(args.mirror) + pick_tablet(args.mirror) + pick_cards(args.mirror)
            + pick_scan_cursive(args.mirror))
    write_manifest(rows, args.out)
    print(f"{len(rows)} images -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
