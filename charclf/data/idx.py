"""The idx file format of MNIST and EMNIST: read (gzip or raw, path or bytes) and write.

An idx file is a 4-byte magic ``00 00 <dtype> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
values. MNIST/EMNIST only use dtype 0x08 (uint8) with 1 dim (labels, magic 0x00000801) or 3 dims (images,
magic 0x00000803). Reading is one ``zlib`` call and one ``np.frombuffer`` — no Python loop over images —
so the 91 MB ByClass test images decode in a fraction of a second.
"""
from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from charclf.errors import DataError
from charclf.fileio import atomic_write_bytes

IMAGE_SHAPE = (28, 28)  # every EMNIST and MNIST image

GZIP_MAGIC = b"\x1f\x8b"
UINT8 = 0x08
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

_FIX_REPLACE = "replace the file with the official one (run `charclf data download` or copy it again from NIST)"


def gunzip(data: bytes, *, name: str | Path = "<bytes>") -> bytes:
    """Decompress gzip ``data``; a truncated or damaged stream raises ``DataError`` naming ``name``."""
    if not data.startswith(GZIP_MAGIC):
        raise DataError(name, f"is not a gzip file (starts with {data[:4].hex() or 'nothing'}, "
                              "expected 1f8b)", _FIX_REPLACE + ", or un-gzip it and drop the .gz suffix")
    try:
        # zlib directly is ~15% faster than gzip.decompress; it also tells us whether the stream ended.
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(data)
        if not d.eof:
            raise DataError(name, f"the gzip stream is truncated ({len(data):,} bytes, the end-of-stream marker "
                                  "is missing): an interrupted download or copy", _FIX_REPLACE)
        if d.unused_data:  # a multi-member gzip (legal, rare): let the stdlib handle every member
            out = gzip.decompress(data)
    except (zlib.error, EOFError, gzip.BadGzipFile) as err:
        raise DataError(name, f"the gzip data is damaged ({err})", _FIX_REPLACE) from err
    return out


def parse_idx(raw: bytes, *, name: str | Path = "<bytes>", expect_ndim: int | None = None) -> np.ndarray:
    """Decode uncompressed idx bytes into a read-only uint8 array, validating magic, dims and size."""
    if len(raw) < 4:
        raise DataError(name, f"is too short to be an idx file ({len(raw)} bytes)", _FIX_REPLACE)
    zero, dtype, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zero != 0 or ndim not in (1, 3):
        raise DataError(name, f"has idx magic 0x{magic:08x}, expected 0x{LABELS_MAGIC:08x} (labels) or "
                              f"0x{IMAGES_MAGIC:08x} (images)", _FIX_REPLACE + "; is it really an idx file?")
    if dtype != UINT8:
        raise DataError(name, f"has idx dtype byte 0x{dtype:02x}, expected 0x08 (uint8)", _FIX_REPLACE)
    if expect_ndim is not None and ndim != expect_ndim:
        want = "an images file (3 dims)" if expect_ndim == 3 else "a labels file (1 dim)"
        raise DataError(name, f"has {ndim} dim(s) but {want} was expected", "check that images and labels "
                              "files are not swapped, or " + _FIX_REPLACE)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(name, f"the idx header is cut short ({len(raw)} bytes, need {header})", _FIX_REPLACE)
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(name, f"is {what}: header dims {dims} need {expected:,} bytes, the file has {len(raw):,}",
                        _FIX_REPLACE)
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(source: str | Path | bytes, *, name: str | Path | None = None,
             expect_ndim: int | None = None) -> np.ndarray:
    """Read an idx array from a path (``.gz`` or raw) or from bytes (gzip or raw, sniffed by magic).

    ``name`` is what error messages call the source (defaults to the path). The result is a read-only view
    of the decoded bytes; copy it if you need to write.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name if name is not None else "<bytes>"
    else:
        path = Path(source)
        label = name if name is not None else path
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise DataError(path, "does not exist", "check the path, or run `charclf data verify` to see which "
                                                    "files the data directory holds") from err
        except IsADirectoryError as err:
            raise DataError(path, "is a directory, not an idx file", "point to the file itself") from err
        except OSError as err:
            raise DataError(path, f"cannot be read ({err.strerror})", "check the file's permissions") from err
        if path.suffix == ".gz":
            # A .gz name promises gzip: a non-gzip file under that name is an error, not raw idx.
            return parse_idx(gunzip(data, name=label), name=label, expect_ndim=expect_ndim)
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, name=label)
    return parse_idx(data, name=label, expect_ndim=expect_ndim)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array with 1 or 3 dims as idx bytes (the inverse of ``parse_idx``)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"idx arrays here are uint8 with 1 or 3 dims, got {array.dtype} {array.shape}")
    header = bytes([0, 0, UINT8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an idx file, gzip-compressed when ``compress`` (default: when the name ends in .gz).

    Written to a temporary file and renamed, so a killed process never leaves half a file.
    """
    path = Path(path)
    compress = path.suffix == ".gz" if compress is None else compress
    data = idx_bytes(array)
    if compress:
        buf = io.BytesIO()
        # mtime=0 makes the output byte-reproducible (stable checksums in tests).
        with gzip.GzipFile(filename=path.stem, mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(data)
        data = buf.getvalue()
    atomic_write_bytes(path, data)
    return path

