"""charclf.eval.seeds: the mean ± std over seeds and the verdict on a gap, as notebooks 07 and 08 computed them."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from charclf.eval.seeds import LARGER, ONE_SEED, WITHIN, format_mean_std, gap_verdict, mean_std, seed_stats

TABLE = pd.DataFrame({"model": ["b", "a", "a", "a", "b", "c"], "seed": [0, 0, 1, 2, 1, 0],
                      "val acc": [0.80, 0.90, 0.91, 0.92, 0.82, 0.70], "accuracy": [0.79, 0.89, 0.905, 0.91, 0.8, 0.71]})


def test_mean_std_and_its_text_are_notebook_07s_table():
    columns = ["val acc", "accuracy"]
    grouped = TABLE.groupby("model")
    mean, std = grouped[columns].mean(), grouped[columns].std()  # notebook 07, by hand
    by_hand = mean.map("{:.4f}".format) + std.map(lambda v: "" if pd.isna(v) else f" ± {v:.4f}")
    stats = mean_std(TABLE, "model", columns)
    pd.testing.assert_frame_equal(stats, grouped[columns].agg(["mean", "std"]))  # notebook 08's summary
    text = format_mean_std(stats)
    pd.testing.assert_frame_equal(text, by_hand)
    assert text.loc["a", "val acc"] == "0.9100 ± 0.0100" and text.loc["c", "accuracy"] == "0.7100"  # one seed


def test_seed_stats_reads_off_mean_std():
    stats = seed_stats(TABLE, val="val acc", test="accuracy")
    assert stats.loc["a", "n"] == 3 and stats.loc["a", "val_mean"] == pytest.approx(0.91)
    assert stats.loc["b", "test_std"] == pytest.approx(pd.Series([0.79, 0.8]).std()) and math.isnan(stats.loc["c", "val_std"])


@pytest.mark.parametrize("gap, a, b, expected", [
    (0.02, 0.01, 0.005, LARGER), (-0.02, 0.01, 0.03, WITHIN), (0.01, 0.01, 0.0, WITHIN),
    (0.02, math.nan, 0.01, LARGER), (0.005, 0.01, math.nan, WITHIN), (0.3, math.nan, math.nan, ONE_SEED)])
def test_gap_verdict_is_notebook_08s_rule(gap, a, b, expected):
    # Notebook 08, by hand: the larger std of the two (pandas' max skips NaN), unknown when both are NaN.
    noise = pd.Series([a, b]).max()
    by_hand = (ONE_SEED if pd.isna(noise) else LARGER if abs(gap) > noise else WITHIN)
    assert gap_verdict(gap, a, b) == by_hand == expected


def test_gap_verdict_with_a_one_seed_threshold():
    assert gap_verdict(0.006, math.nan, math.nan, one_seed_noise=0.005) == LARGER
    assert gap_verdict(0.004, math.nan, math.nan, one_seed_noise=0.005) == WITHIN


def test_one_mean_and_std_read_the_same_wherever_shown():
    from charclf.eval.seeds import mean_pm_std

    assert mean_pm_std(0.87061, 0.0007) == "87.06% ± 0.07%"
    assert mean_pm_std(0.87061, float("nan")) == mean_pm_std(0.87061) == "87.06%"  # one seed: the mean alone
    assert mean_pm_std(34.71, 1.24, ".1f") == "34.7 ± 1.2" and mean_pm_std(None) == "–"
