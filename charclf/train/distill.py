"""Knowledge distillation targets: a teacher's probabilities on the train part, mixed with the true labels.

A teacher file (``.npz``, written by ``charclf.experiments.ensemble.write_teacher``) holds, for every image of
one train part in its order: the teacher's probabilities (float16), the labels it was computed against, and
the class names. A run records the hash of those probabilities (``provenance.distill_teacher_sha256``) and
refuses to resume under another teacher. ``fit`` trains towards ``alpha * teacher + (1 - alpha) * one_hot(label)`` (Hinton et al. 2015
at temperature 1, which needs no extra loss: every charclf loss takes soft targets). Computed once on the
clean images, not per augmented batch: a teacher forward pass per step would cost more than the student's.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from charclf.data.dataset import CharDataset
from charclf.errors import ConfigError, DataError

TEACHER_FORMAT = "charclf.teacher/1"
# A teacher folder holds its probabilities and what they are; these names are its only spelling.
TEACHER_NPZ, TEACHER_JSON = "teacher.npz", "teacher.json"
FIX = "rebuild it with `python -m charclf.experiments.ensemble RUNS... --teacher DIR` on this train part"


def teacher_path(value: str | Path) -> Path:
    """A TrainConfig's ``distill_teacher``: absolute, or relative to the outputs folder (so a config stays
    valid from any working directory, and tests can point ``$CHARCLF_OUTPUTS_DIR`` elsewhere)."""
    from charclf.paths import outputs_dir

    path = Path(value).expanduser()
    return path if path.is_absolute() else outputs_dir() / path


@dataclass(frozen=True)
class Teacher:
    probs: np.ndarray  # float32 (N, C), rows of the train part in its order
    sha256: str  # of the stored (float16) probabilities: the teacher's identity, whatever the file's zip bytes


def probs_digest(probs: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(probs.astype(np.float16)).tobytes()).hexdigest()


def load_teacher(path: str | Path, train: CharDataset) -> Teacher:
    """The teacher's probabilities for ``train``, after checking that the file was computed on exactly these
    images' labels and classes, in this order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "the distillation teacher file does not exist", FIX)
    try:
        with np.load(path, allow_pickle=False) as saved:
            fmt, probs = str(saved["format"]), saved["probs"]
            labels, classes = saved["labels"], tuple(str(c) for c in saved["classes"])
    except (OSError, ValueError, KeyError) as err:
        raise DataError(path, f"not a readable teacher file ({err})", FIX) from err
    if fmt != TEACHER_FORMAT:
        raise DataError(path, f"teacher format {fmt!r}, expected {TEACHER_FORMAT!r}", FIX)
    if classes != tuple(train.classes):
        raise DataError(path, f"the teacher's classes {''.join(classes)!r} are not this data's "
                              f"{''.join(train.classes)!r}", FIX)
    if labels.shape != (len(train),) or not np.array_equal(labels, train.labels.numpy()):
        raise DataError(path, f"the teacher was computed on another train part ({len(labels):,} labels, this one "
                              f"has {len(train):,}, or the same count in another order)", FIX)
    if probs.shape != (len(train), train.num_classes) or not np.isfinite(probs).all():
        raise DataError(path, f"teacher probabilities of shape {probs.shape} (or not finite); expected "
                              f"{(len(train), train.num_classes)}", FIX)
    return Teacher(probs=probs.astype(np.float32), sha256=probs_digest(probs))


def distill_targets(teacher: torch.Tensor, labels: torch.Tensor, alpha: float,
                    temperature: float = 1.0) -> torch.Tensor:
    """``alpha * teacher_T + (1 - alpha) * one_hot(labels)``, float32 (N, C): each row sums to 1 like the
    teacher's (float16 storage leaves rows a hair off 1; they are renormalised). ``teacher_T`` is the teacher
    softened at ``temperature``: ``p ** (1 / T)`` renormalised, which is softmax(logits / T) of the teacher's own
    logits, so T > 1 spreads its mass over the classes it finds plausible (the student still trains at T = 1
    with the usual loss: the temperature shapes the targets only)."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"TrainConfig.distill_alpha={alpha}: must be in [0, 1]. Fix: e.g. 0.5")
    if not 0.0 < temperature <= 100.0:
        raise ConfigError(f"TrainConfig.distill_temperature={temperature}: must be in (0, 100]. Fix: e.g. 1 (the "
                          "teacher's own probabilities) or 3")
    teacher = teacher.float()
    if temperature != 1.0:  # in log space: tiny probabilities ** (1 / T) would underflow float32 otherwise
        teacher = torch.softmax(teacher.clamp_min(1e-30).log() / temperature, dim=1)
    teacher = teacher / teacher.sum(dim=1, keepdim=True)
    return alpha * teacher + (1.0 - alpha) * F.one_hot(labels, teacher.shape[1]).float()
