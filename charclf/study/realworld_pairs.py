"""A training change judged on real handwriting as well as on EMNIST, seed by seed (issue #39, "Train for it").

Notebook 11 pairs runs that differ in one change (``plan.paired_comparisons``). For a change meant to help with real
photos and scans, such as the capture augmentation, the pair is scored twice: on the EMNIST holdout (val in
float32, test read once) from each run's ``metrics.json``, and on the real-world set from the artifact that
``charclf evaluate-images --model outputs/runs/<profile>/<run>`` wrote for that run
(``outputs/realworld/runs/<profile>/<run>.json``; the set is not in CI, so the notebook reads committed artifacts).

The change is kept when, over the seeds both arms have, the real-world merged top-1 rises and the EMNIST val (float32)
does not fall. The real-world side reads the set's dev part (``charclf.data.realworld_parts``: choices are made
there) where the artifacts have it, else the whole set (an artifact from before the split). An EMNIST val fall
counts only when the mean val change is below zero by more than the paired val changes' std (one std of noise is
not a fall). Val decides, as everywhere in the study ("choose on val; read test once"): the
EMNIST test change and its paired std are reported beside the verdict and never move it. Whatever else differs
between the arms (their training precision, the precision of the val that chose the epoch) is named beside it.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from charclf.class_prior import recorded_prior
from charclf.eval.realworld_scores import dig, read_artifact, run_artifact
from charclf.eval.seeds import GOAL_SEEDS
from charclf.eval.record import RunRecord
from charclf.provenance import machine_words, threads_words
from charclf.study.plan import BEYOND, PlannedRun, beyond_runs
from charclf.study.runid import RunId
from charclf.train.run_folder import is_finished_run

# The real-world slices a capture change is meant to move: the whole set, photos, scans and lower case, each as
# merged top-1 (the look-alike cases folded, as ByMerge) and the whole set's plain top-1.
REAL_COLUMNS = {"dev merged": ("parts", "dev", "overall", "merged_top1"),
                "real merged": ("overall", "merged_top1"), "real top-1": ("overall", "top1"),
                "photo merged": ("capture", "photo", "merged_top1"), "scan merged": ("capture", "scan", "merged_top1"),
                "lower merged": ("kind", "lower", "merged_top1")}
# What else could differ between the arms: shown, and "DIFFERS between the arms" when it does (a run scored on
# the real set under another class prior than its pair, e.g., is no pair for that column).
SETTINGS = ("precision (train / val)", "epoch chosen on", "training threads", "machine", "real-world prior",
            "real-world split")
# The settings under which two arms' real-world numbers are no pair at all: the verdict waits for a rescore.
STOPS_VERDICT = {"real-world prior": "class priors (charclf evaluate-images --prior)",
                 "real-world split": "dev/held-out splits (charclf/data/realworld/parts.csv)"}
# The capture augmentation (recipe minivision_v3_nearest_capture) and its base, notebook 11's nearest arm.
CHANGED = RunId(BEYOND, "minivision_v3", "capture").series
BASE = RunId(BEYOND, "minivision_v3", "nearest").series


def finished_seeds(runs_dir: Path, profile: str, series: str) -> list[tuple[PlannedRun, RunRecord]]:
    """The finished runs of notebook 11's planned ``series`` (``11_beyond/minivision_v3-capture``: a
    ``RunId.series``) under ``profile``, with their records, by seed."""
    planned = [p for p in beyond_runs(profile) if p.run_id.series == series]
    return [(p, RunRecord.load(runs_dir / p.name)) for p in planned if is_finished_run(runs_dir / p.name)]


def seed_rows(runs_dir: Path, profile: str, series: str) -> pd.DataFrame:
    """One row per finished seed of ``series``: EMNIST val (float32) and holdout test, the real-world columns (NaN
    where the run has no real-world artifact), and the precision it trained and was selected in."""
    rows = []
    for planned, record in finished_seeds(runs_dir, profile, series):
        row = {"seed": planned.seed, "EMNIST val": record.val_acc, "EMNIST test": record.test_acc,
               "precision (train / val)": f"{record.precision} / {record.val_precision}",
               # Older runs chose their best epoch on val in their training precision; new ones in float32.
               "epoch chosen on": f"{record.epoch_chosen_on} val",
               # where it trained: threads and machine image can move a run as much as a small change does
               "training threads": threads_words(record.provenance.get("machine", {})),
               "machine": machine_words(record.provenance.get("machine", {}))}
        artifact = run_artifact(runs_dir.name, planned.name)  # keyed by the runs' folder, as evaluate-images keys it
        metrics = read_artifact(artifact)["metrics"] if artifact.is_file() else None
        row["real-world prior"] = recorded_prior(metrics) if metrics else "not scored"
        split = (metrics or {}).get("parts_split") or {}
        row["real-world split"] = (f"parts.csv {split['sha256'][:12]}" if split.get("sha256") else
                                   "not scored" if not metrics else "none recorded")
        for column, keys in REAL_COLUMNS.items():
            value = dig(metrics, keys) if metrics else None
            row[column] = math.nan if value is None else float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(runs_dir: Path, profile: str, changed: str, base: str) -> pd.DataFrame:
    """Seed by seed, the change against its base on the seeds both have, scored on both EMNIST and the real set:
    a row per seed and arm, then each arm's mean ± std and the paired change (changed − base) with its std."""
    a, b = seed_rows(runs_dir, profile, changed), seed_rows(runs_dir, profile, base)
    if a.empty or b.empty:
        return pd.DataFrame()
    seeds = sorted(set(a["seed"]) & set(b["seed"]))
    a, b = (t[t["seed"].isin(seeds)].set_index("seed").sort_index() for t in (a, b))
    measured = ["EMNIST val", "EMNIST test", *REAL_COLUMNS]
    out = []
    for label, side in ((changed, a), (base, b)):
        for seed, row in side.iterrows():
            out.append({"arm": label, "seed": str(seed), **{c: row[c] for c in measured},
                        **{c: row[c] for c in SETTINGS}})
    for label, side in ((changed, a), (base, b)):
        out.append({"arm": label, "seed": f"mean of {len(seeds)}", **{c: side[c].mean(skipna=False) for c in measured},
                    **{c: ", ".join(sorted(set(side[c]))) for c in SETTINGS}})
    delta = a[measured] - b[measured]
    out.append({"arm": "change", "seed": f"mean of {len(seeds)}", **{c: delta[c].mean(skipna=False) for c in measured},
                **{c: "same on both arms" if set(a[c]) == set(b[c]) else "DIFFERS between the arms"
                   for c in SETTINGS}})
    out.append({"arm": "change", "seed": "std", **{c: delta[c].std(ddof=1, skipna=False) for c in measured},
                **{c: "" for c in SETTINGS}})
    return pd.DataFrame(out)


def keep_verdict(table: pd.DataFrame) -> str:
    """Whether to keep the change, by the rule above, from :func:`paired_table`; it says why in one sentence, with
    the EMNIST test change beside it (reported, not deciding)."""
    if table.empty:
        return "not measured yet: no seed has both arms"
    change = table[table["arm"] == "change"].set_index("seed")
    n = int(change.index[0].split()[-1])
    mean = change.iloc[0]
    dev = mean.get("dev merged", math.nan)  # a table made before the split has no such column
    on_dev = not math.isnan(dev)  # choices are made on the dev part where the artifacts have one
    real = dev if on_dev else mean["real merged"]
    what = "real merged on the dev part" if on_dev else "real merged (whole set: no dev part scored)"
    if math.isnan(real):
        return f"not measured yet: {n} paired seed(s) lack a real-world score"
    for setting, differing in STOPS_VERDICT.items():
        if mean.get(setting, "same on both arms") != "same on both arms":  # absent: not recorded, nothing differs
            return (f"not decided: the arms were scored on the real set under different {differing}; score them "
                    "under one")
    val, val_std = mean["EMNIST val"], change.loc["std", "EMNIST val"]
    test, test_std = mean["EMNIST test"], change.loc["std", "EMNIST test"]
    numbers = (f"{what} {real * 100:+.2f} points, EMNIST val {val * 100:+.2f}{_std(val_std)}; EMNIST test "
               f"{test * 100:+.2f}{_std(test_std)}, reported, not deciding")
    if n < GOAL_SEEDS:
        return f"not decided: {n} paired seed(s), the rule needs {GOAL_SEEDS} (so far {numbers})"
    falls = val < 0 and (math.isnan(val_std) or -val > val_std)
    also = _also_differs(table) + _first_rule(test, test_std)
    if real > 0 and not falls:
        return f"keep: {numbers} over {n} seeds{also}"
    why = "real merged does not rise" if real <= 0 else "EMNIST val falls by more than its paired std"
    return f"drop: {why} ({numbers}) over {n} seeds{also}"


def _first_rule(test: float, test_std: float) -> str:
    """What the rule fixed before the runs (keep when the whole set's merged top-1 under the training prior rises
    and EMNIST test does not fall by more than its paired std) says, as far as these numbers can tell: a test fall
    beyond its std drops the change under it whatever the real set shows."""
    if test < 0 and (math.isnan(test_std) or -test > test_std):
        return "; the rule fixed before the runs drops it too (EMNIST test falls by more than its paired std)"
    return ("; the rule fixed before the runs would also need the whole set under the training prior, which "
            "these artifacts do not hold")


def _std(std: float) -> str:
    return "" if math.isnan(std) else f" (paired std {std * 100:.2f})"


def _also_differs(table: pd.DataFrame) -> str:
    """``"; also differs between the arms: epoch chosen on (fp32 val vs bf16 val)"``: each setting of
    :data:`SETTINGS` but the prior (which stops the verdict) that :func:`paired_table` marks as differing, with
    each arm's value (changed vs base); "" where none does."""
    change = table[(table["arm"] == "change")].iloc[0]
    arms = table[(table["arm"] != "change") & table["seed"].str.startswith("mean of")]
    differs = [f"{c} ({' vs '.join(arms[c])})" for c in SETTINGS
               if c not in STOPS_VERDICT and change[c] == "DIFFERS between the arms"]
    return f"; also differs between the arms: {', '.join(differs)}" if differs else ""


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`paired_table` for reading: each arm's accuracies as percentages, the change rows in signed points."""
    out = table.copy()
    if out.empty:  # no seed on both arms yet (the quick profile, a fresh clone): nothing to format
        return out
    for column in ("EMNIST val", "EMNIST test", *REAL_COLUMNS):
        out[column] = [("–" if v != v else f"{v * 100:+.2f} pts" if arm == "change" and seed != "std"
                        else f"{v * 100:.2f} pts" if arm == "change" else f"{v:.2%}")
                       for arm, seed, v in zip(table["arm"], table["seed"], table[column])]
    return out
