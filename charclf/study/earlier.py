"""The earlier ByClass study's published accuracies, and what notebook 04's numbers say next to them.

The study's sentences about its results are computed here from the run records, so that a notebook's
conclusions always follow from the numbers it shows — under whichever profile it was executed, and however
many runs have finished.
"""
from __future__ import annotations

import pandas as pd

from charclf.eval.seeds import SEED_NOISE_PTS, SEED_NOISE_RULE, WITHIN, gap_verdict

# The six-CNN ByClass study's test accuracies: its official ByClass test set (116,323 images), training on
# ~120k images. Our offline protocol differs (see EARLIER_PROTOCOL_DIFFERENCES), so the gap is not a verdict.
EARLIER_BYCLASS_STUDY = {"vgg": 0.8724, "alexnet": 0.8696, "resnet": 0.8688, "spinalnet": 0.8592}
EARLIER_PROTOCOL_DIFFERENCES = (
    "the earlier study trained on ~120k images and tested on the official ByClass test set; our holdout protocol "
    "trains on 93,055 images re-split from that test file and tests on 11,634 of them, on 2 CPU cores (float32 "
    "or bf16 autocast: the runs table's precision column says which, per run)")


# summary_precision's column: the precisions of a model's seeds, counted where they differ ("bf16 ×1, fp32 ×2 / ...")
PRECISION = "precision (train / val)"
CLOSE_PTS = 0.5  # "close to the best": within this many val accuracy points


def earlier_study_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model the earlier study reports: its accuracy next to ours, with the precisions our seeds
    trained and were scored in (``summary`` is :func:`charclf.study.findings.summary_precision` of
    :func:`charclf.study.runs.seed_summary`; a model we have not trained yet shows blanks)."""
    rows = []
    for model, theirs in EARLIER_BYCLASS_STUDY.items():
        ours = summary.loc[model] if model in summary.index else None
        mean = float(ours["test acc mean"]) if ours is not None else float("nan")
        rows.append({"model": model, "earlier study (official test)": theirs, "ours: test mean": mean,
                     "ours: test std": float(ours["test acc std"]) if ours is not None else float("nan"),
                     "seeds": int(ours["n"]) if ours is not None else 0,
                     f"ours: {PRECISION}": ours[PRECISION] if ours is not None else "",
                     "ours - theirs (pts)": 100 * (mean - theirs)})
    return pd.DataFrame(rows).set_index("model")


def findings(summary: pd.DataFrame, status: pd.DataFrame | None = None) -> list[str]:
    """Sentences read off ``summary`` (:func:`~charclf.study.runs.seed_summary`; val picks, test reports):
    the best model, the smallest one close to it on val, how ours compare with the earlier study, and — from the
    plan's ``status`` (:func:`~charclf.study.plan.train_plan`) — what has not been trained, and why."""
    if summary.empty:
        return ["No run has finished under this profile yet: there is nothing to conclude."]
    by_val = summary.sort_values("val acc mean", ascending=False)
    best, best_name = by_val.iloc[0], by_val.index[0]
    lines = [f"Best on validation: `{best_name}`, val {best['val acc mean']:.2%}, test {best['test acc mean']:.2%} "
             f"({_seeds(best['n'])}, {int(best['params']):,} parameters)."]
    # Chosen on val like the best model: test is read once, after the choice, never to make it
    close = summary[summary["val acc mean"] >= best["val acc mean"] - CLOSE_PTS / 100].sort_values("params")
    if len(close) and close.index[0] != best_name:
        small_name, small = close.index[0], close.iloc[0]
        lines.append(f"The smallest model within {CLOSE_PTS} points of its val accuracy is `{small_name}`: val "
                     f"{small['val acc mean']:.2%}, test {small['test acc mean']:.2%}, with {int(small['params']):,} "
                     f"parameters ({small['params'] / best['params']:.0%} of `{best_name}`'s)"
                     + _tta_difference(small["test TTA"], best_name, best["test TTA"]) + ".")
    both = earlier_study_table(summary).query("seeds > 0")
    if len(both):
        gaps = ", ".join(f"`{m}` {r['ours - theirs (pts)']:+.2f}" for m, r in both.iterrows())
        ours_order = list(both.sort_values("ours: test mean", ascending=False).index)
        theirs_order = list(both.sort_values("earlier study (official test)", ascending=False).index)
        order = _order_words(theirs_order, ours_order, _gaps_within_noise(both.loc[ours_order]))
        lines.append(f"Against the earlier study's own numbers (ours − theirs, test accuracy points): {gaps}. "
                     f"{order} The protocols differ: {EARLIER_PROTOCOL_DIFFERENCES}.")
    single = [m for m, r in summary.iterrows() if r["n"] < 2]
    if single:
        lines.append(f"One seed only (no spread measured yet): {', '.join(f'`{m}`' for m in single)}; differences "
                     f"under {SEED_NOISE_PTS} points between those can be seed noise ({SEED_NOISE_RULE}).")
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


def _order_words(theirs: list[str], ours: list[str], noisy: list[str]) -> str:
    """The two orders side by side, and which of our steps (``noisy``, :func:`_gaps_within_noise`) are within
    seed noise: an order whose gaps are noise is not one our runs establish, even where it matches theirs."""
    words = f"Its order of these models is {' > '.join(theirs)}; ours is {' > '.join(ours)}"
    if not noisy:
        return words + (" — the same." if ours == theirs else ".")
    gaps = f"the gap {noisy[0]} is" if len(noisy) == 1 else f"the gaps {', '.join(noisy[:-1])} and {noisy[-1]} are"
    return (words + (" — the same order, but " if ours == theirs else "; but ") + gaps + " within seed noise (the "
            f"larger seed std of the two models, or, where both have one seed, {SEED_NOISE_PTS} points: "
            f"{SEED_NOISE_RULE}), so our runs do not establish " + ("it." if ours == theirs else "those steps."))


def _tta_difference(tta, other: str, other_tta) -> str:
    """``"; its test is scored with TTA and `other`'s without ..."``, or "" when both were scored alike: a test
    difference between them is then partly TTA's, not the models'."""
    if tta == other_tta:
        return ""
    how = {True: "with TTA (translated copies averaged)", False: "without TTA", "mixed": "with TTA on some seeds only"}
    return f"; its test is scored {how[tta]} and `{other}`'s {how[other_tta]}, so the two are not like for like"


def _gaps_within_noise(ordered: pd.DataFrame) -> list[str]:
    """``["vgg − alexnet (0.07 points)", ...]``: the gaps between neighbours of ``ordered`` (best test mean first)
    that :func:`~charclf.eval.seeds.gap_verdict` counts as seed noise, with :data:`SEED_NOISE_PTS` for a pair
    of one-seed models."""
    noisy = []
    for (a, ra), (b, rb) in zip(ordered.iterrows(), ordered.iloc[1:].iterrows()):
        gap = ra["ours: test mean"] - rb["ours: test mean"]
        if gap_verdict(gap, ra["ours: test std"], rb["ours: test std"], one_seed_noise=SEED_NOISE_PTS / 100) == WITHIN:
            noisy.append(f"{a} − {b} ({100 * gap:.2f} points)")
    return noisy


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

