"""Losses: cross-entropy (label smoothing, soft targets), class-weighted cross-entropy, and the class-weighted
KLDiv of the EfficientNet study.

Every loss takes ``(logits, targets)`` with targets either int64 class indices (B,) or float soft targets
(B, C) — MixUp/CutMix produce the latter — and computes in float32 even under bf16 autocast.

Definitions (``ε`` = label smoothing, ``C`` classes, ``t`` the target distribution, ``w`` class weights):

* smoothed target ``q = (1 - ε) t + ε / C`` (for hard targets ``t`` is one-hot: PyTorch's label smoothing);
* ``ce``: mean over the batch of ``-Σ_c q_c log p_c``;
* ``weighted_ce``: ``Σ_i s_i l_i / Σ_i s_i`` with ``l_i`` the per-sample cross-entropy against ``q_i`` and
  ``s_i = t_i · w`` the weight of the sample's (unsmoothed) target class — for hard targets without
  smoothing this is exactly ``F.cross_entropy(logits, y, weight=w)``;
* ``weighted_kldiv``: ``Σ_i s_i KL(q_i || p_i) / B`` — ``KLDivLoss(reduction="batchmean")`` between
  ``log_softmax(logits)`` and the smoothed targets, each sample weighted by ``s_i``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from charclf.errors import ConfigError, unknown_name

LOSSES = ("ce", "weighted_ce", "weighted_kldiv")


def class_weights(class_counts) -> Tensor:
    """Inverse-frequency class weights, float32 (C,), normalised so the classes that occur average 1.

    A class with count 0 gets weight 0: it never appears as a target in that training set, and a finite
    "inverse of zero" would be arbitrary. (Label smoothing still gives it probability mass; the weight of a
    sample is taken from its own, unsmoothed target.)
    """
    counts = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    if counts.dim() != 1 or counts.numel() == 0:
        raise ConfigError(f"class_counts: expected a 1-D list of per-class counts, got shape {tuple(counts.shape)}. "
                          "Fix: pass dataset.class_counts()")
    if bool((counts < 0).any()) or not bool(torch.isfinite(counts).all()):
        raise ConfigError("class_counts: counts must be finite and >= 0. Fix: pass dataset.class_counts()")
    present = counts > 0
    if not bool(present.any()):
        raise ConfigError("class_counts: every class has count 0, so no weights can be derived. "
                          "Fix: pass the counts of a non-empty training set")
    w = torch.zeros_like(counts)
    w[present] = 1.0 / counts[present]
    w = w / w[present].mean()
    return w.float()


def _check_targets(logits: Tensor, targets: Tensor) -> None:
    b, c = logits.shape
    if targets.dtype.is_floating_point:
        if targets.shape != (b, c):
            raise ValueError(f"soft targets must have shape {(b, c)} like the logits, got {tuple(targets.shape)}")
    elif targets.shape != (b,):
        raise ValueError(f"class-index targets must have shape ({b},), got {tuple(targets.shape)}")


def _target_distribution(targets: Tensor, num_classes: int) -> Tensor:
    """Float (B, C) target distribution from class indices or soft targets."""
    if targets.dtype.is_floating_point:
        return targets.float()
    return F.one_hot(targets, num_classes).float()


class SoftTargetLoss(nn.Module):
    """Shared plumbing: float32 log-probabilities, label smoothing, optional per-class weights."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, weight: Tensor | None = None):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing={label_smoothing}: must be in [0, 1). Fix: e.g. 0.1 or 0")
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32)
            if weight.shape != (self.num_classes,):
                raise ConfigError(f"class weights have shape {tuple(weight.shape)} but the model has "
                                  f"{self.num_classes} classes. Fix: pass class_counts of the same split")
        # A buffer moves with .to(device) and is saved in state_dict.
        self.register_buffer("weight", weight, persistent=False)

    def prepare(self, logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log-probabilities, target distribution t, smoothed targets q), all float32 (B, C)."""
        _check_targets(logits, targets)
        logp = F.log_softmax(logits.float(), dim=1)
        t = _target_distribution(targets, self.num_classes)
        q = t * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes if self.label_smoothing else t
        return logp, t, q

    def sample_weights(self, t: Tensor) -> Tensor:
        """Weight of each sample: its target class's weight (for soft targets the mixture ``t @ w``)."""
        return t @ self.weight

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, label_smoothing={self.label_smoothing}"


class CrossEntropy(SoftTargetLoss):
    """Cross-entropy with label smoothing; hard or soft targets."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if not targets.dtype.is_floating_point:
            _check_targets(logits, targets)
            return F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)
        logp, _, q = self.prepare(logits, targets)
        return -(q * logp).sum(dim=1).mean()


class WeightedCrossEntropy(SoftTargetLoss):
    """Cross-entropy weighted per sample by its target's class weight, normalised by the total weight."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        logp, t, q = self.prepare(logits, targets)
        s = self.sample_weights(t)
        return (s * -(q * logp).sum(dim=1)).sum() / s.sum().clamp_min(torch.finfo(torch.float32).tiny)


class WeightedKLDiv(SoftTargetLoss):
    """The EfficientNet study's loss: per-sample KL(q || p) weighted by class weight, averaged over the batch."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        logp, t, q = self.prepare(logits, targets)
        kl = F.kl_div(logp, q, reduction="none").sum(dim=1)  # 0 * log 0 counts as 0
        return (self.sample_weights(t) * kl).sum() / logits.shape[0]


def build_loss(name: str, *, num_classes: int, class_counts=None, label_smoothing: float = 0.0) -> nn.Module:
    """``ce`` | ``weighted_ce`` | ``weighted_kldiv`` (the weighted ones need the training set's class counts)."""
    key = name.lower()
    if key not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    if key == "ce":
        return CrossEntropy(num_classes, label_smoothing)
    if class_counts is None:
        raise ConfigError(f"loss {name!r} weights classes by frequency and needs class_counts. "
                          "Fix: pass class_counts=train_dataset.class_counts()")
    weight = class_weights(class_counts)
    if weight.numel() != num_classes:
        raise ConfigError(f"loss {name!r}: class_counts has {weight.numel()} entries but num_classes="
                          f"{num_classes}. Fix: pass the counts of the split the model is trained on")
    cls = WeightedCrossEntropy if key == "weighted_ce" else WeightedKLDiv
    return cls(num_classes, label_smoothing, weight)
