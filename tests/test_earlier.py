"""Notebook 04's sentences next to the earlier study are read off the tables, never written by hand."""
from __future__ import annotations

import math

import pandas as pd

from charclf.study.earlier import EARLIER_BYCLASS_STUDY, earlier_study_table, findings
from charclf.study.plan import NOT_YET_TRAINED


def _summary():
    return pd.DataFrame({
        "n": [3, 1, 1],
        "val acc mean": [0.872, 0.868, 0.861],
        "test acc mean": [0.870, 0.866, 0.8624],
        "test acc std": [0.001, float("nan"), float("nan")],
        "params": [1_849_070, 29_534, 1_463_678],
    }, index=pd.Index(["alexnet", "charnet_xs", "vgg"], name="model"))


def test_the_table_puts_ours_next_to_theirs_and_leaves_untrained_models_blank():
    table = earlier_study_table(_summary())
    assert list(table.index) == list(EARLIER_BYCLASS_STUDY)
    assert table.loc["vgg", "ours - theirs (pts)"] == (0.8624 - 0.8724) * 100
    assert table.loc["alexnet", "seeds"] == 3 and table.loc["resnet", "seeds"] == 0
    assert math.isnan(table.loc["resnet", "ours: test mean"])


def test_findings_follow_the_numbers_and_name_what_is_missing():
    status = pd.DataFrame({"model": ["vgg", "vgg", "ensnet"], "seed": [1, 2, 0], "trained": [False, False, False],
                           "reason": [NOT_YET_TRAINED, NOT_YET_TRAINED, "needs a GPU"]},
                          index=["04_training/vgg-seed1", "04_training/vgg-seed2", "04_training/ensnet-seed0"])
    lines = findings(_summary(), status)
    assert lines[0].startswith("Best on validation: `alexnet`, val 87.20%, test 87.00% (3 seeds")
    assert "`charnet_xs`: 86.60% with 29,534 parameters (2% of `alexnet`'s)" in lines[1]
    assert "`vgg` -1.00, `alexnet` +0.04" in lines[2]
    assert "Its order of these models is vgg > alexnet; ours is alexnet > vgg. The protocols differ" in lines[2]
    assert "`charnet_xs`, `vgg`" in lines[3]  # the single-seed models
    assert lines[4] == "Not trained yet under this profile: `vgg` (seeds 1, 2)."
    assert "`ensnet` (seed 0)" in lines[5] and "does not fit" in lines[5]
    assert findings(_summary().iloc[0:0]) == ["No run has finished under this profile yet: there is nothing to "
                                              "conclude."]
