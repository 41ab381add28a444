"""images_also_in: which images of one set occur, byte for byte, in another (the test-set leak check)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from charclf.data.dataset import CharDataset, DataBundle
from charclf.data.overlap import images_also_in, parts_also_in
from charclf.errors import ConfigError


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_flags_exactly_the_byte_identical_images():
    a = _images(6, 0)
    near = a[4].copy()
    near[13, 13] ^= 1  # one bit off: not the same image
    b = np.concatenate([_images(20, 1), a[[1, 3]], a[[3]], near[None]])  # a[3] twice in b
    assert images_also_in(a, b).tolist() == [False, True, False, True, False, False]
    # torch tensors (CharDataset.images) work the same; an empty b flags nothing
    assert images_also_in(torch.from_numpy(a), torch.from_numpy(b)).tolist() == images_also_in(a, b).tolist()
    assert not images_also_in(a, b[:0]).any() and images_also_in(a[:0], b).shape == (0,)


def test_a_hash_collision_cannot_flag_a_different_image(monkeypatch):
    import charclf.data.overlap as overlap

    monkeypatch.setattr(overlap, "_digest", lambda row: b"same")  # every image collides
    a, b = _images(3, 0), _images(4, 1)
    assert images_also_in(a, b).tolist() == [False, False, False]  # the bytes decide, not the hash
    b[2], b[3] = a[2], a[0]  # behind images of b with the same hash: still found
    assert images_also_in(a, b).tolist() == [True, False, True]


def test_refuses_sets_that_cannot_be_compared():
    with pytest.raises(ConfigError, match="dtype or image shape.*Fix:"):
        images_also_in(_images(2, 0), _images(2, 0).astype(np.float32))
    with pytest.raises(ConfigError, match="dtype or image shape"):
        images_also_in(_images(2, 0), _images(2, 0)[:, :14])


def test_parts_also_in_reports_each_part_of_a_bundle():
    x = _images(10, 2)

    def part(idx, name):
        return CharDataset(torch.from_numpy(x[idx]), torch.zeros(len(idx), dtype=torch.int64), ("a",), "byclass",
                           name, "holdout")

    bundle = DataBundle(part([0, 1, 2, 3], "train"), part([4, 5], "val"), part([6, 7], "test"), "byclass",
                        "holdout", ("a",))
    probe = x[[1, 5, 7, 9]]
    masks = parts_also_in(probe, bundle)
    assert {k: v.tolist() for k, v in masks.items()} == {"train": [True, False, False, False],
                                                         "val": [False, True, False, False],
                                                         "test": [False, False, True, False]}
