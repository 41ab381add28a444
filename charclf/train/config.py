"""Frozen dataclass configs for training, saved as JSON with every run (strict on load)."""
from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from charclf.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Batched, on-device augmentation. Ranges follow torchvision's RandomAffine. Characters are never mirrored."""

    degrees: float = 0.0  # affine rotation range (+-)
    translate: float = 0.0  # max fraction of width/height
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0  # degrees (+-), x-shear as RandomAffine(shear=s)
    crop_padding: int = 0  # random crop after zero padding (RandomCrop(28, padding=p))
    rotation: float = 0.0  # plain RandomRotation(degrees)
    mixup_alpha: float = 0.0  # > 0 enables MixUp
    cutmix_alpha: float = 0.0  # > 0 enables CutMix
    mix_prob: float = 1.0  # probability a batch gets MixUp/CutMix (when both on, one of them at random)
    # Resampling of the rotation/affine part: "bilinear" (charclf's choice: one smooth resampling), or
    # "nearest", torchvision's default for RandomAffine and RandomRotation and so what the earlier works trained on.
    interpolation: str = "bilinear"
    # Capture: what a pen, a camera and a scanner do to a character that NIST's scans did not (issue #39: real
    # photos have fainter, thicker or thinner, softer and less rigid strokes than EMNIST). Off by default.
    capture_prob: float = 1.0  # share of images that get the capture effects below (each drawn per image)
    stroke_width_prob: float = 0.0  # per image: grey dilation (thicker) or erosion (thinner), half each
    blur: float = 0.0  # per image: blend of up to this much towards a 3x3 Gaussian blur (sigma 0.8), in [0, 1]
    contrast: tuple[float, float] = (1.0, 1.0)  # per image: ink scaled about the background by U(low, high)
    elastic: float = 0.0  # per image: smooth random displacement of up to this many pixels

    @property
    def mixes(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    @property
    def captures(self) -> bool:
        """True when any capture effect is on (and some images get it)."""
        return self.capture_prob > 0 and (self.stroke_width_prob > 0 or self.blur > 0 or self.elastic > 0
                                          or tuple(self.contrast) != (1.0, 1.0))


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "sgd"  # sgd | adam | adamw | lion
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class SchedulerConfig:
    name: str = "none"  # none | step | onecycle | cosine | warmup_cosine_restarts
    step_size: int = 5  # step: epochs between decays
    gamma: float = 0.5  # step: decay factor
    warmup_epochs: int = 0  # warmup_cosine_restarts (and onecycle's pct_start when > 0)
    t0: int = 10  # warmup_cosine_restarts: epochs of the first cosine cycle
    t_mult: int = 1  # warmup_cosine_restarts: cycle length multiplier
    eta_min: float = 0.0
    max_lr: float | None = None  # onecycle peak (defaults to optimizer lr)


@dataclass(frozen=True)
class TrainConfig:
    # The registry name of the model trained. Empty: taken from the model given to fit (built by create_model);
    # a name that disagrees with that model is refused.
    model: str = ""
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: str = "ce"  # ce | weighted_ce | weighted_kldiv
    label_smoothing: float = 0.0
    ema_decay: float | None = None  # e.g. 0.999: evaluate/save an exponential moving average of the weights
    # Stochastic weight averaging (charclf.train.ema.SWA): from this epoch on, the mean of each epoch's final
    # weights is validated and saved, trained at the constant swa_lr (None: the schedule goes on). None: no SWA.
    swa_start_epoch: int | None = None
    swa_lr: float | None = None
    # Initialise the first convolution from the train images' patch whitening (charclf.train.datainit; airbench).
    data_init_first_layer: bool = False
    # Knowledge distillation: train towards alpha * teacher + (1 - alpha) * one-hot label, where the teacher is
    # a file of probabilities on the train part (charclf.experiments.ensemble.write_teacher); a relative path is
    # under the outputs folder (charclf.paths.outputs_dir). None: no distillation.
    distill_teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 1.0  # > 1 softens the teacher's probabilities (charclf.train.distill)
    early_stopping_patience: int | None = None  # epochs without val improvement before stopping
    grad_clip_norm: float | None = None  # clip the global gradient norm to this before each optimizer step
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 where native: CUDA, CPUs with AVX512-BF16/AMX; see train.precision) | bf16 | off
    channels_last: str = "auto"  # auto (= on: measured faster on CPU and GPU; see outputs/bench) | on | off
    compile: bool = False
    tta: bool = False  # evaluate with test-time translation averaging
    eval_batch_size: int = 1024
    max_train_samples: int | None = None  # stratified subset of the train part (quick profile)
    log_every: int = 50  # steps between progress-bar updates of loss/acc
    name: str = ""  # free text, e.g. the recipe's name

    def check(self) -> "TrainConfig":
        """Refuse, before any work, a value no training can use that its type lets through: an lr of 1e308 (the
        CLI's --lr bound, for a config file too: it overflows the first step), a momentum or beta >= 1, a seed the
        generators cannot take. ``fit`` calls it first, before a run folder is touched, and ``charclf train`` before
        loading data; a search checks each trial's config and records a refused one as pruned, with the reason."""
        from charclf.argtypes import MAX_LR, MAX_SEED

        for name in ("epochs", "batch_size", "eval_batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig.{name}={getattr(self, name)}: must be >= 1. Fix: correct the config")
        if self.max_train_samples is not None and not self.max_train_samples >= 1:
            raise ConfigError(f"TrainConfig.max_train_samples={self.max_train_samples}: must be >= 1, or null to "
                              "train on the whole train part. Fix: correct the config")
        if not 0.0 <= self.distill_alpha <= 1.0:
            raise ConfigError(f"TrainConfig.distill_alpha={self.distill_alpha}: must be in [0, 1]. Fix: e.g. 0.5")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ConfigError(f"TrainConfig.grad_clip_norm={self.grad_clip_norm}: must be > 0, or null for no "
                              "clipping. Fix: e.g. 1.0")
        if self.augment.crop_padding < 0:
            raise ConfigError(f"AugmentConfig.crop_padding={self.augment.crop_padding}: must be >= 0 (pixels of "
                              "padding before the random crop). Fix: e.g. 2, or 0 for no crop")
        opt = self.optimizer
        if not 0 < opt.lr <= MAX_LR:
            raise ConfigError(f"OptimizerConfig.lr={opt.lr}: the learning rate must be > 0 and <= {MAX_LR:g}. Fix: "
                              "e.g. 0.01 for sgd")
        if not 0 <= opt.momentum < 1 or not all(0 <= b < 1 for b in opt.betas):
            raise ConfigError(f"OptimizerConfig: momentum={opt.momentum} and betas={list(opt.betas)} must be in "
                              "[0, 1). Fix: e.g. momentum 0.9, betas [0.9, 0.999]")
        if not 0 <= self.seed <= MAX_SEED:  # random, numpy and torch all take it (torch: at most 2**64 - 1)
            raise ConfigError(f"TrainConfig.seed={self.seed}: must be in [0, {MAX_SEED}]. Fix: e.g. 0")
        if self.early_stopping_patience is not None and not self.early_stopping_patience >= 1:
            raise ConfigError(f"TrainConfig.early_stopping_patience={self.early_stopping_patience}: must be >= 1, "
                              "or null for no early stopping. Fix: e.g. 5")
        if not 0 < self.distill_temperature <= 100:
            raise ConfigError(f"TrainConfig.distill_temperature={self.distill_temperature}: must be in (0, 100]. "
                              "Fix: e.g. 1 (the teacher's own probabilities) or 3")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"TrainConfig.ema_decay={self.ema_decay}: must be in (0, 1), or null for no EMA. "
                              "Fix: e.g. 0.999")
        if self.swa_start_epoch is not None:
            if not 1 <= self.swa_start_epoch <= self.epochs:
                raise ConfigError(f"TrainConfig.swa_start_epoch={self.swa_start_epoch}: must be in [1, epochs="
                                  f"{self.epochs}], or null for no SWA. Fix: e.g. {max(1, self.epochs * 3 // 4)}")
            if self.ema_decay is not None:
                raise ConfigError("TrainConfig: ema_decay and swa_start_epoch both average the weights; one run "
                                  "validates one average. Fix: set one of them to null")
        if self.swa_lr is not None and (self.swa_start_epoch is None or not 0 < self.swa_lr <= MAX_LR):
            raise ConfigError(f"TrainConfig.swa_lr={self.swa_lr}: needs swa_start_epoch, and must be > 0 and <= "
                              f"{MAX_LR:g}. Fix: e.g. swa_start_epoch 26 and swa_lr 0.01, or swa_lr null")
        return self

    # -- JSON -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path) -> Path:
        from charclf.fileio import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> "TrainConfig":
        return _build(cls, data, source)

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainConfig":
        from charclf.errors import DataError
        from charclf.provenance import read_json

        path = Path(path)
        try:  # missing, a folder, unreadable, not UTF-8, not JSON: one line naming the file
            data = read_json(path, "pass the path of a TrainConfig JSON file (e.g. a run's train_config.json)")
        except DataError as err:
            raise ConfigError(str(err)) from err
        return _build(cls, data, str(path))


def with_new_fields(data: dict, cls=None, *, left_out: Collection[str] = ()) -> dict:
    """``data`` (the ``to_dict`` of an older ``cls``, default TrainConfig) with each field added since set to its
    default, recursing into the nested config sections (``augment.interpolation``): the run that wrote it trained
    without the field, i.e. with its default. Free-form dict fields (``model_kwargs``) are left as they are.
    ``left_out`` names top-level fields the dict omits on purpose (a search's stored spec drops where its trials
    ran), which stay out."""
    import json

    cls = TrainConfig if cls is None else cls
    defaults = cls()
    out = dict(data)
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(default) and isinstance(out.get(f.name), dict):
            out[f.name] = with_new_fields(out[f.name], type(default))
        elif f.name not in out and f.name not in left_out:
            out[f.name] = json.loads(json.dumps(dataclasses.asdict(default) if dataclasses.is_dataclass(default)
                                                else default))
    return out


# TrainConfig fields that say where and how fast a run trains, not what it computes: a resume, a search's workers
# and a notebook's cached run may differ in them.
RUN_PLACE_FIELDS = frozenset({"device", "compile", "eval_batch_size", "log_every", "name"})


def config_differences(saved: dict, current: dict) -> str:
    """How training config ``current`` differs from a run's ``saved`` one (both ``TrainConfig.to_dict``), as
    ``"; "``-joined dotted paths (``augment.rotation: 10.0 -> 5.0``); empty when they train the same way.
    ``RUN_PLACE_FIELDS`` are ignored, and a field newer than ``saved`` counts as its default there (the run
    trained without it)."""
    return dict_differences(with_new_fields(saved), current, ignore=RUN_PLACE_FIELDS)


def changed_fields(saved: dict, current: dict) -> list[str]:
    """The top-level TrainConfig fields in which two runs' configs (``to_dict``, older ones filled with the
    defaults of fields added since) train differently, sorted: ``["ema_decay"]`` for a one-change arm, more for
    a recipe swap. The seed and ``RUN_PLACE_FIELDS`` are left out."""
    a, b = with_new_fields(saved), with_new_fields(current)
    return sorted(k for k in set(a) | set(b) if k not in RUN_PLACE_FIELDS | {"seed"}
                  and json_equivalent(a.get(k)) != json_equivalent(b.get(k)))


def dict_differences(saved: Mapping, current: Mapping, *, ignore=frozenset()) -> str:
    """How the JSON-like mapping ``current`` differs from ``saved``, as ``"; "``-joined dotted paths
    (``augment.rotation: 10.0 -> 5.0``), keys in ``ignore`` left out; empty when they are equal. Tuples and lists
    compare equal (JSON turns one into the other)."""
    diff = sorted(k for k in set(saved) | set(current)
                  if k not in ignore and json_equivalent(saved.get(k)) != json_equivalent(current.get(k)))
    return "; ".join(_differences(k, json_equivalent(saved.get(k)), json_equivalent(current.get(k))) for k in diff)


def _differences(key: str, saved, current) -> str:
    """What changed under ``key``, as dotted paths into nested sections (``augment.rotation: 10.0 -> 5.0``)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return "; ".join(_differences(f"{key}.{k}", saved.get(k), current.get(k))
                         for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k))
    return f"{key}: {saved!r} -> {current!r}"


def json_equivalent(value):
    """``value`` as it reads back from JSON, so tuples and lists compare equal (a saved config or resume state holds
    what ``to_dict`` gave; JSON turns its tuples into lists)."""
    if isinstance(value, dict):
        return {k: json_equivalent(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_equivalent(v) for v in value]
    return value


def _build(cls, data, source: str):
    """Build a (nested) frozen dataclass from a dict, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        import difflib

        hint = "; ".join(f"{k!r} (did you mean {difflib.get_close_matches(k, names, 1)[0]!r}?)"
                         if difflib.get_close_matches(k, names, 1) else repr(k) for k in unknown)
        raise ConfigError(f"{source}: unknown key(s) for {cls.__name__}: {hint}. "
                          f"Fix: remove them; valid keys are {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{source}: {cls.__name__}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def _bad_value(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}. Fix: correct that value (the TrainConfig dataclasses in "
                       f"charclf/train/config.py list every field's type and default)")


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _bad_value(where, f"expected a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _bad_value(where, f"expected an object, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _bad_value(where, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad_value(where, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad_value(where, f"expected a number, got {value!r}")
        # JSON lets NaN and Infinity through, and an int beyond a float's range overflows: no setting means either
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _bad_value(where, f"expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise _bad_value(where, f"expected a string, got {value!r}")
        return value
    return value
