"""Atomic file writes: the one way charclf writes a file it may later read back.

Everything goes to a uniquely named temporary file in the target's folder and is renamed over the target only
once complete, so a killed process leaves either the old file or the new one, never half of one, and two
processes writing the same file (tuning workers) never write into each other's temporary file.

The file gets the mode a plain ``open(path, "w")`` would give it: an existing file keeps its mode, a new one
gets ``0o666`` less the umask (``mkstemp`` alone would make every file 0600). A write that fails because the disk
is full, read-only or not writable is one ``WriteError`` naming the file and the fix — whatever library was
writing (``torch.save`` reports a full disk as a ``RuntimeError`` from ``inline_container.cc``, safetensors as
an ``IoError`` string).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from charclf.errors import CharclfError, WriteError

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
# How libraries that do not raise OSError say "the disk is full" (torch's C++ writer, safetensors' Rust one).
_FULL_TEXTS = ("no space left", "storagefull", "os error 28", "disk quota", "file write failed")
RERUN = "free space and rerun (a training run: rerun it with --resume; its last complete epoch is kept)"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def target_mode(path: Path) -> int:
    """The permission bits ``path`` should get: its current ones when it exists, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def write_failure(path: str | os.PathLike, err: BaseException) -> WriteError | None:
    """The ``WriteError`` that says why writing ``path`` failed with ``err`` (full disk, read-only, permission),
    or None when ``err`` is something else (a bug, a bad value): that one propagates as it is."""
    if isinstance(err, CharclfError):
        return None
    code = err.errno if isinstance(err, OSError) else None
    text = str(err).lower()
    full = code in FULL or (code is None and any(t in text for t in _FULL_TEXTS))
    if not full and code is None and isinstance(err, RuntimeError | OSError):
        with contextlib.suppress(OSError):  # a library's vague write error on a disk with nothing left
            full = shutil.disk_usage(Path(path).parent).free < (1 << 20)
    if full:
        why = err.strerror if code else "no space left on the device"
        return WriteError(f"{path}: disk full while writing it ({why}). Fix: {RERUN}")
    if code in NOT_WRITABLE:
        why = "the file system is read-only" if code == errno.EROFS else "permission denied"
        return WriteError(f"{path}: cannot be written ({why}). Fix: write to another folder (e.g. another --out), "
                          "or make this one writable")
    return None


def check_writable(folder: str | os.PathLike, what: str = "--out", *,
                   for_file: str | os.PathLike | None = None) -> Path:
    """Refuse, before any work, an output folder that cannot be written: the folder itself when it exists, else
    the nearest existing folder above it (where it would be created; nothing is created here). Probes by creating
    (and removing) a file, which is the only test that holds for root, read-only mounts and ACLs alike.
    ``for_file``: the output file that goes into ``folder``, named by the message instead of the folder."""
    folder = Path(folder)
    named = folder if for_file is None else Path(for_file)
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise WriteError(f"{probe_dir}: is a file, so {what} {named} cannot be created there. Fix: choose "
                         f"another {what}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".charclf-write-check.", dir=probe_dir)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        why = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}.get(err.errno, err.strerror or str(err))
        if err.errno in FULL:
            raise WriteError(f"{probe_dir}: disk full, so {what} {named} cannot be written. Fix: {RERUN}") from err
        raise WriteError(f"{named}: {what} cannot be written ({why} in {probe_dir}). Fix: choose a writable "
                         f"{what}, or make {probe_dir} writable") from err
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", *, follow_links: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    For writers that want a file name (``torch.save``, ``np.savez``, ``DataFrame.to_csv``, safetensors);
    ``suffix`` keeps an extension those writers insist on (``np.savez`` appends ``.npz`` otherwise).

    A symlink at ``path`` is replaced by the new file and what it points to is left alone: ``render-check``
    links the committed outputs into a scratch folder and relies on that. ``follow_links`` writes through to
    the link's target instead (the link stays), for a command that updates a user's own file in place
    (``charclf evaluate`` merging into metrics.json, ``nbstrip``), where a replaced link would leave the file it
    points to, which others read, without the new content."""
    path = Path(os.path.realpath(path)) if follow_links and Path(path).is_symlink() else Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp)
        yield tmp
        os.chmod(tmp, target_mode(path))
        os.replace(tmp, path)
    except Exception as err:
        failure = write_failure(path, err)
        if failure is None:
            raise
        raise failure from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, follow_links: bool = False) -> Path:
    with atomic_path(path, follow_links=follow_links) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj, *, indent: int = 2, follow_links: bool = False) -> Path:
    """``obj`` as JSON (numpy scalars/arrays and paths allowed), written atomically (``follow_links``: see
    :func:`atomic_path`)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n",
                             follow_links=follow_links)


def write_csv(df, path: str | os.PathLike, **to_csv_kwargs) -> Path:
    """A pandas DataFrame as CSV (``index=False`` unless given), written atomically."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **to_csv_kwargs)
    return Path(path)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# -- one writer at a time ----------------------------------------------------------------------------------------
def lock_holder(lock: str | os.PathLike) -> str | None:
    """The PID recorded in ``lock`` when a live process holds it ("" when it wrote none yet), else None (no
    file, or one a dead process left). A shared, non-blocking probe, released at once: it takes nothing."""
    import fcntl

    try:
        fh = open(lock, encoding="utf-8")
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return fh.read().strip()
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def exclusive(lock: str | os.PathLike, busy: Callable[[str], Exception] | None = None) -> Iterator[None]:
    """Hold an ``flock`` on the file ``lock`` (which records this process's PID) for the block, or raise
    ``busy(holder_pid)`` at once when a live process holds it (``busy`` None: wait for it instead, for a short
    read-modify-write such as merging an evaluation into metrics.json). The kernel drops an flock when its process dies,
    even by SIGKILL, so a killed holder never blocks anyone: its stale file is simply taken over. The file is
    removed on release — unlinked while still locked, and a process that opened it meanwhile notices (the path
    no longer names the inode it locked) and locks the current file instead."""
    import fcntl

    lock = Path(lock)
    while True:
        try:
            fh = open(lock, "a+", encoding="utf-8")
        except OSError as err:
            failure = write_failure(lock, err)
            raise (failure or WriteError(f"{lock}: cannot create this lock file ({err.strerror or err}). Fix: make "
                                         "its folder writable")) from err
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy is not None else 0))
        except OSError as err:
            if busy is None:
                fh.close()
                raise
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise busy(holder or "unknown") from err
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(lock).st_ino
        except OSError:
            same = False
        if same:
            break
        fh.close()
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        fh.close()


def refuse_to_replace(*paths: str | os.PathLike, overwrite: bool = False) -> None:
    """The one gate a command passes before its work: its results must not replace an earlier run's, and must be
    writable. ``ConfigError`` naming the first of ``paths`` that exists, and the two ways on, unless ``overwrite``
    (the user's ``--overwrite``); then ``WriteError`` (:func:`check_writable`) when a path's folder cannot be
    written — or, when that folder does not exist yet, the nearest one above it, where ``atomic_path`` will create
    it (nothing is created here). Called before any work, so a refused command has cost nothing and changed
    nothing (the existence check comes first: it leaves even the folder's mtime as it was). The ``paths`` are
    files: two that are one path (the JSON and its gallery under one name), or one that is a folder, are refused
    with or without ``overwrite``."""
    from charclf.errors import ConfigError, printable

    paths = [Path(p) for p in paths]
    if len({os.path.abspath(p) for p in paths}) < len(paths):  # e.g. --out x.png: the gallery is x.png too
        raise ConfigError(f"{', '.join(printable(str(p)) for p in paths)}: this command writes each of these, and "
                          "two of them are one path, so one result would replace the other. Fix: pass --out a "
                          "path ending in .json")
    for path in paths:  # these are files: --overwrite replaces a file, never a folder (or what is in it)
        if path.is_dir():
            raise ConfigError(f"{printable(str(path))} is a folder, and this command writes a file there. Fix: "
                              "pass --out a file path (e.g. inside that folder)")
    if not overwrite:
        for path in map(Path, paths):
            if path.exists():
                raise ConfigError(f"{printable(str(path))} already exists (an earlier run's result), and this command "
                                  "would replace it. Fix: pass --overwrite to replace it, or --out PATH to write "
                                  "elsewhere")
    checked = set()
    for path in map(Path, paths):  # an hour of work must not end in "permission denied" at its last write
        if path.parent not in checked:
            checked.add(path.parent)
            check_writable(path.parent, "--out", for_file=path)


def kept_aside_path(path: str | os.PathLike, stamp: str, *, file: bool = False) -> Path:
    """Where an earlier result at ``path`` goes so that nothing replaces it: ``<name>-<stamp>`` beside it (a
    ``file`` keeps its extension last: ``results-<stamp>.json``; a folder's name may hold dots, "w1.5-seed0"),
    ``-2``, ``-3`` ... added when that name is taken (two set asides within the same second)."""
    path = Path(path)
    stem, suffix = (path.stem, path.suffix) if file else (path.name, "")
    target, n = path.with_name(f"{stem}-{stamp}{suffix}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{stem}-{stamp}-{n}{suffix}")
    return target


def utc_stamp() -> str:
    """The time in the names of set-aside results: ``20261207T210555Z``."""
    import time

    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def move_aside(folder: str | os.PathLike, place: str | os.PathLike) -> Path:
    """Move ``folder`` to ``<place>-<UTC stamp>`` (:func:`kept_aside_path`; parents created) instead of deleting
    it, and return where it went. A rename when both are on one file system; across file systems a copy, then the
    original is removed. A copy that fails leaves the original whole (the partial copy, this call's own, is
    removed); a removal that fails after a whole copy keeps that copy and says so in a ``WriteError``: neither
    step ever deletes the one whole copy there is."""
    import errno as _errno

    folder = Path(folder)
    target = kept_aside_path(place, utc_stamp())
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(folder, target)
        return target
    except OSError as err:
        if err.errno != _errno.EXDEV:
            raise
    try:
        shutil.copytree(folder, target, symlinks=True)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # a partial copy: the original is still whole
        raise
    try:
        shutil.rmtree(folder)
    except OSError as err:
        raise WriteError(f"{folder}: copied whole to {target}, but the original could not be removed "
                         f"({err.strerror or err}). Fix: remove what is left of {folder} yourself") from err
    return target
