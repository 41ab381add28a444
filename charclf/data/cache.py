"""A ``.npy`` cache of decoded idx arrays: the second load of a split is a hash and one ``np.load`` (~61 ms, ByClass test).

Cache files live in ``$CHARCLF_CACHE_DIR`` (default ``~/.cache/charclf``), not beside the data: the data
directory is often read-only (a shared mount, a Colab drive), and a cache is a private, disposable thing.

A cache file is keyed by *content*, never by path or modification time: the sha256 of every byte of the source
(``content_key``; for a member of NIST's ``gzip.zip``, every byte the member occupies in the archive). So

- a file changed in place, anywhere in it, with its size and mtime kept, is decoded again — and its damage
  reported — instead of being served from the cache. The price: hashing the ByClass test pair (28.9 MB of
  .gz) takes ~35 ms per load, so a warm load goes from ~28 ms to ~61 ms (2-core CPU; a cold decode is ~0.5 s);
- copies of one file under many paths share one cache entry instead of one each.

The folder is also bounded: past ``$CHARCLF_CACHE_MAX_MB`` (default 4096 MB, about every EMNIST split decoded
once) the least recently used entries are removed. If the cache folder cannot be written the loader silently
works without it.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

CACHE_ENV = "CHARCLF_CACHE_DIR"
MAX_MB_ENV = "CHARCLF_CACHE_MAX_MB"
DEFAULT_MAX_MB = 4096
CACHE_VERSION = "v5"  # bump when what a cache file holds or how it is keyed changes (v4: built only from
# files whose content matched NIST's checksums, official.check_official_content; v5: nor from a mismatched file
# loaded under $CHARCLF_ALLOW_NON_NIST_MIRROR, which v4 cached and later loads then used unchecked)
HASH_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The folder holding cached arrays: ``$CHARCLF_CACHE_DIR`` or ``~/.cache/charclf``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "charclf"


def max_cache_bytes() -> int:
    """The cache's size limit: ``$CHARCLF_CACHE_MAX_MB`` megabytes (a bad value means the default)."""
    try:
        mb = float(os.environ.get(MAX_MB_ENV, DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(max(mb, 0) * 2**20)


def hash_chunks(chunks: Iterable[bytes], digest=None) -> str:
    """sha256 (hex, 32 digits) of the concatenated ``chunks`` (appended to ``digest``): a cache key."""
    digest = digest or hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:32]


def read_range(path: str | Path, start: int = 0, length: int | None = None) -> Iterable[bytes]:
    """The bytes of ``path`` from ``start`` (``length`` of them, or to the end), in 1 MB chunks.

    Raises ``OSError`` when the file cannot be read (callers turn it into a ``DataError`` naming the file)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = length
        while left is None or left > 0:
            chunk = fh.read(HASH_CHUNK if left is None else min(HASH_CHUNK, left))
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            yield chunk


def content_key(path: str | Path) -> str:
    """The cache key of a whole file: the sha256 of all its bytes (with its size, so a range read short of a
    truncated file never collides with the full one)."""
    with open(path, "rb") as fh:
        digest = hashlib.sha256(os.fstat(fh.fileno()).st_size.to_bytes(8, "big"))
        if hasattr(hashlib, "file_digest"):  # Python >= 3.11: reads into one buffer, about twice as fast
            digest = hashlib.file_digest(fh, lambda: digest)
            return digest.hexdigest()[:32]
    return hash_chunks(read_range(path), digest)


def cache_path(key: str, variant: str) -> Path:
    """Where the array decoded as ``variant`` ("upright", "labels" ...) from content ``key`` is cached."""
    variant = re.sub(r"[^A-Za-z0-9_-]", "_", variant)
    return cache_dir() / "idx" / f"{variant}.{key}.{CACHE_VERSION}.npy"


def cached_array(key: str, variant: str, build: Callable[[], np.ndarray], *, enabled: bool = True,
                 keep: Callable[[], bool] | None = None) -> np.ndarray:
    """Return ``build()``, through the cache when ``enabled``. Never fails because of the cache itself. ``keep``
    (asked after a build) says whether the array may be stored: what is not stored is built, and so checked,
    again on every load."""
    if not enabled:
        return build()
    path = cache_path(key, variant)
    try:
        arr = np.load(path, allow_pickle=False)
        if arr.dtype == np.uint8:
            os.utime(path)  # recently used: the last to be evicted
            return arr
    except (OSError, ValueError, EOFError):
        pass  # absent, unreadable or damaged: rebuild it below
    arr = build()
    if keep is None or keep():
        _store(path, arr)
    return arr


def _store(path: Path, arr: np.ndarray) -> None:
    """Write the cache file atomically, then evict down to the size limit; give up silently if we cannot."""
    from charclf.errors import WriteError
    from charclf.fileio import atomic_path

    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        evict(keep=path)
    except (OSError, WriteError):
        pass  # read-only home, full disk, ...: caching is an optimisation, never a reason to fail


def evict(limit: int | None = None, *, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used cache files until the folder holds at most ``limit`` bytes (default
    ``max_cache_bytes()``); ``keep`` (the file just written) stays whatever its size. Returns what went."""
    limit = max_cache_bytes() if limit is None else limit
    entries = []
    for path in (cache_dir() / "idx").glob("*.npy"):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed
