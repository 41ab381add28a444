"""The one aggregation over seeds: mean and sample std per model (or run), how it is printed, and when a gap
between two such means counts.

The README's table, the notebooks' tables and the model cards' ``seeds.json`` all come from here, so a 3-seed
number reads the same wherever it is shown.
"""
from __future__ import annotations

import math

import pandas as pd

WITHIN = "within the seeds' spread"
LARGER = "larger than the seeds' spread"
ONE_SEED = "one seed: its spread is unknown"


def mean_std(table: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of ``columns`` per ``by`` group: columns
    ``(column, "mean")`` and ``(column, "std")``, groups sorted, as ``groupby(by)[columns].agg(["mean", "std"])``."""
    return table.groupby(by)[list(columns)].agg(["mean", "std"])


def format_mean_std(stats: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """:func:`mean_std`'s table as text, one column per measured column: ``"0.8712 ± 0.0011"``, or the mean alone
    where the std is NaN (one seed)."""
    means, stds = stats.xs("mean", axis=1, level=1), stats.xs("std", axis=1, level=1)
    return (means.map(f"{{:.{digits}f}}".format)
            + stds.map(lambda v: "" if pd.isna(v) else f" ± {v:.{digits}f}"))


def mean_pm_std(mean: float | None, std: float | None = None, spec: str = ".2%") -> str:
    """One mean ± std as text, formatted by ``spec`` (``"87.06% ± 0.07%"``; ``".1f"`` for seconds): the mean alone
    where the std is None or NaN (one seed), "–" where there is no mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:{spec}}" + ("" if std is None or pd.isna(std) else f" ± {std:{spec}}")


# A threshold set by hand, not measured when a notebook runs. It comes from the spread of notebook 04's three-seed
# models' *test* accuracy (sample std 0.11-0.23 points per run at the full profile, pooled 0.18): the gap between two
# single-seed runs has a std of about sqrt(2) x that, and two std of it is about 0.5 points. It is applied to *val*
# gaps, where the same models spread less (0.10-0.13, pooled 0.12): the same rule on val would give about 0.34
# points, so this threshold is the more cautious of the two. The printed words (SEED_NOISE_RULE) say what it is.
SEED_NOISE_PTS = 0.5
# What SEED_NOISE_PTS is, in the words a printed sentence puts beside it: "under 0.5 points (<this>)"
SEED_NOISE_RULE = ("a fixed threshold, set by hand at about two std of the gap between two one-seed runs from the "
                   "test-accuracy spread of notebook 04's three-seed models")


def seed_stats(table: pd.DataFrame, *, model: str = "model", val: str = "val_acc", test: str = "test_acc",
               seed: str | None = "seed") -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of val and test accuracy per model, ``n`` = seeds."""
    stats = mean_std(table, model, [val, test])
    grouped = table.groupby(model)
    return pd.DataFrame({"n": grouped[seed].nunique() if seed else grouped.size(),
                         "val_mean": stats[(val, "mean")], "val_std": stats[(val, "std")],
                         "test_mean": stats[(test, "mean")], "test_std": stats[(test, "std")]})


def gap_verdict(gap: float, std_a: float, std_b: float, *, one_seed_noise: float | None = None) -> str:
    """Whether the gap between two means over seeds counts: only when it is larger than the seeds' own spread,
    the larger of the two sample stds (a one-seed side has none). With one seed on both sides the spread is unknown: say so, or, given
    ``one_seed_noise`` (a threshold set elsewhere, e.g. ``SEED_NOISE_PTS / 100`` in accuracy units), compare
    the gap with that instead."""
    spreads = [s for s in (std_a, std_b) if not math.isnan(s)]
    noise = max(spreads) if spreads else math.nan  # a one-seed side adds no spread (as pandas' max skips NaN)
    if math.isnan(noise):
        if one_seed_noise is None:
            return ONE_SEED
        noise = one_seed_noise
    return LARGER if abs(gap) > noise else WITHIN


GOAL_SEEDS = 3  # a goal is judged on the mean over this many seeds


def verdict(value: float | None, target: float, std: float | None = None, *, seeds: int = GOAL_SEEDS,
            lower_is_better: bool = False) -> tuple[float | None, str]:
    """``(margin, words)`` of a goal: the margin by which ``value`` (a mean over ``seeds``) clears ``target``
    (positive = met; for seconds, ``lower_is_better``), and "met", "met, within noise" (a margin under one std),
    "not met", "not met, within noise" or "not met: n seed(s), the goal needs 3"."""
    if value is None:
        return None, "not met: no candidate yet"
    margin = (target - value) if lower_is_better else (value - target)
    noise = std is not None and abs(margin) < std
    if seeds < GOAL_SEEDS:
        return margin, f"not met: {seeds} seed(s), the goal needs {GOAL_SEEDS}"
    if margin >= 0:
        return margin, "met, within noise" if noise else "met"
    return margin, "not met, within noise" if noise else "not met"
