"""What notebooks 02 and 09 (the ablations), 05 (the searches and the tuned run) and 06 (pre-training,
fine-tuning and its controls) say, as sentences read off their numbers.

Like :mod:`charclf.study.earlier` for notebook 04: the conclusions are computed from the trials, run records and
results the notebook shows, so they follow whatever the runs found. Val decides (val loss within a search, val
accuracy between runs); test accuracy is reported beside it. The seed-noise threshold below was measured under
the full profile; under the quick profile (1,500 val images, a few epochs) the verdicts say they are no result.
"""
from __future__ import annotations

from numbers import Number

import pandas as pd

# Notebook 04's three-seed models spread by 0.11-0.19 points (sample std of one run's test accuracy), so the
# difference of two single-seed runs has a std of about sqrt(2) x that, 0.16-0.27 points: below about twice that,
# a gap between two runs of one seed each is not told apart from seed noise.
SEED_NOISE_PTS = 0.5


def compare_runs(d_val: float, d_test: float, better: str, worse: str, *, profile: str = "full") -> str:
    """The verdict on a one-seed-each difference of ``d_val`` / ``d_test`` accuracy points. The seed-noise
    threshold was measured under the full profile only: under another one the direction is all that is said."""
    if profile != "full":
        verdict = better if d_val > 0 else worse
        return verdict + f" here (the {profile} profile is a smoke test with no measured seed spread, not a result)"
    if round(abs(d_val), 2) < SEED_NOISE_PTS:
        return (f"the val gap is under {SEED_NOISE_PTS} points, within what seeds alone can move two runs of one "
                "seed each: no measurable difference")
    verdict = better if d_val > 0 else worse
    if (d_test > 0) != (d_val > 0):
        return verdict + "; the test part does not agree, so read it as noise rather than a difference"
    return (verdict + ", and the test part agrees (larger than notebook 04's seed spread, but one seed each: "
            "indicative, not conclusive)")


def complete_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that trained to the end: a pruned trial's val loss is its last mid-training one, not a result."""
    complete = trials[(trials["state"] == "COMPLETE") & trials["val_loss"].notna()]
    if "repeat_of" in complete:  # a repeat took an earlier trial's result: that trial is already here
        complete = complete[complete["repeat_of"].isna()]
    return complete.sort_values("number")


def _params(row: pd.Series, names: list[str]) -> str:
    return ", ".join(f"{name} {row[name]:g}" if isinstance(row[name], Number) else f"{name} {row[name]}"
                     for name in names)


def trials_to_match(trials: pd.DataFrame, target: float) -> int | None:
    """How many trials (counting pruned ones: they spent budget too) a search had finished when a complete trial
    first reached ``target`` val loss or lower; None if it never did."""
    finished = trials.sort_values("number").reset_index(drop=True)
    hits = finished.index[(finished["state"] == "COMPLETE") & (finished["val_loss"] <= target)]
    return int(hits[0]) + 1 if len(hits) else None


def _search_line(name: str, trials: pd.DataFrame) -> tuple[str, pd.Series | None]:
    # Older studies have no repeat_of or diverged column: none of their trials was either.
    none = pd.Series(False, index=trials.index)
    repeats = trials["repeat_of"].notna() if "repeat_of" in trials else none
    pruned = (trials["state"] == "PRUNED") & ~repeats
    diverged = pruned & (trials["diverged"].fillna(False).astype(bool) if "diverged" in trials else none)
    stopped = f"{int((pruned & ~diverged).sum())} pruned by the median rule"
    if diverged.any():
        stopped += f", {int(diverged.sum())} stopped as diverged"
    if repeats.any():
        stopped += f", {int(repeats.sum())} drew an earlier trial's point again and took its result untrained"
    complete = complete_trials(trials)
    if complete.empty:
        return f"{name}: no trial has completed yet ({len(trials)} finished, {stopped}).", None
    row = complete.loc[complete["val_loss"].idxmin()]
    names = trials.attrs.get("params") or [c for c in ("lr", "batch_size", "momentum", "weight_decay") if c in trials]
    return (f"{name}: {len(trials)} trials finished ({stopped}); the lowest val loss of a complete trial, "
            f"{row['val_loss']:.4f}, is trial #{int(row['number'])} ({_params(row, names)})."), row


def search_findings(searches: dict[str, pd.DataFrame], default=None, tuned=None, *, shared_first: int = 0,
                    profile: str = "full") -> list[str]:
    """Sentences about ``searches`` (``{sampler: trials_dataframe()}``, the first one the reference) and, when
    both are given, the tuned run against the default recipe (:class:`~charclf.eval.record.RunRecord` each).
    ``shared_first``: how many first trials the second search shares with the first by construction (TPE's
    seeded random start, :data:`charclf.experiments.tune.TPE_STARTUP_TRIALS`)."""
    lines, best = [], {}
    for name, trials in searches.items():
        line, row = _search_line(name, trials)
        lines.append(line)
        if row is not None:
            best[name] = row
    if len(best) == 2:
        (ref, ref_row), (other, other_row) = best.items()
        n_ref, n_other = len(searches[ref]), len(searches[other])
        budget = f"{n_ref} trials each" if n_ref == n_other else f"{n_ref} and {n_other} trials"
        if max(n_ref, n_other) <= shared_first:
            lines.append(f"Both searches ({budget}) are still within the {shared_first} seeded random trials they "
                         f"share, so they are the same draws so far: {other} has not proposed a trial of its own.")
        else:
            gap = round(other_row["val_loss"] - ref_row["val_loss"], 4)
            lead = (f"{other if gap < 0 else ref}'s best val loss is lower by {abs(gap):.4f}" if gap
                    else "both reach the same best val loss")
            matched = trials_to_match(searches[other], ref_row["val_loss"])
            if matched is None:
                tail = f"{other} never matched {ref}'s best."
            elif matched <= shared_first:
                tail = (f"{other} matched {ref}'s best within the {shared_first} seeded random trials the two share, "
                        f"so not by its own proposals.")
            else:
                tail = (f"{other} first matched {ref}'s best at its trial {matched}"
                        + (f", after the {shared_first} it shares." if shared_first else "."))
            lines.append(f"Over {budget}, {lead}. {tail}")
    if default is not None and tuned is not None:
        d_val, d_test = 100 * (tuned.best_val_acc - default.best_val_acc), 100 * (tuned.test_acc - default.test_acc)
        lines.append(f"Trained in full, the searched setting reaches val {tuned.best_val_acc:.2%} and test "
                     f"{tuned.test_acc:.2%} ({tuned.train_samples:,} images, {tuned.epochs_run} epochs); the default "
                     f"recipe val {default.best_val_acc:.2%} and test {default.test_acc:.2%} ({default.train_samples:,} "
                     f"images, {default.epochs_run} epochs): {d_val:+.2f} points on val, {d_test:+.2f} on test. The "
                     "setting was chosen on val, so its val number leans optimistic and the test part is the clean "
                     "check.")
        verdict = compare_runs(d_val, d_test, "the searched setting is better than the default recipe on val",
                               "the searched setting is worse than the default recipe on val", profile=profile)
        lines.append(verdict[0].upper() + verdict[1:] + ".")
        if tuned.train_samples != default.train_samples:
            lines.append("The two runs trained on different numbers of images, so the comparison is not like for "
                         "like.")
    return lines


def finetune_findings(results: dict, *, profile: str = "full") -> list[str]:
    """Sentences about :func:`charclf.experiments.finetune.pretrain_finetune`'s ``results``: what the fine-tune
    changed over its pre-trained start, and — with its controls — whether the optimizer switch (against the
    pre-training's optimizer continued for the same epochs) and the two stages (against the fine-tune's optimizer
    from scratch for both stages' epochs) explain it."""
    pre, ft = results["pretrain"], results["finetune"]

    def stage(r: dict) -> str:
        return (f"val {r['val_acc']:.2%}, test {r['test_acc']:.2%} ({r['train_samples']:,} images, "
                f"{r['epochs_run']} epochs)")

    changes = ["more epochs"]
    if ft["train_samples"] > pre["train_samples"]:
        changes.insert(0, "more data")
    if ft["optimizer"] != pre["optimizer"]:
        changes.append("another optimizer")
    lines = [f"Pre-training ({pre['optimizer']}) reaches {stage(pre)}; fine-tuning from it ({ft['optimizer']}) "
             f"reaches {stage(ft)}: {100 * (ft['val_acc'] - pre['val_acc']):+.2f} points on val. "
             + (f"That change mixes {len(changes)} things ({', '.join(changes)})"
                + ("; the controls separate them." if results.get("controls") else ".")
                if len(changes) > 1 else f"The stages differ only in {changes[0]}.")]
    both_stages = pre["epochs_run"] + ft["epochs_run"]
    for name, control in (results.get("controls") or {}).items():
        if name == "sgd_continued":
            label = f"{control['optimizer']} continued from the same weights for the same epochs"
            better, worse = (f"the switch to {ft['optimizer']} helps", f"the switch to {ft['optimizer']} hurts")
        elif name == "adam_scratch":
            length = ("both stages' epochs" if control["epochs_run"] == both_stages else
                      f"both stages' {both_stages} epochs as its budget")
            label = f"{control['optimizer']} from scratch for {length}"
            better = f"the two stages beat one {control['optimizer']} run of that budget"
            worse = f"one {control['optimizer']} run of that budget beats the two stages"
        else:
            label, better, worse = name, "the fine-tune is better", "the fine-tune is worse"
        d_val, d_test = 100 * (ft["val_acc"] - control["val_acc"]), 100 * (ft["test_acc"] - control["test_acc"])
        lines.append(f"Against {label} ({stage(control)}): {d_val:+.2f} points on val, {d_test:+.2f} on test — "
                     f"{compare_runs(d_val, d_test, better, worse, profile=profile)}.")
    if not results.get("controls") and len(changes) > 1:
        lines.append("No controls were run, so the change cannot be attributed to any one of these.")
    return lines


def ablation_findings(table: pd.DataFrame, *, profile: str = "full") -> list[str]:
    """Sentences about an ablation's ``table`` (:func:`charclf.study.plan.run_ablation`'s: one row per arm, the
    first the reference): each other arm against the reference, one seed each, val deciding, with the change in
    test macro recall beside it when the table has that column; then the arm with the best val accuracy."""
    base = table.iloc[0]
    lines = [f"Reference, {base['label']}: val {base['best val acc']:.2%}, test {base['test acc']:.2%}."]
    for _, arm in table.iloc[1:].iterrows():
        d_val = 100 * (arm["best val acc"] - base["best val acc"])
        d_test = 100 * (arm["test acc"] - base["test acc"])
        line = (f"{arm['label']}: val {arm['best val acc']:.2%}, test {arm['test acc']:.2%} — "
                f"{d_val:+.2f} points on val, {d_test:+.2f} on test: "
                f"{compare_runs(d_val, d_test, 'the change helps', 'the change hurts', profile=profile)}.")
        if pd.notna(arm.get("test macro recall")) and pd.notna(base.get("test macro recall")):
            # Said beside, not instead: val accuracy decides; macro recall shows what a rebalancing arm buys.
            d_recall = 100 * (arm["test macro recall"] - base["test macro recall"])
            line += (f" Macro recall on test (the mean of the per-class recalls): "
                     f"{arm['test macro recall']:.2%}, {d_recall:+.2f} points.")
        lines.append(line)
    best = table["best val acc"].idxmax()
    lines.append(f"Highest val accuracy: {table.loc[best, 'label']} ({table.loc[best, 'best val acc']:.2%}); "
                 f"its test accuracy, {table.loc[best, 'test acc']:.2%}, is read once, after the choice.")
    return lines
