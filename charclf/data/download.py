"""Download NIST's EMNIST archive (``gzip.zip``, ~535 MB) and check it before it counts.

- streamed in 1 MB chunks with a tqdm progress bar;
- resumable: bytes land in ``gzip.zip.part`` and a re-run continues with an HTTP ``Range`` request;
- verified: md5 of the whole archive, then sha256 of each of the 24 idx members against NIST's list;
- atomic: only a verified archive is renamed to ``gzip.zip`` — a failed or interrupted download never looks
  like data;
- mirrors are tried in order; without network it fails within ``timeout`` seconds and says where to put the
  files by hand.

Verification is never switched off. NIST's archive is checked against the checksums pinned in
``charclf.data.official``. A mirror may publish a checksum manifest ``SHA256SUMS`` beside its archive (the
``sha256sum`` format: ``<sha256>  gzip.zip`` for the archive and ``<sha256>  gzip/<member>`` for members). A
mirror's own manifest proves only that the mirror is self-consistent, so it never replaces NIST's sums: the
archive is checked against the manifest's line for it, *and* every member against NIST's pinned sha256. A
mirror whose members are not NIST's is refused, unless the user explicitly allows a non-NIST mirror
(``allow_non_nist=True``, ``--allow-non-nist-mirror``): then its manifest is what the archive must match, and a
warning says its data is not NIST's.

Download on first use: :func:`ensure_data` fetches what a (split, protocol) needs when it is missing —
``load_data(..., download=True)``, the notebooks and ``charclf study`` call it; ``$CHARCLF_NO_DOWNLOAD=1``
turns that off for the notebooks and the study (``load_data`` never downloads unless asked).
Classic MNIST (not in NIST's archive) comes from torchvision's mirrors, checked against LeCun's md5s.

The loaders read ``gzip.zip`` in place, so nothing is extracted.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from charclf.data.idx import GZIP_MAGIC, gunzip
from charclf.data.official import (
    CLASSIC_MNIST,
    MNIST_FILES,
    MNIST_RAW_MD5,
    NIST_URL,
    NIST_ZIP_MD5,
    NIST_ZIP_SIZE_MB,
    OFFICIAL_SHA256,
    ZIP_FOLDER,
    ZIP_NAME,
    check_split,
    find_csv,
    find_file,
    official_file,
    resolve_data_dir,
)
from charclf.errors import ChecksumError, DataError, DownloadError, WriteError, mask_credentials
from charclf.fileio import exclusive, write_failure

CHUNK = 1 << 20
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)
MANIFEST_NAME = "SHA256SUMS"  # a mirror's checksum manifest, beside its archive
MIRRORS_ENV = "CHARCLF_EMNIST_MIRRORS"  # archive URLs (space or comma separated) tried instead of NIST's
MNIST_MIRRORS_ENV = "CHARCLF_MNIST_MIRRORS"  # folder URLs holding LeCun's four .gz files
NO_DOWNLOAD_ENV = "CHARCLF_NO_DOWNLOAD"  # 1: the notebooks and `charclf study` never download
ALLOW_ENV = "CHARCLF_ALLOW_NON_NIST_MIRROR"  # 1: as --allow-non-nist-mirror, for load_data(download=True) too
# torchvision's mirrors of LeCun's files (yann.lecun.com often refuses downloads).
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_SIZE_MB = 12
_UNSET = object()


@dataclass(frozen=True)
class Checksums:
    """What an archive is checked against: whole-archive md5 and/or sha256, and the sha256 of its members."""

    md5: str | None = None
    sha256: str | None = None
    members: dict[str, str] = field(default_factory=dict)  # official member name (no "gzip/") -> sha256
    source: str = "NIST's published checksums (pinned in charclf)"

    def __post_init__(self):
        if not (self.md5 or self.sha256 or self.members):
            raise ValueError("Checksums with nothing to check: verification is never switched off")


OFFICIAL = Checksums(md5=NIST_ZIP_MD5, members=OFFICIAL_SHA256)


def _manual_fix(target: Path) -> str:
    return (f"on a machine with internet, download {NIST_URL} ({NIST_ZIP_SIZE_MB} MB, md5 {NIST_ZIP_MD5}) and put "
            f"it at {target} (or put its loose emnist-*.gz files in {target.parent}), then run `charclf data verify "
            f"--data-dir {target.parent.parent}`; re-running the download resumes a partial one")


def file_digest(path: Path, algo: str = "md5") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_md5(path: Path) -> str:
    return file_digest(path, "md5")


def verify_archive(path: str | Path, *, md5: str | None = NIST_ZIP_MD5, sha256: dict[str, str] | None = None,
                   archive_sha256: str | None = None) -> None:
    """Check an EMNIST ``gzip.zip``: whole-file md5 and/or sha256, then every expected member's sha256.

    ``md5``/``sha256`` (members) default to NIST's values; a mirror's manifest or a test passes others.
    Raises ``ChecksumError`` (wrong bytes) or ``DownloadError`` (not a zip, members missing).
    """
    path = Path(path)
    sha256 = OFFICIAL_SHA256 if sha256 is None else sha256
    Checksums(md5, archive_sha256, sha256)  # refuses a call that would check nothing
    redo = "delete it and download again"
    for algo, expected in (("md5", md5), ("sha256", archive_sha256)):
        if expected is not None:
            actual = file_digest(path, algo)
            if actual != expected:
                raise ChecksumError(path, f"{algo} is {actual}, expected {expected}",
                                    f"the archive is damaged or not NIST's: {redo}")
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


def _check_space(folder: Path, need: int) -> None:
    """Refuse to start a download that cannot fit, instead of failing half way with a full disk."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        # A WriteError, not a DownloadError: no other mirror (or file of a manifest) fits either, so it stops
        # the command instead of failing once per mirror or file.
        raise WriteError(f"{folder}: needs {_size(need)} free for the download, only {_size(free)} are free. Fix: "
                         "free some space, or pass another --data-dir / $CHARCLF_DATA_DIR")


def _size(n: int) -> str:
    """Bytes for a message: "0 MB free" of 300 KB needed would read as nonsense."""
    return f"{n / 2**20:,.0f} MB" if n >= 10 * 2**20 else f"{n / 2**10:,.0f} KB"


MIN_RATE = 4096  # bytes/s: a download slower than this over a whole RATE_WINDOW is stalled
RATE_WINDOW = 30.0  # seconds


def stream(resp, *, min_rate: float | None = None, limit: int | None = None) -> Iterator[bytes]:
    """The body of ``resp`` in chunks of at most ``CHUNK`` bytes (``limit`` bytes in all at most), failing with
    ``TimeoutError`` when fewer than ``min_rate`` bytes/s arrive over any ``RATE_WINDOW`` seconds.

    The socket timeout bounds each read only: a server that trickles a byte every few seconds never trips
    it, and would hold a download (or a manifest fetch) forever. This bounds the whole transfer's rate."""
    min_rate = MIN_RATE if min_rate is None else min_rate
    window_start, window_bytes, total = time.monotonic(), 0, 0
    while limit is None or total < limit:
        chunk = resp.read1(CHUNK if limit is None else min(CHUNK, limit - total))
        if not chunk:
            return
        total += len(chunk)
        window_bytes += len(chunk)
        yield chunk
        elapsed = time.monotonic() - window_start
        if elapsed >= RATE_WINDOW:
            if window_bytes < min_rate * elapsed:
                raise TimeoutError(f"the transfer stalled ({window_bytes:,} bytes in {elapsed:.0f} s, below the "
                                   f"minimum {min_rate:,.0f} bytes/s)")
            window_start, window_bytes = time.monotonic(), 0


def open_url(request: urllib.request.Request, *, timeout: float):
    """``urlopen``, but the connection *and the response headers* must arrive within ``timeout`` seconds in all.

    urlopen's own timeout bounds each socket read, so a server that trickles its status line and headers a byte
    at a time would hold it forever; here it runs in a daemon thread that is abandoned (its socket times out on
    its own) when the deadline passes."""
    box: dict = {}

    def run():
        try:
            box["resp"] = urllib.request.urlopen(request, timeout=timeout)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread as it is
            box["err"] = err

    thread = threading.Thread(target=run, daemon=True, name="charclf-urlopen")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no response within {timeout:g} s (the server is not sending its headers)")
    if "err" in box:
        raise box["err"]
    return box["resp"]


def read_limited(resp, limit: int, *, min_rate: float | None = None) -> bytes:
    """At most ``limit`` bytes of ``resp``'s body, under :func:`stream`'s minimum rate."""
    return b"".join(stream(resp, min_rate=min_rate, limit=limit))


def web_page(resp) -> bool:
    """Whether ``resp`` is a web page. Every file charclf downloads is binary (archives, .gz, images) or plain
    text (SHA256SUMS): a web page is a server's error, quota, sign-in or "not found" page served with 200, which
    would otherwise read as a bad checksum or a malformed manifest."""
    return resp.headers.get_content_type() in ("text/html", "application/xhtml+xml")


def _fetch(url: str, part: Path, *, timeout: float, progress: bool, min_rate: float | None = None) -> int:
    """Append ``url``'s remaining bytes to ``part`` (resuming with a Range request). Returns the bytes resumed from."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "charclf (EMNIST downloader)"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = open_url(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the .part is complete already
            return have
        raise
    with resp:
        if web_page(resp):
            raise DownloadError(part.with_name(part.name.removesuffix(".part")),
                                f"got a web page ({resp.headers.get_content_type()}) instead of the file from "
                                f"{mask_credentials(url)}, likely an error, quota or sign-in page", "open the URL in "
                                "a browser to see why, or use another mirror")
        if have and resp.status != 206:  # the server ignored Range: start over
            have = 0
        # http.client's parsed Content-Length: None when the header is absent, negative or not a number (a lying
        # server's "abc" must not become a ValueError traceback here).
        length = resp.length
        total = have + length if length is not None else None
        if length is not None:
            _check_space(part.parent, length)
        try:
            with open(part, "ab" if have else "wb") as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                                unit_divisor=1024, disable=not progress,
                                                                desc=part.name.removesuffix(".part")) as bar:
                for chunk in stream(resp, min_rate=min_rate):
                    fh.write(chunk)
                    bar.update(len(chunk))
        except OSError as err:  # the disk filled up or went read-only mid-download: say so (the .part resumes)
            if isinstance(err, NETWORK_ERRORS):
                raise
            failure = write_failure(part, err)
            if failure is None:
                raise
            raise failure from err
    size = part.stat().st_size
    if total is not None and size != total:
        raise http.client.IncompleteRead(b"", total - size)
    return have


# ------------------------------------------------------------------------------------------ mirrors
def env_mirrors(env: str = MIRRORS_ENV) -> list[str]:
    """The URLs listed in ``$env`` (space or comma separated); empty when unset."""
    return [u for u in re.split(r"[\s,]+", os.environ.get(env, "")) if u]


def is_nist(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname == urllib.parse.urlsplit(NIST_URL).hostname


def manifest_url(url: str) -> str:
    """Where a mirror's checksum manifest sits: ``SHA256SUMS`` in the same folder as its archive."""
    return urllib.parse.urljoin(url, MANIFEST_NAME)


def parse_manifest(text: str, *, archive: str = ZIP_NAME, name: str = MANIFEST_NAME) -> Checksums:
    """Parse a ``sha256sum``-format manifest: the archive's own line and/or one line per member."""
    archive_sha, members = None, {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"\s*([0-9a-fA-F]{64})\s+\*?(?:\./)?(\S+)\s*", line)
        if not m:
            raise DownloadError(name, f"line {lineno} ({line.strip()[:60]!r}) is not '<sha256>  <file name>'",
                                "the mirror's manifest must be in `sha256sum` format")
        digest, fname = m.group(1).lower(), m.group(2)
        if fname == archive:
            archive_sha = digest
        else:
            members[fname.removeprefix(ZIP_FOLDER)] = digest
    if not archive_sha and not members:
        raise DownloadError(name, f"lists neither {archive} nor any of its members", "the mirror's manifest "
                            f"must list the archive's sha256 (`sha256sum {archive}`) and/or its members'")
    return Checksums(sha256=archive_sha, members=members, source=f"the mirror's manifest {name}")


ALLOW_FLAG = "--allow-non-nist-mirror"


def mirror_checksums(url: str, *, timeout: float, allow_non_nist: bool = False,
                     min_rate: float | None = None) -> Checksums:
    """What ``url``'s archive must match: NIST's pinned checksums, always, for NIST and for any mirror (a byte
    copy of NIST's archive passes them). A mirror's ``SHA256SUMS`` adds its line for the archive; a manifest
    whose members are not NIST's is refused here, before any download — unless ``allow_non_nist``, when the
    manifest's sums replace NIST's member sums (a mirror of other data, used knowingly)."""
    if is_nist(url):
        return OFFICIAL
    murl = manifest_url(url)
    try:
        with open_url(urllib.request.Request(murl, headers={"User-Agent": "charclf"}), timeout=timeout) as resp:
            if web_page(resp):  # a host's "not found" page served with 200: no manifest, as a 404
                return OFFICIAL
            text = read_limited(resp, 1 << 20, min_rate=min_rate).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        if err.code in (403, 404, 410):
            return OFFICIAL
        raise
    archive = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or ZIP_NAME
    manifest = parse_manifest(text, archive=archive, name=murl)
    differ = sorted(n for n, h in manifest.members.items() if OFFICIAL_SHA256.get(n, h) != h)
    if allow_non_nist:
        return manifest
    if differ:
        raise DownloadError(mask_credentials(murl), f"lists {len(differ)} member(s) that are not NIST's files (e.g. "
                            f"{differ[0]}: not the official sha256)", "use NIST's archive or a byte copy of it; to "
                            f"use this mirror's data anyway, pass {ALLOW_FLAG} (allow_non_nist=True): results on it "
                            "are not comparable with published ones")
    return Checksums(sha256=manifest.sha256, members=OFFICIAL_SHA256,
                     source=f"NIST's pinned member checksums (and the archive's line in {mask_credentials(murl)})")


def _warn_if_not_official(url: str, checks: Checksums) -> None:
    """After a download allowed from a non-NIST mirror: say when its members are not (or not shown to be)
    NIST's files."""
    url = mask_credentials(url)
    differ = [n for n, h in checks.members.items() if n in OFFICIAL_SHA256 and OFFICIAL_SHA256[n] != h]
    unchecked = [n for n in OFFICIAL_SHA256 if n not in checks.members]
    if differ:
        warnings.warn(f"{url}: {len(differ)} member(s) of this mirror's archive are not NIST's files (e.g. "
                      f"{differ[0]} differs from the official sha256): results on them are not comparable with "
                      "published ones; `charclf data verify` marks them 'mismatch'", UserWarning, stacklevel=3)
    elif unchecked:
        warnings.warn(f"{url}: this mirror's archive was checked against its own SHA256SUMS only ({ALLOW_FLAG}); "
                      f"{len(unchecked)} member(s) were not compared with NIST's sums: run `charclf data verify` "
                      "to see which are NIST's files", UserWarning, stacklevel=3)


def _verify(path: Path, checks: Checksums) -> None:
    verify_archive(path, md5=checks.md5, sha256=checks.members, archive_sha256=checks.sha256)


def download_emnist(data_dir: str | Path | None = None, mirrors: list[str] | tuple[str, ...] | None = None, *,
                    md5=_UNSET, sha256: dict[str, str] | None = None, timeout: float = 20.0,
                    progress: bool = True, force: bool = False, allow_non_nist: bool | None = None,
                    min_rate: float | None = None) -> Path:
    """Download EMNIST's ``gzip.zip`` into ``<data_dir>/emnist/`` and verify it. Returns the archive's path.

    ``mirrors``: full URLs of the archive, tried in order (default: ``$CHARCLF_EMNIST_MIRRORS``, else NIST).
    Each is checked against NIST's pinned checksums (and a mirror's ``SHA256SUMS`` line for its archive); only
    ``allow_non_nist`` (default: ``$CHARCLF_ALLOW_NON_NIST_MIRROR`` is 1) lets a mirror's own member sums stand
    in for NIST's (see the module's doc).
    An existing verified archive is kept (``force`` downloads again). ``md5``/``sha256`` replace every other
    checksum (tests of synthetic archives). ``min_rate``: bytes/s below which a download counts as stalled
    (default ``MIN_RATE``; see :func:`read_limited`).
    """
    explicit = None
    if allow_non_nist is None:
        allow_non_nist = not downloads_allowed(default=True, env=ALLOW_ENV)  # "1" turns it on
    if md5 is not _UNSET or sha256 is not None:
        explicit = Checksums(md5=NIST_ZIP_MD5 if md5 is _UNSET else md5,
                             members=OFFICIAL_SHA256 if sha256 is None else sha256, source="the caller's checksums")
    mirrors = list(mirrors) if mirrors else (env_mirrors() or [NIST_URL])
    root = resolve_data_dir(data_dir)
    target = root / "emnist" / ZIP_NAME
    part = target.with_name(ZIP_NAME + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(target.parent, f"cannot create the download folder ({err.strerror})",
                        "pass a writable --data-dir, or set CHARCLF_DATA_DIR") from err
    if not os.access(target.parent, os.W_OK):
        raise DataError(target.parent, "the download folder is not writable",
                        "pass a writable --data-dir, or set CHARCLF_DATA_DIR")
    # Two processes appending to one gzip.zip.part would interleave their bytes: one downloads, the other is told.
    def busy(holder: str) -> DownloadError:
        return DownloadError(target, f"another charclf download (PID {holder}) is fetching it into this folder",
                             "wait for it to finish, then run the command again (it keeps the verified archive)")

    with exclusive(target.with_name(f".{ZIP_NAME}.lock"), busy):
        return _get_archive(target, part, mirrors, explicit, force=force, timeout=timeout, progress=progress,
                            allow_non_nist=allow_non_nist, min_rate=min_rate)


def _get_archive(target: Path, part: Path, mirrors: list[str], explicit: Checksums | None, *, force: bool,
                 timeout: float, progress: bool, allow_non_nist: bool, min_rate: float | None) -> Path:
    """``download_emnist``'s work, under its lock: keep a good archive already there, else try each mirror."""
    if target.exists() and not force:
        # An existing archive is checked, and kept if good; a bad one is reported, never overwritten silently.
        # It may have come from any of the mirrors, so it is good if it passes one of their checksum sets.
        candidates = [explicit] if explicit else [OFFICIAL]
        if not explicit:
            for url in mirrors:
                try:
                    checks = mirror_checksums(url, timeout=timeout, allow_non_nist=allow_non_nist,
                                              min_rate=min_rate)
                except (DataError, *NETWORK_ERRORS):
                    continue
                if checks not in candidates:
                    candidates.append(checks)
        first_error = None
        for checks in candidates:
            try:
                _verify(target, checks)
                return target
            except DataError as err:
                first_error = first_error or err
        raise type(first_error)(target, f"an archive is already there but is bad: {first_error.problem}",
                                "delete it, or download again with --force (force=True)") from first_error

    failures: list[str] = []
    only_checksums = True
    for url in mirrors:
        try:
            checks = explicit or mirror_checksums(url, timeout=timeout, allow_non_nist=allow_non_nist,
                                                  min_rate=min_rate)
        except NETWORK_ERRORS as err:
            only_checksums = False
            failures.append(f"{mask_credentials(manifest_url(url))}: {getattr(err, 'reason', None) or err}")
            continue
        except DownloadError as err:  # a manifest that cannot be read, or not NIST's: never downloaded
            only_checksums = False
            failures.append(f"{mask_credentials(url)}: {err.problem}")
            continue
        print(f"Downloading EMNIST ({ZIP_NAME}: NIST's archive is ~{NIST_ZIP_SIZE_MB} MB, and needs as much free "
              f"disk) from {mask_credentials(url)}\n  into {target.parent}/ (checked against {checks.source}; "
              "resumable: re-run to continue an interrupted download)", flush=True)
        for attempt in range(2):  # a second, fresh attempt when a resumed .part turns out wrong
            try:
                resumed_from = _fetch(url, part, timeout=timeout, progress=progress, min_rate=min_rate)
            except NETWORK_ERRORS as err:
                only_checksums = False
                failures.append(f"{mask_credentials(url)}: {getattr(err, 'reason', None) or err}")
                break  # keep the .part: the next mirror (or a re-run) resumes it
            except DownloadError as err:  # a web page instead of the archive: the next mirror may serve it
                only_checksums = False
                failures.append(err.problem)
                break
            try:
                _verify(part, checks)
            except DataError as err:
                part.unlink(missing_ok=True)  # wrong bytes: never resume from them
                if resumed_from and attempt == 0:
                    continue
                failures.append(f"{mask_credentials(url)}: {err.problem}")
                break
            os.replace(part, target)
            if checks is not explicit:
                _warn_if_not_official(url, checks)
            return target
    cls = ChecksumError if only_checksums else DownloadError
    fix = _manual_fix(target)
    if not allow_non_nist and not explicit and any(not is_nist(u) for u in mirrors):
        fix += (f"; to use a mirror whose files are not NIST's, knowingly, pass {ALLOW_FLAG} "
                "(results on its data are not comparable with published ones)")
    raise cls(target, "could not get a verified EMNIST archive: " + "; ".join(failures), fix)


# ------------------------------------------------------------------------------------- classic MNIST
def _mnist_md5(data: bytes, name: str) -> str:
    """md5 of the *uncompressed* idx data: what LeCun's checksums are of (the .gz wrappers differ)."""
    return hashlib.md5(gunzip(data, name=name) if data.startswith(GZIP_MAGIC) else data).hexdigest()


def download_mnist(data_dir: str | Path | None = None, mirrors: list[str] | tuple[str, ...] | None = None, *,
                   md5: dict[str, str] | None = None, timeout: float = 20.0, progress: bool = True) -> Path:
    """Download classic (LeCun) MNIST's four ``.gz`` files into ``<data_dir>/mnist/``; returns that folder.

    ``mirrors``: folder URLs (default: ``$CHARCLF_MNIST_MIRRORS``, else torchvision's mirrors). Each file is
    checked against LeCun's md5 of the uncompressed data (``md5`` replaces them, for tests) before it is moved
    into place; files already there and correct are kept.
    """
    md5 = MNIST_RAW_MD5 if md5 is None else md5
    mirrors = list(mirrors) if mirrors else (env_mirrors(MNIST_MIRRORS_ENV) or list(MNIST_MIRRORS))
    folder = resolve_data_dir(data_dir) / "mnist"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(folder, f"cannot create the download folder ({err.strerror})",
                        "pass a writable --data-dir, or set CHARCLF_DATA_DIR") from err
    print(f"Downloading classic MNIST (4 files, ~{MNIST_SIZE_MB} MB) into {folder}/", flush=True)
    for name in MNIST_FILES.values():
        target, part = folder / name, folder / (name + ".part")
        if target.is_file():
            continue  # the loaders (and `charclf data verify`) check what is already there
        failures = []
        for base in mirrors:
            url = urllib.parse.urljoin(base if base.endswith("/") else base + "/", name)
            part.unlink(missing_ok=True)  # 12 MB: never worth resuming across mirrors
            try:
                _fetch(url, part, timeout=timeout, progress=progress)
                actual = _mnist_md5(part.read_bytes(), name)
            except NETWORK_ERRORS as err:
                failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
                continue
            except DataError as err:
                failures.append(f"{url}: {err.problem}")
                continue
            if actual != md5[name]:
                failures.append(f"{url}: md5 of the data is {actual}, LeCun's is {md5[name]}")
                continue
            os.replace(part, target)
            break
        else:
            part.unlink(missing_ok=True)
            raise DownloadError(target, "could not get a verified copy: " + "; ".join(failures),
                                f"download {name} from any MNIST mirror by hand into {folder}, or pass mirrors "
                                f"(${MNIST_MIRRORS_ENV})")
    return folder


# ------------------------------------------------------------------------------------ first use
def downloads_allowed(default: bool = True, env: str = NO_DOWNLOAD_ENV) -> bool:
    """False when ``$CHARCLF_NO_DOWNLOAD`` (``env``) is 1/true/yes/on; ``default`` when it is unset."""
    value = os.environ.get(env)
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in {"1", "true", "yes", "on"}


def missing_files(split: str, protocol: str = "holdout", data_dir: str | Path | None = None) -> list[str]:
    """The official files ``load_data(split, protocol)`` needs that are not in the data dir (any layout)."""
    split = check_split(split, allow_classic=True)
    root = resolve_data_dir(data_dir)
    classic = split == CLASSIC_MNIST
    missing = []
    for part in ("test",) if protocol == "holdout" else ("train", "test"):
        if not classic and find_csv(split, part, root) is not None:
            continue
        missing += [official_file(split, part, kind) for kind in ("images", "labels")
                    if find_file(official_file(split, part, kind), root, classic=classic) is None]
    return missing


def ensure_data(split: str = "byclass", protocol: str = "holdout", data_dir: str | Path | None = None, *,
                mirrors: list[str] | None = None, progress: bool = True, timeout: float = 20.0) -> Path:
    """Download what ``load_data(split, protocol, data_dir)`` needs when it is missing; returns the data dir.

    EMNIST splits come from NIST's archive (all six splits at once), classic MNIST from its mirrors.
    """
    root = resolve_data_dir(data_dir)
    if not missing_files(split, protocol, root):
        return root
    if split == CLASSIC_MNIST:
        download_mnist(root, mirrors, progress=progress, timeout=timeout)
    else:
        download_emnist(root, mirrors, progress=progress, timeout=timeout)
    return root


__all__ = ["download_emnist", "download_mnist", "ensure_data", "missing_files", "downloads_allowed",
           "verify_archive", "file_md5", "parse_manifest", "Checksums"]
