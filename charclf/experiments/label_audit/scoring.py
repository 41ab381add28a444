"""Scoring and flagging: each image's probabilities under the 8 orientations, cleanlab's label issues, the
orientation outliers, and one kind per flagged image."""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import torch

from charclf.data import CharDataset
from charclf.data.merge import merge_map
from charclf.experiments.label_audit.settings import (
    CSV_COLUMNS,
    DIGIT_LOOKALIKES,
    MIRROR_TWINS,
    ORIENTATIONS,
    PARTS,
    AuditSettings,
)


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

