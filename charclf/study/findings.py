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

from charclf.eval.seeds import SEED_NOISE_PTS, SEED_NOISE_RULE  # noqa: F401  (re-exported: the notebooks read it here)
from charclf.study.report import run_precision


def compare_runs(d_val: float, d_test: float, better: str, worse: str, *, profile: str = "full") -> str:
    """The verdict on a one-seed-each difference of ``d_val`` / ``d_test`` accuracy points. The seed-noise
    threshold was set from the full profile's seeds only: under another one the direction is all that is said."""
    if profile != "full":
        verdict = better if d_val > 0 else worse
        return verdict + f" here (the {profile} profile is a smoke test with no measured seed spread, not a result)"
    if round(abs(d_val), 2) < SEED_NOISE_PTS:
        return (f"the val gap is under {SEED_NOISE_PTS} points ({SEED_NOISE_RULE}): not told apart from seed noise "
                "at one seed each")
    verdict = better if d_val > 0 else worse
    if (d_test > 0) != (d_val > 0):
        return verdict + "; the test part does not agree, so read it as noise rather than a difference"
    return (verdict + f", and the test part agrees (over the {SEED_NOISE_PTS}-point one-seed threshold, but one seed "
            "each: indicative, not conclusive)")


def complete_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that trained to the end: a pruned trial's val loss is its last mid-training one, not a result."""
    complete = trials[(trials["state"] == "COMPLETE") & trials["val_loss"].notna()]
    if "repeat_of" in complete:  # a repeat took an earlier trial's result: that trial is already here
        complete = complete[complete["repeat_of"].isna()]
    return complete.sort_values("number")


def _params(row: pd.Series, names: list[str]) -> str:
    return ", ".join(f"{name} {row[name]:g}" if isinstance(row[name], Number) else f"{name} {row[name]}"
                     for name in names)


def search_summary(result) -> dict:
    """A search's row of notebook 05's random-vs-TPE table: trials finished, complete ones, and the best complete
    trial (its val loss, number and parameters; a pruned trial's loss is a mid-training one and does not compete)."""
    trials = result.trials_dataframe()
    done = complete_trials(trials)
    return {"trials": len(trials), "complete": len(done), "best val loss": done["val_loss"].min(),
            "best trial": int(done.loc[done["val_loss"].idxmin(), "number"]), "best params": str(result.best_params)}


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


# -- "What we found": each notebook's closing sentences, built from the numbers it shows -------------------
def print_found(lines: list[str]) -> None:
    """Print ``lines`` as a Markdown-like bullet list (the closing cell of every notebook)."""
    print("\n".join(f"* {line}" for line in lines))


def dataset_found(train_counts: pd.Series, share: pd.DataFrame) -> list[str]:
    """Notebook 01: the class imbalance of the training part and what the 15 case-ambiguous letters cost a
    classifier that sees only their shape (``share``: one row per letter, columns ``lower`` and ``upper``)."""
    total = int(train_counts.sum())
    ambiguous = int(share[["lower", "upper"]].sum().sum())
    lost = int(share[["lower", "upper"]].min(axis=1).sum())
    return [f"The training part holds {total:,} images of {len(train_counts)} classes; the most frequent class "
            f"({train_counts.idxmax()!r}, {int(train_counts.max()):,}) has {train_counts.max() / train_counts.min():.1f}× "
            f"the images of the rarest ({train_counts.idxmin()!r}, {int(train_counts.min()):,}).",
            f"The 15 case-ambiguous letters hold {ambiguous:,} training images ({ambiguous / total:.1%}); a classifier "
            f"that cannot tell their two cases apart and always picks the more frequent one is wrong on {lost:,} of "
            f"them: {lost / total:.1%} of the training part (notebook 07 measures how much of a trained model's "
            f"error is such a confusion of case)."]


def ablation_summary(table: pd.DataFrame, *, profile: str = "full") -> list[str]:
    """Notebooks 02 and 09: the arm with the best val accuracy, and which arms moved val by more than seed noise
    (one seed each), from :func:`charclf.study.plan.run_ablation`'s table (the first row is the reference)."""
    base = table.iloc[0]
    best = table["best val acc"].idxmax()
    d_val = 100 * (table["best val acc"] - base["best val acc"])
    beyond = [f"{table.loc[i, 'label']} ({d:+.2f})" for i, d in d_val.iloc[1:].items() if abs(d) >= SEED_NOISE_PTS]
    if best == table.index[0]:
        lines = [f"No arm beat the reference, {base['label']}, on val ({base['best val acc']:.2%}; test "
                 f"{base['test acc']:.2%})."]
    else:
        lines = [f"Best on val: {table.loc[best, 'label']} at {table.loc[best, 'best val acc']:.2%} (test "
                 f"{table.loc[best, 'test acc']:.2%}), against the reference's {base['best val acc']:.2%}."]
    if profile != "full":
        lines.append(f"The {profile} profile is a smoke test: these arms show the pipeline runs, not what they are worth.")
    elif beyond:
        lines.append(f"Arms that moved val by at least {SEED_NOISE_PTS} points (one seed each): {', '.join(beyond)}; "
                     "every other arm is within seed noise of the reference.")
    else:
        lines.append(f"No arm moved val by {SEED_NOISE_PTS} points or more: within seed noise, one seed each.")
    recall = table.get("test macro recall")
    if (profile == "full" and recall is not None and recall.notna().all() and len(recall) > 1
            and recall.idxmax() != best):
        top = recall.idxmax()  # what a class-balancing change is for: the rare classes, not the accuracy
        lines.append(f"Highest test macro recall (the mean of the per-class recalls): {table.loc[top, 'label']} at "
                     f"{recall[top]:.2%}, against the reference's {recall.iloc[0]:.2%} "
                     f"({100 * (recall[top] - recall.iloc[0]):+.2f} points; read once on test, one seed).")
    return lines


# -- notebook 08: which EMNIST-MNIST number to read ---------------------------------------------------------
# The whole EMNIST-MNIST test file holds 1,275 images byte-identical to images of the ByClass holdout train and val
# parts the transfer run's source model trained on; the disjoint column scores the file less them
# (charclf.experiments.transfer.DISJOINT_COLUMN / DISJOINT_KEY, the same strings: tested).
EMNIST_MNIST_DISJOINT = "emnist_mnist_disjoint_test_acc"
EMNIST_MNIST_WHOLE = "emnist_mnist_test_acc"
EMNIST_MNIST_FACTS = "emnist_mnist_disjoint_test"
TRANSFER_LABELS = {
    "test_acc": "MNIST test",
    EMNIST_MNIST_DISJOINT: "EMNIST-MNIST test, less the source's training images",
    EMNIST_MNIST_WHOLE: "EMNIST-MNIST test, whole file (overlaps the source's training images)",
}


def _has_disjoint(table: pd.DataFrame) -> bool:
    """Whether every row of ``table`` (runs, or :func:`~charclf.eval.seeds.mean_std`'s summary) has the disjoint
    accuracy: a mean over some rows only would compare runs on different sets."""
    if isinstance(table.columns, pd.MultiIndex):
        if EMNIST_MNIST_DISJOINT not in table.columns.get_level_values(0):
            return False
        return bool(table[(EMNIST_MNIST_DISJOINT, "mean")].notna().all())
    return EMNIST_MNIST_DISJOINT in table and bool(table[EMNIST_MNIST_DISJOINT].notna().all())


def emnist_mnist_columns(table: pd.DataFrame) -> list[str]:
    """Notebook 08's EMNIST-MNIST accuracy columns of ``table`` (one row per run and seed), the one to read first:
    the disjoint one (less the source model's training images) when every row has it, then the whole-file one,
    kept visible; an older results file without the disjoint column gives the whole-file one alone. Show them
    with :func:`label_transfer_columns`, which names the whole-file one as overlapping."""
    return [EMNIST_MNIST_DISJOINT, EMNIST_MNIST_WHOLE] if _has_disjoint(table) else [EMNIST_MNIST_WHOLE]


def transfer_accuracy_columns(table: pd.DataFrame) -> list[str]:
    """The accuracy columns notebook 08 averages over seeds (:func:`~charclf.eval.seeds.mean_std`)."""
    return ["best_val_acc", "test_acc", *emnist_mnist_columns(table)]


def label_transfer_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (runs, or a summary with (column, mean/std) columns) with its MNIST and EMNIST-MNIST accuracy
    columns named for a reader (:data:`TRANSFER_LABELS`): the whole-file EMNIST-MNIST column says it overlaps the
    source's training images."""
    return table.rename(columns=TRANSFER_LABELS)


def transfer_figure_columns(summary: pd.DataFrame) -> dict[str, str]:
    """``{column: legend label}`` of notebook 08's bar chart: MNIST test and the EMNIST-MNIST column to read (the
    disjoint one when every run has it, else the whole file, labelled as overlapping)."""
    column = emnist_mnist_columns(summary)[0]
    return {"test_acc": TRANSFER_LABELS["test_acc"], column: TRANSFER_LABELS[column]}


def emnist_mnist_note(results: dict) -> str:
    """One sentence on the EMNIST-MNIST sets of a ``transfer_to_mnist`` results file: how many images the
    disjoint set scored, how many were dropped and why; or, for a file without the disjoint facts, that its
    number overlaps the source model's training images."""
    facts = results.get(EMNIST_MNIST_FACTS)
    if not isinstance(facts, dict):
        return (f"{results.get('emnist_mnist_test', 'EMNIST-MNIST test')}: the whole file, which holds images "
                "byte-identical to the source model's training images (no disjoint score in this results file: "
                "tools/rescore_emnist_mnist_disjoint.py adds it for runs that kept their weights)")
    if facts.get("n") is None:
        return f"EMNIST-MNIST test less the source's training images: not scored ({facts.get('note', '')})"
    parts = ", ".join(f"{n:,} {p}" for p, n in facts.get("dropped_by_part", {}).items())
    line = (f"EMNIST-MNIST test less the source's training images: {facts['n']:,} of {facts['n_total']:,} images "
            f"scored; {facts['n_dropped']:,} dropped as byte-identical to images of the source's "
            f"{facts.get('source_data', {}).get('split', '?')} {facts.get('source_data', {}).get('protocol', '?')} "
            f"train or val part ({parts}). The whole-file column overlaps by those images.")
    missing = facts.get("rows_not_scored") or {}
    if missing:
        line += f" Not scored (no weights kept): {', '.join(missing)}."
    return line


def transfer_found(summary: pd.DataFrame, *, seeds: int, epochs: int, profile: str = "full") -> list[str]:
    """Notebook 08's verdicts: transfer against each of the two other runs, on both test sets, read off
    ``summary`` (:func:`charclf.eval.seeds.mean_std` per run). A gap counts when it is larger than the seeds'
    own spread (:func:`~charclf.eval.seeds.gap_verdict`); with one seed on each side, under the full profile, when
    it is larger than :data:`SEED_NOISE_PTS` (the threshold set there, as :func:`compare_runs` uses).
    EMNIST-MNIST is read on the set less the source model's training images when every run has it; else on the
    whole file, and the sentence says that it overlaps them (so it leans towards transfer)."""
    from charclf.eval.seeds import gap_verdict

    mean, spread = summary.xs("mean", axis=1, level=1), summary.xs("std", axis=1, level=1)
    one_seed_noise = SEED_NOISE_PTS / 100 if profile == "full" else None
    emnist = emnist_mnist_columns(summary)[0]
    lines = []
    for (column, where), other in ((c, o) for c in (("test_acc", "MNIST test"), (emnist, TRANSFER_LABELS[emnist]))
                                   for o in ("scratch", "minivision_v2")):
        if other not in mean.index:  # a comparison run without its baseline (baseline_recipe=None)
            continue
        gap = mean.loc["transfer", column] - mean.loc[other, column]
        verdict = gap_verdict(gap, spread.loc["transfer", column], spread.loc[other, column],
                              one_seed_noise=one_seed_noise)
        lines.append(f"{where}: transfer {mean.loc['transfer', column]:.2%} vs {other} {mean.loc[other, column]:.2%} "
                     f"({gap * 100:+.2f} points, {verdict}; {seeds} seed(s), {epochs} epochs each)")
    return lines


def evaluation_found(name: str, entry: dict, top: pd.DataFrame) -> list[str]:
    """Notebook 07: the best run's test accuracy, what merging the case pairs removes, calibration, and how
    many of its most frequent confusions are a question of case (``top``: with a ``case only`` column)."""
    acc, merged = entry["accuracy"], entry.get("merged47_accuracy")
    lines = [f"`{name}` (chosen on val) scores {acc:.2%} on the {entry['n']:,} test images."]
    if merged is not None:
        removed = 1 - (1 - merged) / (1 - acc)
        lines.append(f"Scored after merging the 15 case pairs, the same predictions reach {merged:.2%}: "
                     f"{removed:.0%} of its errors are a confusion between the two cases of one letter.")
    lines.append(f"{int(top['case only'].sum())} of its {len(top)} most frequent confusions differ only by case; "
                 f"its expected calibration error is {entry['ece']:.4f}.")
    return lines


def precision_columns(table: pd.DataFrame, runs: dict) -> pd.DataFrame:
    """``runs_table(runs)`` with ``val precision``: what the per-epoch val that chose the weights ran in (an
    older run, recorded as None, scored val in its training precision)."""
    scored = {label: run.record.val_precision for label, run in runs.items()}
    chose = {label: run.record.epoch_chosen_on for label, run in runs.items()}
    return table.assign(**{"val precision": table.index.map(scored), "epoch chosen on": table.index.map(chose)})


def summary_precision(summary: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``seed_summary`` with the precisions of each model's seeds (counted where they differ)."""
    from charclf.study.report import precision_label

    labels = {model: precision_label(list(g["precision"]), list(g["val precision"]), list(g["epoch chosen on"]))
              for model, g in table.groupby("model")}
    return summary.assign(**{"precision (train / val)": summary.index.map(labels)})


def audit_found(results: dict) -> list[str]:
    """Notebook 12: how much is flagged, what share of the model's test errors falls on each kind of flag, the
    ceiling, and the cleaning experiment — from the audit's JSON."""
    from charclf.study.headline import audit_shares

    overall, kinds = results["overall"], results["overall"]["by_kind"]
    s = audit_shares(results)
    share = {k: s["shares"].get(k, (0, 0.0)) for k in ("wrong_label", "orientation", "digit_letter", "case")}
    plain = share["wrong_label"][0] + share["orientation"][0]
    bound = "" if s["exact"] else "at most "
    lines = [f"cleanlab flags {overall['flagged']:,} of {overall['images']:,} images ({overall['flagged_rate']:.1%}); "
             f"{kinds.get('case', 0):,} are case pairs EMNIST itself merges (not errors), leaving "
             f"{overall['likely_errors']:,} likely errors: {kinds.get('digit_letter', 0):,} digit/letter look-alikes, "
             f"{kinds.get('wrong_label', 0):,} plainly wrong labels and {kinds.get('orientation', 0):,} orientation "
             "outliers.",
             f"Of the audit model's {s['errors']:,} test errors ({s['accuracy']:.2%} accuracy), {bound}{plain:,} "
             f"({plain / s['errors']:.1%}) fall on plainly wrong or mis-oriented labels, "
             f"{share['digit_letter'][0]:,} ({share['digit_letter'][1]:.1%}) on digit/letter look-alikes (many "
             f"of them ambiguous handwriting rather than a wrong label) and {share['case'][0]:,} "
             f"({share['case'][1]:.1%}) on case pairs. If every likely error were a real one, a perfect model "
             f"could score at most {s['ceiling']:.1%} against these labels."]
    experiment = results.get("experiment") or {}
    scores = experiment.get("scores") or {}
    if "baseline" in scores and "cleaned" in scores:
        before, after = scores["baseline"]["test"]["accuracy"], scores["cleaned"]["test"]["accuracy"]
        lines.append(f"Trained without its {experiment['removed_train_images']:,} likely errors, the same recipe "
                     f"scores {after:.2%} on the original test part against {before:.2%} "
                     f"({100 * (after - before):+.2f} points, one seed each).")
    return lines


def architectures_found(table: pd.DataFrame, check: pd.DataFrame, same_order: bool) -> list[str]:
    """Notebook 03: how many models, their range of size and cost, whether the published parameter counts are
    reproduced, and whether pooling before the ReLU computes exactly what the card's order does."""
    smallest, largest = table["params"].idxmin(), table["params"].idxmax()
    cheapest, dearest = table["MMACs"].idxmin(), table["MMACs"].idxmax()
    return [f"{len(table)} registered models, from `{smallest}` ({int(table.loc[smallest, 'params']):,} parameters) "
            f"to `{largest}` ({int(table.loc[largest, 'params']):,}), and from {table.loc[cheapest, 'MMACs']:.2f} "
            f"(`{cheapest}`) to {table.loc[dearest, 'MMACs']:,.0f} MMACs per image (`{dearest}`).",
            f"{int(check['equal'].sum())} of the {len(check)} published parameter counts are reproduced exactly.",
            "Pooling before the ReLU gives " + ("bit-identical outputs to" if same_order else "outputs that differ from")
            + " the card's Conv → ReLU → MaxPool order on a random batch."]


def data_found(parts: dict, tag: str) -> list[str]:
    """Notebook 00: the parts of the protocol every notebook trains, chooses and tests on (``{part: dataset}``)."""
    sizes = {p: len(ds) for p, ds in parts.items()}
    present = min(int((ds.class_counts() > 0).sum()) for ds in parts.values())
    return [f"The protocol's parts hold {sizes['train']:,} training, {sizes['val']:,} val and {sizes['test']:,} test "
            f"images, every one of the {present} classes in every part ({tag}); val chooses, test is read once."]


def predictions_found(name: str, entries: list[dict], truth: list[int], pred: list[int]) -> list[str]:
    """Notebook 10: how many image files the model read right, and how many it refused with an error."""
    right = sum(t == p for t, p in zip(truth, pred))
    refused = sum(not e["ok"] for e in entries)
    return [f"`{name}` read {right} of the {len(truth)} readable files right; {refused} file(s) were refused "
            "with a one-line error while the others ran."]


def with_precision(table: pd.DataFrame, run_dirs: dict) -> pd.DataFrame:
    """``table`` with a ``precision (train / val)`` column, read from the run record of each row's folder
    (``{row label: run folder}``), so a table comparing runs shows what each arm ran in."""
    from charclf.eval.record import RunRecord

    labels = {label: run_precision(RunRecord.load(folder)) for label, folder in run_dirs.items()}
    return table.assign(**{"precision (train / val)": table.index.map(labels)})
