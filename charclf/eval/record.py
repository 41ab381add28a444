"""``RunRecord``: the one schema of a run's ``metrics.json``.

``fit`` writes it; every reader (report, study, notebooks, model cards, the model hub) reads it through
:meth:`RunRecord.load`, so no reader guesses key names or rebuilds a model to count its parameters.

What a record holds:

- the model: registry name, parameters, MACs per 28x28 image;
- the data: split, protocol, part sizes, and how many images the run trained on;
- the recipe name and the full ``TrainConfig``;
- how it ran: precision (what ``amp="auto"`` resolved to), channels_last, device, world size;
- the input normalisation the weights expect (also in the model's ``config.json``);
- the training summary: best epoch on val, val loss/accuracy, epochs, time, images/s;
- ``evaluation``: each scored part, keyed like ``charclf evaluate`` ("test", "test_tta", "train" ...), all from
  :func:`charclf.eval.evaluate.evaluate_model` (float32). ``tta`` says which test key is *the* test number;
- provenance: git SHA, time, machine, seed;
- study bookkeeping: the study profile, the run's name, whether its weights are kept.

Records written before this schema (flat keys, ``run_metadata``) are read by :meth:`RunRecord.from_dict`, and
``tools/migrate_runs.py`` rewrites them on disk.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from charclf.errors import DataError


def evaluation_key(part: str, tta: bool, split: str | None = None) -> str:
    """Key under ``metrics.json["evaluation"]``: ``"test"``, ``"test_tta"``, ``"val"`` ...; a part of another
    EMNIST split than the run's own (``split``) is ``"test@bymerge"``, so it never takes the run's own number's key."""
    key = f"{part}_tta" if tta else part
    return f"{key}@{split}" if split else key


SCHEMA = "charclf.run/1"
RECORD_FILE = "metrics.json"


class NotARunRecord(DataError):
    """Valid JSON that is not a run record (an experiment's results, a bare evaluation): readers skip it."""


SELECTION = "best val accuracy (the test part is never used for selection)"
_FIX = "retrain the run, or restore its metrics.json from git"


@dataclass(frozen=True)
class RunRecord:
    model: str
    params: int
    macs: int
    data: dict  # split, protocol, num_classes, sizes {train, val, test}
    train_samples: int  # images trained on (after any max_train_samples subset)
    recipe: str | None
    config: dict  # TrainConfig.to_dict()
    precision: str  # "bf16" or "fp32" (or "mixed" after a resume allowed to change it): what the training steps ran in
    channels_last: bool
    device: str
    world_size: int
    mean: float  # input normalisation the weights expect
    std: float
    best_epoch: int
    best_val_acc: float
    best_val_loss: float | None
    final_val_acc: float | None
    final_val_loss: float | None
    epochs_run: int
    train_time_s: float  # training steps only, summed over every epoch (also those before a resume)
    wall_time_s: float  # of the last (resumed) process only
    images_per_s: float | None
    tta: bool  # whether the test number averages translated copies
    evaluation: dict  # {"test" | "test_tta" | "train" ...: evaluate_model(...).to_dict()}
    provenance: dict  # git_sha, created_utc, machine, seed, protocol
    selection: str = SELECTION
    profile: str | None = None  # the study profile that made it (quick / full), None outside the study
    run: str | None = None  # its name in the study (04_training/vgg-seed0)
    weights_kept: bool = True
    # What the per-epoch val scores that chose the weights ran in: "fp32" (the test evaluation's path) since fit
    # scores val without autocast; None for older runs, whose val ran in the training precision.
    selection_precision: str | None = None
    schema: str = SCHEMA
    # Top-level keys of metrics.json this record does not know (a user's notes, a newer charclf's fields): kept
    # as they are and written back beside the record's own, so rewriting metrics.json never drops them.
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        # What a record holds in memory is exactly what its file will hold: tuples become lists, numpy scalars
        # numbers, so a record equals itself after a save and a load.
        import json

        from charclf.fileio import _json_default

        for name in ("data", "config", "evaluation", "provenance", "extra"):
            object.__setattr__(self, name, json.loads(json.dumps(getattr(self, name), default=_json_default)))

    # -- the one test number ------------------------------------------------------------------------------
    @property
    def test_key(self) -> str:
        return evaluation_key("test", self.tta)

    @property
    def test(self) -> dict:
        """The run's one test evaluation (accuracy, precision/recall/F1, merged-47, ECE, per class ...)."""
        if self.test_key not in self.evaluation:
            raise KeyError(f"this run has no {self.test_key!r} evaluation (it has {sorted(self.evaluation)})")
        return self.evaluation[self.test_key]

    @property
    def test_acc(self) -> float:
        return float(self.test["accuracy"])

    def part(self, part: str) -> dict | None:
        """The evaluation of ``part`` ("train", "test", "val") with the run's TTA setting, if it was scored."""
        return self.evaluation.get(evaluation_key(part, self.tta))

    @property
    def val_acc(self) -> float:
        """Val accuracy in float32, the test evaluation's numerics: what chooses between runs (best seed, a goal's
        candidate, the published slot). New runs selected their epoch on float32 val (``best_val_acc``); an older
        run whose val ran in bf16 is read from its float32 ``evaluation`` of val when ``charclf evaluate --part val``
        added one, else (not re-scored yet) from ``best_val_acc`` in its training precision (``val_precision``)."""
        if self.selection_precision != "fp32" and self.precision != "fp32" and self.part("val") is not None:
            return float(self.part("val")["accuracy"])
        return self.best_val_acc

    @property
    def epoch_chosen_on(self) -> str:
        """The numerics of the per-epoch val that chose the weights: "fp32" since fit scores val without autocast,
        an older run's training precision (its val ran in it, whatever re-scored it later)."""
        return self.selection_precision or self.precision

    @property
    def val_precision(self) -> str:
        """The numerics of :attr:`val_acc`: "fp32", or the training precision of an older run not re-scored."""
        if self.selection_precision == "fp32" or self.precision == "fp32" or self.part("val") is not None:
            return "fp32"
        return self.precision

    @property
    def seed(self) -> int | None:
        return self.provenance.get("seed", self.config.get("seed"))

    @property
    def git_sha(self) -> str | None:
        return self.provenance.get("git_sha")

    # -- (de)serialisation ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        own = dataclasses.asdict(self)
        extra = own.pop("extra")
        return {**{k: v for k, v in extra.items() if k not in own}, **own}

    def replace(self, **changes) -> "RunRecord":
        return dataclasses.replace(self, **changes)

    def save(self, run_dir: str | Path) -> Path:
        from charclf.fileio import write_json

        return write_json(Path(run_dir) / RECORD_FILE, self.to_dict())

    @classmethod
    def load(cls, run_dir: str | Path) -> "RunRecord":
        """The record in ``run_dir/metrics.json`` (older layouts migrated in memory); a missing, unreadable or
        incomplete file is a ``DataError`` naming it."""
        from charclf.provenance import read_json

        path = Path(run_dir) / RECORD_FILE
        return cls.from_dict(read_json(path, _FIX), path=path, run_dir=Path(run_dir))

    @classmethod
    def from_dict(cls, d, *, path: Path | str = RECORD_FILE, run_dir: Path | None = None) -> "RunRecord":
        if not isinstance(d, dict):
            raise NotARunRecord(path, "is not a JSON object, so not a run record", _FIX)
        if d.get("schema") == SCHEMA:
            names = {f.name for f in dataclasses.fields(cls)}
            missing = sorted(n for n in names if n not in d and _required(n))
            if missing:
                raise DataError(path, f"is a {SCHEMA} record without {', '.join(missing)}", _FIX)
            return _checked(cls(**{k: v for k, v in d.items() if k in names and k != "extra"},
                                extra={k: v for k, v in d.items() if k not in names or k == "extra"}), path)
        fields = _migrate(d, path, run_dir)
        return _checked(cls(**fields, extra={k: v for k, v in d.items() if k not in LEGACY_KEYS and k not in fields}),
                        path)


def _checked(record: RunRecord, path) -> RunRecord:
    """``record`` when every accuracy it holds is a number in [0, 1] (or absent); else a ``DataError`` naming the
    file and the value, so no table shows 170% or NaN from a damaged or hand-edited record."""
    values = {"best_val_acc": record.best_val_acc, "final_val_acc": record.final_val_acc}
    for part, result in (record.evaluation or {}).items():
        if not isinstance(result, dict):
            raise DataError(path, f"evaluation.{part} is not an object", _FIX)
        values.update({f"evaluation.{part}.{key}": v for key, v in result.items() if key.endswith("accuracy")})
    for name, value in values.items():
        if value is None:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and 0 <= value <= 1
        if not ok:
            raise DataError(path, f"{name} is {value!r}, not an accuracy in [0, 1]", _FIX)
    return record


_DEFAULTS = {f.name for f in dataclasses.fields(RunRecord)
             if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def _required(name: str) -> bool:
    return name not in _DEFAULTS


# The keys of a record from before the schema that _migrate reads (the rest of such a file is kept as extra).
LEGACY_KEYS = frozenset({"run_metadata", "test_tta", "test_acc", "params", "macs", "data", "model", "train_samples", "precision",
                         "channels_last", "device", "world_size", "mean", "std", "best_epoch", "best_val_acc",
                         "best_val_loss", "final_val_acc", "final_val_loss", "epochs_run", "train_time_s",
                         "wall_time_s", "images_per_s", "evaluation", "selection", "profile", "run",
                         "weights_kept"})


def _migrate(d: dict, path, run_dir: Path | None) -> dict:
    """A record written before the schema (fit's flat keys + ``run_metadata``) as RunRecord fields.

    Runs from before fit recorded the model's size get it computed here, once, from their config.json: the
    migration tool then writes it down, so no reader ever rebuilds a model."""
    meta = d.get("run_metadata")
    if not isinstance(meta, dict) or "best_val_acc" not in d or "evaluation" not in d:
        raise NotARunRecord(path, "is not a run record written by charclf.train.fit (no run_metadata, best_val_acc "
                        "or evaluation)", _FIX)
    config = dict(meta.get("config") or {})
    tta = bool(d.get("test_tta", config.get("tta", False)))
    params, macs = d.get("params"), d.get("macs")
    if params is None or macs is None:
        params, macs = _model_size(run_dir, path)
    data = dict(d.get("data") or {})
    provenance = {k: v for k, v in meta.items() if k not in ("config", "recipe")}
    return dict(
        model=d.get("model") or config.get("model"), params=int(params), macs=int(macs), data=data,
        train_samples=int(d.get("train_samples") or data.get("sizes", {}).get("train", 0)),
        recipe=meta.get("recipe"), config=config, precision=d.get("precision") or _old_precision(config, meta),
        channels_last=bool(d.get("channels_last", False)), device=str(d.get("device", meta.get("machine", {})
                                                                              .get("device", "cpu"))),
        world_size=int(d.get("world_size", 1)), mean=float(d["mean"]), std=float(d["std"]),
        best_epoch=int(d["best_epoch"]), best_val_acc=float(d["best_val_acc"]), best_val_loss=d.get("best_val_loss"),
        final_val_acc=d.get("final_val_acc"), final_val_loss=d.get("final_val_loss"),
        epochs_run=int(d["epochs_run"]), train_time_s=float(d["train_time_s"]),
        wall_time_s=float(d.get("wall_time_s", d["train_time_s"])), images_per_s=d.get("images_per_s"),
        tta=tta, evaluation=dict(d["evaluation"]), provenance=provenance,
        selection=d.get("selection", SELECTION), profile=d.get("profile"), run=d.get("run"),
        weights_kept=bool(d.get("weights_kept", True)))


def _old_precision(config: dict, meta: dict) -> str:
    """Runs from before fit recorded its precision resolved amp="auto" to bf16 on CUDA only."""
    amp, device = config.get("amp"), str(meta.get("machine", {}).get("device", "cpu"))
    return "bf16" if amp == "bf16" or (amp == "auto" and device.startswith("cuda")) else "fp32"


def _model_size(run_dir: Path | None, path) -> tuple[int, int]:
    from charclf.models import create_model, model_summary
    from charclf.models.hub import read_model_config
    from charclf.models.registry import architecture_kwargs

    if run_dir is None or not (run_dir / "config.json").exists():
        raise DataError(path, "records no parameter count and has no config.json beside it to compute one",
                        _FIX)
    cfg = read_model_config(run_dir)
    size = model_summary(create_model(cfg["architecture"], num_classes=cfg["num_classes"],
                                      **architecture_kwargs(cfg.get("model_kwargs", {}))))
    return int(size["params"]), int(size["macs"])


def load_records(root: str | Path) -> dict[Path, RunRecord]:
    """Every run record under ``root`` (recursively), by folder. A metrics.json that is not a run record (an
    experiment's results, a bare evaluation) is skipped; an unreadable one is a DataError naming it."""
    out = {}
    for path in sorted(Path(root).rglob(RECORD_FILE)):
        try:
            out[path.parent] = RunRecord.load(path.parent)
        except NotARunRecord:
            continue
    return out


def folders_without_record(root: str | Path) -> dict[Path, str]:
    """The folders under ``root`` that hold a model's weights (``model.safetensors``) but no run record, each with
    why: ``"unfinished"`` where a resume state lies beside them (training, or stopped), else ``"no metrics.json"``
    (its record was lost) or ``"metrics.json is not a run record"`` (it was replaced, e.g. by a bare evaluation,
    which :func:`load_records` skips). A table built from :func:`load_records` says these exist instead of
    dropping them."""
    out = {}
    for weights in sorted(Path(root).rglob("model.safetensors")):
        folder = weights.parent
        if not (folder / RECORD_FILE).is_file():
            out[folder] = "unfinished" if (folder / "resume.pt").is_file() else f"no {RECORD_FILE}"
            continue
        try:
            RunRecord.load(folder)
        except NotARunRecord:
            out[folder] = f"{RECORD_FILE} is not a run record"
    return out


__all__ = ["RECORD_FILE", "SCHEMA", "NotARunRecord", "RunRecord", "folders_without_record", "load_records"]
