"""A ``.npy`` cache of decoded idx arrays, so the second load of a split is one ``np.load`` (~50 ms for ByClass test).

Cache files live in ``$CHARCLF_CACHE_DIR`` (default ``~/.cache/charclf``), not beside the data: the data
directory is often read-only (a shared mount, a Colab drive), and a cache is a private, disposable thing.
A cache file is keyed by the source's path, size and modification time, so replacing a data file invalidates
it; if the cache folder cannot be written the loader silently works without it.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

CACHE_ENV = "CHARCLF_CACHE_DIR"
CACHE_VERSION = "v1"  # bump when what a cache file holds changes (e.g. a different orientation fix)


def cache_dir() -> Path:
    """The folder holding cached arrays: ``$CHARCLF_CACHE_DIR`` or ``~/.cache/charclf``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "charclf"


def cache_path(identity: str, size: int, mtime_ns: int, variant: str) -> Path:
    """Where the array decoded from source ``identity`` (with that size and mtime) is cached."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", identity.rsplit("/", 1)[-1]).strip("_")[:80]
    digest = hashlib.sha1(identity.encode()).hexdigest()[:12]
    return cache_dir() / "idx" / f"{stem}.{variant}.{digest}.{size}-{mtime_ns}.{CACHE_VERSION}.npy"


def cached_array(identity: str, size: int, mtime_ns: int, variant: str, build: Callable[[], np.ndarray],
                 *, enabled: bool = True) -> np.ndarray:
    """Return ``build()``, through the cache when ``enabled``. Never fails because of the cache itself."""
    if not enabled:
        return build()
    path = cache_path(identity, size, mtime_ns, variant)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        # The same source with another size/mtime is stale (the file was replaced): don't let it pile up.
        prefix = path.name.rsplit(".", 3)[0]  # "<stem>.<variant>.<digest>"
        for old in path.parent.glob(f"{glob_escape(prefix)}.*.npy"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # read-only home, full disk, ...: caching is an optimisation, never a reason to fail


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
