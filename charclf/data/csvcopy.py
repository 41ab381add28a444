"""The widespread CSV copies of EMNIST (``emnist-<split>-<part>.csv``): parsed, checked, and cached like idx files."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from charclf.data.cache import cached_array
from charclf.data.idx import IMAGE_SHAPE
from charclf.errors import DataError

if TYPE_CHECKING:  # the file-locating type of the official reader, which calls this module
    from charclf.data.official import Located

CSV_FIX = ("replace it with an intact copy (one row per image: the label, then 784 pixel values 0..255, no "
           "header), or use NIST's files: `charclf data download`")


def read_emnist_csv(path: str | Path, *, name: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a CSV copy of EMNIST: one row per image, the official label then 784 pixels, images stored
    transposed exactly like the idx files. Returns (uint8 (N, 28, 28) images as stored, uint8 labels)."""
    import pandas as pd

    path = Path(path)
    label = name if name is not None else path
    n_cols = 1 + IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
        # Some copies start with a header row ("label,pixel0,..."): a first field that is not a number.
        header = 0 if first.split(b",", 1)[0].strip() and not first.split(b",", 1)[0].strip().isdigit() else None
        # int16 holds any value a damaged file may have, so out-of-range pixels are caught below, not wrapped;
        # chunks keep the parser's memory small (the ByClass train CSV is 1.7 GB).
        chunks = [c.to_numpy() for c in pd.read_csv(path, header=header, dtype=np.int16, chunksize=50_000,
                                                    engine="c")]
    except OSError as err:
        raise DataError(label, f"cannot be read ({err.strerror or err})", "check the file's permissions") from err
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OverflowError) as err:
        raise DataError(label, f"is not a numeric EMNIST CSV ({' '.join(str(err).split())[:200]})", CSV_FIX) from err
    table = np.concatenate(chunks) if chunks else np.zeros((0, n_cols), np.int16)
    if table.ndim != 2 or table.shape[1] != n_cols:
        raise DataError(label, f"has {table.shape[1] if table.ndim == 2 else 0} columns, expected {n_cols} "
                               "(the label, then 28x28 pixels)", CSV_FIX)
    if not len(table):
        raise DataError(label, "has no rows", CSV_FIX)
    if table.min() < 0 or table.max() > 255:
        bad = int(np.flatnonzero(((table < 0) | (table > 255)).any(1))[0])
        raise DataError(label, f"row {bad + 1 + (header == 0)} has a value outside 0..255", CSV_FIX)
    table = table.astype(np.uint8)
    return np.ascontiguousarray(table[:, 1:]).reshape(-1, *IMAGE_SHAPE), np.ascontiguousarray(table[:, 0])


def load_csv(src: Located, *, cache: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images (upright) and official labels of a CSV copy, through the same .npy cache as the idx files."""
    parsed: list = []

    def parse() -> tuple[np.ndarray, np.ndarray]:  # parsed at most once, even when both caches are cold
        if not parsed:
            parsed.append(read_emnist_csv(src.path, name=src.label))
        return parsed[0]

    def upright() -> np.ndarray:
        import torch

        return torch.from_numpy(parse()[0]).transpose(1, 2).contiguous().numpy()

    key = src.content_key() if cache else ""
    labels = cached_array(key, "csv-labels", lambda: parse()[1], enabled=cache)
    images = cached_array(key, "csv-upright", upright, enabled=cache)
    return images, labels
