"""Download NIST's EMNIST archive (``gzip.zip``, ~535 MB) and check it before it counts.

- streamed in 1 MB chunks with a tqdm progress bar;
- resumable: bytes land in ``gzip.zip.part`` and a re-run continues with an HTTP ``Range`` request;
- verified: md5 of the whole archive, then sha256 of each of the 24 idx members against NIST's list;
- atomic: only a verified archive is renamed to ``gzip.zip`` — a failed or interrupted download never looks
  like data;
- mirrors are tried in order; without network it fails within ``timeout`` seconds and says where to put the
  files by hand.

The loaders read ``gzip.zip`` in place, so nothing is extracted.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from charclf.data.official import (NIST_URL, NIST_ZIP_MD5, NIST_ZIP_SIZE_MB, OFFICIAL_SHA256, ZIP_FOLDER, ZIP_NAME,
                                   resolve_data_dir)
from charclf.errors import ChecksumError, DataError, DownloadError

CHUNK = 1 << 20
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


def _manual_fix(target: Path) -> str:
    return (f"on a machine with internet, download {NIST_URL} ({NIST_ZIP_SIZE_MB} MB, md5 {NIST_ZIP_MD5}) and put "
            f"it at {target} (or put its loose emnist-*.gz files in {target.parent}), then run `charclf data verify "
            f"--data-dir {target.parent.parent}`; re-running the download resumes a partial one")


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_archive(path: str | Path, *, md5: str | None = NIST_ZIP_MD5,
                   sha256: dict[str, str] | None = None) -> None:
    """Check an EMNIST ``gzip.zip``: whole-file md5, then every expected member's sha256.

    ``md5``/``sha256`` default to NIST's values; tests pass those of a synthetic archive. Raises
    ``ChecksumError`` (wrong bytes) or ``DownloadError`` (not a zip, members missing).
    """
    path = Path(path)
    sha256 = OFFICIAL_SHA256 if sha256 is None else sha256
    redo = "delete it and download again"
    if md5 is not None:
        actual = file_md5(path)
        if actual != md5:
            raise ChecksumError(path, f"md5 is {actual}, expected {md5}", f"the archive is damaged or not NIST's: {redo}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [n for n in sha256 if ZIP_FOLDER + n not in names]
            if missing:
                raise DownloadError(path, f"the archive lacks {len(missing)} expected member(s), e.g. "
                                          f"{ZIP_FOLDER}{missing[0]}", f"it is not NIST's EMNIST gzip.zip: {redo}")
            for name, expected in sha256.items():
                h = hashlib.sha256()
                with zf.open(ZIP_FOLDER + name) as fh:
                    while chunk := fh.read(CHUNK):
                        h.update(chunk)
                if h.hexdigest() != expected:
                    raise ChecksumError(f"{path}[{ZIP_FOLDER}{name}]", f"member {ZIP_FOLDER}{name} has sha256 "
                                        f"{h.hexdigest()}, the official value is {expected}", redo)
    except zipfile.BadZipFile as err:
        raise DownloadError(path, f"is not a valid zip archive ({err})", redo) from err


def _fetch(url: str, part: Path, *, timeout: float, progress: bool) -> int:
    """Append ``url``'s remaining bytes to ``part`` (resuming with a Range request). Returns the bytes resumed from."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "charclf (EMNIST downloader)"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the .part is complete already
            return have
        raise
    with resp:
        if have and resp.status != 206:  # the server ignored Range: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                            unit_divisor=1024, desc=ZIP_NAME,
                                                            disable=not progress) as bar:
            while chunk := resp.read(CHUNK):
                fh.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise http.client.IncompleteRead(b"", total - size)
    return have


def download_emnist(data_dir: str | Path | None = None, mirrors: list[str] | tuple[str, ...] | None = None, *,
                    md5: str | None = NIST_ZIP_MD5, sha256: dict[str, str] | None = None, timeout: float = 20.0,
                    progress: bool = True, force: bool = False) -> Path:
    """Download EMNIST's ``gzip.zip`` into ``<data_dir>/emnist/`` and verify it. Returns the archive's path.

    ``mirrors``: full URLs of the archive, tried in order (default: NIST only). An existing verified archive is
    kept (``force`` downloads again). ``md5``/``sha256`` override the official checksums (for tests).
    """
    root = resolve_data_dir(data_dir)
    target = root / "emnist" / ZIP_NAME
    part = target.with_name(ZIP_NAME + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(target.parent, f"cannot create the download folder ({err.strerror})",
                        "pass a writable --data-dir, or set CHARCLF_DATA_DIR") from err
    if target.exists() and not force:
        try:  # an existing archive is checked, and kept if good; a bad one is reported, never overwritten silently
            verify_archive(target, md5=md5, sha256=sha256)
        except DataError as err:
            raise type(err)(target, f"an archive is already there but is bad: {err.problem}",
                            "delete it, or download again with --force (force=True)") from err
        return target

    mirrors = list(mirrors) if mirrors else [NIST_URL]
    failures: list[str] = []
    only_checksums = True
    for url in mirrors:
        for attempt in range(2):  # a second, fresh attempt when a resumed .part turns out wrong
            try:
                resumed_from = _fetch(url, part, timeout=timeout, progress=progress)
            except NETWORK_ERRORS as err:
                only_checksums = False
                failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
                break  # keep the .part: the next mirror (or a re-run) resumes it
            try:
                verify_archive(part, md5=md5, sha256=sha256)
            except DataError as err:
                part.unlink(missing_ok=True)  # wrong bytes: never resume from them
                if resumed_from and attempt == 0:
                    continue
                failures.append(f"{url}: {err.problem}")
                break
            os.replace(part, target)
            return target
    cls = ChecksumError if only_checksums else DownloadError
    raise cls(target, "could not get a verified EMNIST archive: " + "; ".join(failures), _manual_fix(target))


__all__ = ["download_emnist", "verify_archive", "file_md5"]
