"""Scoring a model: accuracy, precision/recall/F1, per-class report, confusions, case-merged accuracy, calibration.

The metric functions take plain label arrays, so a notebook can score anything; ``evaluate_model`` runs a model
over a ``CharDataset``; ``evaluate_run`` (and ``charclf evaluate RUN_DIR``) scores a saved run folder and records
the numbers, with their provenance, in the run's ``metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from charclf.errors import ConfigError, DataError, printable
from charclf.eval.record import evaluation_key  # lives with the record it keys; importable from here too

PARTS = ("test", "val")
OLD_PART_NAMES = ("train", "val", "test")  # what --split / split= meant before it named the EMNIST split


# -- metrics on label arrays ----------------------------------------------------------------------------
def classification_metrics(y_true, y_pred, classes) -> dict:
    """Accuracy and precision / recall / F1, weighted and macro (scikit-learn, ``zero_division=0``).

    Averages run over the classes present in ``y_true`` or ``y_pred`` (scikit-learn's default), so a small
    subset that lacks some classes is not penalised for them.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = _labels(y_true), _labels(y_pred)
    out = {"accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
           "n": int(len(y_true)), "num_classes": len(classes)}
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out[f"precision_{average}"] = float(p)
        out[f"recall_{average}"] = float(r)
        out[f"f1_{average}"] = float(f)
    return out


def per_class_report(y_true, y_pred, classes) -> pd.DataFrame:
    """One row per class (in label order): char, support, precision, recall, f1."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(_labels(y_true), _labels(y_pred), labels=labels, zero_division=0)
    return pd.DataFrame({"char": list(classes), "support": s.astype(int), "precision": p, "recall": r, "f1": f},
                        index=pd.Index(labels, name="label"))


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; rows are true classes, columns predicted ones."""
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def confusion_frame(cm, classes) -> pd.DataFrame:
    """The confusion matrix as a DataFrame labelled by character (rows true, columns predicted)."""
    index = pd.Index(list(classes), name="true")
    return pd.DataFrame(np.asarray(cm), index=index, columns=pd.Index(list(classes), name="pred"))


def top_confusions(cm, classes, k: int = 20) -> pd.DataFrame:
    """The ``k`` most frequent off-diagonal (true, pred) pairs: true, pred, count, share of the true class.

    Ties are broken by share, then by label order, so the table is deterministic.
    """
    cm = np.asarray(cm)
    support = cm.sum(axis=1)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = np.nonzero(off)
    counts = off[t, p]
    share = counts / np.maximum(support[t], 1)
    order = np.lexsort((p, t, -share, -counts))[:k]
    return pd.DataFrame({"true": [classes[i] for i in t[order]], "pred": [classes[i] for i in p[order]],
                         "count": counts[order].astype(int), "share": share[order]})


def merged_accuracy(y_true, y_pred, classes) -> float:
    """Accuracy after folding the 15 case-ambiguous lower-case letters (c i j k l m o p s u v w x y z) into
    their upper case, i.e. scoring a ByClass (62) model as ByMerge/Balanced (47): case confusions of those
    letters no longer count as errors."""
    from charclf.data.merge import merge_map

    index, _ = merge_map(classes)
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    return float(np.mean(index[y_true] == index[y_pred])) if len(y_true) else float("nan")


def merge_confusion(cm, classes) -> tuple[np.ndarray, tuple[str, ...]]:
    """A confusion matrix over ``classes`` folded as :func:`merged_accuracy` scores (ByClass 62 -> 47): the rows
    and the columns of each case-ambiguous letter's two cases are added. Returns ``(merged cm, merged classes)``;
    its trace over its sum is the merged-47 accuracy."""
    from charclf.data.merge import merge_map

    cm = np.asarray(cm)
    if cm.shape != (len(classes), len(classes)):
        raise ConfigError(f"merge_confusion: the matrix is {cm.shape} but there are {len(classes)} classes. "
                          "Fix: pass the class list the matrix was counted over")
    index, merged = merge_map(classes)
    out = np.zeros((len(merged), len(merged)), dtype=cm.dtype)
    np.add.at(out, (index[:, None], index[None, :]), cm)
    return out, merged


def has_merged_letters(classes) -> bool:
    """True when some class pairs differ only by the case of a case-ambiguous letter (ByClass-like sets)."""
    from charclf.data.merge import MERGED_LETTERS

    return any(c in classes and c.upper() in classes for c in MERGED_LETTERS)


def reliability_bins(probs, y_true, n_bins: int = 15) -> pd.DataFrame:
    """Equal-width bins of the top-class probability: bin_lower, bin_upper, count, confidence, accuracy.

    A prediction with confidence ``c`` falls in the bin ``(lower, upper]`` (``c = 0`` in the first), as in
    Guo et al. 2017. Empty bins have NaN confidence/accuracy.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = _labels(y_true)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct.astype(float), minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"bin_lower": edges[:-1], "bin_upper": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": acc})


def expected_calibration_error(probs, y_true, n_bins: int = 15) -> float:
    """ECE: sum over equal-width confidence bins of (bin share) x |accuracy - mean confidence|."""
    bins = reliability_bins(probs, y_true, n_bins)
    n = bins["count"].sum()
    if n == 0:
        return float("nan")
    used = bins["count"] > 0
    gap = (bins["accuracy"][used] - bins["confidence"][used]).abs()
    return float((bins["count"][used] / n * gap).sum())


def misclassified_indices(y_true, y_pred, probs=None, k: int | None = None) -> np.ndarray:
    """Indices of wrong predictions, the most confident mistakes first when ``probs`` is given (for a gallery)."""
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if probs is not None and len(wrong):
        conf = np.asarray(probs)[wrong, y_pred[wrong]]
        wrong = wrong[np.argsort(-conf, kind="stable")]
    return wrong if k is None else wrong[:k]


def _labels(y) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    return np.asarray(y, dtype=np.int64).ravel()


# -- a model on a dataset -------------------------------------------------------------------------------
@dataclass
class EvalResult:
    """Everything one evaluation produced. ``probs`` are softmax probabilities (N, C) as float32."""

    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    classes: tuple[str, ...]
    metrics: dict
    per_class: pd.DataFrame
    confusion: np.ndarray
    info: dict = field(default_factory=dict)  # split, part, protocol, tta ... of the data scored

    def top_confusions(self, k: int = 20) -> pd.DataFrame:
        return top_confusions(self.confusion, self.classes, k)

    def misclassified(self, k: int | None = None) -> np.ndarray:
        """Indices (into the evaluated dataset) of the most confident mistakes."""
        return misclassified_indices(self.y_true, self.y_pred, self.probs, k)

    def to_dict(self, *, top_k: int = 20) -> dict:
        """JSON-ready summary: metrics, top confusions and the per-class table (no per-sample arrays)."""
        return {**self.info, **self.metrics,
                "top_confusions": self.top_confusions(top_k).to_dict(orient="records"),
                "per_class": self.per_class.to_dict(orient="records")}


def evaluate_model(model, dataset, *, mean: float | None = None, std: float | None = None, tta: bool = False,
                   batch_size: int = 1024, device=None) -> EvalResult:
    """Run ``model`` over ``dataset`` (a ``CharDataset``) and compute every metric.

    ``mean``/``std`` default to the model's own (``model.charclf_config`` from ``load_model``).
    """
    import torch

    from charclf.eval.inference import predict_logits

    cfg = getattr(model, "charclf_config", {}) or {}
    mean = cfg.get("mean") if mean is None else mean
    std = cfg.get("std") if std is None else std
    if mean is None or std is None:
        raise ConfigError("evaluate_model: no input normalisation known for this model. Fix: pass mean= and "
                          "std= (the training data's), or load the model with charclf.load_model")
    logits = predict_logits(model, dataset.images, mean=mean, std=std, batch_size=batch_size, device=device,
                            tta=tta)
    probs = torch.softmax(logits.float(), dim=1).numpy().astype(np.float32)
    classes = tuple(dataset.classes)
    if probs.shape[1] != len(classes):
        raise ConfigError(f"the model predicts {probs.shape[1]} classes but the {dataset.split} data has "
                          f"{len(classes)}. Fix: evaluate on the split the model was trained on")
    y_true = dataset.labels.numpy().astype(np.int64)
    y_pred = probs.argmax(axis=1).astype(np.int64)
    metrics = classification_metrics(y_true, y_pred, classes)
    if has_merged_letters(classes):
        metrics["merged47_accuracy"] = merged_accuracy(y_true, y_pred, classes)
    metrics["ece"] = expected_calibration_error(probs, y_true) if len(y_true) else float("nan")
    # Always float32 (predict_logits runs no autocast): the number does not depend on the hardware's bf16.
    info = {"split": dataset.split, "part": dataset.part, "protocol": dataset.protocol, "tta": bool(tta),
            "precision": "fp32"}
    return EvalResult(y_true=y_true, y_pred=y_pred, probs=probs, classes=classes, metrics=metrics,
                      per_class=per_class_report(y_true, y_pred, classes),
                      confusion=confusion(y_true, y_pred, len(classes)), info=info)


# -- a run folder ---------------------------------------------------------------------------------------
def _read_metrics(run_dir: Path) -> dict:
    """The run's metrics.json ({} when absent), refused — before any evaluation work — when it is not a JSON
    object whose "evaluation" is an object: evaluate merges into it, and must never replace what it holds."""
    from charclf.provenance import read_json

    path = run_dir / "metrics.json"
    if not path.exists():
        return {}
    fix = ("fix or move the file, then evaluate again (the training numbers in it would be lost if it were "
           "overwritten)")
    saved = read_json(path, fix)
    if not isinstance(saved, dict) or not isinstance(saved.get("evaluation", {}), dict):
        raise DataError(path, "is not a JSON object with an \"evaluation\" object, so the new numbers cannot be "
                        "added to it", fix)
    return saved


def _run_data_settings(run_dir: Path, config: dict, saved: dict) -> dict:
    """Which split/protocol (and protocol options) the run trained on: config.json first, then metrics.json."""
    sources = [config, config.get("data") or {}, saved, saved.get("data") or {}]
    settings = {}
    # Only split and protocol: a run does not record how an official-protocol val part was carved, so the
    # loader's defaults (val_fraction 0.1, seed 0) apply — the test part never depends on them.
    for key in ("split", "protocol"):
        for src in sources:
            if isinstance(src, dict) and src.get(key) is not None:
                settings[key] = src[key]
                break
    if "split" not in settings:
        raise ConfigError(f"{run_dir}: cannot tell which data split the model was trained on (no 'split' in "
                          "config.json or metrics.json). Fix: add \"split\": \"byclass\" (or the right split) to "
                          "config.json")
    settings.setdefault("protocol", "holdout")
    return settings


def evaluate_run(run_dir, part: str = "test", data_dir=None, tta: bool | None = None, *, split: str | None = None,
                 batch_size: int = 1024, device=None) -> dict:
    """Evaluate a run folder's model on the ``part`` (``"test"`` or ``"val"``) of the data it was trained on,
    merge the result into ``<run_dir>/metrics.json`` under ``"evaluation": {part: ...}`` and return it.

    The EMNIST ``split`` (byclass ...) and protocol come from the run's config.json; ``split`` scores another
    split with the same classes instead (a digits model on classic MNIST), recorded under ``"<part>@<split>"``.
    ``tta=None`` uses the run's training config (``train_config.json``) when present. A part already recorded
    keeps its entry: evaluating it again returns that entry when the numbers agree and refuses when they differ.
    (``split`` once named the part: a part name there still works, with a DeprecationWarning.)
    """
    return evaluate_and_record(run_dir, part, data_dir, tta, split=split, batch_size=batch_size, device=device)[1]


def evaluate_and_record(run_dir, part: str = "test", data_dir=None, tta: bool | None = None, *,
                        split: str | None = None, batch_size: int = 1024, device=None) -> tuple[str, dict]:
    """:func:`evaluate_run`, returning ``(key, entry)``: the key under ``metrics.json["evaluation"]`` too."""
    from charclf.data import load_data
    from charclf.fileio import write_json
    from charclf.models.hub import load_model
    from charclf.provenance import run_metadata

    if split in OLD_PART_NAMES:
        warnings.warn(f"evaluate_run(split={split!r}) names a part: use part={split!r} (split is the EMNIST split)",
                      DeprecationWarning, stacklevel=2)
        part, split = split, None
    if part not in PARTS:
        raise ConfigError(f"unknown part {part!r} to evaluate. Fix: use one of {', '.join(PARTS)}")
    from charclf.eval.inference import default_device

    run_dir = Path(run_dir)
    from charclf.fileio import check_writable
    from charclf.runlock import METRICS_LOCK, refuse_if_locked

    check_writable(run_dir, "RUN_DIR")  # metrics.json is written there: refuse now, not after the evaluation
    refuse_if_locked(run_dir)  # a training writing into it would rewrite metrics.json under this evaluation
    model = load_model(run_dir, device=device or default_device())
    config = model.charclf_config
    saved = _read_metrics(run_dir)
    settings = _run_data_settings(run_dir, config, saved)
    from charclf.data.official import check_split

    # One spelling per split ("BYCLASS" is byclass): the key and the index check compare names.
    own_split = settings["split"] = check_split(settings["split"], allow_classic=True)
    if split is not None:
        settings["split"] = check_split(split, allow_classic=True)
    if tta is None:
        tta = _train_config_tta(run_dir)
    bundle = load_data(settings["split"], settings["protocol"], data_dir)
    if settings["split"] == own_split:  # the run's own split (named or not): its own index file too
        from charclf.data.protocols import check_same_index

        check_same_index(saved.get("data"), bundle, run_dir / "metrics.json",
                         "evaluate with the data dir the run was trained with, or remove the override "
                         "protocols/<split>-test-holdout.npz from this one (charclf then uses the file it ships)")
    dataset = getattr(bundle, part)
    if tuple(dataset.classes) != tuple(config["labels"]):
        raise DataError(run_dir / "config.json", f"the model's labels differ from the {settings['split']} "
                        "data's classes", "evaluate on the split the model was trained on")
    result = evaluate_model(model, dataset, tta=tta, batch_size=batch_size, device=device)
    entry = result.to_dict()
    entry["data"] = bundle.describe()
    entry["provenance"] = run_metadata(protocol=settings["protocol"], split=settings["split"], part=part,
                                       tta=bool(tta), model_dir=str(run_dir), model_git_sha=config.get("git_sha"))
    # With and without TTA are different numbers: keep both ("test", "test_tta") rather than overwrite; so are
    # another split's ("test@bymerge"), which must never stand in for the run's own test number.
    key = evaluation_key(part, tta, None if settings["split"] == own_split else settings["split"])
    # Merge under a lock, re-reading metrics.json: another `charclf evaluate` of this folder (another part, or
    # with TTA) may have written its evaluation while this one computed; merging into the copy read at the start
    # would silently drop it. A training that started meanwhile is refused as at the start.
    from charclf.fileio import exclusive

    with exclusive(run_dir / METRICS_LOCK):
        refuse_if_locked(run_dir)
        saved = _read_metrics(run_dir)
        from charclf.eval.record import NotARunRecord, RunRecord

        try:  # a run record: the new evaluation joins it, nothing else in it changes
            record = RunRecord.from_dict(saved, path=run_dir / "metrics.json", run_dir=run_dir) if saved else None
        except NotARunRecord:  # a model folder's own evaluations (e.g. a downloaded model evaluated before)
            record = None
        earlier = saved.get("evaluation", {}).get(key)
        if earlier is not None:  # already scored: the same numbers stay as recorded; others are never replaced
            rescored = _refuse_a_different_number(run_dir / "metrics.json", key, earlier, entry)
            return key, earlier if rescored is None else {**earlier, "rescored_now": rescored}
        if record is not None:
            record.replace(evaluation={**record.evaluation, key: entry}).save(run_dir)
        else:  # a model folder without a training record: its evaluations, and whatever else the file holds
            write_json(run_dir / "metrics.json", {**saved, "evaluation": {**saved.get("evaluation", {}), key: entry}},
                       follow_links=True)  # a linked record is updated where it lives
    return key, entry


def rescore_tolerance(n: int) -> float:
    """How many of ``n`` images the same weights may score differently on another machine: its kernels may round
    differently and flip a near-tie, hence 0.1% of the images (at least one) and no more."""
    return max(1.0, 0.001 * n)


def _counts(entry) -> tuple[int, int] | None:
    """``(n, images right)`` of a recorded evaluation, or None when it is not one (hand-edited, NaN, a number)."""
    if not isinstance(entry, dict):
        return None
    n = entry.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:  # a whole count of images (not 62.7, "62", true)
        return None
    try:
        accuracy = float(entry["accuracy"])
    except (KeyError, TypeError, ValueError):
        return None
    return (n, round(accuracy * n)) if math.isfinite(accuracy) else None


def _refuse_a_different_number(path: Path, key: str, earlier, entry: dict) -> dict | None:
    """Nothing to do when ``earlier`` (the recorded ``evaluation[key]``) has ``entry``'s counts, or differs from
    them by another CPU's rounding (:func:`rescore_tolerance`: both numbers are printed, the recorded one stays);
    otherwise refuse: the recorded number is what the study's tables read, and evaluate replaces nothing it did
    not write."""
    fix = ("to keep both, evaluate a copy of the run folder; to replace the recorded number, remove "
           f"evaluation.{key} from the file yourself and evaluate again")
    before, now = _counts(earlier), _counts(entry)
    if before is None:
        raise DataError(path, f"holds an evaluation.{key} that is not a readable evaluation (no whole n and finite "
                        "accuracy), so nothing was written", fix)
    if now is None:  # this data part scored nothing (empty, or NaN): nothing to set beside the recorded number
        raise DataError(path, f"records evaluation.{key} of n={before[0]}, but this evaluation scored no images "
                        f"(n={entry.get('n')}), so nothing was written", "evaluate with the data the run was "
                        "trained on")
    if before == now:
        return None
    when = earlier.get("provenance", {}).get("created_utc", "an earlier evaluation") \
        if isinstance(earlier.get("provenance"), dict) else "an earlier evaluation"
    if before[0] == now[0] and abs(before[1] - now[1]) <= rescore_tolerance(now[0]):
        print(f"note: this evaluation scores {now[1]:,} of {now[0]:,} right, the recorded one ({when}) "
              f"{before[1]:,}: within another CPU's rounding, so the recorded evaluation.{key} stays",
              file=sys.stderr)
        return {"n": now[0], "right": now[1], "accuracy": entry["accuracy"]}  # shown beside the recorded entry
    raise DataError(path, f"already records evaluation.{key}: {before[1]:,} of {before[0]:,} right "
                    f"({before[1] / before[0]:.4%}, {when}); this evaluation gives {now[1]:,} of {now[0]:,} "
                    f"({entry['accuracy']:.4%}), so nothing was written", fix)


def _train_config_tta(run_dir: Path) -> bool:
    from charclf.provenance import read_json

    path = run_dir / "train_config.json"
    if not path.exists():
        return False
    saved = read_json(path, "pass --tta or --no-tta, or restore the file from the run")
    if not isinstance(saved, dict):
        raise DataError(path, "is not a JSON object, so whether the run used TTA is unknown",
                        "pass --tta or --no-tta, or restore the file from the run")
    return bool(saved.get("tta", False))


# -- CLI ------------------------------------------------------------------------------------------------
def format_summary(entry: dict, *, top: int = 10) -> str:
    """Human-readable lines for ``charclf evaluate``."""
    lines = [f"{entry.get('split')} / {entry.get('part')} ({entry.get('protocol')} protocol, n={entry.get('n')}, "
             f"tta={entry.get('tta')})",
             f"  accuracy           {entry['accuracy']:.4f}"]
    if "merged47_accuracy" in entry:
        lines.append(f"  merged-47 accuracy {entry['merged47_accuracy']:.4f}  (c i j k l m o p s u v w x y z "
                     "case folded)")
    for avg in ("weighted", "macro"):
        lines.append(f"  {avg:<8} P/R/F1   {entry[f'precision_{avg}']:.4f} / {entry[f'recall_{avg}']:.4f} / "
                     f"{entry[f'f1_{avg}']:.4f}")
    lines.append(f"  ECE (15 bins)      {entry['ece']:.4f}")
    if entry.get("top_confusions"):
        lines.append("  top confusions (true -> pred: count, share of true class):")
        for row in entry["top_confusions"][:top]:
            lines.append(f"    {row['true']!s:>2} -> {row['pred']!s:<2} {row['count']:6d}  {row['share']:.1%}")
    return "\n".join(lines)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a trained run folder and write metrics.json",
                              description="Evaluate a run folder's model on its data and merge the numbers into "
                                          "RUN_DIR/metrics.json under 'evaluation'.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder with model.safetensors + config.json")
    p.add_argument("--part", choices=PARTS, default=None,
                   help="which part of the run's data to score (default: test)")
    p.add_argument("--split", default=None,
                   help="EMNIST split to score on (default: the run's own); another split needs the same classes, "
                        "e.g. a digits model on classic-mnist")
    p.add_argument("--data-dir", default=None, help="data folder (default: $CHARCLF_DATA_DIR or ./data)")
    p.add_argument("--tta", action=_BoolOrNone, nargs=0, default=None,
                   help="average over small shifts (default: as the run was trained)")
    p.add_argument("--no-tta", dest="tta", action=_BoolOrNone, nargs=0, help="no test-time augmentation")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=run)


class _BoolOrNone(argparse.Action):
    """--tta / --no-tta with a third state (not given -> follow the run's training config)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if hasattr(parser, "claim"):  # --tta and --no-tta are one setting: given both, refuse (argtypes.Parser)
            parser.claim(self.dest, option_string)
        setattr(namespace, self.dest, not option_string.startswith("--no-"))


def run(args) -> int:
    if args.split in OLD_PART_NAMES:  # the old meaning of --split
        if args.part not in (None, args.split):
            raise ConfigError(f"--part {args.part} and --split {args.split} (the old spelling of --part) name two "
                              f"parts. Fix: pass --part alone")
        print(f"note: `--split {args.split}` named the part; it is `--part {args.split}` now (--split is the EMNIST "
              "split)", file=sys.stderr)
        args.part, args.split = args.split, None
    args.part = args.part or "test"
    key, entry = evaluate_and_record(args.run_dir, args.part, data_dir=args.data_dir, tta=args.tta,
                                     split=args.split)
    if args.json:
        print(json.dumps(entry, indent=2, default=float))
    else:
        print(format_summary(entry))
        print(f"recorded in {printable(Path(args.run_dir) / 'metrics.json')} under evaluation.{key}")
    return 0
