"""ByClass (62 classes) -> ByMerge / Balanced (47 classes): merge the 15 letters whose cases look alike.

EMNIST's ByMerge and Balanced splits fold the lower case of c i j k l m o p s u v w x y z into the upper case,
because the two are indistinguishable once size is normalised away. Scoring a ByClass model this way tells how
much of its error is only case confusion.
"""
from __future__ import annotations

import numpy as np

from charclf.data.official import OFFICIAL_MAPPINGS

MERGED_LETTERS = "cijklmopsuvwxyz"  # the 15 case-ambiguous letters


def merge_map(classes) -> tuple[np.ndarray, tuple[str, ...]]:
    """For any class list: (index map old -> new, merged class list). Merged lower-case letters go to upper case.

    Classes keep their relative order, so ByClass's 62 classes become exactly the official 47-class order
    (0-9, A-Z, a b d e f g h n q r t).
    """
    classes = tuple(classes)
    merged = tuple(c for c in classes if not (c in MERGED_LETTERS and c.upper() in classes))
    position = {c: i for i, c in enumerate(merged)}
    index = np.array([position[c.upper() if c not in position else c] for c in classes], dtype=np.int64)
    return index, merged


def merge_classes(labels, classes) -> tuple:
    """Map ``labels`` (numpy array or torch tensor over ``classes``) to the merged classes.

    Returns ``(labels_merged, classes_merged)``; the labels come back as the same type they went in.
    """
    index, merged = merge_map(classes)
    try:
        import torch

        if isinstance(labels, torch.Tensor):
            return torch.as_tensor(index, device=labels.device)[labels.long()], merged
    except ImportError:  # pragma: no cover - torch is a dependency, but the numpy path needs none
        pass
    return index[np.asarray(labels, dtype=np.int64)], merged


def byclass_to_bymerge_index() -> np.ndarray:
    """(62,) int64: ByClass label -> ByMerge/Balanced label."""
    return merge_map(OFFICIAL_MAPPINGS["byclass"])[0]
