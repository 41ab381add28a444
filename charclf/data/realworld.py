"""The real-world handwriting set: its manifest, and ``charclf data fetch-realworld`` that fetches it.

The images are public handwriting that is *not* NIST-derived (phone photos of pen on paper, tablet drawings,
scans), listed one per row in ``charclf/data/realworld/manifest.csv`` with the raw GitHub URL at a pinned commit,
the sha256 of that file, the label and how it was captured; ``sources.json`` beside it gives each source's
licence and how its labels are known. The images themselves are never committed: a user fetches them from their
sources, and every file is checked against its sha256 before it is kept. Some rows cut one character out of a
larger photo (the ``crop`` column, "left top right bottom" in pixels); the file is stored whole and cut when read.
"""
from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from charclf.data.download import file_digest
from charclf.errors import ChecksumError, DataError, DownloadError, printable
from charclf.fileio import atomic_path, atomic_write_bytes, check_writable, write_failure

MANIFEST_DIR = Path(__file__).resolve().parent / "realworld"
MANIFEST_PATH = MANIFEST_DIR / "manifest.csv"
SOURCES_PATH = MANIFEST_DIR / "sources.json"
COLUMNS = ("id", "source", "label", "kind", "capture", "path", "url", "sha256", "crop")
KINDS = ("digit", "upper", "lower")
CAPTURES = ("photo", "tablet", "scan", "mouse")
SOURCE_FIELDS = ("repo", "commit", "url", "licence", "capture", "labels")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MANIFEST_FIX = "restore it from git (`git checkout charclf/data/realworld/`) or rebuild it with " \
                "tools/build_realworld_manifest.py"


def kind_of(label: str) -> str:
    """digit / upper / lower for one of the 62 EMNIST ByClass characters."""
    if len(label) == 1 and label.isascii() and label.isdigit():
        return "digit"
    if len(label) == 1 and label.isascii() and label.isalpha():
        return "upper" if label.isupper() else "lower"
    raise ValueError(f"label {label!r} is not one of the 62 characters 0-9 A-Z a-z")


@dataclass(frozen=True)
class ManifestRow:
    id: str
    source: str
    label: str
    capture: str
    path: str  # the file's path inside its source repository
    url: str
    sha256: str  # of the whole fetched file
    crop: tuple[int, int, int, int] | None = None  # left, top, right, bottom; None = the whole file

    @property
    def kind(self) -> str:
        return kind_of(self.label)

    def local_path(self, root: str | Path) -> Path:
        """Where the fetched file lives: ``<root>/<source>/<path in the source repository>``."""
        return Path(root) / self.source / self.path


def raw_url(repo: str, commit: str, path: str) -> str:
    """The raw.githubusercontent.com URL of ``path`` at ``commit`` (spaces, brackets ... percent-encoded)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{urllib.parse.quote(path)}"


def mirror_git_dir(mirror: str | Path, repo: str) -> Path:
    """The git directory of ``repo``'s snapshot in a mirror folder laid out as ``<mirror>/OWNER+NAME/repo``."""
    return Path(mirror) / repo.replace("/", "+") / "repo"


def default_dir() -> Path:
    """``<data dir>/realworld`` (see ``charclf.paths.data_dir``)."""
    from charclf.paths import data_dir

    return data_dir() / "realworld"


# -- reading and writing the manifest -------------------------------------------------------------------------
def load_sources(path: str | Path = SOURCES_PATH) -> dict[str, dict]:
    from charclf.provenance import read_json

    path = Path(path)
    data = read_json(path, _MANIFEST_FIX)
    if not isinstance(data, dict) or not data:
        raise DataError(path, "is not a JSON object of sources", _MANIFEST_FIX)
    for name, src in data.items():
        missing = [f for f in SOURCE_FIELDS if not isinstance(src, dict) or not src.get(f)]
        if missing:
            raise DataError(path, f"source {name!r} lacks {', '.join(missing)}", _MANIFEST_FIX)
        if not isinstance(src.get("redistribute"), bool):
            raise DataError(path, f"source {name!r} lacks \"redistribute\": true or false (whether its licence lets "
                                  "the repository commit its images, figures drawn from them included)", _MANIFEST_FIX)
    return data


SOURCES = load_sources()


def may_show(source: str) -> bool:
    """Whether a committed figure may show images of ``source`` (or what preprocessing made of them): only where
    its licence lets the repository redistribute them (``sources.json``'s ``redistribute``)."""
    return SOURCES.get(source, {}).get("redistribute") is True


def _parse_crop(text: str) -> tuple[int, int, int, int] | None:
    if not text.strip():
        return None
    parts = text.split()
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"crop {text!r} is not four whole numbers 'left top right bottom'")
    left, top, right, bottom = (int(p) for p in parts)
    if right <= left or bottom <= top:
        raise ValueError(f"crop {text!r} is empty (right <= left or bottom <= top)")
    return left, top, right, bottom


def csv_records(path: Path, columns: tuple[str, ...], fix: str) -> csv.DictReader:
    """The records of the CSV file at ``path``, whose header must be ``columns``; a file that cannot be read, is
    not UTF-8 text or has other columns is a one-line ``DataError`` naming it, with ``fix``."""
    from charclf.provenance import read_text

    reader = csv.DictReader(read_text(path, fix).splitlines())
    if tuple(reader.fieldnames or ()) != tuple(columns):
        raise DataError(path, f"has columns {reader.fieldnames}, expected {list(columns)}", fix)
    return reader


def read_manifest(path: str | Path = MANIFEST_PATH, sources: dict | None = None) -> list[ManifestRow]:
    """The manifest's rows, each checked; a bad row is a one-line ``DataError`` naming the file and line."""
    path = Path(path)
    sources = SOURCES if sources is None and path == MANIFEST_PATH else sources
    reader = csv_records(path, COLUMNS, _MANIFEST_FIX)
    rows, ids, files = [], set(), {}
    for line, rec in enumerate(reader, start=2):
        try:
            row = ManifestRow(id=rec["id"], source=rec["source"], label=rec["label"], capture=rec["capture"],
                              path=rec["path"], url=rec["url"], sha256=rec["sha256"], crop=_parse_crop(rec["crop"]))
            if rec["kind"] != row.kind:
                raise ValueError(f"kind {rec['kind']!r} does not match label {row.label!r} ({row.kind})")
            if not _SHA256.match(row.sha256):
                raise ValueError(f"sha256 {row.sha256!r} is not 64 lower-case hex digits")
            if row.capture not in CAPTURES:
                raise ValueError(f"capture {row.capture!r} is not one of {', '.join(CAPTURES)}")
            if not row.url.startswith(("https://", "http://")):
                raise ValueError(f"url {row.url!r} is not an http(s) URL")
            if not row.id or row.id in ids:
                raise ValueError(f"id {row.id!r} is empty or repeated")
            if sources is not None and row.source not in sources:
                raise ValueError(f"source {row.source!r} is not in sources.json")
            parts = Path(row.path).parts
            if not parts or Path(row.path).is_absolute() or ".." in parts:
                raise ValueError(f"path {row.path!r} must be relative, without '..'")
            if files.setdefault((row.source, row.path), row.sha256) != row.sha256:
                raise ValueError(f"{row.source}/{row.path} is listed with two different sha256")
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(path, f"line {line}: {err}", _MANIFEST_FIX) from None
        ids.add(row.id)
        rows.append(row)
    if not rows:
        raise DataError(path, "lists no images", _MANIFEST_FIX)
    return rows


def write_manifest(rows: list[ManifestRow], path: str | Path = MANIFEST_PATH) -> Path:
    path = Path(path)
    # Atomic: a kill mid-write must not leave the committed manifest half written.
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in rows:
            crop = " ".join(map(str, r.crop)) if r.crop else ""
            writer.writerow([r.id, r.source, r.label, r.kind, r.capture, r.path, r.url, r.sha256, crop])
    return path


def unique_files(rows: list[ManifestRow]) -> list[ManifestRow]:
    """One row per distinct file (several rows may cut different characters out of one photo)."""
    seen, out = set(), []
    for r in rows:
        if (r.source, r.path) not in seen:
            seen.add((r.source, r.path))
            out.append(r)
    return out


# -- the local copy -------------------------------------------------------------------------------------------
def check_local(root: str | Path, rows: list[ManifestRow]) -> dict[str, list[str]]:
    """``{"ok": [...], "missing": [...], "mismatch": [...]}`` of the manifest's files under ``root``."""
    status: dict[str, list[str]] = {"ok": [], "missing": [], "mismatch": []}
    for r in unique_files(rows):
        p = r.local_path(root)
        key = "missing" if not p.is_file() else "ok" if file_digest(p, "sha256") == r.sha256 else "mismatch"
        status[key].append(str(p))
    return status


def _from_mirror(mirror: Path, row: ManifestRow, sources: dict) -> bytes:
    src = sources[row.source]
    gitdir = mirror_git_dir(mirror, src["repo"])
    if not gitdir.is_dir():
        raise DownloadError(gitdir, f"no snapshot of {src['repo']} in the mirror folder",
                            f"put a git snapshot of {src['url']} at {gitdir}, or fetch from the internet "
                            "(without --from-mirror)")
    out = subprocess.run(["git", "--git-dir", str(gitdir), "show", f"{src['commit']}:{row.path}"],
                         capture_output=True, timeout=60)
    if out.returncode != 0:
        why = out.stderr.decode(errors="replace").strip().splitlines()
        raise DownloadError(gitdir, f"has no {row.path} at commit {src['commit'][:10]} ({why[-1] if why else '?'})",
                            "fetch a snapshot that contains that commit")
    return out.stdout


def _from_url(row: ManifestRow, part: Path, timeout: float) -> bytes:
    from charclf.data.download import _fetch

    _fetch(row.url, part, timeout=timeout, progress=False)  # appends to a partial .part with a Range request
    return part.read_bytes()


def fetch_one(row: ManifestRow, root: Path, *, mirror: Path | None, sources: dict, timeout: float) -> str:
    """Fetch one file into ``root`` unless a verified copy is there; returns "kept" or "fetched"."""
    target = row.local_path(root)
    if target.is_file() and file_digest(target, "sha256") == row.sha256:
        return "kept"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    data = _from_mirror(mirror, row, sources) if mirror is not None else _from_url(row, part, timeout)
    got = hashlib.sha256(data).hexdigest()
    if got != row.sha256:
        part.unlink(missing_ok=True)  # a wrong file must not be resumed from
        raise ChecksumError(target, f"sha256 {got[:12]}... differs from the manifest's {row.sha256[:12]}... "
                                    f"(from {mirror or row.url})",
                            "the source changed or the transfer was damaged; fetch again, and if it persists "
                            "report the source as changed")
    atomic_write_bytes(target, data)  # never a half-written file under the final name; a full disk is named
    part.unlink(missing_ok=True)
    return "fetched"


def fetch_realworld(root: str | Path | None = None, rows: list[ManifestRow] | None = None, *,
                    mirror: str | Path | None = None, sources: dict | None = None, timeout: float = 30.0,
                    log=print) -> dict[str, int]:
    """Fetch every file of the manifest into ``root`` (default ``<data dir>/realworld``), checking each sha256.

    Files already present and verified are kept, so an interrupted run resumes where it stopped. Each failure
    is one line through ``log``; the others go on. Returns counts ``{"kept", "fetched", "failed"}``.
    """
    from charclf.data.download import NETWORK_ERRORS

    root = Path(root) if root is not None else default_dir()
    rows = read_manifest() if rows is None else rows
    sources = SOURCES if sources is None else sources
    mirror = Path(mirror) if mirror is not None else None
    check_writable(root, "--dir")  # a read-only or full folder: one line now, not a "network" failure per file
    counts = {"kept": 0, "fetched": 0, "failed": 0}
    for row in unique_files(rows):
        try:
            counts[fetch_one(row, root, mirror=mirror, sources=sources, timeout=timeout)] += 1
        except DataError as err:
            counts["failed"] += 1
            log(f"failed: {' '.join(str(err).split())}")
        except NETWORK_ERRORS + (OSError, subprocess.SubprocessError) as err:
            # The disk filling up (or going read-only) mid-way stops the whole fetch, naming the file: every
            # later file would fail the same way, and it is no network problem.
            failure = None if isinstance(err, NETWORK_ERRORS) else write_failure(row.local_path(root), err)
            if failure is not None:
                raise failure from err
            counts["failed"] += 1
            log(printable(f"failed: {row.local_path(root)}: could not fetch {row.url} ({err}). Fix: check the "
                          "network and run the command again (verified files are kept)"))
    return counts


def run_fetch(args) -> int:
    """``charclf data fetch-realworld``: exit 0 when every file is present and verified, 1 otherwise."""
    import sys

    root = Path(args.dir) if args.dir else default_dir()
    rows = read_manifest(args.manifest or MANIFEST_PATH)
    counts = fetch_realworld(root, rows, mirror=args.from_mirror, timeout=args.timeout,
                             log=lambda line: print(line, file=sys.stderr))
    print(f"{printable(root)}: {len(rows)} images in {len(unique_files(rows))} files: {counts['fetched']} fetched, "
          f"{counts['kept']} already verified, {counts['failed']} failed")
    if counts["failed"]:
        print(f"{counts['failed']} files failed (listed above). Fix: run the command again; verified files are "
              "kept", file=sys.stderr)
        return 1
    return 0
