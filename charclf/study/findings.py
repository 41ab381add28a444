"""What notebooks 05 (the searches and the tuned run) and 06 (pre-training, fine-tuning and its controls) say,
as sentences read off their numbers.

Like :mod:`charclf.study.earlier` for notebook 04: the conclusions are computed from the trials, run records and
results the notebook shows, so they hold under either profile and whatever the runs found. Val decides (val loss
within a search, val accuracy between runs); test accuracy is reported beside it.
"""
from __future__ import annotations

import pandas as pd

# Below this many accuracy points, two single-seed runs are not told apart: notebook 04's three-seed models
# spread by 0.1-0.2 points (sample std), so a gap of a few tenths can be seed noise.
SEED_NOISE_PTS = 0.3


def _compare(d_val: float, d_test: float, better: str, worse: str) -> str:
    """The verdict on a one-seed-each difference of ``d_val`` / ``d_test`` accuracy points."""
    if abs(d_val) < SEED_NOISE_PTS:
        return (f"the val gap is under {SEED_NOISE_PTS} points, within what seeds alone move a run (one seed each): "
                "no measurable difference")
    verdict = better if d_val > 0 else worse
    agrees = (d_test > 0) == (d_val > 0)
    return verdict + (", and the test part agrees" if agrees else
                      "; the test part does not agree, so read it as noise rather than a difference")


def _complete(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[(trials["state"] == "COMPLETE") & trials["val_loss"].notna()].sort_values("number")


def _params(row: pd.Series, names: list[str]) -> str:
    return ", ".join(f"{name} {row[name]:g}" for name in names)


def trials_to_match(trials: pd.DataFrame, target: float) -> int | None:
    """How many trials (counting pruned ones: they spent budget too) a search had finished when its best
    complete trial first reached ``target`` val loss or lower; None if it never did."""
    finished = trials.sort_values("number").reset_index(drop=True)
    hits = finished.index[(finished["state"] == "COMPLETE") & (finished["val_loss"] <= target)]
    return int(hits[0]) + 1 if len(hits) else None


def search_findings(searches: dict[str, pd.DataFrame], default=None, tuned=None) -> list[str]:
    """Sentences about ``searches`` (``{sampler: trials_dataframe()}``, the first one the reference) and, when
    both are given, the tuned run against the default recipe (:class:`~charclf.eval.record.RunRecord` each)."""
    lines = []
    best = {}
    for name, trials in searches.items():
        complete = _complete(trials)
        pruned = int((trials["state"] == "PRUNED").sum())
        if complete.empty:
            lines.append(f"{name}: no trial has completed yet ({len(trials)} finished, {pruned} pruned).")
            continue
        row = complete.loc[complete["val_loss"].idxmin()]
        best[name] = row
        names = trials.attrs.get("params") or [c for c in ("lr", "batch_size", "momentum", "weight_decay")
                                               if c in trials]
        lines.append(f"{name}: {len(trials)} trials finished ({pruned} pruned by the median rule); the lowest val "
                     f"loss, {row['val_loss']:.4f}, is trial #{int(row['number'])} ({_params(row, names)}).")
    if len(best) == 2:
        (ref, ref_row), (other, other_row) = best.items()
        gap = other_row["val_loss"] - ref_row["val_loss"]
        matched = trials_to_match(searches[other], ref_row["val_loss"])
        lines.append((f"At the same budget, {other if gap < 0 else ref}'s best val loss is lower by {abs(gap):.4f}. "
                      if gap else f"At the same budget, both reach the same best val loss. ")
                     + (f"{other} first matched {ref}'s best after {matched} of its {len(searches[other])} trials."
                        if matched else f"{other} never matched {ref}'s best."))
    if default is not None and tuned is not None:
        d_val, d_test = 100 * (tuned.best_val_acc - default.best_val_acc), 100 * (tuned.test_acc - default.test_acc)
        lines.append(f"Trained in full, the searched setting reaches val {tuned.best_val_acc:.2%} and test "
                     f"{tuned.test_acc:.2%} ({tuned.train_samples:,} images, {tuned.epochs_run} epochs); the default "
                     f"recipe val {default.best_val_acc:.2%} and test {default.test_acc:.2%} ({default.train_samples:,} "
                     f"images, {default.epochs_run} epochs): {d_val:+.2f} points on val, {d_test:+.2f} on test.")
        verdict = _compare(d_val, d_test, "the searched setting is better than the default recipe on val",
                           "the searched setting is worse than the default recipe on val")
        lines.append(verdict[0].upper() + verdict[1:] + ".")
        if tuned.train_samples != default.train_samples:
            lines.append("The two runs trained on different numbers of images, so the comparison is not like for "
                         "like.")
    return lines


def finetune_findings(results: dict) -> list[str]:
    """Sentences about :func:`charclf.experiments.finetune.pretrain_finetune`'s ``results``: what the fine-tune
    changed over its pre-trained start, and — with its controls — whether the optimizer switch (against SGD
    continued for the same epochs) and the two stages (against Adam from scratch for both stages' epochs) explain
    it."""
    pre, ft = results["pretrain"], results["finetune"]

    def stage(r: dict) -> str:
        return (f"val {r['val_acc']:.2%}, test {r['test_acc']:.2%} ({r['train_samples']:,} images, "
                f"{r['epochs_run']} epochs)")

    lines = [f"Pre-training ({pre['optimizer']}) reaches {stage(pre)}; fine-tuning from it ({ft['optimizer']}) "
             f"reaches {stage(ft)}: {100 * (ft['val_acc'] - pre['val_acc']):+.2f} points on val. That gain mixes "
             "three changes (more data, more epochs, another optimizer); the controls separate them."]
    questions = {"sgd_continued": ("SGD continued from the same weights for the same epochs",
                                   "the switch to Adam helps", "the switch to Adam hurts"),
                 "adam_scratch": ("Adam from scratch for both stages' epochs",
                                  "the two stages beat one Adam run of the same length",
                                  "one Adam run of the same length beats the two stages")}
    for name, control in results.get("controls", {}).items():
        label, better, worse = questions.get(name, (name, "the fine-tune is better", "the fine-tune is worse"))
        d_val, d_test = 100 * (ft["val_acc"] - control["val_acc"]), 100 * (ft["test_acc"] - control["test_acc"])
        lines.append(f"Against {label} ({stage(control)}): {d_val:+.2f} points on val, {d_test:+.2f} on test — "
                     f"{_compare(d_val, d_test, better, worse)}.")
    if not results.get("controls"):
        lines.append("No controls were run, so the gain cannot be attributed to any one of the three changes.")
    return lines
