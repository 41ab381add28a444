"""The audit's settings, constants and file names: everything that changes a number is in ``AuditSettings``
(and recorded in ``audit-config.json``)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from charclf.errors import ConfigError, DataError

PARTS = ("train", "val", "test")
KINDS = ("case", "digit_letter", "orientation", "wrong_label")
NOT_ERROR_KINDS = ("case",)  # ambiguous by construction of ByClass: not a label error
ERROR_KINDS = tuple(k for k in KINDS if k not in NOT_ERROR_KINDS)
# Digit look-alike groups: a flagged image whose given and suggested labels share a group is a digit/letter
# confusion (written as one, read as the other). 'l'/'I' are in the 1-group: they look like it and each other.
DIGIT_LOOKALIKES = ("0Oo", "1lIi", "2Zz", "5Ss", "6bG", "8B", "9gq")
# Characters one rotation or flip maps onto another. When the upright prediction and the given label are such a
# pair, "the label is wrong" explains the image without assuming a rotated scan, so it is not an orientation
# outlier. Pairs are written with the 15 merged letters in lower case and compared that way (M/W, m/w and M/w
# are one entry): under rot180 6/9, b/q, d/p, n/u, m/w, 7/L, h/y; under flips b/d, p/q, b/p, d/q, E/3, Z/S;
# under rot90/rot270 N/Z, C/U, C/n, 3/m, 3/w, E/m, E/w.
MIRROR_TWINS = frozenset(frozenset(p) for p in ("69", "bq", "dp", "nu", "mw", "7l", "hy", "bd", "pq", "bp", "dq",
                                                 "E3", "zs", "Nz", "cu", "cn", "3m", "3w", "Em", "Ew"))
# The 8 orientations of a square (the dihedral group), named by what is applied to the stored image.
ORIENTATIONS = ("identity", "rot90", "rot180", "rot270", "flip_lr", "flip_ud", "transpose", "anti_transpose")
CSV_COLUMNS = ("official_index", "part", "given_label", "suggested_label", "label_quality", "kind", "orientation")

CONFIG_NAME = "audit-config.json"
CSV_NAME = "byclass-test-label-issues.csv"
RESULTS_NAME = "label-audit.json"
HELDOUT_NAME = "heldout.npz"
FULL_RUN = "full-model"
CLEAN_RUN = "clean-model"
CLEAN_REMOVED_NAME = "clean-model-removed.json"
DEFAULT_OUT = Path("outputs") / "label_audit"
NOTEBOOK_RUN = "12_label_errors"  # the quick profile's folder under outputs/runs/quick/

# The 15-epoch CPU runs of Mini-Vision-V3 (outputs/runs/cpu) halve the lr 3 times (StepLR 5); a shorter audit
# run keeps that shape.
SCHEDULE_REFERENCE_EPOCHS = 15

FOLD_METHODS = ("stratified_kfold", "round_robin")
LEGACY_FOLD_METHOD = "round_robin"  # the fold method of audits whose settings do not name one


# -- settings ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditSettings:
    """What the audit trains and how it flags. Everything that changes a number is here (and in the JSON)."""

    split: str = "byclass"
    recipe: str = "minivision_v3"
    folds: int = 4
    # 4 epochs: the CPU this study runs on has no native bf16, and 4 folds + 2 models x 4 epochs of float32
    # training fit the ~25 minutes the audit was given there (estimate_seconds). More epochs, better models.
    epochs: int = 4
    seed: int = 0
    amp: str = "auto"  # training precision (TrainConfig.amp); probabilities are always computed in float32
    max_train_samples: int | None = None  # stratified subset of the training part (quick profile, tests)
    max_eval_samples: int | None = None  # stratified subsets of the val and test parts
    orientation_min_prob: float = 0.5
    orientation_min_ratio: float = 10.0
    # How the training part is dealt into folds (data.FOLD_METHODS): scikit-learn's StratifiedKFold, or the
    # round-robin deal of the audits made before this setting existed (the committed outputs/label_audit).
    fold_method: str = "stratified_kfold"

    def __post_init__(self):
        if self.folds < 2:
            raise ConfigError(f"folds={self.folds}: out-of-fold probabilities need at least 2 folds. Fix: use 4 or more")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs}: must be >= 1")
        if not 0 < self.orientation_min_prob <= 1 or self.orientation_min_ratio < 1:
            raise ConfigError(f"orientation_min_prob={self.orientation_min_prob} must be in (0, 1] and "
                              f"orientation_min_ratio={self.orientation_min_ratio} >= 1")
        if self.fold_method not in FOLD_METHODS:
            raise ConfigError(f"fold_method={self.fold_method!r}: use one of {', '.join(FOLD_METHODS)}")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name}={value}: must be >= 1, or None for the whole part")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_folder(cls, out) -> "AuditSettings | None":
        """The settings an audit folder was made with (its audit-config.json), or None for a new folder."""
        path = Path(out) / CONFIG_NAME
        if not path.is_file():
            return None
        try:
            return cls(**with_fold_method(json.loads(path.read_text())["settings"]))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(path, f"is not an audit config ({err})", "move it away, or choose another folder") from err


def with_fold_method(saved: dict) -> dict:
    """Settings saved before ``fold_method`` existed were dealt round-robin: say so, as a new record would."""
    return {"fold_method": LEGACY_FOLD_METHOD, **saved}


def train_config(settings: AuditSettings, *, seed: int | None = None):
    """The recipe's TrainConfig for ``settings.epochs`` (its step schedule compressed to keep its shape)."""
    from charclf.train.recipes import compress_schedule, get_recipe

    base = get_recipe(settings.recipe)
    factor = min(1.0, settings.epochs / SCHEDULE_REFERENCE_EPOCHS)
    return dataclasses.replace(base, epochs=settings.epochs, seed=settings.seed if seed is None else seed,
                               amp=settings.amp, scheduler=compress_schedule(base.scheduler, factor),
                               name=f"{settings.recipe}-label-audit")

