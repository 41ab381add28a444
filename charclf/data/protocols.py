"""Data protocols: which images are train, val and test.

- ``official``: NIST's published train/test files; a stratified validation part is carved from train so that
  model selection never looks at test.
- ``holdout``: one official file (the split's *test* file) re-split by an index file with keys train/val/test.
  This is the OFFLINE protocol of this project: only the ByClass test file is available here, re-split by
  ``byclass-test-holdout.npz`` into 93,055 / 11,634 / 11,634. Numbers under it are not comparable
  to numbers on the official test set, and every result records which protocol it used.

The ByClass index file is this project's own definition (not NIST data), so it ships inside the package
(``charclf/data/holdout/``) with its sha256 pinned here: anyone with NIST's ByClass test file reproduces the
exact split. A ``<data_dir>/protocols/<split>-test-holdout.npz`` overrides the shipped file.
"""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch

from charclf.data.dataset import CharDataset, DataBundle, stratified_indices
from charclf.data.official import CLASSIC_MNIST, check_split, load_any, load_mapping, resolve_data_dir
from charclf.errors import ConfigError, DataError, unknown_name

PROTOCOLS = ("holdout", "official")
# The official protocol's val part as every charclf command draws it from train (load_data's defaults).
DEFAULT_VAL_DRAW = {"seed": 0, "fraction": 0.1}
HOLDOUT_KEYS = ("train", "val", "test")


SHIPPED_DIR = Path(__file__).resolve().parent / "holdout"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # how a .npz (a zip archive) begins: with a member, or empty
# sha256 of the index files shipped in SHIPPED_DIR. The ByClass one defines every number of this repository; it
# is byte-identical to the protocols/byclass-test-holdout.npz the study was built with.
SHIPPED_SHA256 = {"byclass": "79161e1a6b78f69c0a2afa8442776502f685e64d364918052de61b960d5b1454"}


def holdout_name(split: str) -> str:
    return f"{split}-test-holdout.npz"


def holdout_file(split: str, data_dir: str | Path | None = None) -> Path:
    """The index file of the holdout protocol: ``<data_dir>/protocols/<split>-test-holdout.npz`` when it exists
    (an override), else the one shipped in the package (ByClass), else the data-dir path (not found)."""
    override = resolve_data_dir(data_dir) / "protocols" / holdout_name(split)
    shipped = SHIPPED_DIR / holdout_name(split)
    if not override.is_file() and split in SHIPPED_SHA256:
        return shipped
    return override


def holdout_source(path: str | Path) -> str:
    """How messages name where a holdout index file came from: the shipped one or an override."""
    path = Path(path)
    if path.parent == SHIPPED_DIR:
        return "shipped with charclf (sha256 pinned)"
    for split, digest in SHIPPED_SHA256.items():
        if path.name == holdout_name(split) and path.is_file():
            same = hashlib.sha256(path.read_bytes()).hexdigest() == digest
            return ("override in the data dir, identical to the shipped file" if same else
                    "override in the data dir, DIFFERENT from the shipped file: numbers are not comparable "
                    "with this repository's")
    return "given by the caller"


def _check_shipped(path: Path) -> None:
    """The shipped file must be byte-identical to the pinned one: a damaged install must not change the split."""
    split = path.name.removesuffix("-test-holdout.npz")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != SHIPPED_SHA256[split]:
        raise DataError(path, f"the shipped holdout index file has sha256 {actual[:16]}..., the pinned value is "
                              f"{SHIPPED_SHA256[split][:16]}...",
                        "reinstall charclf (`pip install --force-reinstall charclf` or `git checkout -- "
                        "charclf/data/holdout/`), or put the right file in <data dir>/protocols/")


def load_holdout_indices(path: str | Path, n_total: int) -> dict[str, np.ndarray]:
    """Read and check a holdout index file: int arrays train/val/test, in range, disjoint.

    The file shipped with the package is also checked against its pinned sha256.
    """
    path = Path(path)
    fix = ("pass a holdout index .npz made by charclf.data.make_holdout_split (or recreate this one with it), or use "
           "protocol='official' if you have the official train files")
    if path.parent.name == "protocols" and path.name.removesuffix("-test-holdout.npz") in SHIPPED_SHA256:
        fix = "delete it (charclf then uses the index file it ships), or replace it with a good copy"
    elif path.parent == SHIPPED_DIR:
        fix = ("the shipped index file splits NIST's own test file: check yours with `charclf data verify`, or put "
               "an index file made for your copy in <data dir>/protocols/ (charclf.data.make_holdout_split)")
    if not path.is_file():
        shipped = ", ".join(sorted(SHIPPED_SHA256))
        raise DataError(path, "holdout index file not found",
                        "put the index file there (see data/README.md), or train on the official protocol (`charclf "
                        "train --protocol official`; protocol='official' in Python; a run is evaluated on the "
                        "protocol it trained on) if you have NIST's train files "
                        f"(charclf ships the index file of: {shipped})")
    if path.parent == SHIPPED_DIR:
        _check_shipped(path)
    try:
        with path.open("rb") as file:
            magic = file.read(4)
        if magic not in ZIP_MAGIC:  # np.load reads any other file as a pickle or .npy and blames "pickled data"
            raise DataError(path, "is not a readable .npz index file (" + (
                f"not a zip/.npz archive: it begins {magic!r}" if magic else "the file is empty") + ")", fix)
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in HOLDOUT_KEYS if k not in npz.files]
            if missing:
                raise DataError(path, f"has no key(s) {', '.join(missing)} (keys: {', '.join(npz.files)})", fix)
            parts = {k: np.asarray(npz[k]) for k in HOLDOUT_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # unreadable, truncated, damaged archive
        reason = " ".join(str(err).split()) or type(err).__name__  # one line, even for multi-line messages
        raise DataError(path, f"is not a readable .npz index file ({reason})", fix) from err
    for key, idx in parts.items():
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise DataError(path, f"'{key}' must be a 1-D integer index array, got {idx.dtype} {idx.shape}", fix)
        if len(idx) and (idx.min() < 0 or idx.max() >= n_total):
            raise DataError(path, f"'{key}' indexes {idx.min()}..{idx.max()}, but the file it splits has "
                                  f"{n_total:,} images", "the index file was made for another file: " + fix)
    everything = np.concatenate(list(parts.values()))
    if len(np.unique(everything)) != len(everything):
        raise DataError(path, "train/val/test indices overlap (or repeat)", fix)
    return {k: v.astype(np.int64) for k, v in parts.items()}


def check_parts(parts: dict[str, np.ndarray], where: str | Path, fix: str, *, describe=None) -> None:
    """Refuse a protocol whose parts cannot give honest numbers, before any work: every part (``{name: labels}``)
    must be non-empty, and must hold every class the data has at least one image per part of. Only what cannot
    be split is let through, as in tiny synthetic sets: a part with fewer images than the data has classes, and
    a class with fewer images than there are parts. An empty test part would cost an epoch and end in a wrong
    diagnosis; a missing class silently drops out of the numbers. ``describe(label)`` names a class in the
    message (default: its label value)."""
    for name, labels in parts.items():
        if len(labels) == 0:
            raise DataError(where, f"its {name} part is empty", fix)
    classes, counts = np.unique(np.concatenate([np.asarray(v) for v in parts.values()]), return_counts=True)
    present = classes[counts >= len(parts)]
    for name, labels in parts.items():
        if len(labels) < len(classes):
            continue
        missing = np.setdiff1d(present, np.unique(labels))
        if len(missing):
            shown = ", ".join(describe(int(c)) if describe else f"label {int(c)}" for c in missing[:5])
            raise DataError(where, f"its {name} part ({len(labels):,} images) has no image of {len(missing)} of the "
                                   f"{len(classes)} classes ({shown}{' ...' if len(missing) > 5 else ''})", fix)


def make_holdout_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """A stratified train/val/test index split of ``labels`` (how a holdout .npz is made)."""
    labels = np.asarray(labels)
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ConfigError(f"holdout fractions must be three non-negative numbers summing to 1, got {fractions}")
    rest = np.arange(len(labels))
    n_val = int(round(fractions[1] * len(labels)))
    n_test = int(round(fractions[2] * len(labels)))
    test = rest[stratified_indices(labels, n_test, seed)] if n_test else rest[:0]
    rest = np.setdiff1d(rest, test)
    val = rest[stratified_indices(labels[rest], n_val, seed + 1)] if n_val else rest[:0]
    train = np.setdiff1d(rest, val)
    return {"train": train, "val": val, "test": test}


def _dataset(images: np.ndarray, labels: np.ndarray, classes, split: str, part: str, protocol: str) -> CharDataset:
    return CharDataset(images=torch.from_numpy(np.ascontiguousarray(images)),
                       labels=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
                       classes=tuple(classes), split=split, part=part, protocol=protocol)


def load_data(split: str = "byclass", protocol: str = "holdout", data_dir: str | Path | None = None, *,
              protocol_file: str | Path | None = None, val_fraction: float = 0.1, seed: int = 0,
              cache: bool = True, download: bool = False) -> DataBundle:
    """Load ``split`` (an EMNIST split or ``"classic-mnist"``) under ``protocol`` as a train/val/test bundle.

    ``official``: published train/test, with ``val_fraction`` of train held out (stratified, ``seed``).
    ``holdout``: the split's test file re-split by ``protocol_file`` (default
    ``<data_dir>/protocols/<split>-test-holdout.npz`` when it exists, else the file shipped with charclf).
    ``download``: fetch missing official files into ``data_dir`` first (NIST's ~535 MB archive, verified);
    without it a missing file is a ``DataError`` saying where to get it.
    """
    split = check_split(split, allow_classic=True)
    if protocol not in PROTOCOLS:
        raise unknown_name("protocol", protocol, PROTOCOLS)
    root = resolve_data_dir(data_dir)
    if protocol == "holdout":
        # Check the index file first: a missing .npz should cost neither a 535 MB download nor a 100 MB decode.
        path = Path(protocol_file) if protocol_file is not None else holdout_file(split, root)
        if not path.is_file():
            load_holdout_indices(path, 0)  # raises the clear "not found" error
        if path.parent == SHIPPED_DIR:
            _check_shipped(path)
    if download:
        from charclf.data.download import ensure_data

        ensure_data(split, protocol, root)
    classes = load_mapping(split, root)
    if protocol == "official":
        if not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
        train_x, train_y = load_any(split, "train", root, cache=cache)
        test_x, test_y = load_any(split, "test", root, cache=cache)
        val_idx = stratified_indices(train_y, int(round(val_fraction * len(train_y))), seed)
        keep = np.ones(len(train_y), dtype=bool)
        keep[val_idx] = False
        parts = {"train": (train_x[keep], train_y[keep]), "val": (train_x[val_idx], train_y[val_idx]),
                 "test": (test_x, test_y)}
        where, fix = root, (f"the official {split} files give these parts: check them with `charclf data verify`, "
                            "or use another val_fraction")
    else:
        x, y = load_any(split, "test", root, cache=cache)
        idx = load_holdout_indices(path, len(y))
        parts = {k: (x[v], y[v]) for k, v in idx.items()}
        where, fix = path, ("make an index file whose train, val and test parts each hold every class "
                            "(charclf.data.make_holdout_split), or delete it to use the one charclf ships")
    check_parts({k: py for k, (_, py) in parts.items()}, where, f"{fix}; protocol {protocol!r}",
                describe=lambda c: repr(classes[c]) if 0 <= c < len(classes) else f"label {c}")
    sets = {k: _dataset(px, py, classes, split, k, protocol) for k, (px, py) in parts.items()}
    index = hashlib.sha256(path.read_bytes()).hexdigest() if protocol == "holdout" else None
    draw = {"seed": int(seed), "fraction": float(val_fraction)} if protocol == "official" else None
    return DataBundle(train=sets["train"], val=sets["val"], test=sets["test"], split=split, protocol=protocol,
                      classes=classes, index_sha256=index, val_draw=None if draw == DEFAULT_VAL_DRAW else draw)


def with_recorded_index(saved: dict, current: dict) -> dict:
    """``current`` data facts (``DataBundle.describe()``) as facts saved before the index file was recorded would
    read them: without ``index_sha256`` when ``saved`` has none and ``current``'s is the shipped file's, which
    every such record was made with (or the split ships no file, so there is nothing to compare, as in
    :func:`check_same_index`). Another index file of a shipped split stays, so the two differ and the caller
    refuses."""
    if not isinstance(saved, dict) or not isinstance(current, dict) or "index_sha256" in saved:
        return current
    shipped = SHIPPED_SHA256.get(current.get("split"))
    if shipped is not None and current.get("index_sha256") not in (None, shipped):
        return current  # another file than the shipped one every older record of this split was made with
    return {k: v for k, v in current.items() if k != "index_sha256"}  # (no shipped file: nothing to compare)


def check_same_val_draw(recorded: dict | None, bundle: DataBundle, where: str | Path, fix: str) -> None:
    """Refuse ``bundle`` when its official-protocol val part was drawn otherwise than the run's: another seed or
    fraction moves images between train and val, so a val score would count images the run trained on. A record
    without ``val_draw`` was drawn with :data:`DEFAULT_VAL_DRAW`."""
    if bundle.protocol != "official":
        return
    expected = (recorded or {}).get("val_draw") or DEFAULT_VAL_DRAW
    found = bundle.val_draw or DEFAULT_VAL_DRAW
    if expected != found:
        raise DataError(where, f"its val part was drawn from the official train files with {expected}, but this "
                        f"data was loaded with {found} (another draw: its val part may hold the run's training "
                        "images)", fix)


def check_same_index(recorded: dict | None, bundle: DataBundle, where: str | Path, fix: str) -> None:
    """Refuse ``bundle`` when its holdout index file is not the one a run was trained on: the same sizes can split
    the images otherwise, and a test part holding the run's training images scores high and silently. ``recorded``
    is the run's data facts (``DataBundle.describe()``); a run from before they held the index file's sha256 was
    made with the shipped file, so any other index file is refused for it."""
    check_same_val_draw(recorded, bundle, where, fix)
    if bundle.protocol != "holdout" or bundle.index_sha256 is None:
        return
    expected = (recorded or {}).get("index_sha256") or SHIPPED_SHA256.get(bundle.split)
    if expected is not None and expected != bundle.index_sha256:
        raise DataError(where, f"was trained on the holdout index file with sha256 {expected[:12]}..., but this data "
                        f"dir's {holdout_name(bundle.split)} has sha256 {bundle.index_sha256[:12]}... (another "
                        "split of the same images: its test part may hold the run's training images)", fix)


__all__ = ["PROTOCOLS", "CLASSIC_MNIST", "holdout_file", "load_data", "load_holdout_indices",
           "make_holdout_split"]
