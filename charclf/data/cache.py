"""A ``.npy`` cache of decoded idx arrays, so the second load of a split is one ``np.load`` (~50 ms for ByClass test).

Cache files live in ``$CHARCLF_CACHE_DIR`` (default ``~/.cache/charclf``), not beside the data: the data
directory is often read-only (a shared mount, a Colab drive), and a cache is a private, disposable thing.
A cache file is keyed by the source's path and *content* — a sha256 of its size, first MB and last MB
(``content_key``), never its modification time: a file replaced, truncated, or corrupted in place with its
mtime kept is decoded again (and its damage reported) instead of being served from the cache. The sample
reads at most 2 MB, so the key costs milliseconds; a same-size change confined to the middle of a file
larger than 2 MB is what it cannot see. If the cache folder cannot be written the loader silently works
without it.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np

CACHE_ENV = "CHARCLF_CACHE_DIR"
CACHE_VERSION = "v2"  # bump when what a cache file holds changes (e.g. a different orientation fix)


def cache_dir() -> Path:
    """The folder holding cached arrays: ``$CHARCLF_CACHE_DIR`` or ``~/.cache/charclf``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "charclf"


SAMPLE_BYTES = 1 << 20  # content_key hashes this much from each end of the file


def content_key(path: str | Path) -> str:
    """sha256 (hex, 24 digits) of a file's size, first MB and last MB: what the cache is keyed on.

    Raises ``OSError`` when the file cannot be read (callers turn it into a ``DataError`` naming the file).
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        digest = hashlib.sha256(size.to_bytes(8, "big"))
        digest.update(fh.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            fh.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()[:24]


def cache_path(identity: str, key: str, variant: str) -> Path:
    """Where the array decoded from source ``identity`` with content ``key`` (``content_key``) is cached."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", identity.rsplit("/", 1)[-1]).strip("_")[:80]
    digest = hashlib.sha1(identity.encode()).hexdigest()[:12]
    return cache_dir() / "idx" / f"{stem}.{variant}.{digest}.{key}.{CACHE_VERSION}.npy"


def cached_array(identity: str, key: str, variant: str, build: Callable[[], np.ndarray],
                 *, enabled: bool = True) -> np.ndarray:
    """Return ``build()``, through the cache when ``enabled``. Never fails because of the cache itself."""
    if not enabled:
        return build()
    path = cache_path(identity, key, variant)
    try:
        arr = np.load(path, allow_pickle=False)
        if arr.dtype == np.uint8:
            return arr
    except (OSError, ValueError, EOFError):
        pass  # absent, unreadable or damaged: rebuild it below
    arr = build()
    _store(path, arr)
    return arr


def _store(path: Path, arr: np.ndarray) -> None:
    """Write the cache file atomically and drop stale versions of it; give up silently if we cannot."""
    try:
        from charclf.fileio import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        # The same source with another content key is stale (the file changed): don't let it pile up.
        prefix = path.name.rsplit(".", 3)[0]  # "<stem>.<variant>.<digest>"
        for old in path.parent.glob(f"{glob_escape(prefix)}.*.npy"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # read-only home, full disk, ...: caching is an optimisation, never a reason to fail


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
