"""Label audit of EMNIST ByClass: which images carry a wrong label, which are only ambiguous, which are rotated.

    python -m charclf.experiments.label_audit --data-dir ../shared/data --out outputs/label_audit --folds 4

Method (confident learning, through cleanlab):

1. **Out-of-fold probabilities** for every image of the protocol's training part: a stratified k-fold split of
   it; the model of fold k trains on the other folds and scores only fold k, so no image is ever scored by a
   model that trained on it. Val and test probabilities come from one model trained on the whole training
   part (the *full model*). Probabilities are computed in float32 through ``charclf.eval.evaluate.evaluate_model``.
2. **cleanlab** flags likely label issues (``cleanlab.filter.find_label_issues``), scores label quality
   (``cleanlab.rank.get_label_quality_scores``, self-confidence: the probability of the given label) and
   summarises each part (``cleanlab.dataset.health_summary``). Each part is audited on its own: its
   probabilities come from its own model(s), whose calibration differs.
3. **Orientation**: the same model (out-of-fold for training images) also scores every image under the 7 other
   rotations, flips and transposes; an image whose *given* label fits another orientation much better
   (probability >= ``orientation_min_prob`` there and >= ``orientation_min_ratio`` times the upright one) is an
   orientation outlier — unless the upright prediction and the given label are mirror twins (6/9, b/d/p/q,
   n/u, M/W ...: :data:`MIRROR_TWINS`), where a plain label error explains the image without a rotation.
4. **One kind per flagged image** (:func:`classify_kind`, in this order): ``case`` — given and suggested
   label are the two cases of one of the 15 letters EMNIST merges (c/C, o/O, s/S ...), not a label error;
   ``orientation``; ``digit_letter`` — both in one digit look-alike group (:data:`DIGIT_LOOKALIKES`: 0/O/o,
   1/l/I/i ...); ``wrong_label`` — the rest. Every kind except ``case`` counts as a likely error.
5. **One experiment**: retrain the full model's recipe on the training part *without* its likely errors
   (removed, not relabelled: a relabel would feed the auditing model's own guesses back as targets, and its
   guesses are least reliable on exactly these look-alike images) and score both models on the original test
   part and on a cleaned test part (test minus its likely errors).

Artifacts in the output folder::

    audit-config.json                    the settings; a rerun with other settings is refused
    folds/fold-<k>-of-<K>.npz            out-of-fold probabilities + orientation scores of fold k
    full-model/                          run folder of the full model (charclf.load_model-able)
    heldout.npz                          val/test probabilities + orientation scores of the full model
    byclass-test-label-issues.csv        one row per flagged image (see CSV_COLUMNS)
    clean-model/ (+ clean-model-removed.json)   the experiment's model and the images it did not see
    label-audit.json                     rates, per class, health summaries, test ceiling, experiment, provenance

Resumable step by step: a finished fold, model or file is loaded, not recomputed; a killed model run resumes
from its last epoch. Nothing is deleted but the resume state of a model run this code has just finished, and
a file this code did not write is never touched. ``--rewrite-report`` recomputes the CSV and the JSON from the
cached probabilities.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from charclf.data import CharDataset, DataBundle, holdout_file, load_data, load_holdout_indices, stratified_indices
from charclf.data.merge import merge_map
from charclf.data.official import load_any
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

# The runtime estimate's rates (images/s, Mini-Vision-V3, 2 CPU cores, batch 256). bf16: the committed run
# outputs/runs/cpu/minivision_v3-recipe-bf16 (6,442, on a CPU with native bf16). fp32: a one-off timing on
# this project's current 2-core AMD EPYC (AVX2, no native bf16, so "auto" trains in float32 there) with the
# CPU otherwise idle — 1,566 training, 6,078 inference (not a committed benchmark; the committed float32 run,
# on the bf16 machine, did 2,182). The command prints each step's real time.
TRAIN_IMAGES_PER_S = {"bf16": 6400.0, "fp32": 1550.0}
INFER_IMAGES_PER_S = {"bf16": 15000.0, "fp32": 6000.0}
# The 15-epoch CPU runs of Mini-Vision-V3 (outputs/runs/cpu) halve the lr 3 times (StepLR 5); a shorter audit
# run keeps that shape.
SCHEDULE_REFERENCE_EPOCHS = 15


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

    def __post_init__(self):
        if self.folds < 2:
            raise ConfigError(f"folds={self.folds}: out-of-fold probabilities need at least 2 folds. Fix: use 4 or more")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs}: must be >= 1")
        if not 0 < self.orientation_min_prob <= 1 or self.orientation_min_ratio < 1:
            raise ConfigError(f"orientation_min_prob={self.orientation_min_prob} must be in (0, 1] and "
                              f"orientation_min_ratio={self.orientation_min_ratio} >= 1")
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
            return cls(**json.loads(path.read_text())["settings"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(path, f"is not an audit config ({err})", "move it away, or choose another folder") from err


def train_config(settings: AuditSettings, *, seed: int | None = None):
    """The recipe's TrainConfig for ``settings.epochs`` (its step schedule compressed to keep its shape)."""
    from charclf.train.recipes import compress_schedule, get_recipe

    base = get_recipe(settings.recipe)
    factor = min(1.0, settings.epochs / SCHEDULE_REFERENCE_EPOCHS)
    return dataclasses.replace(base, epochs=settings.epochs, seed=settings.seed if seed is None else seed,
                               amp=settings.amp, scheduler=compress_schedule(base.scheduler, factor),
                               name=f"{settings.recipe}-label-audit")


# -- data -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditData:
    """The bundle the audit works on and, per part, each image's index into the official file it came from."""

    bundle: DataBundle
    index: dict  # part -> int64 (N,) index into the official <split> test file
    protocol_file: Path

    def fingerprint(self) -> dict:
        digest = hashlib.sha256(self.protocol_file.read_bytes()).hexdigest()
        return {"split": self.bundle.split, "protocol": self.bundle.protocol, "protocol_file_sha256": digest,
                "sizes": {p: len(getattr(self.bundle, p)) for p in PARTS},
                "index_sha256": hashlib.sha256(b"".join(self.index[p].tobytes() for p in PARTS)).hexdigest()}


def load_audit_data(data_dir, settings: AuditSettings, *, protocol_file=None) -> AuditData:
    """The holdout bundle of ``settings.split`` (cut to the settings' stratified subsets) with official indices.

    Only the holdout protocol is supported: its parts index one official file, which is what the CSV cites.
    """
    from charclf.data import resolve_data_dir

    root = resolve_data_dir(data_dir)
    path = Path(protocol_file) if protocol_file is not None else holdout_file(settings.split, root)
    bundle = load_data(settings.split, "holdout", root, protocol_file=path)
    # The official labels (from the .npy cache load_data just filled) check that the indices map back.
    _, official_labels = load_any(settings.split, "test", root)
    index = load_holdout_indices(path, len(official_labels))
    sizes = {"train": settings.max_train_samples, "val": settings.max_eval_samples,
             "test": settings.max_eval_samples}
    parts = {}
    for part in PARTS:
        ds = getattr(bundle, part)
        if not np.array_equal(official_labels[index[part]], ds.labels.numpy()):
            raise DataError(path, f"its '{part}' indices do not point at the images of the loaded '{part}' part",
                            "the index file or the official file changed while loading; run again")
        if sizes[part] is not None:
            pick = stratified_indices(ds.labels.numpy(), sizes[part], settings.seed)
            ds, index[part] = ds.subset(pick), index[part][pick]
        parts[part] = ds
    return AuditData(dataclasses.replace(bundle, **parts), index, path)


# -- folds ------------------------------------------------------------------------------------------------
def stratified_folds(labels, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of every sample: each class is shuffled and dealt round-robin, starting at a
    random fold, so every fold gets each class's share (+-1) and every sample lands in exactly one fold."""
    labels = np.asarray(labels)
    if k < 2:
        raise ConfigError(f"k={k}: a k-fold split needs k >= 2")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        folds[members] = (np.arange(len(members)) + rng.integers(k)) % k
    return folds


def fold_path(out: Path, fold: int, k: int) -> Path:
    return Path(out) / "folds" / f"fold-{fold + 1}-of-{k}.npz"


# -- orientation ------------------------------------------------------------------------------------------
def orient(images: torch.Tensor, name: str) -> torch.Tensor:
    """``images`` (N, H, W) under one of :data:`ORIENTATIONS` (rot90 is counter-clockwise, as numpy's)."""
    ops = {"identity": lambda x: x, "rot90": lambda x: torch.rot90(x, 1, (1, 2)),
           "rot180": lambda x: torch.rot90(x, 2, (1, 2)), "rot270": lambda x: torch.rot90(x, 3, (1, 2)),
           "flip_lr": lambda x: x.flip(2), "flip_ud": lambda x: x.flip(1),
           "transpose": lambda x: x.transpose(1, 2),
           "anti_transpose": lambda x: torch.rot90(x.transpose(1, 2), 2, (1, 2))}
    if name not in ops:
        from charclf.errors import unknown_name

        raise unknown_name("orientation", name, ORIENTATIONS)
    return ops[name](images).contiguous()


def score_part(model, ds: CharDataset, *, mean: float, std: float) -> dict:
    """Float32 probabilities of ``ds`` (``evaluate_model``) plus, for every orientation, the probability of
    the given label, the predicted class and its probability: arrays (N, 8) in :data:`ORIENTATIONS` order."""
    from charclf.eval.evaluate import evaluate_model
    from charclf.eval.inference import predict_logits

    result = evaluate_model(model, ds, mean=mean, std=std)
    labels = ds.labels.numpy()
    rows = np.arange(len(labels))
    given = np.empty((len(labels), len(ORIENTATIONS)), dtype=np.float32)
    pred = np.empty((len(labels), len(ORIENTATIONS)), dtype=np.int16)
    pred_prob = np.empty_like(given)
    for t, name in enumerate(ORIENTATIONS):
        if name == "identity":
            probs = result.probs
        else:
            logits = predict_logits(model, orient(ds.images, name), mean=mean, std=std)
            probs = torch.softmax(logits.float(), dim=1).numpy()
        given[:, t] = probs[rows, labels]
        pred[:, t] = probs.argmax(axis=1)
        pred_prob[:, t] = probs.max(axis=1)
    return {"probs": result.probs, "labels": labels, "orient_given": given, "orient_pred": pred,
            "orient_pred_prob": pred_prob}


def orientation_outliers(orient_given, orient_pred, labels, classes, *, min_prob: float = 0.5,
                         min_ratio: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """(flag (N,) bool, best orientation (N,) int): the non-identity orientation under which the given label is
    most probable, and whether it fits there much better than upright (see the module docstring, step 3)."""
    orient_given = np.asarray(orient_given, dtype=np.float64)
    best = 1 + orient_given[:, 1:].argmax(axis=1)
    p_best = orient_given[np.arange(len(best)), best]
    flag = (p_best >= min_prob) & (p_best >= min_ratio * orient_given[:, 0])
    upright = np.asarray(orient_pred)[:, 0]
    twins = np.array([frozenset((_fold_case(classes[a]), _fold_case(classes[b]))) in MIRROR_TWINS
                      for a, b in zip(upright, labels)], dtype=bool)
    return flag & ~twins, best


def _fold_case(char: str) -> str:
    """The 15 letters EMNIST merges, in lower case (how MIRROR_TWINS is written); other characters as they are."""
    from charclf.data.merge import MERGED_LETTERS

    return char.lower() if char.lower() in MERGED_LETTERS else char


# -- kinds ------------------------------------------------------------------------------------------------
def classify_kind(given: str, suggested: str, classes, *, orientation: bool = False) -> str:
    """The kind of one flagged image (module docstring, step 4): case, orientation, digit_letter or wrong_label."""
    index, _ = merge_map(classes)
    position = {c: i for i, c in enumerate(classes)}
    if given != suggested and index[position[given]] == index[position[suggested]]:
        return "case"
    if orientation:
        return "orientation"
    if given != suggested and any(given in g and suggested in g for g in DIGIT_LOOKALIKES):
        return "digit_letter"
    return "wrong_label"


def audit_part(part: str, scores: dict, official_index, classes, settings: AuditSettings) -> pd.DataFrame:
    """The flagged images of one part: cleanlab's label issues and the orientation outliers, one kind each.

    Columns: CSV_COLUMNS + position (row in the part) + cleanlab_issue, sorted worst label quality first.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels, probs = scores["labels"], _normalised(scores["probs"])
    with _quiet_small_classes():
        issues = find_label_issues(labels, probs, n_jobs=1)  # n_jobs=1: the CPU is shared
    quality = get_label_quality_scores(labels, probs)
    o_flag, o_best = orientation_outliers(scores["orient_given"], scores["orient_pred"], labels, classes,
                                          min_prob=settings.orientation_min_prob,
                                          min_ratio=settings.orientation_min_ratio)
    # The suggestion is the model's pick; when cleanlab flags an image the model still calls by its given
    # label (per-class thresholds allow it), the next most probable class.
    ranked = np.argsort(-probs, axis=1)[:, :2]
    suggested = np.where(ranked[:, 0] == labels, ranked[:, 1], ranked[:, 0])
    rows = []
    for pos in np.flatnonzero(issues | o_flag):
        given = classes[labels[pos]]
        kind = classify_kind(given, classes[suggested[pos]], classes, orientation=bool(o_flag[pos]))
        fixed = classes[int(scores["orient_pred"][pos, o_best[pos]])]
        rows.append({"official_index": int(official_index[pos]), "part": part, "given_label": given,
                     "suggested_label": fixed if kind == "orientation" else classes[suggested[pos]],
                     "label_quality": float(quality[pos]), "kind": kind,
                     "orientation": ORIENTATIONS[o_best[pos]] if o_flag[pos] else "",
                     "position": int(pos), "cleanlab_issue": bool(issues[pos])})
    return pd.DataFrame(rows, columns=[*CSV_COLUMNS, "position", "cleanlab_issue"])


@contextlib.contextmanager
def _quiet_small_classes():
    """cleanlab warns once per class with fewer examples than it likes — 62 lines on a quick-profile subset.
    The per-class table reports every class's size, so the warning adds nothing there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*too few examples.*")
        yield


def _normalised(probs) -> np.ndarray:
    """float64 rows summing to 1 exactly (cleanlab checks the sums; float32 softmax is off by ~1e-7)."""
    p = np.asarray(probs, dtype=np.float64)
    return p / p.sum(axis=1, keepdims=True)


def sort_issues(df: pd.DataFrame) -> pd.DataFrame:
    """Worst label quality first; ties by part and official index, so the CSV is deterministic."""
    order = df.assign(_p=df["part"].map({p: i for i, p in enumerate(PARTS)}))
    return order.sort_values(["label_quality", "_p", "official_index"]).drop(columns="_p").reset_index(drop=True)


# -- files ------------------------------------------------------------------------------------------------
def _save_npz(path: Path, meta: dict, **arrays) -> None:
    """Atomic .npz (temp file + rename): a killed run never leaves a half-written fold behind."""
    from charclf.fileio import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)


def _load_npz(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot be read ({err})", "move the damaged file away and run again: that step "
                        "is recomputed") from err
    return json.loads(str(arrays.pop("meta"))), arrays


def _check_meta(path: Path, meta: dict, expected: dict) -> None:
    diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if diff:
        details = "; ".join(f"{k}: {a!r} in the file, {b!r} now" for k, (a, b) in diff.items())
        raise ConfigError(f"{path}: was made for other settings or data ({details}). Fix: run with the settings "
                          f"of {path.parent} or choose another --out folder")


def check_config(out: Path, record: dict) -> None:
    """Write ``audit-config.json`` in a new folder, or refuse a folder made with other settings."""
    path = out / CONFIG_NAME
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != record:
            keys = sorted(k for k in set(saved) | set(record) if saved.get(k) != record.get(k))
            raise ConfigError(f"{path}: this folder holds an audit made with other settings or data (differs in "
                              f"{', '.join(keys)}). Fix: rerun with the same settings to resume it, or choose "
                              "another --out folder")
        return
    from charclf.fileio import write_json

    write_json(path, record)


# -- training ---------------------------------------------------------------------------------------------
def _train_model(config, bundle: DataBundle, run_dir: Path | None = None):
    """Train a fresh ``config.model`` on ``bundle`` (in memory, or resumably into ``run_dir``); returns
    (model, mean, std, metrics). With a folder the model is reloaded from it: the one way its cached and its
    fresh state are scored alike."""
    from charclf.eval.inference import default_device
    from charclf.models import create_model
    from charclf.models.hub import load_model
    from charclf.train import fit
    from charclf.train.engine import seed_everything
    from charclf.train.run_folder import is_finished_run, prune_run

    if run_dir is None or not is_finished_run(run_dir):
        seed_everything(config.seed)  # initial weights depend on the config alone
        model = create_model(config.model, num_classes=bundle.num_classes, **config.model_kwargs)
        resume = run_dir is not None and run_dir.is_dir() and any(run_dir.iterdir())  # a killed run continues
        history = fit(model, bundle, config, run_dir, resume=resume, progress=False)
        if run_dir is None:
            metrics = history.attrs["metrics"]
            return model, metrics["mean"], metrics["std"], metrics
        prune_run(run_dir)  # finished: the resume state this call wrote is no longer needed
    from charclf.eval.record import RunRecord

    model = load_model(run_dir, device=default_device())
    record = RunRecord.load(run_dir)
    return model, record.mean, record.std, {**record.to_dict(), "test_acc": record.test_acc}


def _log_step(log, name: str, seconds: float, cached: bool) -> None:
    log(f"[label-audit] {name}: " + ("cached" if cached else f"done in {seconds:.0f} s"))


def run_folds(out: Path, data: AuditData, settings: AuditSettings, *, log=print) -> dict:
    """Step 1: the out-of-fold scores of the training part, one cached .npz per fold; returns them assembled
    in training-part order, with per-fold facts under ``"folds"``."""
    train = data.bundle.train
    labels = train.labels.numpy()
    folds = stratified_folds(labels, settings.folds, settings.seed)
    n = len(labels)
    merged = {"probs": np.zeros((n, data.bundle.num_classes), np.float32), "labels": labels,
              "orient_given": np.zeros((n, len(ORIENTATIONS)), np.float32),
              "orient_pred": np.zeros((n, len(ORIENTATIONS)), np.int16),
              "orient_pred_prob": np.zeros((n, len(ORIENTATIONS)), np.float32)}
    facts = []
    for k in range(settings.folds):
        path = fold_path(out, k, settings.folds)
        held = np.flatnonzero(folds == k)
        expected = {"fold": k, "folds": settings.folds, "n_heldout": int(len(held)),
                    "heldout_sha256": hashlib.sha256(data.index["train"][held].tobytes()).hexdigest()}
        start = time.perf_counter()
        cached = path.is_file()
        if cached:
            meta, arrays = _load_npz(path)
            _check_meta(path, meta, expected)
        else:
            config = train_config(settings, seed=settings.seed + k + 1)
            fold_bundle = dataclasses.replace(data.bundle, train=train.subset(np.flatnonzero(folds != k)))
            model, mean, std, metrics = _train_model(config, fold_bundle)
            arrays = score_part(model, train.subset(held), mean=mean, std=std)
            arrays["official_index"] = data.index["train"][held]
            arrays["positions"] = held
            meta = {**expected, "n_train": int(n - len(held)), "best_val_acc": metrics["best_val_acc"],
                    "best_epoch": metrics["best_epoch"], "train_time_s": metrics["train_time_s"],
                    "images_per_s": metrics["images_per_s"], "precision": metrics["precision"],
                    "seconds": round(time.perf_counter() - start, 1)}
            _save_npz(path, meta, **arrays)
        if not np.array_equal(arrays["positions"], held):
            raise ConfigError(f"{path}: holds another fold's images. Fix: use the settings it was made with, or "
                              "another --out folder")
        if not np.array_equal(arrays["labels"], labels[held]):
            raise ConfigError(f"{path}: its labels differ from the data's. Fix: use the data it was made with, or "
                              "another --out folder")
        for key in ("probs", "orient_given", "orient_pred", "orient_pred_prob"):
            merged[key][held] = arrays[key]
        oof_acc = float(np.mean(arrays["probs"].argmax(1) == labels[held]))
        facts.append({**meta, "oof_accuracy": oof_acc, "file": path.name})
        _log_step(log, f"fold {k + 1}/{settings.folds} ({len(held):,} held out, out-of-fold accuracy "
                       f"{oof_acc:.2%})", time.perf_counter() - start, cached)
    merged["folds"] = facts
    return merged


def run_full_model(out: Path, data: AuditData, settings: AuditSettings, *, log=print) -> tuple[dict, dict]:
    """Step 2: the full model (a resumable run folder) and its val/test scores (cached in heldout.npz)."""
    start = time.perf_counter()
    run_dir = out / FULL_RUN
    path = out / HELDOUT_NAME
    expected = {"index_sha256": hashlib.sha256(b"".join(data.index[p].tobytes() for p in ("val", "test")))
                .hexdigest()}
    cached = path.is_file()
    model, mean, std, metrics = _train_model(train_config(settings), data.bundle, run_dir)
    if cached:
        meta, arrays = _load_npz(path)
        _check_meta(path, meta, expected)
    else:
        arrays = {}
        for part in ("val", "test"):
            for key, value in score_part(model, getattr(data.bundle, part), mean=mean, std=std).items():
                arrays[f"{part}_{key}"] = value
            arrays[f"{part}_official_index"] = data.index[part]
        meta = expected
        _save_npz(path, meta, **arrays)
    parts = {part: {k[len(part) + 1:]: v for k, v in arrays.items() if k.startswith(part + "_")}
             for part in ("val", "test")}
    _log_step(log, f"full model (val acc {metrics['best_val_acc']:.2%}) and val/test scores",
              time.perf_counter() - start, cached)
    return parts, {"metrics": _run_facts(metrics), "model": model}


def _run_facts(metrics: dict) -> dict:
    keys = ("best_epoch", "best_val_acc", "test_acc", "epochs_run", "train_time_s", "images_per_s", "precision",
            "train_samples")
    return {k: metrics.get(k) for k in keys}


def run_experiment(out: Path, data: AuditData, settings: AuditSettings, issues: pd.DataFrame, baseline,
                   *, log=print) -> dict:
    """Step 5: retrain without the training part's likely errors; both models on test and on cleaned test."""
    from charclf.eval.evaluate import evaluate_model
    from charclf.fileio import write_json

    start = time.perf_counter()
    train, test = data.bundle.train, data.bundle.test
    errors = issues[issues["kind"].isin(ERROR_KINDS)]
    removed = np.sort(errors.loc[errors["part"] == "train", "official_index"].to_numpy(np.int64))
    record = {"n_removed": int(len(removed)), "removed_sha256": hashlib.sha256(removed.tobytes()).hexdigest()}
    marker = out / CLEAN_REMOVED_NAME
    if marker.is_file():
        _check_meta(marker, json.loads(marker.read_text()), record)
    elif (out / CLEAN_RUN).exists():
        raise ConfigError(f"{out / CLEAN_RUN}: a clean-model folder without {CLEAN_REMOVED_NAME}: cannot tell which "
                          "images it was trained without. Fix: move that folder away and run again")
    else:
        write_json(marker, {**record, "official_index": removed})
    keep = ~np.isin(data.index["train"], removed)
    cached = (out / CLEAN_RUN / "metrics.json").is_file()
    cleaned, _, _, metrics = _train_model(train_config(settings),
                                          dataclasses.replace(data.bundle, train=train.subset(np.flatnonzero(keep))),
                                          out / CLEAN_RUN)
    test_errors = errors.loc[errors["part"] == "test", "official_index"].to_numpy(np.int64)
    clean_test = test.subset(np.flatnonzero(~np.isin(data.index["test"], test_errors)))
    scores = {}
    for name, model in (("baseline", baseline), ("cleaned", cleaned)):
        scores[name] = {}
        for part_name, ds in (("test", test), ("clean_test", clean_test)):
            m = evaluate_model(model, ds).metrics
            scores[name][part_name] = {"accuracy": m["accuracy"], "merged47_accuracy": m.get("merged47_accuracy")}
    _log_step(log, f"experiment: retrained without {len(removed):,} likely errors; test accuracy "
                   f"{scores['baseline']['test']['accuracy']:.2%} -> {scores['cleaned']['test']['accuracy']:.2%}",
              time.perf_counter() - start, cached)
    removed_kinds = errors.loc[errors["part"] == "train", "kind"].value_counts()
    return {"method": "remove",
            "why": "removing adds no new mistakes; relabelling would train on the auditing model's own guesses, "
                   "least reliable on exactly these look-alike images",
            "removed_train_images": int(len(removed)),
            "removed_by_kind": {k: int(removed_kinds.get(k, 0)) for k in ERROR_KINDS},
            "train_images": int(keep.sum()), "test_images": len(test), "clean_test_images": len(clean_test),
            "scores": scores, "cleaned_model": _run_facts(metrics),
            "caveat": "the cleaned test part was flagged with the baseline's own probabilities, which favours the "
                      "baseline on it; the two models compare fairly on the original test part"}


# -- the report -------------------------------------------------------------------------------------------
def summarize(issues: pd.DataFrame, scores: dict, classes) -> dict:
    """Rates (overall, per part, per kind, per class), cleanlab's health summaries and the test ceiling."""
    from cleanlab.dataset import health_summary

    sizes = {p: len(scores[p]["labels"]) for p in PARTS}
    n_all = sum(sizes.values())
    out = {"sizes": sizes, "kinds": {"all": list(KINDS), "errors": list(ERROR_KINDS),
                                      "not_errors": list(NOT_ERROR_KINDS)},
           "digit_lookalikes": list(DIGIT_LOOKALIKES), "mirror_twins": sorted("".join(sorted(p)) for p in MIRROR_TWINS)}

    def rates(df, n):
        counts = df["kind"].value_counts()
        return {"images": int(n), "flagged": int(len(df)), "flagged_rate": len(df) / n if n else None,
                "likely_errors": int(df["kind"].isin(ERROR_KINDS).sum()),
                "label_error_rate": float(df["kind"].isin(ERROR_KINDS).sum() / n) if n else None,
                "by_kind": {k: int(counts.get(k, 0)) for k in KINDS},
                "cleanlab_issues": int(df["cleanlab_issue"].sum()),
                "orientation_flags": int((df["orientation"] != "").sum())}

    out["overall"] = rates(issues, n_all)
    out["by_part"] = {p: rates(issues[issues["part"] == p], sizes[p]) for p in PARTS}
    # Per class, by the given label, over every part.
    all_labels = np.concatenate([scores[p]["labels"] for p in PARTS])
    support = np.bincount(all_labels, minlength=len(classes))
    position = {c: i for i, c in enumerate(classes)}
    given = issues["given_label"].map(position).to_numpy(np.int64)
    per_class = []
    for i, c in enumerate(classes):
        mine = issues[given == i]
        row = {"char": c, "images": int(support[i]), "flagged": int(len(mine)),
               "likely_errors": int(mine["kind"].isin(ERROR_KINDS).sum())}
        row.update({k: int((mine["kind"] == k).sum()) for k in KINDS})
        row["label_error_rate"] = row["likely_errors"] / support[i] if support[i] else None
        per_class.append(row)
    out["per_class"] = per_class
    health = {}
    for p in PARTS:
        with _quiet_small_classes():
            h = health_summary(scores[p]["labels"], _normalised(scores[p]["probs"]), class_names=list(classes),
                               verbose=False)
        table = h["classes_by_label_quality"]
        health[p] = {"overall_label_health_score": float(h["overall_label_health_score"]),
                     "estimated_noise_rate": 1.0 - float(h["overall_label_health_score"]),
                     "classes_by_label_quality": _records(table),
                     "overlapping_classes": _records(h["overlapping_classes"].head(20))}
    out["health_summary"] = health
    out["test"] = test_ceiling(issues, scores["test"])
    return out


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))  # numpy scalars -> plain JSON


def test_ceiling(issues: pd.DataFrame, test_scores: dict) -> dict:
    """How many of the model's test errors land on flagged images, and the accuracy a perfect model could
    score against these labels: it would name the true character, so it disagrees on every likely error."""
    labels = test_scores["labels"]
    wrong = test_scores["probs"].argmax(1) != labels
    rows = issues[issues["part"] == "test"]
    err_pos = rows.loc[rows["kind"].isin(ERROR_KINDS), "position"].to_numpy(np.int64)
    case_pos = rows.loc[~rows["kind"].isin(ERROR_KINDS), "position"].to_numpy(np.int64)
    n = len(labels)
    model_errors = int(wrong.sum())
    return {"images": int(n), "model_accuracy": 1 - model_errors / n if n else None, "model_errors": model_errors,
            "errors_on_likely_label_errors": int(wrong[err_pos].sum()),
            "errors_on_case_ambiguity": int(wrong[case_pos].sum()),
            "share_of_errors_on_likely_label_errors": int(wrong[err_pos].sum()) / model_errors if model_errors else None,
            "likely_label_errors": int(len(err_pos)),
            "ceiling_accuracy": 1 - len(err_pos) / n if n else None}


def write_issues_csv(df: pd.DataFrame, path: Path) -> None:
    from charclf.fileio import write_csv

    write_csv(df.loc[:, list(CSV_COLUMNS)], path, float_format="%.6f")


def same_issues(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same rows in the same order (label quality to the CSV's 6 decimals)."""
    if len(a) != len(b):
        return False
    text = [c for c in CSV_COLUMNS if c != "label_quality"]
    return (a[text].astype(str).reset_index(drop=True).equals(b[text].astype(str).reset_index(drop=True))
            and np.allclose(a["label_quality"].to_numpy(float), b["label_quality"].to_numpy(float), atol=2e-6))


def load_issues(path) -> pd.DataFrame:
    """Read a label-issues CSV and check its schema (the artifact others use: see the README)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "label-issues CSV not found", "run `python -m charclf.experiments.label_audit` "
                        "(or notebook 12) to write it")
    # keep_default_na=False: the label "" never occurs, and characters such as 'n' must stay strings.
    df = pd.read_csv(path, dtype={"given_label": str, "suggested_label": str, "orientation": str},
                     keep_default_na=False)
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"lacks the column(s) {', '.join(missing)}", "rewrite it with --rewrite-report")
    bad = sorted(set(df["kind"]) - set(KINDS))
    if bad:
        raise DataError(path, f"has unknown kind(s) {bad}", f"kinds are {', '.join(KINDS)}")
    return df


# -- the whole audit --------------------------------------------------------------------------------------
def estimate_seconds(settings: AuditSettings, sizes: dict, precision: str) -> dict:
    """Seconds each step should take on this project's 2-core CPU (see TRAIN_/INFER_IMAGES_PER_S)."""
    train, infer = TRAIN_IMAGES_PER_S[precision], INFER_IMAGES_PER_S
    n_tr, n_va, n_te = (sizes[p] for p in PARTS)
    k, e, views = settings.folds, settings.epochs, len(ORIENTATIONS)

    def fit_s(n_images):  # training + the per-epoch val evaluation fit does in the training precision
        return e * (n_images / train + n_va / infer[precision])

    est = {"folds": k * fit_s(n_tr * (k - 1) / k) + views * n_tr / infer["fp32"],
           "full_model": fit_s(n_tr) + views * (n_va + n_te) / infer["fp32"],
           "experiment": fit_s(n_tr) + 4 * n_te / infer["fp32"]}
    est["total"] = sum(est.values())
    return est


def run_audit(out, data_dir=None, settings: AuditSettings | None = None, *, rewrite_report: bool = False,
              protocol_file=None, log=print) -> dict:
    """Run (or resume) the whole audit into ``out`` and return the results JSON (also written there)."""
    from charclf.fileio import write_json
    from charclf.provenance import repo_relative, run_metadata
    from charclf.train.precision import precision_name, resolve_amp

    settings = settings or AuditSettings()
    out = Path(out)
    results_path, csv_path = out / RESULTS_NAME, out / CSV_NAME
    if results_path.is_file() and not rewrite_report:
        log(f"[label-audit] {repo_relative(results_path)} exists: the audit is complete (--rewrite-report "
            "recomputes the report)")
        return json.loads(results_path.read_text())
    started = time.perf_counter()
    data = load_audit_data(data_dir, settings, protocol_file=protocol_file)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, {"settings": settings.to_dict(), "data": data.fingerprint()})
    from charclf.eval.inference import default_device

    precision = precision_name(resolve_amp(settings.amp, default_device()))
    sizes = {p: len(getattr(data.bundle, p)) for p in PARTS}
    est = estimate_seconds(settings, sizes, precision)
    log(f"[label-audit] {settings.folds} folds x {settings.epochs} epochs of {settings.recipe} ({precision}) on "
        f"{sizes['train']:,} training images; val {sizes['val']:,}, test {sizes['test']:,}. Estimated on 2 CPU "
        f"cores from scratch: folds {est['folds'] / 60:.1f} min, full model {est['full_model'] / 60:.1f} min, "
        f"experiment {est['experiment'] / 60:.1f} min, total {est['total'] / 60:.1f} min")

    classes = data.bundle.classes
    train_scores = run_folds(out, data, settings, log=log)
    held, full = run_full_model(out, data, settings, log=log)
    scores = {"train": train_scores, **held}
    issues = sort_issues(pd.concat([audit_part(p, scores[p], data.index[p], classes, settings) for p in PARTS],
                                   ignore_index=True))
    if csv_path.is_file() and not rewrite_report:
        # Written by an earlier, interrupted run of these settings: it must say the same.
        if not same_issues(load_issues(csv_path), issues):
            raise ConfigError(f"{csv_path}: differs from what this code computes from the cached probabilities. "
                              "Fix: pass --rewrite-report to replace it, or move it away")
    else:
        write_issues_csv(issues, csv_path)
    log(f"[label-audit] {len(issues):,} flagged images -> {repo_relative(csv_path)}")
    summary = summarize(issues, scores, classes)
    experiment = run_experiment(out, data, settings, issues, full["model"], log=log)
    results = run_metadata(
        profile="label_audit", protocol="holdout", split=settings.split, seed=settings.seed, recipe=settings.recipe,
        config=settings.to_dict(), train_config=train_config(settings).to_dict(), data=data.fingerprint(),
        protocol_file=repo_relative(data.protocol_file), estimated_seconds=est,
        seconds_this_invocation=round(time.perf_counter() - started, 1),
        models={"folds": train_scores["folds"], "full": full["metrics"]},
        **summary, experiment=experiment,
        artifacts={"csv": CSV_NAME, "folds": "folds/", "full_model": FULL_RUN + "/", "heldout": HELDOUT_NAME,
                   "clean_model": CLEAN_RUN + "/"})
    write_json(results_path, results)
    log(f"[label-audit] results -> {repo_relative(results_path)} ({describe(results)})")
    return json.loads(results_path.read_text())  # as a later, cached call returns it (lists, not tuples)


def describe(results: dict) -> str:
    """One line: flagged images, the likely-error rate, the test ceiling and the experiment."""
    o, t = results["overall"], results["test"]
    ex = results["experiment"]["scores"]
    return (f"{o['flagged']:,} of {o['images']:,} images flagged, likely label errors {o['label_error_rate']:.2%}; "
            f"test: model {t['model_accuracy']:.2%}, ceiling {t['ceiling_accuracy']:.2%}, "
            f"{t['errors_on_likely_label_errors']} of {t['model_errors']} errors on likely label errors; "
            f"cleaned training: test {ex['baseline']['test']['accuracy']:.2%} -> {ex['cleaned']['test']['accuracy']:.2%}")


# -- notebook helpers -------------------------------------------------------------------------------------
def notebook_audit(ctx) -> tuple[dict, Path]:
    """Notebook 12's audit for its profile: quick = 2 folds x 1 epoch on the profile's stratified subsets
    (a smoke test, cached under outputs/runs/quick/); full = the command's artifacts in outputs/label_audit,
    with the settings it ran with, resumed (or computed with the defaults) by the same code.
    Returns (results, folder)."""
    from charclf.paths import outputs_dir

    if ctx.protocol != "holdout":
        raise ConfigError(f"PROTOCOL={ctx.protocol!r}: the label audit cites images by their index in the official "
                          "ByClass test file, which only the holdout protocol re-splits. Fix: PROTOCOL = \"holdout\"")
    if ctx.profile == "full":
        out = outputs_dir() / "label_audit"
        settings = AuditSettings.from_folder(out) or AuditSettings(seed=ctx.seed)  # what the command ran with
        return run_audit(out, ctx.data_dir, settings), out
    s = ctx.settings
    settings = AuditSettings(folds=2, epochs=1, seed=ctx.seed, max_train_samples=s.train_samples,
                             max_eval_samples=s.test_samples)
    results = ctx.cached_json(NOTEBOOK_RUN, lambda folder: run_audit(folder, ctx.data_dir, settings),
                              filename=RESULTS_NAME)
    return results, ctx.runs_dir / NOTEBOOK_RUN


def issue_images(issues: pd.DataFrame, data_dir=None, split: str = "byclass") -> np.ndarray:
    """The upright images (N, 28, 28) of the CSV rows ``issues``, read from the official test file."""
    images, _ = load_any(split, "test", data_dir)
    return images[issues["official_index"].to_numpy(np.int64)]


def orientation_examples(issues: pd.DataFrame, data_dir=None, k: int = 24, split: str = "byclass"):
    """The first ``k`` rows of kind orientation: (images as stored, the same under the orientation their
    label fits, given labels, orientation names), for ``viz.orientation_gallery``."""
    rows = issues[issues["kind"] == "orientation"].head(k)
    images = issue_images(rows, data_dir, split)
    fixed = np.stack([orient(torch.from_numpy(img[None]), name)[0].numpy()
                      for img, name in zip(images, rows["orientation"])]) if len(rows) else images
    return images, fixed, rows["given_label"].to_numpy(), rows["orientation"].to_numpy()


def rates_table(results: dict) -> pd.DataFrame:
    """Flagged images and rates per part and overall, with the count of each kind."""
    rows = {p: results["by_part"][p] for p in PARTS} | {"all": results["overall"]}
    health = results["health_summary"]
    return pd.DataFrame.from_dict(
        {name: {"images": r["images"], "flagged": r["flagged"], **r["by_kind"], "likely errors": r["likely_errors"],
                "likely-error rate": r["label_error_rate"],
                "cleanlab noise estimate": health[name]["estimated_noise_rate"] if name in health else None}
         for name, r in rows.items()}, orient="index")


def per_class_table(results: dict) -> pd.DataFrame:
    """One row per class (by the given label): images, flagged images of each kind, the likely-error rate."""
    return pd.DataFrame(results["per_class"]).set_index("char")


def models_table(results: dict) -> pd.DataFrame:
    """The models behind the probabilities: each fold's (out-of-fold accuracy) and the full model."""
    rows = {f"fold {f['fold'] + 1}": {"train images": f["n_train"], "scored images": f["n_heldout"],
                                      "best val acc": f["best_val_acc"], "out-of-fold acc": f["oof_accuracy"],
                                      "precision": f["precision"], "train time (s)": round(f["train_time_s"], 1)}
            for f in results["models"]["folds"]}
    full = results["models"]["full"]
    rows["full model"] = {"train images": full["train_samples"], "scored images": results["sizes"]["val"]
                          + results["sizes"]["test"], "best val acc": full["best_val_acc"],
                          "out-of-fold acc": None, "precision": full["precision"],
                          "train time (s)": round(full["train_time_s"], 1)}
    return pd.DataFrame.from_dict(rows, orient="index")


def ceiling_table(results: dict) -> pd.DataFrame:
    """The test part's model errors, how many land on flagged images, and the accuracy ceiling."""
    t = results["test"]
    return pd.Series({"test images": t["images"], "model accuracy": t["model_accuracy"],
                      "model errors": t["model_errors"],
                      "errors on likely label errors": t["errors_on_likely_label_errors"],
                      "errors on case-ambiguous images": t["errors_on_case_ambiguity"],
                      "likely label errors in the test part": t["likely_label_errors"],
                      "ceiling: accuracy of a perfect model against these labels": t["ceiling_accuracy"]},
                     name="test part", dtype=object).to_frame()  # object: counts stay integers


def experiment_table(results: dict) -> pd.DataFrame:
    """Accuracy of the baseline and the cleaned model on the original and the cleaned test part."""
    ex = results["experiment"]
    return pd.DataFrame({f"{model} model": {f"{part.replace('_', ' ')} ({ex[part + '_images']:,})": s["accuracy"]
                                            for part, s in scores.items()}
                         for model, scores in ex["scores"].items()})


# -- CLI --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = AuditSettings()
    p = argparse.ArgumentParser(prog="python -m charclf.experiments.label_audit",
                                description="Find the label errors of EMNIST ByClass (holdout protocol) with "
                                            "out-of-fold probabilities and cleanlab; resumable.")
    p.add_argument("--data-dir", default=None, help="folder with emnist/ and protocols/ (default: $CHARCLF_DATA_DIR)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--folds", type=int, default=d.folds)
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs per model (folds, full, cleaned)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--recipe", default=d.recipe, help="training recipe (charclf.train.recipes)")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default=d.amp, help="training precision")
    p.add_argument("--max-train-samples", type=int, default=None, help="stratified training subset (smoke test)")
    p.add_argument("--max-eval-samples", type=int, default=None, help="stratified val/test subsets (smoke test)")
    p.add_argument("--protocol-file", default=None, help="holdout index .npz (default: <data>/protocols/...)")
    p.add_argument("--rewrite-report", action="store_true",
                   help="recompute the CSV and label-audit.json from the cached probabilities")
    p.add_argument("--estimate-only", action="store_true", help="print the runtime estimate and exit")
    return p


def main(argv=None) -> int:
    from charclf.errors import CharclfError

    args = build_parser().parse_args(argv)
    try:
        settings = AuditSettings(folds=args.folds, epochs=args.epochs, seed=args.seed, recipe=args.recipe,
                                 amp=args.amp, max_train_samples=args.max_train_samples,
                                 max_eval_samples=args.max_eval_samples)
        if args.estimate_only:
            from charclf.eval.inference import default_device
            from charclf.train.precision import precision_name, resolve_amp

            data = load_audit_data(args.data_dir, settings, protocol_file=args.protocol_file)
            sizes = {p: len(getattr(data.bundle, p)) for p in PARTS}
            est = estimate_seconds(settings, sizes, precision_name(resolve_amp(settings.amp, default_device())))
            print(json.dumps({k: round(v / 60, 1) for k, v in est.items()}) + "  (minutes)")
            return 0
        run_audit(args.out, args.data_dir, settings, rewrite_report=args.rewrite_report,
                  protocol_file=args.protocol_file)
    except CharclfError as err:
        print(f"label_audit: error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        if "cleanlab" not in str(err):
            raise
        print("label_audit: error: cleanlab is not installed. Fix: pip install 'charclf[audit]'", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
