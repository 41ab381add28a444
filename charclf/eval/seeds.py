"""The one aggregation over seeds: mean and sample std of val and test accuracy per model.

The README's table, the notebooks' tables and the model cards' ``seeds.json`` all come from ``seed_stats``, so a
3-seed number reads the same wherever it is shown.
"""
from __future__ import annotations

import pandas as pd


def seed_stats(table: pd.DataFrame, *, model: str = "model", val: str = "val_acc", test: str = "test_acc",
               seed: str | None = "seed") -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of val and test accuracy per model, ``n`` = seeds."""
    grouped = table.groupby(model)
    return pd.DataFrame({"n": grouped[seed].nunique() if seed else grouped.size(),
                         "val_mean": grouped[val].mean(), "val_std": grouped[val].std(),
                         "test_mean": grouped[test].mean(), "test_std": grouped[test].std()})
