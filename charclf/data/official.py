"""The official EMNIST and MNIST files: names, checksums, mappings, where to find them, and loading them.

Facts copied from NIST's release (``gzip.zip``) so the package can check files without network access.
Besides NIST's own forms (the archive, loose ``.gz``, raw idx) it reads the copies users already have:
torchvision's ``<root>/EMNIST/raw/`` and the widespread ``emnist-<split>-<part>.csv`` files.
Loading returns *upright* images: EMNIST's idx files store every image transposed, so we transpose once here
and no caller ever has to remember it. Classic MNIST (LeCun) is stored upright and is left alone.
"""
from __future__ import annotations

import hashlib
import os
import string
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from charclf.data.cache import cached_array, content_key, hash_chunks, read_range
from charclf.data.idx import GZIP_MAGIC, IMAGE_SHAPE, gunzip, parse_idx
from charclf.errors import ChecksumError, DataError, file_error, unknown_name
from charclf.paths import COLAB_DATA_DIR, DATA_ENV  # noqa: F401  (the data layer's names for them)

SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
CLASSIC_MNIST = "classic-mnist"  # LeCun's MNIST, files in <data_dir>/mnist/
DATASETS = (*SPLITS, CLASSIC_MNIST)
PARTS = ("train", "test")
KINDS = ("images", "labels")

NIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
NIST_ZIP_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"
NIST_ZIP_SIZE_MB = 535
ZIP_NAME = "gzip.zip"
ZIP_FOLDER = "gzip/"  # members of gzip.zip live in this folder

# sha256 of the 24 official .gz members of gzip.zip (NIST's OFFICIAL-SHA256SUMS).
OFFICIAL_SHA256 = {
    "emnist-balanced-test-images-idx3-ubyte.gz": "117fc12b015e37ea98bfb2cbba3f77c3782c056cdbd219b87abfc8661d7135db",
    "emnist-balanced-test-labels-idx1-ubyte.gz": "a67cac948379b67270b9a4d0a01c8ec661598accf2f2b1964340b7c83cb175cd",
    "emnist-balanced-train-images-idx3-ubyte.gz": "74295e75e4e9fa2c102147460ee7eb763653d5132d883a84fb88932bfb8d2db4",
    "emnist-balanced-train-labels-idx1-ubyte.gz": "b46d41e5156a0a8aaaa4d18979fdd1588850fa8571018acffd5d93b325a7d6ed",
    "emnist-byclass-test-images-idx3-ubyte.gz": "5ec835bd5d5b1a66378a132e727fef20fe994b3cc666899befcca5ac766f50cd",
    "emnist-byclass-test-labels-idx1-ubyte.gz": "501e305eeeacb093b162592d80e8a2632040872360fa6d85cfcb2200d91ca92a",
    "emnist-byclass-train-images-idx3-ubyte.gz": "9e21987f03a6eb8b870187e785883ddad96947299587908f1a7ec2ca0f4be5f0",
    "emnist-byclass-train-labels-idx1-ubyte.gz": "f7ef403d48dc18a89dae0d83d11ee69cecb6e1c12c3a961d03712e495c02a8fa",
    "emnist-bymerge-test-images-idx3-ubyte.gz": "5e5815ec1b522089134435f7c55e75a00960b58414793593ffff23efc0821683",
    "emnist-bymerge-test-labels-idx1-ubyte.gz": "8bda1516255683ba9071e141947ca0c91a911176065cdd6259b0b4d8dc5b5f35",
    "emnist-bymerge-train-images-idx3-ubyte.gz": "39bf8c68037dad40db35348895f7e4e056e8c0a005ab78869c9fbc2c96e947be",
    "emnist-bymerge-train-labels-idx1-ubyte.gz": "2c47293b9e62d6abf6ad05fbf67e40baa32adfd380b8d7b44dcc35534b64e1f1",
    "emnist-digits-test-images-idx3-ubyte.gz": "20ebe43509264f7639d37c835a3f0b009e90b29e00a099a03101abe1644a3f63",
    "emnist-digits-test-labels-idx1-ubyte.gz": "bad1834c45d5988e270b99d43b13edc3fd898f658ffbc2caf2846ef27f7b05b0",
    "emnist-digits-train-images-idx3-ubyte.gz": "f7c95004d14d81af89522e67d8f0c781dfb3bd544181c81bfe1eb6b41c35b726",
    "emnist-digits-train-labels-idx1-ubyte.gz": "6638a6ff5fe2eefd9cca2471995b46c82986b8e4b2a70d2f5ce8e05d7edb319e",
    "emnist-letters-test-images-idx3-ubyte.gz": "50f0e93d75b99b463e9760b8345866f22587fa2c2fba472730a5ba09c693412d",
    "emnist-letters-test-labels-idx1-ubyte.gz": "924955c31fe7fd809b7303b5c0141282955f4b8390c74cdfd5d80435e0f4b4cb",
    "emnist-letters-train-images-idx3-ubyte.gz": "6288f418a917e007bf5fddb823a2dc7a5c6a35031401b93292a539cb12bd881f",
    "emnist-letters-train-labels-idx1-ubyte.gz": "9759af91ea6bccdf07a6040fd085861f2ec88e37f7c3f5760f6feb57106fbe5c",
    "emnist-mnist-test-images-idx3-ubyte.gz": "b25640fa9e356c618132f5df347c95ef5bae6d9c2596be1de40f7e0ae1c3eac6",
    "emnist-mnist-test-labels-idx1-ubyte.gz": "bcc5385d38f083dba046f5f756e99b32f5ea7fad122c6243c71c2239873065ca",
    "emnist-mnist-train-images-idx3-ubyte.gz": "5f9942f441031c0f1f2e4d162059fd6e19ea808b34c328b6d16cab0ed24c78f2",
    "emnist-mnist-train-labels-idx1-ubyte.gz": "00c6d3c2342fdffb1711e0b5656cac4ce5862d2826399d383a9bac07d612e9f8",
}

# Classic MNIST: file names per part, and the canonical md5 of the *uncompressed* idx data (the .gz
# wrappers found in the wild are often recompressed, so only the decompressed bytes are comparable).
MNIST_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
MNIST_RAW_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}

# The class -> character tables of NIST's emnist-<split>-mapping.txt files, used when a mapping file is absent.
# ByMerge/Balanced merge 15 case-ambiguous letters into the upper case; Letters merges every letter (its labels
# run 1..26, and each class stands for both cases: we name it by the upper-case letter, as the file lists first).
_DIGITS = string.digits
_BYMERGE = _DIGITS + string.ascii_uppercase + "abdefghnqrt"
OFFICIAL_MAPPINGS: dict[str, tuple[str, ...]] = {
    "byclass": tuple(_DIGITS + string.ascii_uppercase + string.ascii_lowercase),
    "bymerge": tuple(_BYMERGE),
    "balanced": tuple(_BYMERGE),
    "letters": tuple(string.ascii_uppercase),
    "digits": tuple(_DIGITS),
    "mnist": tuple(_DIGITS),
    CLASSIC_MNIST: tuple(_DIGITS),
}
FIRST_LABEL = {"letters": 1}  # official label of class index 0 (0 for every other split)

# sha256 of NIST's emnist-<split>-mapping.txt files as shipped (CRLF line endings). A mapping file is checked
# against these on every load: a changed one (e.g. reordered lines) would put the wrong name on every class.
OFFICIAL_MAPPING_SHA256 = {
    "byclass": "68fa9091ed325830418b5a8d732f32316e54a480b9f8994a161abb4eddd0d078",
    "bymerge": "956dc507bf69e9f31f4e3e876d22ec66124aa229b5d0bd65ab8956a8044d3ede",
    "balanced": "956dc507bf69e9f31f4e3e876d22ec66124aa229b5d0bd65ab8956a8044d3ede",
    "letters": "a56cb9a31c08e3251a61ea7b1ec8bc4f4cabdc1edf3128508d3a485ad53fa456",
    "digits": "6d157dc46a7b1c80d630f4fed571d9964db37ee1669cac403b6db2c8bb109d94",
    "mnist": "6d157dc46a7b1c80d630f4fed571d9964db37ee1669cac403b6db2c8bb109d94",
}

# ----------------------------------------------------------------------------------------------- names
def check_split(split: str, *, allow_classic: bool = False) -> str:
    """Return ``split`` normalised to lower case, or raise ``UnknownNameError`` listing the valid names."""
    known = DATASETS if allow_classic else SPLITS
    name = str(split).lower()
    if name not in known:
        raise unknown_name("split", str(split), known)
    return name


def check_part(part: str) -> str:
    if part not in PARTS:
        raise unknown_name("official part", str(part), PARTS)
    return part


def official_file(split: str, part: str, kind: str) -> str:
    """The official file name, e.g. ``emnist-byclass-test-images-idx3-ubyte.gz``."""
    if kind not in KINDS:
        raise unknown_name("file kind", kind, KINDS)
    if split == CLASSIC_MNIST:
        return MNIST_FILES[(part, kind)]
    return f"emnist-{split}-{part}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"


def mapping_file(split: str) -> str:
    return f"emnist-{split}-mapping.txt"


# ------------------------------------------------------------------------------------------ data dir
def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir`` > ``$CHARCLF_DATA_DIR`` > ``<repo>/data`` (editable install) >
    ``/content/charclf-data`` on Colab > ``./data``.

    Raises ``DataError`` when the chosen path exists but is a file. A missing directory is returned as is
    (the loaders then say which files to put where; the downloader creates it).
    """
    from charclf import paths

    path = Path(data_dir).expanduser() if data_dir is not None and str(data_dir) != "" else paths.data_dir()
    if path.exists() and not path.is_dir():
        raise DataError(path, "is a file, but a data directory was expected",
                        f"pass the folder that holds emnist/ and mnist/ (--data-dir or ${DATA_ENV}), "
                        "not a file inside it")
    return path


def display_data_dir(path: str | Path) -> str:
    """How outputs that may be committed (notebooks, logs) name a data folder, without the machine's paths:
    ``$CHARCLF_DATA_DIR`` when it is that folder, else relative to the repository, else ``~/...``; a path
    outside all three is shown as given."""
    from charclf.provenance import REPO_ROOT

    path = Path(path).expanduser()
    full = path.resolve()
    env = os.environ.get(DATA_ENV)
    if env and Path(env).expanduser().resolve() == full:
        return f"${DATA_ENV}"
    for base, prefix in ((REPO_ROOT, ""), (Path.home().resolve(), "~/")):
        try:
            rel = full.relative_to(base).as_posix()
        except ValueError:
            continue
        return prefix + rel if rel != "." else (prefix.rstrip("/") or ".")
    return str(path)


TORCHVISION_RAW = ("EMNIST", "raw")  # torchvision.datasets.EMNIST(root) keeps the files in <root>/EMNIST/raw/


def emnist_dirs(root: Path) -> tuple[Path, ...]:
    """Folders searched for loose EMNIST files, in order (the last two are torchvision's layout: it extracts
    the members into ``raw/``, un-gzipped; a copy taken mid-way may still have ``raw/gzip/``)."""
    tv = root.joinpath(*TORCHVISION_RAW)
    return (root, root / "emnist", root / "gzip", root / "emnist" / "gzip", tv, tv / "gzip")


def zip_candidates(root: Path) -> tuple[Path, ...]:
    """Where NIST's ``gzip.zip`` may sit (torchvision downloads it into ``EMNIST/raw/``)."""
    return (root / ZIP_NAME, root / "emnist" / ZIP_NAME, root.joinpath(*TORCHVISION_RAW, ZIP_NAME))


def csv_file(split: str, part: str) -> str:
    """The name of the widespread CSV copy of one official part, e.g. ``emnist-byclass-test.csv``."""
    return f"emnist-{split}-{part}.csv"


def find_csv(split: str, part: str, root: Path) -> Located | None:
    """The CSV copy of ``split``/``part`` in one of the EMNIST folders, or None."""
    name = csv_file(split, part)
    for folder in emnist_dirs(root):
        if (folder / name).is_file():
            return Located(name, folder / name)
    return None


def mnist_dirs(root: Path) -> tuple[Path, ...]:
    """Folders searched for classic MNIST files (the last one is torchvision's layout)."""
    return (root / "mnist", root, root / "MNIST" / "raw")


# --------------------------------------------------------------------------------------- locating
@dataclass(frozen=True)
class Located:
    """Where an official file was found: a loose file (``member`` None) or a member of a zip archive."""

    name: str  # official name, e.g. "emnist-byclass-test-images-idx3-ubyte.gz"
    path: Path  # the loose file, or the zip archive
    member: str | None = None

    @property
    def label(self) -> str:
        """How messages refer to the file."""
        return f"{self.path}[{self.member}]" if self.member else str(self.path)

    @property
    def layout(self) -> str:
        if self.member:
            return "zip"
        if self.path.suffix in (".txt", ".npz"):
            return "file"
        if self.path.suffix == ".csv":
            return "csv"
        return "gz" if self.path.suffix == ".gz" else "raw"

    def content_key(self) -> str:
        """The cache key: the sha256 of every byte of the file (``charclf.data.cache.content_key``); for a
        member of an archive, of every byte it occupies there (local header and compressed data) and its
        central-directory entry — the member's ~30 MB, not the 535 MB archive."""
        try:
            if self.member is None:
                return content_key(self.path)
            with zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(self.member)
            with open(self.path, "rb") as fh:
                fh.seek(info.header_offset)
                local = fh.read(30)
            start = info.header_offset
            length = 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little") \
                + info.compress_size
            entry = f"{self.member}|{info.CRC}|{info.compress_size}|{info.file_size}|{length}".encode()
            return hash_chunks([entry, *read_range(self.path, start, length)])
        except OSError as err:
            raise file_error(self.path, err) from err
        except (zipfile.BadZipFile, KeyError) as err:
            raise DataError(self.label, f"cannot be read from the archive ({err})",
                            f"the archive is damaged: delete {self.path} and run `charclf data download` again "
                            f"(NIST md5 {NIST_ZIP_MD5})") from err

    def read_bytes(self) -> bytes:
        """The file's bytes as stored (still gzip-compressed for .gz files and members)."""
        if self.member is None:
            try:
                return self.path.read_bytes()
            except OSError as err:
                raise file_error(self.path, err) from err
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
                return fh.read()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DataError(self.label, f"cannot be read from the archive ({err})",
                            f"the archive is damaged: delete {self.path} and run `charclf data download` again "
                            f"(NIST md5 {NIST_ZIP_MD5})") from err

    def idx_bytes(self, data: bytes) -> bytes:
        """The uncompressed idx bytes of ``data`` (this file's stored bytes), by the one rule that loading and
        ``charclf data verify`` share: a loose file named ``.gz`` must be gzip; anything else is sniffed."""
        named_gz = self.member is None and self.path.suffix == ".gz"
        if named_gz and data[:3] == b"\x00\x00\x08":  # idx magic: raw data under a .gz name
            raise DataError(self.label, "holds raw (un-gzipped) idx data under a .gz name",
                            f"rename it to {self.path.name[:-3]} (raw idx files are read as they are)")
        if named_gz or data.startswith(GZIP_MAGIC):
            return gunzip(data, name=self.label)
        return data

    def decode(self, data: bytes, *, expect_ndim: int) -> np.ndarray:
        """Decode this file's stored bytes into an idx array (images are checked to be 28x28)."""
        return self.decode_idx(self.idx_bytes(data), expect_ndim=expect_ndim)

    def decode_idx(self, idx: bytes, *, expect_ndim: int) -> np.ndarray:
        """Decode this file's uncompressed idx bytes (images are checked to be 28x28)."""
        arr = parse_idx(idx, name=self.label, expect_ndim=expect_ndim)
        if expect_ndim == 3 and arr.shape[1:] != IMAGE_SHAPE:
            raise DataError(self.label, f"images are {arr.shape[1]}x{arr.shape[2]}, expected 28x28",
                            "this is not an official EMNIST/MNIST images file: replace it with the official one")
        return arr

    def read_array(self, *, expect_ndim: int) -> np.ndarray:
        """Decode the idx data (gzip or raw)."""
        return self.decode(self.read_bytes(), expect_ndim=expect_ndim)


@lru_cache(maxsize=16)
def _zip_members(path: Path, size: int, mtime_ns: int) -> frozenset[str]:
    # Keyed by size and mtime so a replaced archive is re-read; the central directory of the 535 MB zip is tiny.
    try:
        with zipfile.ZipFile(path) as zf:
            return frozenset(zf.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(path, f"is not a readable zip archive ({err})",
                        f"delete it and run `charclf data download` again, or download {NIST_URL} by hand "
                        f"(md5 {NIST_ZIP_MD5})") from err


def zip_members(path: Path) -> frozenset[str]:
    st = path.stat()
    return _zip_members(path, st.st_size, st.st_mtime_ns)


def _member_names(name: str) -> tuple[str, ...]:
    raw = name[:-3] if name.endswith(".gz") else name
    return tuple(dict.fromkeys((ZIP_FOLDER + name, name, ZIP_FOLDER + raw, raw)))


def find_file(name: str, root: Path, *, classic: bool = False) -> Located | None:
    """Find official file ``name`` (a ``.gz`` name) under ``root``: loose .gz, raw idx, or inside gzip.zip."""
    raw = name[:-3] if name.endswith(".gz") else name
    for folder in (mnist_dirs(root) if classic else emnist_dirs(root)):
        for cand in (folder / name, folder / raw):
            if cand.is_file():
                return Located(name, cand)
    if classic:
        return None
    for archive in zip_candidates(root):
        if archive.is_file():
            members = zip_members(archive)
            for member in _member_names(name):
                if member in members:
                    return Located(name, archive, member)
    return None


def locate(name: str, root: Path, *, classic: bool = False) -> Located:
    """Like ``find_file`` but a missing file raises ``DataError`` saying where it was looked for and what to do."""
    found = find_file(name, root, classic=classic)
    if found is not None:
        return found
    if not root.exists():
        raise DataError(root, "the data directory does not exist",
                        f"create it and put the files there (see data/README.md), pass --data-dir / "
                        f"${DATA_ENV}, or run `charclf data download --data-dir {root}` (or load_data(..., "
                        "download=True))")
    if classic:
        where = ", ".join(str(d) for d in mnist_dirs(root))
        raise DataError(root / "mnist" / name, f"classic MNIST file not found (looked in {where}, as .gz or raw)",
                        f"put LeCun's MNIST files (train-images-idx3-ubyte.gz ...) in {root / 'mnist'}")
    archives = [a for a in zip_candidates(root) if a.is_file()]
    if archives:
        raise DataError(archives[0], f"the archive has no member {ZIP_FOLDER}{name}, and no loose copy exists",
                        f"the archive is incomplete or not NIST's gzip.zip: delete it and run `charclf data "
                        f"download --data-dir {root}`, or put {name} in {root / 'emnist'}")
    where = ", ".join(str(d) for d in emnist_dirs(root)[:3])
    tv = root.joinpath(*TORCHVISION_RAW)
    raise DataError(root / "emnist" / name, f"official EMNIST file not found (looked in {where} and torchvision's "
                                            f"{tv} as .gz or raw, for {ZIP_NAME}, and for the CSV copies)",
                    f"run `charclf data download --data-dir {root}` (or load_data(..., download=True)), or copy "
                    f"{name} (or NIST's {ZIP_NAME}) into {root / 'emnist'}; `charclf data verify --data-dir {root}` "
                    "lists what is there. Offline, the holdout protocol needs only the test files")


# ---------------------------------------------------------------------------------------- mappings
def parse_mapping(text: str, *, name: str | Path = "<mapping>") -> tuple[tuple[str, ...], int]:
    """Parse an ``emnist-*-mapping.txt``: lines ``<label> <ascii> [<ascii lower>]``.

    Returns (characters in label order, first label). Labels must be consecutive (from 0, or 1 for Letters).
    """
    labels, chars = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            values = [int(f) for f in fields]
            if len(values) < 2:
                raise ValueError("need a label and an ASCII code")
            char = chr(values[1])
        except (ValueError, OverflowError) as err:
            raise DataError(name, f"line {lineno} ({line.strip()!r}) is not '<label> <ascii code>' ({err})",
                            "replace it with NIST's mapping file (or delete it: the built-in official mapping "
                            "is then used)") from err
        labels.append(values[0])
        chars.append(char)
    if not labels:
        raise DataError(name, "is empty", "replace it with NIST's mapping file, or delete it")
    first = labels[0]
    if first not in (0, 1) or labels != list(range(first, first + len(labels))):
        raise DataError(name, f"labels are not consecutive from 0 or 1 (got {labels[:5]}...)",
                        "replace it with NIST's mapping file, or delete it")
    return tuple(chars), first


def mapping_info(split: str, root: Path) -> tuple[tuple[str, ...], int, str]:
    """(characters, first official label, where it came from) for ``split`` under ``root``."""
    if split == CLASSIC_MNIST:
        return OFFICIAL_MAPPINGS[CLASSIC_MNIST], 0, "built-in"
    found = find_file(mapping_file(split), root)
    if found is None:
        return OFFICIAL_MAPPINGS[split], FIRST_LABEL.get(split, 0), "built-in"
    chars, first = read_mapping(found, split)
    return chars, first, found.label


def read_mapping(found: Located, split: str) -> tuple[tuple[str, ...], int]:
    """Read, parse and checksum a mapping file (shared by loading and ``charclf data verify``).

    Raises ``DataError`` when it does not parse and ``ChecksumError`` when it parses but is not NIST's file
    (compared with CRLF line endings, as NIST ships it, so a copy whose line endings were converted passes).
    """
    data = found.read_bytes()
    chars, first = parse_mapping(data.decode("ascii", errors="replace"), name=found.label)
    canonical = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    actual, expected = hashlib.sha256(canonical).hexdigest(), OFFICIAL_MAPPING_SHA256[split]
    if actual != expected:
        same = "the same classes in another form" if chars == OFFICIAL_MAPPINGS[split] else \
            "other classes or another order" if len(chars) == len(OFFICIAL_MAPPINGS[split]) else \
            f"{len(chars)} classes instead of {len(OFFICIAL_MAPPINGS[split])}"
        raise ChecksumError(found.label, f"is not NIST's {mapping_file(split)} (sha256 {actual[:16]}..., official "
                                         f"{expected[:16]}...; it lists {same}), and a changed mapping would put "
                                         "the wrong name on classes",
                            "delete it (the built-in copy of the official table is then used) or replace it "
                            "with NIST's file")
    return chars, first


def load_mapping(split: str, data_dir: str | Path | None = None) -> tuple[str, ...]:
    """The character of each (0-based) label of ``split``, from its mapping file (built-in copy if absent)."""
    split = check_split(split, allow_classic=True)
    if split == CLASSIC_MNIST:
        return OFFICIAL_MAPPINGS[CLASSIC_MNIST]
    return mapping_info(split, resolve_data_dir(data_dir))[0]


# ----------------------------------------------------------------------------------------- loading
# sha256 of the uncompressed idx files, computed here from NIST's published .gz files (each matched
# OFFICIAL_SHA256 first; NIST publishes checksums of the .gz only): a raw or recompressed copy of these is checked
# at the content, as classic MNIST is by MNIST_RAW_MD5. Only the files the project's machines had.
RAW_SHA256 = {
    "emnist-balanced-test-labels-idx1-ubyte.gz": "91807a38b4dab13f65fed7d9cac9fa6e7d27fc8c24f52327b8e6435ebfe18e90",
    "emnist-balanced-train-labels-idx1-ubyte.gz": "a9c2984bf327d013e469d8b66e4bf6e4e98aaeebddc35d1c869b2cd3d1806e12",
    "emnist-byclass-test-images-idx3-ubyte.gz": "385559d7d5c96f49cd6b55b3e9e76d7ecbf568897b6067e8cac8f1ffc2f50f81",
    "emnist-byclass-test-labels-idx1-ubyte.gz": "842d01413932b3ce7afbc9990376a16f8880a212bb42d66fa2922b4218cf300a",
    "emnist-mnist-test-images-idx3-ubyte.gz": "0a5442aeabc1ec6cf0a8335d81debf853b46a7570f5d93805a4d6ef8b7281063",
    "emnist-mnist-test-labels-idx1-ubyte.gz": "a0ffd2d4ce92418e020d53cf36f2b6c154c4f59344098a5e8d3c6e588109f0a0",
    "emnist-mnist-train-labels-idx1-ubyte.gz": "b5dade35dd22e02c3c6579167b8f17269bcdda2c6126abd598399160bb47317b",
}
CONTENT_OK, CONTENT_MISMATCH, CONTENT_UNKNOWN = "ok", "mismatch", "unverified"


def content_status(name: str, stored: bytes, idx: bytes, *, sha256: dict[str, str] | None = None,
                   raw_sha256: dict[str, str] | None = None,
                   mnist_md5: dict[str, str] | None = None) -> tuple[str, str]:
    """(status, note) of an official file's bytes, the one rule that loading and ``charclf data verify`` share:
    classic MNIST's uncompressed ``idx`` against LeCun's md5; an EMNIST .gz whose ``stored`` bytes match NIST's
    published sha256 is ok; else the ``idx`` against :data:`RAW_SHA256` where it lists the file (so an un-gzipped
    or recompressed copy of the same data passes); else a .gz is a mismatch and a raw copy no checksum covers is
    unverified. The tables default to the official ones."""
    sha256 = OFFICIAL_SHA256 if sha256 is None else sha256
    raw_sha256 = RAW_SHA256 if raw_sha256 is None else raw_sha256
    mnist_md5 = MNIST_RAW_MD5 if mnist_md5 is None else mnist_md5
    if name in mnist_md5:
        actual = hashlib.md5(idx).hexdigest()
        return ((CONTENT_OK, "md5 of the idx data matches LeCun's") if actual == mnist_md5[name] else
                (CONTENT_MISMATCH, f"md5 of the idx data {actual[:12]}... differs from LeCun's {mnist_md5[name][:12]}..."))
    gzip_sha = hashlib.sha256(stored).hexdigest() if stored.startswith(GZIP_MAGIC) else None
    if gzip_sha is not None and gzip_sha == sha256.get(name):
        return CONTENT_OK, "sha256 matches the official value"
    if name in raw_sha256:  # un-gzipped, or gzipped again: the data decides
        actual = hashlib.sha256(idx).hexdigest()
        return ((CONTENT_OK, "sha256 of the idx data matches NIST's file, uncompressed") if actual == raw_sha256[name]
                else (CONTENT_MISMATCH, f"sha256 of the idx data {actual[:16]}... differs from NIST's file, "
                                        f"uncompressed ({raw_sha256[name][:16]}...)"))
    if gzip_sha is not None and name in sha256:
        return (CONTENT_MISMATCH, f"sha256 {gzip_sha[:16]}... differs from the official {sha256[name][:16]}... (a "
                                  "copy recompressed by another mirror differs too)")
    return CONTENT_UNKNOWN, "raw idx, structure OK (NIST's checksums cover the .gz files only)"


def check_official_content(src: Located, stored: bytes, idx: bytes) -> bool:
    """A ``ChecksumError`` naming ``src`` when its bytes are known not to be NIST's (:func:`content_status`).
    Loading checks this, not only ``charclf data verify``: a changed file must never be scored as if it were
    EMNIST. With ``$CHARCLF_ALLOW_NON_NIST_MIRROR=1`` (data from a mirror chosen on purpose: ``charclf data
    download --allow-non-nist-mirror``) a mismatch is one warning instead. Returns whether the content may be
    cached: not a mismatch let through, which must be checked (and warned about, or refused) at every load."""
    status, note = content_status(src.name, stored, idx)
    if status != CONTENT_MISMATCH:
        return True
    if os.environ.get("CHARCLF_ALLOW_NON_NIST_MIRROR") == "1":
        warnings.warn(f"{src.label}: {note}; loaded anyway ($CHARCLF_ALLOW_NON_NIST_MIRROR=1): results on it are "
                      "not on NIST's data", stacklevel=2)
        return False
    raise ChecksumError(src.label, f"is not NIST's file: {note}",
                        "replace it with the official file (`charclf data download`; `charclf data verify` lists "
                        "every file's state), or set CHARCLF_ALLOW_NON_NIST_MIRROR=1 if you use a mirror's data on "
                        "purpose")


def _read_official(src: Located, *, expect_ndim: int, checked: dict | None = None) -> np.ndarray:
    """The idx array of an official file, its bytes checked to be NIST's first (:func:`check_official_content`);
    ``checked["cacheable"]`` says whether the array may be cached."""
    stored = src.read_bytes()
    idx = src.idx_bytes(stored)
    cacheable = check_official_content(src, stored, idx)
    if checked is not None:
        checked["cacheable"] = cacheable
    return src.decode_idx(idx, expect_ndim=expect_ndim)


def _load_images(src: Located, *, transpose: bool, cache: bool) -> np.ndarray:
    checked = {}

    def build() -> np.ndarray:
        arr = _read_official(src, expect_ndim=3, checked=checked)  # also checks the 28x28 shape
        if transpose:
            # EMNIST stores images transposed; fix it once. (torch's transpose-copy is ~2x numpy's here.)
            import torch

            with warnings.catch_warnings():  # the read-only source is only read: no copy needed
                warnings.simplefilter("ignore", UserWarning)
                return torch.from_numpy(arr).transpose(1, 2).contiguous().numpy()
        return arr.copy()  # frombuffer views are read-only; callers get an ordinary array

    key = src.content_key() if cache else ""
    return cached_array(key, "upright" if transpose else "asis", build, enabled=cache,
                        keep=lambda: checked["cacheable"])


def _load_labels(src: Located, *, cache: bool) -> np.ndarray:
    key, checked = (src.content_key() if cache else ""), {}
    return cached_array(key, "labels", lambda: _read_official(src, expect_ndim=1, checked=checked).copy(),
                        enabled=cache, keep=lambda: checked["cacheable"])


def _check_pair(images: np.ndarray, labels: np.ndarray, img: Located, lab: Located,
                classes: tuple[str, ...], first: int, mapping_src: str) -> np.ndarray:
    """Validate images against labels and labels against the mapping; return 0-based int64 labels."""
    if len(images) != len(labels):
        raise DataError(img.label, f"has {len(images):,} images but {lab.label} has {len(labels):,} labels",
                        "the two files come from different splits or one is damaged: replace both with the "
                        "official files of the same split and part")
    if len(labels):
        lo, hi = int(labels.min()), int(labels.max())
        if lo < first or hi >= first + len(classes):
            raise DataError(lab.label, f"labels run {lo}..{hi}, outside {first}..{first + len(classes) - 1} "
                                       f"of the {len(classes)}-class mapping ({mapping_src})",
                            "the labels file or the mapping file belongs to another split: replace it with the "
                            "official one")
    out = labels.astype(np.int64)
    if first:
        out -= first  # Letters: official labels 1..26 -> class indices 0..25
    return out


def read_emnist_csv(path, *, name=None):
    """See :func:`charclf.data.csvcopy.read_emnist_csv` (kept here, where the other readers are)."""
    from charclf.data.csvcopy import read_emnist_csv as read

    return read(path, name=name)


def load_official(split: str, part: str, data_dir: str | Path | None = None, *,
                  cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load one official EMNIST file pair: uint8 (N, 28, 28) *upright* images and int64 0-based labels.

    Files are looked for as loose ``.gz``, raw idx, or members of NIST's ``gzip.zip`` (read in place) under
    ``data_dir``, ``data_dir/emnist``, ``data_dir/gzip`` and torchvision's ``data_dir/EMNIST/raw``; when the
    idx pair is not there, the CSV copy ``emnist-<split>-<part>.csv`` is read instead. With ``cache`` the
    decoded arrays are kept as ``.npy`` (see ``charclf.data.cache``) so the next load is near-instant.
    """
    split, part = check_split(split), check_part(part)
    root = resolve_data_dir(data_dir)
    img_name, lab_name = official_file(split, part, "images"), official_file(split, part, "labels")
    img, lab = find_file(img_name, root), find_file(lab_name, root)
    csv = find_csv(split, part, root) if img is None or lab is None else None
    classes, first, mapping_src = mapping_info(split, root)
    if csv is not None:
        from charclf.data.csvcopy import load_csv

        images, labels = load_csv(csv, cache=cache)
        return images, _check_pair(images, labels, csv, csv, classes, first, mapping_src)
    img = img or locate(img_name, root)  # raises the clear "not found" error
    lab = lab or locate(lab_name, root)
    labels = _load_labels(lab, cache=cache)
    images = _load_images(img, transpose=True, cache=cache)
    return images, _check_pair(images, labels, img, lab, classes, first, mapping_src)


def load_mnist(part: str, data_dir: str | Path | None = None, *,
               cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load classic (LeCun) MNIST from ``data_dir/mnist``: uint8 (N, 28, 28) images (already upright) + labels."""
    part = check_part(part)
    root = resolve_data_dir(data_dir)
    img = locate(MNIST_FILES[(part, "images")], root, classic=True)
    lab = locate(MNIST_FILES[(part, "labels")], root, classic=True)
    labels = _load_labels(lab, cache=cache)
    images = _load_images(img, transpose=False, cache=cache)
    return images, _check_pair(images, labels, img, lab, OFFICIAL_MAPPINGS[CLASSIC_MNIST], 0, "built-in")


def load_any(split: str, part: str, data_dir: str | Path | None = None, *,
             cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``load_official`` for EMNIST splits, ``load_mnist`` for ``"classic-mnist"``."""
    split = check_split(split, allow_classic=True)
    if split == CLASSIC_MNIST:
        return load_mnist(part, data_dir, cache=cache)
    return load_official(split, part, data_dir, cache=cache)


def official_label_counts(data_dir=None):
    """Class counts of every official EMNIST labels file present in ``data_dir`` (images not needed).

    Returns (counts, missing): a long DataFrame (split, part, label, char, count) and the list of labels files
    that are absent — offline, most of EMNIST's train files are, and the notebook says so instead of failing.
    """
    import pandas as pd

    root = resolve_data_dir(data_dir)
    rows, missing = [], []
    for split in SPLITS:
        for part in ("train", "test"):
            name = official_file(split, part, "labels")
            found = find_file(name, root)
            if found is None:
                missing.append(name)
                continue
            classes, first, _ = mapping_info(split, root)
            labels = _read_official(found, expect_ndim=1).astype(np.int64) - first  # Letters labels start at 1
            counts = np.bincount(labels, minlength=len(classes))
            rows += [dict(split=split, part=part, label=i, char=c, count=int(n))
                     for i, (c, n) in enumerate(zip(classes, counts))]
    return pd.DataFrame(rows, columns=["split", "part", "label", "char", "count"]), missing
