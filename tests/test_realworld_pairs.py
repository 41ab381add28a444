"""A training change judged seed by seed on EMNIST and on the real-world set (charclf.study.realworld_pairs)."""
from __future__ import annotations

import json
import math

import pytest

from charclf.eval.realworld_scores import run_artifact
from charclf.study import realworld_pairs as rp
from records import write_fake_run

CHANGED, BASE = "11_beyond/minivision_v3-capture", "11_beyond/minivision_v3-nearest"


def _arm(runs, outputs, series, seeds, test, real, *, precision="bf16", val=None, selection="fp32", dev=None):
    """The arm's runs (val = test unless ``val`` is given) and their real-world artifacts (None: not scored).
    ``selection=None``: an older run, its epoch chosen on val in its training precision, val scored again in fp32."""
    for seed, t, v, r, d in zip(seeds, test, val or test, real, dev or [None] * len(seeds)):
        name = f"{series}-seed{seed}"
        rescored = {} if selection else {"evaluation": {"test": {"accuracy": t, "n": 100, "precision": "fp32"},
                                                        "val": {"accuracy": v, "n": 100, "precision": "fp32"}}}
        write_fake_run(runs / name, seed=seed, test_acc=t, best_val_acc=v, precision=precision,
                       selection_precision=selection, run=name, profile="full", model="minivision_v3", **rescored)
        if r is not None:
            path = run_artifact("full", name, outputs)
            path.parent.mkdir(parents=True, exist_ok=True)
            slice_ = {"n": 10, "top1": r - 0.1, "top5": 0.95, "merged_top1": r}
            metrics = {"overall": slice_, "capture": {"photo": slice_, "scan": slice_}, "kind": {"lower": slice_}}
            if d is not None:  # an artifact scored since the split: its dev part
                metrics["parts"] = {"dev": {"overall": {**slice_, "merged_top1": d}}}
            path.write_text(json.dumps({"metrics": metrics}))


@pytest.fixture
def study(tmp_path, monkeypatch):
    runs, outputs = tmp_path / "runs" / "full", tmp_path / "outputs"
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(outputs))
    return runs, outputs


def test_a_change_that_helps_real_handwriting_and_keeps_emnist_is_kept(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, 0.81, 0.79))
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.869, 0.871, 0.870), (0.83, 0.84, 0.82))
    table = rp.paired_table(runs, "full", CHANGED, BASE)
    change = table[(table["arm"] == "change") & (table["seed"] == "mean of 3")].iloc[0]
    assert change["real merged"] == pytest.approx(0.03) and change["EMNIST test"] == pytest.approx(0.0)
    assert change["precision (train / val)"] == "same on both arms"
    assert rp.keep_verdict(table).startswith("keep: real merged (whole set: no dev part scored) +3.00 points")


def test_a_change_that_costs_emnist_more_than_its_noise_is_dropped(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, 0.81, 0.79))
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.860, 0.862, 0.861), (0.83, 0.84, 0.82))
    assert rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE)).startswith(
        "drop: EMNIST val falls by more than its paired std")


def test_emnist_val_decides_and_the_test_change_is_only_reported(study):
    """Choose on val; read test once: a test fall beyond its paired std does not drop a change whose val holds,
    and a val fall beyond its paired std drops it though test rises. The test change is printed beside both."""
    runs, outputs = study
    base_val, base_test = (0.870, 0.871, 0.869), (0.870, 0.871, 0.869)
    _arm(runs, outputs, BASE, (0, 1, 2), base_test, (0.80, 0.81, 0.79), val=base_val)
    # val: +0.1, 0.0, -0.1 points (mean 0, within its std); test: -1.0, -1.2, -1.1 points (a fall beyond its std)
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.860, 0.859, 0.858), (0.83, 0.84, 0.82), val=(0.871, 0.871, 0.868))
    verdict = rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE))
    assert verdict.endswith("; the rule fixed before the runs drops it too (EMNIST test falls by more than its "
                            "paired std)")  # val decides now; the first rule read test, which fell
    assert verdict.startswith("keep: real merged (whole set: no dev part scored) +3.00 points, EMNIST val +0.00 "
                              "(paired std 0.10); EMNIST test -1.10 (paired std 0.10), reported, not deciding")
    # val: -0.5, -0.6, -0.4 points (a fall beyond its std 0.10); test: +0.5 points on every seed
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.875, 0.876, 0.874), (0.83, 0.84, 0.82), val=(0.865, 0.865, 0.865))
    verdict = rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE))
    assert verdict.startswith("drop: EMNIST val falls by more than its paired std (real merged (whole set: no "
                              "dev part scored) +3.00 points, EMNIST val -0.50 (paired std 0.10); EMNIST test +0.50 (paired std 0.00), reported, "
                              "not deciding) over 3 seeds")
    assert "also differs" not in verdict  # same precision, epoch chosen on the same val: nothing else to name
    assert "the rule fixed before the runs" in verdict and "drops it too" not in verdict  # test rose


def test_a_verdict_names_a_difference_in_what_chose_the_epoch(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, 0.81, 0.79), selection=None)
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.869, 0.871, 0.870), (0.83, 0.84, 0.82))
    verdict = rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE))
    assert verdict.startswith("keep: ")
    assert verdict.endswith("; also differs between the arms: epoch chosen on (fp32 val vs bf16 val); the rule "
                            "fixed before the runs would also need the whole set under the training prior, which "
                            "these artifacts do not hold")


def test_only_paired_seeds_count_and_fewer_than_three_decide_nothing(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, 0.81, 0.79))
    _arm(runs, outputs, CHANGED, (0, 1), (0.869, 0.871), (0.83, 0.84))
    table = rp.paired_table(runs, "full", CHANGED, BASE)
    assert set(table["seed"]) == {"0", "1", "mean of 2", "std"}
    assert rp.keep_verdict(table).startswith("not decided: 2 paired seed(s)")


def test_a_run_without_a_real_world_score_is_not_measured_and_a_precision_mix_is_named(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, None, 0.79), precision="fp32")
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.869, 0.871, 0.870), (0.83, 0.84, 0.82))
    table = rp.paired_table(runs, "full", CHANGED, BASE)
    assert math.isnan(table[table["arm"] == "change"].iloc[0]["real merged"])
    assert rp.keep_verdict(table).startswith("not measured yet")
    assert table[table["arm"] == "change"].iloc[0]["precision (train / val)"] == "DIFFERS between the arms"


def test_no_seed_on_both_arms_is_an_empty_table(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0,), (0.870,), (0.80,))
    assert rp.paired_table(runs, "full", CHANGED, BASE).empty
    assert rp.as_text(rp.paired_table(runs, "full", CHANGED, BASE)).empty  # the quick profile renders it
    assert rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE)).startswith("not measured yet")


def test_the_text_table_shows_arms_in_percent_and_the_change_in_signed_points(study):
    runs, outputs = study
    _arm(runs, outputs, BASE, (0, 1, 2), (0.870, 0.871, 0.869), (0.80, 0.81, 0.79))
    _arm(runs, outputs, CHANGED, (0, 1, 2), (0.869, 0.871, 0.870), (0.83, 0.84, 0.82))
    text = rp.as_text(rp.paired_table(runs, "full", CHANGED, BASE)).set_index(["arm", "seed"])
    assert text.loc[(BASE, "0"), "real merged"] == "80.00%"
    assert text.loc[("change", "mean of 3"), "real merged"] == "+3.00 pts"
    assert text.loc[("change", "std"), "real merged"] == "0.00 pts"


def test_evaluate_images_keeps_a_study_runs_place_by_default(tmp_path, monkeypatch):
    from charclf.apps.realworld import default_out
    from charclf.paths import OUTPUTS_ENV

    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path / "outputs"))
    run = tmp_path / "outputs" / "runs" / "full" / "11_beyond" / "minivision_v3-capture-seed0"
    assert default_out(run) == tmp_path / "outputs" / "realworld" / "runs" / "full" / "11_beyond" / \
        "minivision_v3-capture-seed0.json"
    assert default_out(tmp_path / "elsewhere" / "model").parent == tmp_path / "outputs" / "realworld"


def test_the_dev_part_decides_where_the_artifacts_have_one(study):
    runs, outputs = study
    # The whole set rises by 3 points, the dev part falls by 1: the dev part, where choices are made, decides.
    _arm(runs, outputs, CHANGED, [0, 1, 2], [0.87] * 3, [0.83] * 3, dev=[0.79] * 3)
    _arm(runs, outputs, BASE, [0, 1, 2], [0.87] * 3, [0.80] * 3, dev=[0.80] * 3)
    table = rp.paired_table(runs, "full", CHANGED, BASE)
    assert rp.keep_verdict(table).startswith("drop: real merged does not rise (real merged on the dev part -1.00")


def test_arms_scored_on_different_splits_are_not_decided(study):
    runs, outputs = study
    _arm(runs, outputs, CHANGED, [0, 1, 2], [0.87] * 3, [0.83] * 3, dev=[0.82] * 3)
    _arm(runs, outputs, BASE, [0, 1, 2], [0.87] * 3, [0.80] * 3, dev=[0.80] * 3)
    for seed in range(3):  # the base arm scored under another split file than the changed arm (which records none)
        path = run_artifact("full", f"{BASE}-seed{seed}", outputs)
        art = json.loads(path.read_text())
        art["metrics"]["parts_split"] = {"sha256": "a" * 64}
        path.write_text(json.dumps(art))
    verdict = rp.keep_verdict(rp.paired_table(runs, "full", CHANGED, BASE))
    assert verdict.startswith("not decided: the arms were scored on the real set under different dev/held-out splits")
