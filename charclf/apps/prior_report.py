"""Notebook 10's class-prior comparison (one change: the prior ``charclf.class_prior`` assumes).

The same shipped model and preprocessing, predicting with the training prior (the raw answers) and with every
character equally likely. It is read first on val, where the metric matching an even prior is balanced accuracy
(the mean of the per-class recalls). Then it is read on the real-handwriting set, from the two artifacts of
``charclf evaluate-images`` (``--prior train`` and the default).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from charclf.eval.realworld_scores import dig

PRIOR_NAMES = {"train": "training prior (raw answers)", "uniform": "every character equally likely"}


@dataclass(frozen=True)
class ValPredictions:
    """The model's predicted class on each val image under each of :data:`PRIOR_NAMES`, with the true labels and
    the class names: computed once (one pass of the model) and read by both val tables."""
    labels: np.ndarray
    names: list
    by_prior: dict


def val_predictions(model, val) -> ValPredictions:
    """One pass of ``model`` over ``val`` through the predict path (``model_probs``, raw answers), re-weighted per
    prior by ``class_prior.adjust``, as predict does."""
    from charclf import class_prior
    from charclf.apps.predict import model_probs

    raw = model_probs(model, val.images.numpy(), prior="train")
    by_prior = {prior: class_prior.adjust(raw, model.charclf_config, prior).argmax(axis=1) for prior in PRIOR_NAMES}
    return ValPredictions(val.labels.numpy(), list(model.charclf_config["labels"]), by_prior)


def val_table(preds: ValPredictions) -> pd.DataFrame:
    """Accuracy, balanced accuracy and ByMerge-merged accuracy on val under each prior."""
    from sklearn.metrics import balanced_accuracy_score

    from charclf.data.merge import merge_map

    labels = preds.labels
    to_merged, _ = merge_map(preds.names)
    rows = []
    for prior, pred in preds.by_prior.items():
        rows.append({"prior": PRIOR_NAMES[prior], "val accuracy": float((pred == labels).mean()),
                     "val balanced accuracy": float(balanced_accuracy_score(labels, pred)),
                     "val merged accuracy": float((to_merged[pred] == to_merged[labels]).mean()), "n": len(labels)})
    return pd.DataFrame(rows).set_index("prior")


def kinds_table(preds: ValPredictions, train: dict, uniform: dict) -> pd.DataFrame:
    """Merged top-1 by digit / upper / lower case, on EMNIST val and on the real set, under each prior: one row
    per (kind, prior). Where the real set falls far below val at the same prior, the gap is the shift from NIST's
    forms to the real captures, not what the model can do with the kind at all."""
    from charclf.data.merge import merge_map
    from charclf.data.realworld import KINDS, kind_of

    labels = preds.labels
    to_merged, _ = merge_map(preds.names)
    kinds = pd.Series([kind_of(c) for c in preds.names])
    rows = []
    for prior, artifact in (("train", train), ("uniform", uniform)):
        right = to_merged[preds.by_prior[prior]] == to_merged[labels]
        for kind in KINDS:
            mine = (kinds[labels] == kind).to_numpy()
            real = dig(artifact, ("metrics", "kind", kind))
            rows.append({"kind": kind, "prior": PRIOR_NAMES[prior], "val n": int(mine.sum()),
                         "val merged": float(right[mine].mean()),
                         "real n": None if real is None else real["n"],
                         "real merged": None if real is None else real["merged_top1"]})
    table = pd.DataFrame(rows).set_index(["kind", "prior"])
    table["real − val (pts)"] = 100 * (table["real merged"].astype(float) - table["val merged"])
    return table


def kinds_finding(table: pd.DataFrame) -> str:
    """One sentence: under the even prior, the kind whose real-set merged top-1 falls furthest below val's."""
    even = table.xs(PRIOR_NAMES["uniform"], level="prior")
    worst = even["real − val (pts)"].idxmin()
    r = even.loc[worst]
    train = table.xs(PRIOR_NAMES["train"], level="prior").loc[worst]
    return (f"Under the even prior, {worst}s read {r['val merged']:.1%} merged on EMNIST val and {r['real merged']:.1%} "
            f"on the real set ({r['real − val (pts)']:+.1f} points); under EMNIST's frequencies the gap is "
            f"{train['real − val (pts)']:+.1f} points, so part of it is the prior itself. The model reads the kind on "
            "NIST's forms; what is lost on the real set is the shift to other writers and captures, which this "
            "comparison cannot tell apart.")


def realworld_table(train: dict, uniform: dict) -> pd.DataFrame:
    """top-1 / merged top-1 on the real set under the two priors, overall and by slice, from the two artifacts
    (each must say which prior it scored under)."""
    from charclf.apps.realworld_report import slices_table

    from charclf.class_prior import recorded_prior
    from charclf.errors import ConfigError

    for artifact, prior in ((train, "train"), (uniform, "uniform")):
        found = recorded_prior(artifact["metrics"])
        if found != prior:
            raise ConfigError(f"realworld_table: an artifact scored under the {found} prior was passed as the "
                              f"{prior} one. Fix: pass the --prior train artifact first, the default one second")
    weights = {dig(a, ("provenance", "model_weights_sha256")) for a in (train, uniform)}
    if len(weights) > 1:
        raise ConfigError("realworld_table: the two artifacts scored different weights, so the prior is not the one "
                          "change between them. Fix: score one model folder twice (charclf evaluate-images, with "
                          "and without --prior train)")
    table = slices_table(train, uniform)
    names = {"top-1 before": "top-1, training prior", "top-1 after": "top-1, even prior",
             "merged before": "merged, training prior", "merged after": "merged, even prior",
             "top-5 after": "top-5, even prior"}
    table = table.rename(columns=names)
    table["Δ top-1"] = table["top-1, even prior"] - table["top-1, training prior"]
    return table


def finding(val: pd.DataFrame, real: pd.DataFrame) -> str:
    """One sentence from the two tables: what dividing the training prior out does on val and on the real set."""
    t, u = val.loc[PRIOR_NAMES["train"]], val.loc[PRIOR_NAMES["uniform"]]
    o = real.loc["overall"]
    lower = real.loc["kind=lower"] if "kind=lower" in real.index else None
    return (f"Dividing the training prior out raises val balanced accuracy from {t['val balanced accuracy']:.1%} to "
            f"{u['val balanced accuracy']:.1%} and lowers plain val accuracy from {t['val accuracy']:.1%} to "
            f"{u['val accuracy']:.1%}, since EMNIST itself follows the training prior. On the real set, top-1 "
            f"goes from {o['top-1, training prior']:.1%} to {o['top-1, even prior']:.1%} and merged top-1 from "
            f"{o['merged, training prior']:.1%} to {o['merged, even prior']:.1%}"
            + (f"; lower-case merged top-1 goes from {lower['merged, training prior']:.1%} to "
               f"{lower['merged, even prior']:.1%}" if lower is not None else "") + "." + _cost(real))


def _cost(real: pd.DataFrame) -> str:
    """What the even prior costs: the digit/upper/lower slice whose merged top-1 falls most, if one falls."""
    kinds = real[real.index.str.startswith("kind=")]
    if kinds.empty or kinds["Δ merged"].min() >= 0:
        return ""
    worst = kinds["Δ merged"].idxmin()
    return (f" The cost: {worst.split('=')[1]} merged top-1 falls from {kinds.loc[worst, 'merged, training prior']:.1%} "
            f"to {kinds.loc[worst, 'merged, even prior']:.1%}.")

