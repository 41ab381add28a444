"""In-memory datasets: the whole split as one uint8 tensor, so training can index batches on the device."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from charclf.errors import ConfigError


@dataclass(frozen=True)
class CharDataset:
    """One part (train/val/test) of a split: upright uint8 images, int64 labels, and what they mean."""

    images: torch.Tensor  # uint8 (N, 28, 28), upright
    labels: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]  # character of each label index
    split: str  # "byclass", "bymerge", "balanced", "letters", "digits", "mnist", "classic-mnist"
    part: str  # "train" | "val" | "test"
    protocol: str  # "holdout" | "official"

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(f"images must be uint8 (N, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 ({self.images.shape[0]},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image, label)`` like torchvision's MNIST with ``ToTensor``: a float32 (1, 28, 28) image in 0..1 and an
        int label, so a ``torch.utils.data.DataLoader`` batches the part as any image dataset. (Training indexes
        ``images`` whole on the device instead; this is for code written around a DataLoader.)"""
        return self.images[index].unsqueeze(0).float().div_(255.0), int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> "CharDataset":
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return replace(self, images=self.images[idx], labels=self.labels[idx])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels.numpy(), minlength=self.num_classes)

    def describe(self) -> dict:
        return {"split": self.split, "part": self.part, "protocol": self.protocol, "size": len(self),
                "num_classes": self.num_classes}


@dataclass(frozen=True)
class DataBundle:
    """The train/val/test parts of one split under one protocol. Model selection uses ``val``, never ``test``."""

    train: CharDataset
    val: CharDataset
    test: CharDataset
    split: str
    protocol: str
    classes: tuple[str, ...]
    # The holdout protocol's index file (its sha256): which images are train, val and test. Two index files of
    # the same sizes are two different splits; None under the official protocol.
    index_sha256: str | None = None
    # The official protocol's val part, drawn from train: the draw's seed and fraction, recorded only where they
    # are not the ones every charclf command loads with (seed 0, 10%), so older records still compare equal.
    val_draw: dict | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        facts = {"split": self.split, "protocol": self.protocol, "num_classes": self.num_classes,
                 "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)}}
        if self.index_sha256 is not None:
            facts["index_sha256"] = self.index_sha256
        if self.val_draw is not None:
            facts["val_draw"] = dict(self.val_draw)
        return facts

    def map_parts(self, fn) -> "DataBundle":
        """Apply ``fn(CharDataset) -> CharDataset`` to every part (e.g. a stratified subset for a quick profile)."""
        return replace(self, train=fn(self.train), val=fn(self.val), test=fn(self.test))


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices drawn so each class keeps its share (every present class keeps at least one sample)."""
    labels = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        # n=0 used to give an empty subset and n=-5 "all but 5" (numpy slicing): both silent nonsense.
        raise ConfigError(f"a stratified subset needs a whole number of samples >= 1, got {n!r}. Fix: pass a "
                          "positive size, or no limit to use every sample")
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * n / len(labels)).astype(int))
    # Hand out what rounding left over to the largest classes, so the total is exactly n (when n >= #classes).
    short = n - quota.sum()
    if short > 0:
        order = np.argsort(-(counts * n / len(labels) - quota))
        quota[order[:short]] += 1
    picked = []
    for cls, q in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        picked.append(rng.choice(members, size=min(q, len(members)), replace=False))
    out = np.concatenate(picked)
    rng.shuffle(out)
    return np.sort(out[:n]) if len(out) > n else np.sort(out)


def stratified_subset(ds: CharDataset, n: int, seed: int = 0) -> CharDataset:
    """A class-stratified subset of ``n`` samples (the quick profile's honest small data)."""
    return ds.subset(stratified_indices(ds.labels.numpy(), n, seed))
