"""Data protocols: which images are train, val and test.

- ``official``: NIST's published train/test files; a stratified validation part is carved from train so that
  model selection never looks at test.
- ``holdout``: one official file (the split's *test* file) re-split by an index file with keys train/val/test.
  This is the OFFLINE protocol of this project: only the ByClass test file is available here, re-split by
  ``protocols/byclass-test-holdout.npz`` into 93,055 / 11,634 / 11,634. Numbers under it are not comparable
  to numbers on the official test set, and every result records which protocol it used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from charclf.data.dataset import CharDataset, DataBundle, stratified_indices
from charclf.data.official import CLASSIC_MNIST, check_split, load_any, load_mapping, resolve_data_dir
from charclf.errors import ConfigError, DataError, unknown_name

PROTOCOLS = ("holdout", "official")
HOLDOUT_KEYS = ("train", "val", "test")


def holdout_file(split: str, data_dir: str | Path | None = None) -> Path:
    """The default index file of the holdout protocol: ``<data_dir>/protocols/<split>-test-holdout.npz``."""
    return resolve_data_dir(data_dir) / "protocols" / f"{split}-test-holdout.npz"


def load_holdout_indices(path: str | Path, n_total: int) -> dict[str, np.ndarray]:
    """Read and check a holdout index file: int arrays train/val/test, in range, disjoint."""
    path = Path(path)
    fix = ("recreate it with charclf.data.make_holdout_split, or use protocol='official' if you have the "
           "official train files")
    if not path.is_file():
        raise DataError(path, "holdout index file not found",
                        "put the index file there (see data/README.md), or use the official protocol (--protocol "
                        "official; protocol='official' in Python) if you have NIST's train files")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in HOLDOUT_KEYS if k not in npz.files]
            if missing:
                raise DataError(path, f"has no key(s) {', '.join(missing)} (keys: {', '.join(npz.files)})", fix)
            parts = {k: np.asarray(npz[k]) for k in HOLDOUT_KEYS}
    except (OSError, ValueError) as err:  # not an npz, truncated, pickled objects
        raise DataError(path, f"is not a readable .npz index file ({err})", fix) from err
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
              cache: bool = True) -> DataBundle:
    """Load ``split`` (an EMNIST split or ``"classic-mnist"``) under ``protocol`` as a train/val/test bundle.

    ``official``: published train/test, with ``val_fraction`` of train held out (stratified, ``seed``).
    ``holdout``: the split's test file re-split by ``protocol_file`` (default
    ``<data_dir>/protocols/<split>-test-holdout.npz``).
    """
    split = check_split(split, allow_classic=True)
    if protocol not in PROTOCOLS:
        raise unknown_name("protocol", protocol, PROTOCOLS)
    root = resolve_data_dir(data_dir)
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
    else:
        # Check the index file first: a missing .npz should not cost a 100 MB decode before failing.
        path = Path(protocol_file) if protocol_file is not None else holdout_file(split, root)
        if not path.is_file():
            load_holdout_indices(path, 0)  # raises the clear "not found" error
        x, y = load_any(split, "test", root, cache=cache)
        idx = load_holdout_indices(path, len(y))
        parts = {k: (x[v], y[v]) for k, v in idx.items()}
    sets = {k: _dataset(px, py, classes, split, k, protocol) for k, (px, py) in parts.items()}
    return DataBundle(train=sets["train"], val=sets["val"], test=sets["test"], split=split, protocol=protocol,
                      classes=classes)


__all__ = ["PROTOCOLS", "CLASSIC_MNIST", "holdout_file", "load_data", "load_holdout_indices",
           "make_holdout_split"]
