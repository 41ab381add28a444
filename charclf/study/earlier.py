"""The earlier ByClass study's published accuracies, and what notebook 04's numbers say next to them.

The study's sentences about its results are computed here from the run records, so that a notebook's
conclusions always follow from the numbers it shows — under whichever profile it was executed, and however
many runs have finished.
"""
from __future__ import annotations

import pandas as pd

from charclf.eval.seeds import SEED_NOISE_PTS

# The six-CNN ByClass study's test accuracies: its official ByClass test set (116,323 images), training on
# ~120k images. Our offline protocol differs (see EARLIER_PROTOCOL_DIFFERENCES), so the gap is not a verdict.
EARLIER_BYCLASS_STUDY = {"vgg": 0.8724, "alexnet": 0.8696, "resnet": 0.8688, "spinalnet": 0.8592}
EARLIER_PROTOCOL_DIFFERENCES = (
    "the earlier study trained on ~120k images and tested on the official ByClass test set; our holdout protocol "
    "trains on 93,055 images re-split from that test file and tests on 11,634 of them, on 2 CPU cores (float32 "
    "or bf16 autocast: the runs table's precision column says which, per run)")


def earlier_study_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model the earlier study reports: its accuracy next to ours (``summary`` is
    :func:`charclf.study.runs.seed_summary`; a model we have not trained yet shows blanks)."""
    rows = []
    for model, theirs in EARLIER_BYCLASS_STUDY.items():
        ours = summary.loc[model] if model in summary.index else None
        mean = float(ours["test acc mean"]) if ours is not None else float("nan")
        rows.append({"model": model, "earlier study (official test)": theirs, "ours: test mean": mean,
                     "ours: test std": float(ours["test acc std"]) if ours is not None else float("nan"),
                     "seeds": int(ours["n"]) if ours is not None else 0,
                     "ours - theirs (pts)": 100 * (mean - theirs)})
    return pd.DataFrame(rows).set_index("model")


def findings(summary: pd.DataFrame, status: pd.DataFrame | None = None) -> list[str]:
    """Sentences read off ``summary`` (:func:`~charclf.study.runs.seed_summary`; val picks, test reports):
    the best model, the smallest one close to it, how ours compare with the earlier study, and — from the plan's
    ``status`` (:func:`~charclf.study.plan.train_plan`) — what has not been trained, and why."""
    if summary.empty:
        return ["No run has finished under this profile yet: there is nothing to conclude."]
    best = summary.sort_values("val acc mean", ascending=False).iloc[0]
    best_name = summary.sort_values("val acc mean", ascending=False).index[0]
    lines = [f"Best on validation: `{best_name}`, val {best['val acc mean']:.2%}, test {best['test acc mean']:.2%} "
             f"({_seeds(best['n'])}, {int(best['params']):,} parameters)."]
    close = summary[summary["test acc mean"] >= best["test acc mean"] - 0.005].sort_values("params")
    if len(close) and close.index[0] != best_name:
        small = close.iloc[0]
        lines.append(f"The smallest model within 0.5 points of its test accuracy is `{close.index[0]}`: "
                     f"{small['test acc mean']:.2%} with {int(small['params']):,} parameters "
                     f"({small['params'] / best['params']:.0%} of `{best_name}`'s).")
    both = earlier_study_table(summary).query("seeds > 0")
    if len(both):
        gaps = ", ".join(f"`{m}` {r['ours - theirs (pts)']:+.2f}" for m, r in both.iterrows())
        ours_order = list(both.sort_values("ours: test mean", ascending=False).index)
        theirs_order = list(both.sort_values("earlier study (official test)", ascending=False).index)
        lines.append(f"Against the earlier study's own numbers (ours − theirs, test accuracy points): {gaps}. "
                     f"Its order of these models is {' > '.join(theirs_order)}; ours is {' > '.join(ours_order)}"
                     + (" — the same." if ours_order == theirs_order else ".")
                     + f" The protocols differ: {EARLIER_PROTOCOL_DIFFERENCES}.")
    single = [m for m, r in summary.iterrows() if r["n"] < 2]
    if single:
        lines.append(f"One seed only (no spread measured yet): {', '.join(f'`{m}`' for m in single)}; differences "
                     f"under {SEED_NOISE_PTS} points between those can be seed noise.")
    if status is not None and len(status):
        from charclf.study.plan import NOT_YET_TRAINED

        untrained = status[~status["trained"].astype(bool)]
        waiting = untrained[untrained["reason"] == NOT_YET_TRAINED]
        too_slow = untrained[untrained["reason"] != NOT_YET_TRAINED]
        if len(waiting):
            lines.append(f"Not trained yet under this profile: {_by_model(waiting)}.")
        if len(too_slow):
            lines.append(f"Not trained on this machine (its recipe does not fit; the plan table gives the measured "
                         f"images/s and the estimated time): {_by_model(too_slow)}.")
    return lines


def _by_model(rows: pd.DataFrame) -> str:
    seeds = rows.groupby("model", sort=False)["seed"].apply(lambda s: ", ".join(str(int(v)) for v in s))
    return "; ".join(f"`{model}` (seed {s})" if "," not in s else f"`{model}` (seeds {s})"
                     for model, s in seeds.items())


def _seeds(n) -> str:
    return f"{int(n)} seed" + ("s" if int(n) != 1 else "")


def training_found(summary: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Notebook 04: the best model on val and the smallest close to it (:func:`findings`),
    then which precisions trained the runs, so times are compared only within one."""
    lines = findings(summary)[:2]
    counts = table["precision"].value_counts()
    if len(counts) > 1:
        lines.append("The runs trained in " + " and ".join(f"{p} ({n} run{'s' if n != 1 else ''})"
                                                           for p, n in counts.items())
                     + " on different machines across sessions: compare training times only between runs of the "
                     "same precision.")
    return lines


# The EfficientNet transfer study's B2: ImageNet weights fine-tuned at 112 px on a GPU, tested on the official
# ByClass split. Our CPU-scale B2 has neither the weights nor the input size, so the two rows are not a verdict.
EARLIER_EFFICIENTNET_B2 = 0.8861

