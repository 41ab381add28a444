"""RunId: a run's folder name is written from its parts (group, entry, variant, seed, shared_with), never parsed."""
from __future__ import annotations

import pytest

from charclf.study.plan import BEYOND_PLAN, SHARED_ARMS, ablation_runs, beyond_runs, training_runs
from charclf.study.runid import RunId, notebook_of


def test_names_are_written_from_the_parts():
    assert RunId("04_training", "vgg", seed=2).name == "04_training/vgg-seed2"
    kd = RunId("11_beyond", "charnet_s", "kd", 0)
    assert (kd.stem, kd.series, kd.name, kd.notebook) == ("charnet_s-kd", "11_beyond/charnet_s-kd",
                                                          "11_beyond/charnet_s-kd-seed0", "11")
    shared = RunId("09_efficientnet_ideas", "recipe-crop-rotation", shared_with="02_augmentation")
    assert shared.name == "02_augmentation/recipe-crop-rotation" and shared.notebook == "09"
    assert notebook_of("12_label_errors") == "12"
    with pytest.raises(ValueError, match="'/'"):
        RunId("09_efficientnet_ideas", "../02_augmentation/recipe-crop-rotation")


def test_the_plan_names_its_runs_by_run_id():
    for run in training_runs("full") + beyond_runs("full") + beyond_runs("full", distilled=True):
        assert run.name == run.run_id.name and run.run_id.seed == run.seed and run.entry == run.run_id.stem
    shared = {r.entry: r.run_id.shared_with for r in ablation_runs("09_efficientnet_ideas")}
    assert {k: v for k, v in shared.items() if v} == SHARED_ARMS["09_efficientnet_ideas"]
    # Notebook 11's entries are (model, variant): the CLI's --models names them by stem.
    assert [r.entry for r in beyond_runs("quick", ["minivision_v3-nearest"])] == ["minivision_v3-nearest"]
    assert all(model for model, _ in BEYOND_PLAN)
