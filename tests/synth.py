"""Tiny synthetic EMNIST/MNIST data in the official formats, for tests that must not need the real files.

Every image carries two facts a test can check after loading:
- its class: pixel ``(0, 27)`` (top-right, upright) holds ``MARKER_OFFSET + class index``;
- its orientation: a bright vertical bar in column ``BAR_COL`` (and nothing bright in the matching row).
EMNIST files store images transposed (as NIST does), classic MNIST files store them upright, so a loader that
forgets the transpose — or applies it to MNIST — fails both checks.

Main entry points::

    root = make_emnist_dir(tmp_path, splits=("byclass",), n=130, layout="gz")   # or "raw" / "zip"
    images, labels = synth_split("byclass", "test", n=130)                     # what loading must return
    make_holdout_npz(root / "protocols" / "byclass-test-holdout.npz", n_total=130)
"""
from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import numpy as np

from charclf.data.idx import idx_bytes
from charclf.data.official import (
    CLASSIC_MNIST,
    FIRST_LABEL,
    MNIST_FILES,
    OFFICIAL_MAPPINGS,
    PARTS,
    SPLITS,
    ZIP_FOLDER,
    mapping_file,
    official_file,
)
from charclf.data.protocols import make_holdout_split

MARKER_OFFSET = 10  # pixel (0, 27) of an upright image = MARKER_OFFSET + its 0-based class index
BAR_COL = 4  # upright images have a vertical bar in this column (rows BAR_ROWS)
BAR_ROWS = slice(4, 24)
BAR_VALUE = 250
LAYOUTS = ("gz", "raw", "zip")


def num_classes(split: str) -> int:
    return len(OFFICIAL_MAPPINGS[split])


def synth_split(split: str, part: str, n: int = 130, seed: int = 0,
                noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """What loading ``split``/``part`` must return: upright uint8 (n, 28, 28) images, 0-based int64 labels.

    Labels cycle through every class (so each class appears when ``n >= num_classes``), then are shuffled.
    Without ``noise`` the images are distinct by their index, written in the bottom row, and compress to almost
    nothing (a file of the real ByClass test file's 116,323 images is then ~0.5 MB of gzip).
    """
    rng = np.random.default_rng([seed, DATASET_IDS[split], PARTS.index(part)])
    labels = rng.permutation(np.arange(n) % num_classes(split)).astype(np.int64)
    if noise:
        images = rng.integers(0, 6, size=(n, 28, 28), dtype=np.uint8)  # faint noise: every image is distinct
    else:
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 27, :3] = (np.arange(n)[:, None] >> np.array([0, 8, 16])) & 0xFF
    images[:, BAR_ROWS, BAR_COL] = BAR_VALUE
    images[:, 0, 27] = MARKER_OFFSET + labels
    return images, labels


DATASET_IDS = {name: i for i, name in enumerate((*SPLITS, CLASSIC_MNIST))}


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)  # mtime=0: byte-reproducible, stable checksums


def official_files(splits=SPLITS, parts=PARTS, n: int = 130, seed: int = 0,
                   mapping: bool = True, noise: bool = True) -> dict[str, bytes]:
    """{official file name: bytes as NIST ships them} — .gz idx files (images transposed) + mapping texts."""
    files = {}
    for split in splits:
        for part in parts:
            images, labels = synth_split(split, part, n, seed, noise)
            official_labels = (labels + FIRST_LABEL.get(split, 0)).astype(np.uint8)
            stored = np.ascontiguousarray(images.transpose(0, 2, 1))  # NIST's transposed storage
            # Big noise-free files: level 1 is 20x faster than 9 and still shrinks them ~60x.
            files[official_file(split, part, "images")] = gz(idx_bytes(stored), 9 if noise else 1)
            files[official_file(split, part, "labels")] = gz(idx_bytes(official_labels))
        if mapping:
            files[mapping_file(split)] = mapping_text(split).encode()
    return files


def mapping_text(split: str) -> str:
    """An ``emnist-<split>-mapping.txt`` in NIST's format (Letters: ``label upper lower``, labels from 1)."""
    first = FIRST_LABEL.get(split, 0)
    lines = []
    for i, char in enumerate(OFFICIAL_MAPPINGS[split]):
        codes = f"{ord(char)} {ord(char.lower())}" if split == "letters" else f"{ord(char)}"
        lines.append(f"{i + first} {codes}")
    return "\n".join(lines) + "\n"


def sha256_table(files: dict[str, bytes]) -> dict[str, str]:
    """sha256 of the idx files among ``files`` (what ``OFFICIAL_SHA256`` is for the real ones)."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name.endswith(".gz")}


def write_zip(path: Path, files: dict[str, bytes], *, folder: str = ZIP_FOLDER) -> Path:
    """Write ``files`` as members ``<folder><name>`` of a zip archive (NIST's gzip.zip layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(folder + name, data)
    return path


def write_loose(folder: Path, files: dict[str, bytes], *, raw: bool = False) -> Path:
    """Write ``files`` loose in ``folder``; with ``raw`` the .gz idx files are written un-gzipped, without .gz."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if raw and name.endswith(".gz"):
            (folder / name[:-3]).write_bytes(gzip.decompress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def mnist_files(parts=PARTS, n: int = 60, seed: int = 0) -> dict[str, bytes]:
    """Classic MNIST files (gz idx, images stored UPRIGHT as LeCun's are)."""
    files = {}
    for part in parts:
        images, labels = synth_split(CLASSIC_MNIST, part, n, seed)
        files[MNIST_FILES[(part, "images")]] = gz(idx_bytes(images))
        files[MNIST_FILES[(part, "labels")]] = gz(idx_bytes(labels.astype(np.uint8)))
    return files


def mnist_md5_table(files: dict[str, bytes]) -> dict[str, str]:
    """md5 of the *uncompressed* classic MNIST files (what ``MNIST_RAW_MD5`` is for LeCun's)."""
    return {name: hashlib.md5(gzip.decompress(data)).hexdigest() for name, data in files.items()}


def make_holdout_npz(path: Path, n_total: int | None = None, *, labels=None, fractions=(0.8, 0.1, 0.1),
                     seed: int = 0) -> Path:
    """Write a holdout index file (keys train/val/test). Stratified when ``labels`` is given."""
    if labels is None:
        if n_total is None:
            raise ValueError("give n_total or labels")
        labels = np.zeros(n_total, dtype=np.int64)
    parts = make_holdout_split(np.asarray(labels), fractions, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v.astype(np.int32) for k, v in parts.items()})
    return path


def make_emnist_dir(root: Path, splits=SPLITS, *, parts=PARTS, n: int = 130, layout: str = "gz",
                    mapping: bool = True, mnist: bool = True, mnist_n: int = 60, holdout: bool = False,
                    seed: int = 0) -> Path:
    """Build a data directory like a user's: ``emnist/`` (loose .gz, raw idx, or ``gzip.zip``), ``mnist/``,
    and with ``holdout`` a ``protocols/<split>-test-holdout.npz`` per split. Returns ``root``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = Path(root)
    files = official_files(splits, parts, n, seed, mapping)
    if layout == "zip":
        write_zip(root / "emnist" / "gzip.zip", files)
    else:
        write_loose(root / "emnist", files, raw=layout == "raw")
    if mnist:
        write_loose(root / "mnist", mnist_files(parts, mnist_n, seed), raw=layout == "raw")
    if holdout:
        for split in splits:
            make_holdout_npz(root / "protocols" / f"{split}-test-holdout.npz",
                             labels=synth_split(split, "test", n, seed)[1], seed=seed)
        if mnist:
            make_holdout_npz(root / "protocols" / f"{CLASSIC_MNIST}-test-holdout.npz",
                             labels=synth_split(CLASSIC_MNIST, "test", mnist_n, seed)[1], seed=seed)
    return root


def expected(split: str, part: str, *, n: int = 130, mnist_n: int = 60, seed: int = 0):
    """``synth_split`` with the sizes ``make_emnist_dir`` used for that dataset."""
    return synth_split(split, part, mnist_n if split == CLASSIC_MNIST else n, seed)


QUADRANT_CLASSES = tuple("abcd")


def quadrant_bundle(n_train: int = 64, n_val: int = 32, n_test: int = 32, seed: int = 0):
    """Learnable tiny data (4 classes): class k is a bright 7x7 block in quadrant k, plus noise."""
    import torch

    from charclf.data import CharDataset, DataBundle

    g = torch.Generator().manual_seed(seed)

    def part(n: int, name: str) -> CharDataset:
        labels = torch.arange(n) % len(QUADRANT_CLASSES)
        images = torch.randint(0, 40, (n, 28, 28), generator=g).to(torch.uint8)
        for i, k in enumerate(labels.tolist()):
            r, c = 4 + 14 * (k // 2), 4 + 14 * (k % 2)
            images[i, r:r + 7, c:c + 7] = 230
        return CharDataset(images, labels, QUADRANT_CLASSES, "byclass", name, "holdout")

    return DataBundle(part(n_train, "train"), part(n_val, "val"), part(n_test, "test"), "byclass", "holdout",
                      QUADRANT_CLASSES)
