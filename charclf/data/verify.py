"""What a data directory holds: every official file present / checksum OK / mismatch / missing, and which
(dataset, protocol) combinations can run with it."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from charclf.data.official import (
    CLASSIC_MNIST,
    CONTENT_MISMATCH,
    CONTENT_OK,
    DATASETS,
    KINDS,
    MNIST_FILES,
    MNIST_RAW_MD5,
    OFFICIAL_SHA256,
    PARTS,
    RAW_SHA256,
    SPLITS,
    Located,
    _check_pair,
    content_status,
    find_csv,
    find_file,
    mapping_file,
    mapping_info,
    official_file,
    read_mapping,
    resolve_data_dir,
)
from charclf.data.protocols import check_parts, holdout_file, holdout_source, load_holdout_indices
from charclf.errors import ChecksumError, DataError

if TYPE_CHECKING:  # pandas is imported when a table is built, keeping `import charclf.data` light
    import pandas as pd

# status values of the verify table
OK, MISMATCH, MISSING, UNVERIFIED, DAMAGED = "ok", "mismatch", "missing", "unverified", "damaged"
USABLE = (OK, UNVERIFIED)  # a file in one of these states can be used by a protocol
COLUMNS = ["dataset", "part", "kind", "file", "status", "layout", "location", "note"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, *, name: str | Path) -> None:
    """Raise ``ChecksumError`` when ``data``'s sha256 is not ``expected``."""
    actual = sha256_bytes(data)
    if actual != expected:
        raise ChecksumError(name, f"sha256 is {actual}, the official value is {expected}",
                            "the file is damaged or not the official one: delete it and download it again "
                            "(`charclf data download`)")


def _check_emnist(found: Located, sha256: dict[str, str], raw_sha256: dict[str, str]) -> tuple[str, str]:
    """(status, note) of one official EMNIST idx file (or of the CSV copy standing in for it), by the rule
    loading applies (``official.content_status``): what verify calls ok or unverified loads, a mismatch does not."""
    if found.layout == "csv":  # parsing a CSV takes seconds; the loader checks its structure when it reads it
        return UNVERIFIED, "from the CSV copy (no official checksum covers CSV files)"
    return _check_content(found, sha256=sha256, raw_sha256=raw_sha256, mnist_md5={})


def _check_mnist(found: Located, md5: dict[str, str]) -> tuple[str, str]:
    """(status, note) of a classic MNIST file: md5 of the *uncompressed* data (the .gz wrappers vary)."""
    return _check_content(found, sha256={}, raw_sha256={}, mnist_md5=md5)


def _check_content(found: Located, **tables) -> tuple[str, str]:
    """Damaged when the file does not read or decode as loading decodes it (a truncated download is damaged,
    not another file); else :func:`charclf.data.official.content_status` against ``tables``."""
    try:
        stored = found.read_bytes()
        idx = found.idx_bytes(stored)  # the loader's rule: a .gz name must hold gzip data
        found.decode_idx(idx, expect_ndim=3 if "-images-" in found.name else 1)
    except DataError as err:
        return DAMAGED, err.problem
    status, note = content_status(found.name, stored, idx, **tables)
    return {CONTENT_OK: OK, CONTENT_MISMATCH: MISMATCH}.get(status, UNVERIFIED), note


def _check_mapping(found: Located, split: str) -> tuple[str, str]:
    """The loader's own check (``read_mapping``): a file it refuses is never reported usable here."""
    try:
        chars, _ = read_mapping(found, split)
    except ChecksumError as err:
        return MISMATCH, err.problem
    except DataError as err:
        return DAMAGED, err.problem
    return OK, f"{len(chars)} classes, sha256 matches NIST's file"


def _check_holdout(found: Located, labels: Located | None) -> tuple[str, str]:
    """A holdout index file is ours, not NIST's: check it is well formed and fits the test file it splits (its
    range, and that every part is non-empty and holds every class: ``check_parts``, as loading does). A bad
    labels file is that file's fault, reported on its own row: the index file is then only checked alone."""
    y, unusable = None, ""
    if labels is not None:
        try:
            y = labels.read_array(expect_ndim=1)
        except DataError:
            unusable = "the test labels file is unusable (see its row)"
    try:
        parts = load_holdout_indices(found.path, len(y) if y is not None else 2**62)
        for name, idx in parts.items():
            if len(idx) == 0:
                raise DataError(found.path, f"its {name} part is empty")
        if y is not None:
            check_parts({k: y[v] for k, v in parts.items()}, found.path, "")
    except DataError as err:
        return DAMAGED, err.problem
    sizes = "/".join(f"{len(v):,}" for v in parts.values())
    source = holdout_source(found.path)
    if y is None:
        why = unusable or "test labels missing"
        return UNVERIFIED, f"train/val/test {sizes}; {why}, so its range and classes are not checked; {source}"
    return OK, f"train/val/test {sizes}, disjoint, within the {len(y):,} test images; {source}"


def _row(dataset: str, part: str, kind: str, name: str, found: Located | None,
         check: Callable[[Located], tuple[str, str]]) -> dict:
    if found is None:
        return dict(dataset=dataset, part=part, kind=kind, file=name, status=MISSING, layout="", location="",
                    note="")
    status, note = check(found)
    return dict(dataset=dataset, part=part, kind=kind, file=name, status=status, layout=found.layout,
                location=found.label, note=note)


def verify_data_dir(data_dir: str | Path | None = None, *, sha256: dict[str, str] | None = None,
                    mnist_md5: dict[str, str] | None = None) -> "pd.DataFrame":
    """One row per official file: 24 EMNIST idx files, 6 mappings, 4 classic MNIST files, holdout index files.

    Columns: dataset, part, kind, file, status (ok / mismatch / missing / unverified / damaged), layout
    (gz / raw / zip / file), location, note. Every present file is hashed (~0.1 s per 30 MB).
    ``sha256``/``mnist_md5`` replace the official checksums (tests use them with synthetic files).
    """
    import pandas as pd

    root = resolve_data_dir(data_dir)
    # The uncompressed-content checksums are NIST's files': with another (synthetic) sha256 table, none apply.
    raw_sha256 = RAW_SHA256 if sha256 is None else {}
    sha256 = OFFICIAL_SHA256 if sha256 is None else sha256
    mnist_md5 = MNIST_RAW_MD5 if mnist_md5 is None else mnist_md5
    rows = []
    for split in SPLITS:
        for part in PARTS:
            for kind in KINDS:
                name = official_file(split, part, kind)
                found = find_file(name, root) or find_csv(split, part, root)
                rows.append(_row(split, part, kind, name, found, lambda f: _check_emnist(f, sha256, raw_sha256)))
        name = mapping_file(split)
        rows.append(_row(split, "", "mapping", name, find_file(name, root), lambda f, s=split: _check_mapping(f, s)))
    for (part, kind), name in MNIST_FILES.items():
        rows.append(_row(CLASSIC_MNIST, part, kind, name, find_file(name, root, classic=True),
                         lambda f: _check_mnist(f, mnist_md5)))
    for split in DATASETS:
        path = holdout_file(split, root)
        if not path.is_file() and split != "byclass":  # byclass's ships with charclf: always listed
            continue
        labels = find_file(official_file(split, "test", "labels"), root, classic=split == CLASSIC_MNIST)
        found = Located(path.name, path) if path.is_file() else None
        rows.append(_row(split, "", "holdout-index", path.name, found, lambda f, lab=labels: _check_holdout(f, lab)))
    _check_pairs(rows, root)
    return pd.DataFrame(rows, columns=COLUMNS)


def _check_pairs(rows: list[dict], root: Path) -> None:
    """Run the loader's pair check (image/label counts, labels within the mapping) on every images/labels
    pair that has an UNVERIFIED (raw) file: no checksum vouches for those, so verify must not call a pair
    usable that loading would refuse. The offending row becomes DAMAGED with the loader's message."""
    index = {(r["dataset"], r["part"], r["kind"]): r for r in rows}
    for dataset in DATASETS:
        classic = dataset == CLASSIC_MNIST
        for part in PARTS:
            img, lab = index.get((dataset, part, "images")), index.get((dataset, part, "labels"))
            if img is None or lab is None or {img["status"], lab["status"]} - set(USABLE) \
                    or UNVERIFIED not in (img["status"], lab["status"]):
                continue
            found = [find_file(r["file"], root, classic=classic)
                     or (None if classic else find_csv(dataset, part, root)) for r in (img, lab)]
            if None in found:
                continue
            try:
                classes, first, source = mapping_info(dataset, root)
                images, labels = found[0].read_array(expect_ndim=3), found[1].read_array(expect_ndim=1)
                _check_pair(images, labels, found[0], found[1], classes, first, source)
            except DataError as err:
                if "mapping" in str(err.path):
                    continue  # the mapping row reports its own damage, and blocks the split already
                row = lab if str(err.path) == lab["location"] else img
                row["status"], row["note"] = DAMAGED, err.problem


def runnable_protocols(table: "pd.DataFrame | None" = None, data_dir: str | Path | None = None) -> "pd.DataFrame":
    """For each (dataset, protocol): can it run with the files in ``table`` (``verify_data_dir``'s output)?

    ``official`` needs the train and test pairs; ``holdout`` needs the test pair and its index file; both need
    the split's mapping file to be NIST's or absent. A file with a checksum mismatch or damage does not count:
    the checks are the loader's own (``Located.decode``, ``read_mapping``, ``_check_pair``), so "runnable"
    means it loads. Columns: dataset, protocol, runnable, missing.
    """
    import pandas as pd

    if table is None:
        table = verify_data_dir(data_dir)
    usable = {(r.dataset, r.part, r.kind) for r in table.itertuples() if r.status in USABLE}
    # Loading refuses a damaged or changed mapping file; a missing one is fine (the built-in table is used).
    bad_mapping = {r.dataset for r in table.itertuples() if r.kind == "mapping" and r.status not in (OK, MISSING)}

    def lacking(dataset: str, needs: list[tuple[str, str]]) -> list[str]:
        missing = [f"{part} {kind}".strip() for part, kind in needs if (dataset, part, kind) not in usable]
        return missing + (["a usable mapping"] if dataset in bad_mapping else [])

    rows = []
    for dataset in DATASETS:
        test = [("test", "images"), ("test", "labels")]
        official = lacking(dataset, [("train", "images"), ("train", "labels"), *test])
        holdout = lacking(dataset, [*test, ("", "holdout-index")])
        rows.append(dict(dataset=dataset, protocol="official", runnable=not official, missing=", ".join(official)))
        rows.append(dict(dataset=dataset, protocol="holdout", runnable=not holdout, missing=", ".join(holdout)))
    return pd.DataFrame(rows, columns=["dataset", "protocol", "runnable", "missing"])


__all__ = ["verify_data_dir", "runnable_protocols", "check_sha256", "sha256_bytes"]
