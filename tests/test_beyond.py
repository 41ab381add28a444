"""Notebook 11's tables: a goal's candidate is chosen on val inside the goal's limits, then its test mean judged."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from records import fake_record, write_fake_run

from charclf.study.beyond import frontier, model_rows
from charclf.study.goals import GOALS, goals_table, race_goals

TEACHER = "runs/full/11_beyond/teacher/teacher.npz"


def _run(runs, name, *, profile="full", teacher=None, **kw):
    """A finished run folder ``runs/<name>`` whose record names it ``name`` in ``profile`` (as ``fit`` writes a
    study run's record), trained towards ``teacher`` when given."""
    model, seed = kw.setdefault("model", "lenet"), kw.setdefault("seed", 0)
    config = {"model": model, "seed": seed, "tta": False, "distill_teacher": teacher}
    return write_fake_run(runs / name, run=name, profile=profile, config=config, **kw)


def _study(tmp_path):
    runs = tmp_path / "runs" / "full"
    for seed, (val, test) in enumerate([(0.87, 0.866), (0.871, 0.87), (0.869, 0.868)]):
        _run(runs, f"04_training/charnet_s-seed{seed}", model="charnet_s", params=98_734, seed=seed,
             best_val_acc=val, test_acc=test, train_time_s=4000.0)
    # Higher test but lower val than charnet_s: the <=100k goal must not pick it.
    _run(runs, "11_beyond/minivision_s_gap-seed0", model="minivision_s_gap", params=90_000, best_val_acc=0.80,
         test_acc=0.95)
    _run(runs, "11_beyond/charnet_xs-seed0", model="charnet_xs", params=29_534, best_val_acc=0.85, test_acc=0.853)
    _run(runs, "04_training/vgg-seed0", model="vgg", params=1_463_678, best_val_acc=0.88, test_acc=0.874,
         train_time_s=3 * 3600.0)
    # Other groups (ablations) and other profiles are not model comparisons.
    _run(runs, "02_augmentation/none", model="minivision_v3", best_val_acc=0.99, test_acc=0.99)
    _run(tmp_path / "runs" / "quick", "04_training/vgg-seed0", profile="quick", model="vgg", best_val_acc=0.99)
    return runs


def test_frontier_has_one_row_per_model_of_the_model_groups_of_one_profile(tmp_path):
    front = frontier(model_rows(_study(tmp_path)))
    assert sorted(front.index) == ["charnet_s", "charnet_xs", "minivision_s_gap", "vgg"]
    assert front.loc["charnet_s", "n"] == 3
    assert front.loc["charnet_s", "test_mean"] == pytest.approx((0.866 + 0.87 + 0.868) / 3)
    assert front.loc["vgg", "train s mean"] == 3 * 3600.0


def test_a_run_scored_again_with_tta_on_val_and_test_is_a_candidate_of_its_own_but_never_shipped(tmp_path):
    from charclf.study.beyond import TTA_SUFFIX, hub_choices

    runs = _study(tmp_path)
    for seed in range(3):  # charnet_s scored again with TTA: val and test
        path = runs / f"04_training/charnet_s-seed{seed}/metrics.json"
        record = json.loads(path.read_text())
        record["evaluation"]["val_tta"] = {"accuracy": 0.875 + seed / 1000, "precision": "fp32", "tta": True}
        record["evaluation"]["test_tta"] = {"accuracy": 0.872, "merged47_accuracy": 0.9, "tta": True}
        path.write_text(json.dumps(record))
    # ... and a run with val alone scored with TTA is no such entry (its test was not read that way).
    path = runs / "11_beyond/charnet_xs-seed0/metrics.json"
    record = json.loads(path.read_text())
    record["evaluation"]["val_tta"] = {"accuracy": 0.99}
    path.write_text(json.dumps(record))
    front = frontier(model_rows(runs))
    rescored = "charnet_s" + TTA_SUFFIX
    assert sorted(front.index) == ["charnet_s", rescored, "charnet_xs", "minivision_s_gap", "vgg"]
    assert front.loc[rescored, "n"] == 3 and bool(front.loc[rescored, "TTA"])
    assert front.loc[rescored, "val_mean"] == pytest.approx(0.876) and front.loc[rescored, "test_mean"] == 0.872
    assert front.loc["charnet_s", "test_mean"] == pytest.approx(0.868)  # the plain entry is unchanged
    goals = goals_table(front)
    assert goals.loc["<= 100k parameters", "candidate (chosen on val)"] == rescored  # higher val: chosen
    assert hub_choices(front)["small"] == "charnet_s"  # a folder ships as its record says: without TTA


def test_goals_choose_on_val_within_limits_and_need_three_seeds(tmp_path):
    goals = goals_table(frontier(model_rows(_study(tmp_path))))
    assert list(goals.index) == [g.name for g in GOALS]
    single, small, tiny, ten_k = (goals.loc[g.name] for g in GOALS)
    assert single["candidate (chosen on val)"] == "charnet_s"  # vgg trained over the 2 h limit
    assert small["candidate (chosen on val)"] == "charnet_s" and not bool(small["met"])  # 0.868 < 0.870, 3 seeds
    assert small["verdict"] == "not met"  # 0.2 points short, std 0.2 points: not under one std
    assert small["margin"] == pytest.approx(0.868 - 0.870)
    assert not bool(single["met"]) and single["verdict"] == "not met"  # 0.868 < 0.875, by over one std
    assert tiny["candidate (chosen on val)"] == "charnet_xs" and not bool(tiny["met"])
    assert tiny["verdict"].startswith("not met: 1 seed(s)")
    assert pd.isna(ten_k["candidate (chosen on val)"]) and not bool(ten_k["met"])


def test_a_goal_is_met_on_the_three_seed_mean_and_within_noise_when_the_margin_is_under_one_std():
    from charclf.study.goals import verdict

    assert verdict(0.8760, 0.875, 0.0005) == (pytest.approx(0.001), "met")
    assert verdict(0.8752, 0.875, 0.0010) == (pytest.approx(0.0002), "met, within noise")
    assert verdict(0.8745, 0.875, 0.0010)[1] == "not met, within noise"
    assert verdict(0.8800, 0.875, 0.0010, seeds=2)[1] == "not met: 2 seed(s), the goal needs 3"
    assert verdict(24.0, 25.0, 0.5, lower_is_better=True) == (pytest.approx(1.0), "met")


def test_goals_without_runs_are_unmet_and_a_distilled_student_is_no_candidate_for_the_time_goal(tmp_path):
    goals = goals_table(frontier(model_rows(tmp_path / "runs" / "full")))
    assert list(goals.index) == [g.name for g in GOALS] and not goals["met"].any()
    runs = _study(tmp_path)
    _run(runs, "11_beyond/charnet_s-kd-seed0", model="charnet_s", params=98_734, best_val_acc=0.99, test_acc=0.99,
         train_time_s=100.0, teacher=TEACHER)
    goals = goals_table(frontier(model_rows(runs)))
    assert goals.loc[GOALS[0].name, "candidate (chosen on val)"] == "charnet_s"  # its teacher's hours not counted
    # Size goals: it counts, but with one seed it waits beside the three-seed candidate chosen on val.
    assert goals.loc[GOALS[1].name, "candidate (chosen on val)"] == "charnet_s"
    assert goals.loc[GOALS[1].name, "waiting for seeds (val higher)"] == "charnet_s-kd (1 seed, val 99.00%)"


def test_the_ensemble_goal_reads_the_ensemble_whose_method_held_out_val_chose(tmp_path):
    ensemble = {"greedy": {"distinct_members": ["a", "b"], "params": 10, "val_acc": 0.89, "test_acc": 0.881}}
    goals = goals_table(frontier(model_rows(_study(tmp_path))), ensemble)  # older results: greedy only
    assert bool(goals.loc["ensemble", "met"]) and goals.loc["ensemble", "candidate (chosen on val)"] == "a + b"
    ensemble["cv"] = {"distinct_members": ["a", "c"], "params": 10, "val_acc": 0.885, "test_acc": 0.879,
                      "method": "top-2"}
    goals = goals_table(frontier(model_rows(_study(tmp_path))), ensemble)
    assert goals.loc["ensemble", "candidate (chosen on val)"] == "a + c" and not bool(goals.loc["ensemble", "met"])


def test_ablation_rows_are_each_arm_against_the_shared_base_once(tmp_path):
    from charclf.study.beyond import ablation_table
    from charclf.study.plan import ablation_runs

    runs = tmp_path / "runs" / "full"
    arms = {r.name: r for g in ("02_augmentation", "09_efficientnet_ideas") for r in ablation_runs(g)}
    write_fake_run(runs / "02_augmentation/recipe-crop-rotation", best_val_acc=0.86, test_acc=0.85)
    write_fake_run(runs / "02_augmentation/none", best_val_acc=0.85, test_acc=0.845)
    write_fake_run(runs / "02_augmentation/recipe-mixup-cutmix", best_val_acc=0.865, test_acc=0.852)
    write_fake_run(runs / "09_efficientnet_ideas/lion", best_val_acc=0.84, test_acc=0.83)
    for name in ("02_augmentation/recipe-crop-rotation", "02_augmentation/none", "02_augmentation/recipe-mixup-cutmix",
                 "09_efficientnet_ideas/lion"):
        assert name in arms
    ensemble = {"members": [{"member": "a", "val_acc": 0.86, "test_acc": 0.85},
                            {"member": "b", "val_acc": 0.85, "test_acc": 0.86}],
                "greedy": {"val_acc": 0.87, "test_acc": 0.865}}
    table = ablation_table(runs, ensemble, profile="full")
    assert sorted(table.index) == ["02_augmentation/none", "02_augmentation/recipe-mixup-cutmix",
                                   "09_efficientnet_ideas/lion", "11_beyond/ensemble"]  # mixup counted once
    assert table.loc["02_augmentation/none", "Δ val (pts)"] == pytest.approx(-1.0)
    assert table.loc["09_efficientnet_ideas/lion", "Δ test (pts)"] == pytest.approx(-2.0)
    assert table.loc["11_beyond/ensemble", "Δ val (pts)"] == pytest.approx(1.0)  # against member a, best on val


def test_ensemble_loads_saved_results_covering_every_member_and_keeps_old_ones_when_rebuilt(tmp_path, monkeypatch):
    import json

    import charclf.experiments.ensemble as ens
    from charclf.study import beyond

    runs = tmp_path / "runs" / "full"
    for name in ("04_training/lenet-seed0", "04_training/vgg-seed0"):
        write_fake_run(runs / name)
        (runs / name / "model.safetensors").write_bytes(b"weights")
    out = runs / beyond.ENSEMBLE_RUN
    out.mkdir(parents=True)
    digest = ens.weights_digest(runs / "04_training/lenet-seed0")
    saved = {"created_utc": "2026-01-01T00:00:00+00:00",
             "members": [{"member": m, "weights_sha256": digest}
                         for m in ("04_training/lenet-seed0", "04_training/vgg-seed0", "04_training/alexnet-seed0")]}
    (out / "results.json").write_text(json.dumps(saved))
    _run(runs, "11_beyond/charnet_s-kd-seed0", teacher=TEACHER)  # a distilled student is never a member
    (runs / "11_beyond/charnet_s-kd-seed0/model.safetensors").write_bytes(b"weights")
    built = []
    monkeypatch.setattr(ens, "run_ensemble",
                        lambda members, data, o, metadata, log: built.append((members, metadata)) or {"new": True})
    # alexnet's weights absent here: still covered
    assert beyond.ensemble(runs, data=None, profile="full") == saved and not built
    (runs / "04_training/vgg-seed0/model.safetensors").write_bytes(b"retrained")  # same run, new weights
    assert beyond.ensemble(runs, data=None, profile="full") == {"new": True}
    assert [p.name for p in built[0][0]] == ["lenet-seed0", "vgg-seed0"] and built[0][1] == {"profile": "full"}
    # run_ensemble keeps the earlier results beside the new ones, under their own time, never replaces them
    assert ens.keep_earlier_results(out, log=lambda line: None) == out / "results-2026-01-01T000000+0000.json"
    assert json.loads((out / "results-2026-01-01T000000+0000.json").read_text()) == saved
    (out / "results.json").write_text("not json: someone's file")
    kept = ens.keep_earlier_results(out, log=lambda line: None)
    assert kept.read_text() == "not json: someone's file" and not (out / "results.json").exists()


def test_a_rebuilt_ensemble_prints_nothing_unless_asked(tmp_path, monkeypatch, capsys):
    """The notebook's output must be the same whether this render rebuilt the ensemble or loaded it."""
    import charclf.experiments.ensemble as ens
    from charclf.study import beyond

    runs = tmp_path / "runs" / "full"
    write_fake_run(runs / "04_training/lenet-seed0")
    (runs / "04_training/lenet-seed0/model.safetensors").write_bytes(b"weights")

    def fake_run_ensemble(members, data, out, metadata, log):
        log("scored 04_training/lenet-seed0 (TTA none): val acc 0.8000")
        return {"new": True}

    monkeypatch.setattr(ens, "run_ensemble", fake_run_ensemble)
    assert beyond.ensemble(runs, data=None, profile="full") == {"new": True}
    assert capsys.readouterr().out == ""
    lines = []
    beyond.ensemble(runs, data=None, profile="full", log=lines.append)
    assert lines == ["scored 04_training/lenet-seed0 (TTA none): val acc 0.8000"]


def test_distilled_runs_name_the_profiles_teacher_and_compare_with_their_untaught_seeds(tmp_path):
    from charclf.study.beyond import ablation_table
    from charclf.study.plan import DISTILL_TEACHER_RUN, beyond_runs, teacher_file

    runs = [r for r in beyond_runs("full", distilled=True) if r.run_id.variant == "kd"]  # the alpha-0.5 students
    assert {r.model for r in runs} == {"charnet_s", "charnet_xs", "minivision_s"} and len(runs) == 9
    assert {r.recipe for r in runs if r.model == "minivision_s"} == {"minivision_v3_nearest"}
    assert teacher_file("full") == "runs/full/11_beyond/teacher/teacher.npz"
    # minivision_s trained towards the first teacher; the others, not trained then, towards the float64 one
    assert {r.model: dict(r.overrides)["distill_teacher"] for r in runs} == {
        "minivision_s": teacher_file("full"), "charnet_s": teacher_file("full", DISTILL_TEACHER_RUN),
        "charnet_xs": teacher_file("full", DISTILL_TEACHER_RUN)}
    assert dict(runs[0].overrides)["distill_alpha"] == 0.5
    root = tmp_path / "runs" / "full"
    for seed, val in enumerate((0.86, 0.862)):
        write_fake_run(root / f"04_training/charnet_s-seed{seed}", model="charnet_s", seed=seed, best_val_acc=val,
                       test_acc=val)
    write_fake_run(root / "11_beyond/charnet_s-kd-seed0", model="charnet_s", best_val_acc=0.871, test_acc=0.87)
    row = ablation_table(root, profile="full").loc["11_beyond/charnet_s-kd"]
    # Paired on seed 0 only (seed 1 has no distilled run yet): 0.871 - 0.86 and 0.87 - 0.86.
    assert row["Δ val (pts)"] == pytest.approx(1.1) and row["Δ test (pts)"] == pytest.approx(1.0)
    assert "seeds 0 on both sides" in row["baseline"]


def test_only_the_teachers_of_runs_still_to_train_are_written(tmp_path, monkeypatch):
    from charclf.study import beyond
    from charclf.study.plan import DISTILL_TEACHER_RUN, TEACHER_RUN, beyond_runs, teacher_of

    plan = beyond_runs("full", distilled=True)
    assert {teacher_of(r, "full") for r in plan if r.model == "minivision_s" and r.run_id.variant == "kd"} == {
        TEACHER_RUN}
    assert {teacher_of(r, "full") for r in plan if r.model != "minivision_s" or r.run_id.variant != "kd"} == {
        DISTILL_TEACHER_RUN}
    written = []
    monkeypatch.setattr(beyond, "ensure_teacher", lambda *a, teacher, **k: written.append(teacher))
    # Every first-teacher student finished: that teacher (which another CPU may not rebuild) is left alone.
    for r in plan:
        if teacher_of(r, "full") == TEACHER_RUN:
            write_fake_run(tmp_path / r.name, model=r.model, seed=r.seed)
    beyond.ensure_teachers(tmp_path, None, plan, lambda: pytest.fail("the ensemble was scored"), profile="full")
    assert written == [DISTILL_TEACHER_RUN]
    written.clear()
    beyond.ensure_teachers(tmp_path, None, plan, None, profile="full", retrain=True)
    assert sorted(written) == sorted([TEACHER_RUN, DISTILL_TEACHER_RUN])


def test_students_of_different_teachers_say_so_beside_their_delta(tmp_path):
    from charclf.study.beyond import ablation_table
    from charclf.study.plan import DISTILL_BASE

    root = tmp_path / "runs" / "full"
    for seed in (0, 1, 2):
        for variant, sha in (("kd", "aaaaaaaa11"), (DISTILL_BASE, "bbbbbbbb22"), ("kd-a08", "bbbbbbbb22")):
            folder = root / f"11_beyond/minivision_s-{variant}-seed{seed}"
            write_fake_run(folder, model="minivision_s", seed=seed, best_val_acc=0.86, test_acc=0.86)
            record = json.loads((folder / "metrics.json").read_text())
            record["provenance"]["distill_teacher_sha256"] = sha
            (folder / "metrics.json").write_text(json.dumps(record))
    table = ablation_table(root, profile="full")
    assert "distillation teacher: bbbbbbbb vs aaaaaaaa" in table.loc[f"11_beyond/minivision_s-{DISTILL_BASE}",
                                                                     "also differs"]
    assert "teacher" not in table.loc["11_beyond/minivision_s-kd-a08", "also differs"]
    for seed in (0, 1, 2):  # the first students against minivision_s without a teacher: the teacher is the change
        write_fake_run(root / f"11_beyond/minivision_s-seed{seed}", model="minivision_s", seed=seed,
                       best_val_acc=0.86, test_acc=0.86)
    table = ablation_table(root, profile="full")
    assert "teacher" not in table.loc["11_beyond/minivision_s-kd", "also differs"]


def test_nearest_resampling_is_paired_seed_by_seed_with_the_bilinear_runs_of_the_same_machine(tmp_path):
    import dataclasses

    from charclf.study.beyond import ablation_table
    from charclf.study.plan import beyond_runs
    from charclf.train.recipes import get_recipe

    runs = beyond_runs("full", ["minivision_v3-nearest"])
    assert [r.seed for r in runs] == [0, 1, 2]
    nearest, bilinear = get_recipe("minivision_v3_nearest"), get_recipe("minivision_v3")
    assert nearest.augment.interpolation == "nearest"  # the one change against notebook 04's recipe
    assert dataclasses.replace(nearest, name=bilinear.name,
                               augment=dataclasses.replace(nearest.augment, interpolation="bilinear")) == bilinear
    root = tmp_path / "runs" / "full"
    for seed, (val, test) in enumerate([(0.865, 0.864), (0.867, 0.862), (0.868, 0.866)]):
        write_fake_run(root / f"11_beyond/minivision_v3-recipe-seed{seed}", model="minivision_v3", seed=seed,
                       best_val_acc=val, test_acc=test)
    for seed, (val, test) in enumerate([(0.870, 0.869), (0.871, 0.868)]):
        write_fake_run(root / f"11_beyond/minivision_v3-nearest-seed{seed}", model="minivision_v3", seed=seed,
                       best_val_acc=val, test_acc=test)
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_v3-nearest"]
    # seeds 0 and 1 on both sides: val (0.8705 - 0.866), test (0.8685 - 0.863)
    assert row["Δ val (pts)"] == pytest.approx(0.45) and row["Δ test (pts)"] == pytest.approx(0.55)
    # the seed-by-seed test changes are +0.5 and +0.6 points: their std, the noise the mean is read against
    assert row["Δ test paired std (pts)"] == pytest.approx(pd.Series([0.5, 0.6]).std())
    # ... and the seed-by-seed val changes (+0.5, +0.4 points): their std, the noise the verdict reads val against
    assert row["Δ val paired std (pts)"] == pytest.approx(pd.Series([0.5, 0.4]).std())
    assert "seeds 0, 1 on both sides" in row["baseline"] and "bilinear" in row["baseline"]
    assert "confound" not in row["change"]
    # Seed 1's nearest run made in bf16 against float32 baselines: the table says so beside the change.
    write_fake_run(root / "11_beyond/minivision_v3-nearest-seed1", model="minivision_v3", seed=1,
                   best_val_acc=0.871, test_acc=0.868, precision="bf16")
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_v3-nearest"]
    assert row["change"].startswith("minivision_v3_nearest")  # the label stays the one change ...
    assert row["also differs"].startswith("precision: bf16/fp32 vs fp32")  # ... the confound has its own column
    assert row["precision (arm / baseline)"] == "bf16/fp32 (val bf16/fp32) / fp32 (val fp32)"
    # Both arms bf16 and scored in fp32, but one chose its best epoch on bf16 val (an older run): named too.
    for seed in (0, 1):
        write_fake_run(root / f"11_beyond/minivision_v3-nearest-seed{seed}", model="minivision_v3", seed=seed,
                       best_val_acc=0.871, test_acc=0.868, precision="bf16", selection_precision="fp32")
        write_fake_run(root / f"11_beyond/minivision_v3-recipe-seed{seed}", model="minivision_v3", seed=seed,
                       best_val_acc=0.866, test_acc=0.863, precision="bf16",
                       evaluation={"test": {"accuracy": 0.863}, "val": {"accuracy": 0.866}})
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_v3-nearest"]
    assert row["precision (arm / baseline)"] == "bf16 (val fp32) / bf16 (val fp32, epoch chosen on bf16 val)"
    assert row["also differs"] == "best epoch chosen on val in: fp32 vs bf16"


def test_hub_slots_take_the_best_on_val_within_size_among_entries_with_enough_seeds(tmp_path):
    from charclf.study.beyond import hub_choices

    front = frontier(model_rows(_study(tmp_path)))
    assert hub_choices(front) == dict.fromkeys(("best", "default", "small"), "charnet_s")  # only it has 3 seeds
    assert hub_choices(front, min_seeds=1) == {"best": "vgg", "default": "charnet_s", "small": "charnet_s",
                                               "tiny": "charnet_xs"}


def test_publish_models_ships_only_the_slots_asked_for_with_their_seeds(tmp_path, monkeypatch, capsys):
    import json

    publish_models = pytest.importorskip("publish_models")  # tools/, on the path in a clone (conftest)
    outputs = tmp_path / "outputs"
    runs = outputs / "runs" / "full"
    for seed, val in enumerate((0.85, 0.86, 0.855)):
        folder = runs / "11_beyond" / f"charnet_xs-seed{seed}"
        _run(runs, f"11_beyond/charnet_xs-seed{seed}", model="charnet_xs", params=29_534, seed=seed,
             best_val_acc=val, test_acc=val)
        (folder / "model.safetensors").write_bytes(f"weights of seed {seed}".encode())
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(outputs))
    monkeypatch.setenv("CHARCLF_MODEL_HUB", str(tmp_path / "hub"))
    assert publish_models.main(["--slots", "tiny"]) == 0 and not (tmp_path / "hub").exists()  # a dry run
    assert publish_models.main(["--slots", "tiny", "--write"]) == 0
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["tiny"]  # not best/default/small
    assert (tmp_path / "hub/tiny/model.safetensors").read_bytes() == b"weights of seed 1"  # best val
    assert json.loads((tmp_path / "hub/tiny/seeds.json").read_text())["n"] == 3
    assert "model_hub/tiny: charnet_xs" in capsys.readouterr().out


def test_rendering_never_writes_a_teacher_and_lists_the_students_as_not_trained(tmp_path, monkeypatch):
    import dataclasses
    from pathlib import Path

    from charclf.study import beyond
    from charclf.study.notebook import StudyContext
    from charclf.study.plan import NOT_YET_TRAINED, TEACHER_RUN
    from charclf.study.profiles import PROFILES

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    monkeypatch.setattr(beyond, "ensure_teacher", lambda *a, **k: pytest.fail("rendering wrote a teacher"))
    render = StudyContext(profile="full", protocol="holdout", seed=0, data_dir=Path("."), retrain=False,
                          settings=PROFILES["full"], train_missing=False)

    class Data:
        num_classes = 62

    ensemble = {"greedy": {"members": ["04_training/minivision_v3-seed0"]}}
    teachers, students, status = beyond.train_students(render, Data(), ensemble)
    assert teachers == {} and students == {} and set(status["reason"]) == {NOT_YET_TRAINED}
    assert not (render.runs_dir / TEACHER_RUN).exists()
    with pytest.raises(pytest.fail.Exception, match="wrote a teacher"):  # a training context does write one
        beyond.train_students(dataclasses.replace(render, train_missing=True), Data(), ensemble)


def _entrant(seconds, tests, seeds=3):
    reached = len(seconds)
    return {"seeds": list(range(seeds)), "reached": reached,
            "seconds_to_target_mean": sum(seconds) / reached if reached else None,
            "seconds_to_target_std": 1.0 if reached > 1 else None,
            "test_acc_mean": sum(tests) / len(tests) if tests else None}


def test_race_goals_pick_our_fastest_entrant_that_reached_on_every_seed():
    race = {"target": 0.86, "ratio": 1.2, "ratio_fast": 3.1,
            "summary": {"usual": _entrant([700, 800, 900], [0.861] * 3),
                        "charclf": _entrant([600, 650, 700], [0.862] * 3),
                        "charclf_fast": _entrant([200, 250], [0.863] * 2)}}  # missed on one seed
    goals = race_goals(race)
    time_row, ratio_row = goals.iloc[0], goals.iloc[1]
    assert time_row["candidate"] == "charclf" and time_row["value"] == 650 and not time_row["met"]
    assert ratio_row["candidate"] == "ratio_fast" and ratio_row["value"] == 3.1 and not ratio_row["met"]
    race["summary"]["charclf_fast"] = _entrant([20, 22, 24], [0.861, 0.862, 0.860])
    race["ratio_fast"] = 14.5
    goals = race_goals(race)
    assert goals.iloc[0]["candidate"] == "charclf_fast" and goals.iloc[0]["met"] and goals.iloc[1]["met"]
    race["summary"]["charclf_fast"] = _entrant([20, 22, 24], [0.85] * 3)  # fast, but its test part misses
    assert not race_goals(race).iloc[0]["met"]
    # Timed on the seeds of the search that chose its recipe: in-sample, so no goal is met.
    race["summary"]["charclf_fast"] = _entrant([20, 22, 24], [0.861] * 3)
    race.update(seeds=[0, 1, 2], search_seeds=[0, 1, 2])
    goals = race_goals(race)
    assert not goals["met"].any() and goals.iloc[0]["verdict"].startswith("not met: timed on seeds [0, 1, 2]")


def test_race_goals_without_any_finished_entrant_or_ratio_are_unmet():
    race = {"target": 0.86, "ratio": None, "summary": {"usual": _entrant([700], [0.86], seeds=3),
                                                        "charclf": _entrant([], [])}}
    goals = race_goals(race)
    assert goals["candidate"].isna().all() and not goals["met"].any()


def test_race_facts_state_each_entrants_precision_resampling_and_the_search_seeds():
    from charclf.study.goals import race_facts

    race = {"seeds": [3, 4, 5], "search_seeds": [0, 1, 2], "ratio": 2.0, "ratio_pipeline": 1.5, "ratio_fast": 9.0,
            "fast_recipe": "charclf_race", "config": {"augment": {"rotation": 10.0, "interpolation": "bilinear"}},
            "summary": {"usual": {"precision": "fp32", "memory_format": "NCHW", "epochs": [6]},
                        "charclf_fp32_nearest": {"precision": "fp32", "memory_format": "channels_last",
                                                 "resampling": "nearest", "epochs": [7]},
                        "charclf": {"precision": "bf16", "memory_format": "channels_last", "epochs": [9]}}}
    text = race_facts(race)
    assert "usual: fp32 NCHW, resampling nearest" in text and "charclf: bf16 channels_last, resampling bilinear" in text
    assert "ratio_pipeline (usual / charclf_fp32_nearest: the pipeline alone): 1.50x" in text
    assert "race seeds [3, 4, 5]; the fast recipe was chosen on seeds [0, 1, 2]" in text and "in-sample" not in text


def test_run_identity_is_the_plans_and_the_records_not_the_folder_names(tmp_path, monkeypatch):
    """Names that fooled the string conventions: an entry ending in ``-kd`` that no teacher taught, a folder copied
    beside a run whose name looks like a seed run, and a runs folder not named after its profile."""
    from charclf.study import beyond, plan

    monkeypatch.setitem(plan.BEYOND_PLAN, ("tiny-kd", ""), "charclf_tiny")  # an entry, not a distillation
    runs = tmp_path / "runs" / "snapshot"  # the records say "full"; the folder's name says nothing
    for seed in range(3):
        _run(runs, f"11_beyond/tiny-kd-seed{seed}", model="tiny-kd", params=20_000, seed=seed, best_val_acc=0.9,
             test_acc=0.9, train_time_s=60.0)
        _run(runs, f"11_beyond/charnet_xs-kd-seed{seed}", model="charnet_xs", params=29_534, seed=seed,
             best_val_acc=0.95, test_acc=0.95, train_time_s=60.0, teacher=TEACHER)
    copy = _run(runs, "04_training/vgg-seed0-copy", model="vgg", best_val_acc=0.99, test_acc=0.99)
    assert copy.run == "04_training/vgg-seed0-copy"  # a record outside the plan: no model comparison
    for folder in [*(runs / "11_beyond").iterdir(), runs / "04_training/vgg-seed0-copy"]:
        (folder / "model.safetensors").write_bytes(b"weights")

    rows = model_rows(runs)
    assert set(rows["profile"]) == {"full"} and "vgg-seed0-copy" not in " ".join(rows["run"])
    front = frontier(rows)
    assert sorted(front.index) == ["charnet_xs-kd", "tiny-kd"] and front.loc["tiny-kd", "n"] == 3
    assert list(front["distilled"]) == [True, False]  # sorted on val: the distilled one first
    single = goals_table(front).loc[GOALS[0].name]
    assert single["candidate (chosen on val)"] == "tiny-kd"  # "-kd" in its name, but no teacher: its time counts
    members = [d.name for d in beyond.ensemble_members(runs, profile="full")]
    assert members == ["tiny-kd-seed0", "tiny-kd-seed1", "tiny-kd-seed2"]  # not the taught ones, nor the copy


def test_paired_rows_pair_the_seeds_each_run_recorded(tmp_path):
    from charclf.study.beyond import ablation_table

    root = tmp_path / "runs" / "full"
    for seed, val in ((0, 0.86), (2, 0.862)):
        _run(root, f"11_beyond/minivision_s-seed{seed}", model="minivision_s", seed=seed, best_val_acc=val,
             test_acc=val)
        _run(root, f"11_beyond/minivision_s_gap-seed{seed}", model="minivision_s_gap", seed=seed,
             best_val_acc=val + 0.01, test_acc=val)
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_s_gap"]
    assert "seeds 0, 2 on both sides" in row["baseline"] and row["Δ val (pts)"] == pytest.approx(1.0)


def test_the_avx2_race_goal_counts_only_an_avx2_float32_race():
    from charclf.study.goals import avx2_race_goal

    capped = {"cpu_flags": "avx2 avx512f", "cpu_capability": "AVX2", "isa_limits": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}

    def race(machine, precisions, ratio, seeds=(3,)):
        summary = {name: {"precision": p, "seconds_to_target_mean": 100.0, "seconds_to_target_std": 1.0}
                   for name, p in zip(("usual", "charclf_fast"), precisions)}
        return {"machine": machine, "summary": summary, "ratio_fast": ratio, "seeds": list(seeds),
                "search_seeds": [0, 1, 2]}

    assert avx2_race_goal(race(capped, ("fp32", "fp32"), 5.5)).iloc[0]["verdict"] == "met"
    assert avx2_race_goal(race({"cpu_flags": "sse avx2"}, ("fp32", "fp32"), 5.5)).iloc[0]["verdict"] == "met"
    assert avx2_race_goal(race(capped, ("fp32", "fp32"), 4.5)).iloc[0]["verdict"] == "not met"
    assert "in-sample" in avx2_race_goal(race(capped, ("fp32", "fp32"), 9.0, seeds=(0, 3))).iloc[0]["verdict"]
    uncapped = {"cpu_flags": "avx2 avx512f"}
    assert "avx512 kernels" in avx2_race_goal(race(uncapped, ("fp32", "fp32"), 9.0)).iloc[0]["verdict"]
    aten_only = {"cpu_flags": "avx2 avx512f", "cpu_capability": "AVX2"}  # oneDNN's convolutions still AVX-512
    assert "ATen only" in avx2_race_goal(race(aten_only, ("fp32", "fp32"), 9.0)).iloc[0]["verdict"]
    assert "not float32" in avx2_race_goal(race(capped, ("fp32", "bf16"), 9.0)).iloc[0]["verdict"]
    missed = avx2_race_goal(race(capped, ("fp32", "fp32"), None)).iloc[0]  # a seed missed the target
    assert missed["candidate"] is None and not missed["met"]
    from charclf.study.beyond_found import race_goal_lines

    assert race_goal_lines(avx2_race_goal(race(capped, ("fp32", "fp32"), None)))  # no TypeError on a None value
    assert not avx2_race_goal(None).iloc[0]["met"]


def test_a_race_ratio_is_judged_against_the_spread_of_its_seed_by_seed_ratios():
    from charclf.study.goals import race_goals
    from charclf.study.race_sessions import ratio_std

    race = {"target": 0.86, "seeds": [3, 4, 5], "search_seeds": [0, 1, 2], "ratio_fast": 10.5,
            "summary": {"usual": {"seconds_to_target": [300.0, 400.0, 350.0], "seeds": [3, 4, 5], "reached": 3},
                        "charclf_fast": {"seconds_to_target": [30.0, 35.0, 35.0], "seeds": [3, 4, 5], "reached": 3,
                                         "seconds_to_target_mean": 33.3, "seconds_to_target_std": 2.9,
                                         "test_acc_mean": 0.862}}}
    assert ratio_std(race, "ratio_fast") == pytest.approx(pd.Series([10.0, 400 / 35, 10.0]).std())
    assert ratio_std(race, "ratio") is None  # no such entrant in this race
    row = race_goals(race).iloc[1]
    assert row["std"] == pytest.approx(ratio_std(race, "ratio_fast")) and row["verdict"] == "met, within noise"


def test_the_mnist_goal_reads_the_run_chosen_on_val_over_its_seeds():
    from charclf.study.goals import mnist_goal

    table = pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2], "run": ["transfer", "scratch"] * 3,
                          "best_val_acc": [0.995, 0.990] * 3,
                          "test_acc": [0.9965, 0.9990, 0.9962, 0.9990, 0.9967, 0.9990]}).set_index(["seed", "run"])
    row = mnist_goal(table).iloc[0]
    assert row["candidate (chosen on val)"] == "transfer" and row["seeds"] == 3  # not scratch's better test
    assert row["verdict"] == "met" and row["test mean"] == pytest.approx(0.99647, abs=1e-5)
    assert mnist_goal(table.iloc[:2]).iloc[0]["verdict"].startswith("not met: 1 seed")
    assert mnist_goal(pd.DataFrame()).iloc[0]["verdict"].startswith("not met: no candidate")


def test_tta_is_a_paired_row_of_the_same_weights_scored_again(tmp_path):
    from charclf.study.beyond import ablation_table

    root = tmp_path / "runs" / "full"

    def acc(a):
        return {"accuracy": a, "n": 100, "tta": True, "precision": "fp32"}

    for seed, (val, test, val_t, test_t) in enumerate([(0.86, 0.85, 0.865, 0.856), (0.862, 0.852, 0.866, 0.859)]):
        write_fake_run(root / f"11_beyond/minivision_s-seed{seed}", model="minivision_s", seed=seed,
                       best_val_acc=val, selection_precision="fp32",
                       evaluation={"test": {**acc(test), "tta": False}, "val_tta": acc(val_t), "test_tta": acc(test_t)})
    write_fake_run(root / "11_beyond/minivision_s-seed2", model="minivision_s", seed=2)  # not scored with TTA
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_s +TTA"]
    assert "seeds 0, 1" in row["baseline"] and row["also differs"] == ""
    assert row["Δ val (pts)"] == pytest.approx(0.45) and row["Δ test (pts)"] == pytest.approx(0.65)
    assert row["Δ test paired std (pts)"] == pytest.approx(pd.Series([0.6, 0.7]).std())
    assert row["Δ val paired std (pts)"] == pytest.approx(pd.Series([0.5, 0.4]).std())


def _nearest_and_recipe(root, nearest, recipe, *, nearest_selection="fp32"):
    """Mini-Vision-V3's nearest arm and its same-precision bilinear base (``minivision_v3-recipe``), both bf16 and
    scored in fp32, from ``(val, test)`` per seed."""
    for series, arm, selection in (("minivision_v3-nearest", nearest, nearest_selection),
                                   ("minivision_v3-recipe", recipe, "fp32")):
        for seed, (val, test) in enumerate(arm):
            write_fake_run(root / f"11_beyond/{series}-seed{seed}", model="minivision_v3", seed=seed, precision="bf16",
                           selection_precision=selection, best_val_acc=val, test_acc=test,
                           evaluation={"test": {"accuracy": test, "n": 100, "precision": "fp32"},
                                       "val": {"accuracy": val, "n": 100, "precision": "fp32"}})


def test_a_one_change_verdict_is_decided_by_the_paired_val_change_not_by_test(tmp_path):
    from charclf.study.beyond import ablation_table
    from charclf.study.beyond_found import experiment_verdict

    root = tmp_path / "runs" / "full"
    # val: +0.1, -0.1, +0.3 points (mean +0.1, paired std 0.2: within noise); test: +1.0 on every seed (std 0)
    _nearest_and_recipe(root, [(0.866, 0.870), (0.866, 0.871), (0.869, 0.869)],
                        [(0.865, 0.860), (0.867, 0.861), (0.866, 0.859)])
    row = ablation_table(root, profile="full").loc["11_beyond/minivision_v3-nearest"]
    assert row["Δ val (pts)"] == pytest.approx(0.1) and row["Δ val paired std (pts)"] == pytest.approx(0.2)
    assert row["Δ test (pts)"] == pytest.approx(1.0)
    assert row["Δ test paired std (pts)"] == pytest.approx(0.0, abs=1e-9)
    assert experiment_verdict(row) == "within noise"  # test's +1.0 beyond its std is reported, not deciding
    # val: -0.5, -0.4, -0.6 points (beyond its std 0.1); test still +1.0 on every seed
    _nearest_and_recipe(root, [(0.860, 0.870), (0.863, 0.871), (0.860, 0.869)],
                        [(0.865, 0.860), (0.867, 0.861), (0.866, 0.859)])
    assert experiment_verdict(ablation_table(root, profile="full").loc["11_beyond/minivision_v3-nearest"]) == "hurts"


def test_the_faithful_runs_gap_is_a_paired_one_change_row_against_its_same_precision_base(tmp_path):
    """Finding 10: nearest (bf16) is set against minivision_v3-recipe (bf16, bilinear), not notebook 04's fp32 run:
    the paired Δ and its std over the seeds both have, and whatever else differs, named."""
    from charclf.study.beyond import one_change_caption, one_change_row

    root = tmp_path / "runs" / "full"
    assert one_change_row(root, "full", "11_beyond/minivision_v3-nearest") is None  # nothing trained yet
    assert one_change_caption(None) == ""
    with pytest.raises(KeyError, match="no changed run"):
        one_change_row(root, "full", "11_beyond/minivision_v3-recipe")
    # an fp32 notebook-04 run of the same model plays no part in the pair
    write_fake_run(root / "04_training/minivision_v3-seed0", model="minivision_v3", best_val_acc=0.8, test_acc=0.8)
    _nearest_and_recipe(root, [(0.870, 0.869), (0.871, 0.872), (0.870, 0.872)],
                        [(0.866, 0.864), (0.867, 0.866), (0.866, 0.865)], nearest_selection=None)
    row = one_change_row(root, "full", "11_beyond/minivision_v3-nearest")
    assert row["baseline entry"] == "minivision_v3-recipe" and row["seed list"] == [0, 1, 2]
    assert row["Δ test (pts)"] == pytest.approx(0.6) and row["Δ test paired std (pts)"] == pytest.approx(0.1)
    assert row["Δ val (pts)"] == pytest.approx(0.4) and row["Δ val paired std (pts)"] == pytest.approx(0.0, abs=1e-9)
    assert row["precision (arm / baseline)"] == "bf16 (val fp32, epoch chosen on bf16 val) / bf16 (val fp32)"
    assert one_change_caption(row) == (
        "one change against `minivision_v3-recipe` (seeds 0, 1, 2 on both sides): Δ test +0.60 points (paired std "
        "0.10); Δ val +0.40 points (paired std 0.00); also differs: best epoch chosen on val in: bf16 vs fp32")


def test_the_arms_threads_and_machine_are_named_where_they_differ(tmp_path):
    """A rerun on another machine image or thread count moves a run as a small change does: the one-change
    table names where the arms trained, whenever that differs."""
    from charclf.study.beyond import _precision_columns

    def record(machine):
        return fake_record(provenance={"git_sha": "x", "created_utc": "t", "seed": 0, "protocol": "holdout",
                                       "machine": machine})

    new = {"platform": "Linux-6.18.44-fc-v1300-x86_64-with-glibc2.36", "torch_threads": 1,
           "cpu_model": "AMD EPYC", "cpu_flags": ["avx2", "avx512_bf16"]}
    old = {"platform": "Linux-6.18.44-fc-v1045-x86_64-with-glibc2.36", "torch_threads": 2}
    assert _precision_columns([record(new)], [record(new)])["also differs"] == ""
    assert _precision_columns([record(new)], [record(old)])["also differs"] == (
        "training threads: 1 vs 2; machine: 6.18.44-fc-v1300-x86_64, AMD EPYC (AVX512-BF16) vs "
        "6.18.44-fc-v1045-x86_64, CPU unrecorded")
    xeon = {**new, "cpu_model": "Intel(R) Xeon(R) Processor", "cpu_flags": ["avx512_bf16", "amx_bf16"]}
    assert _precision_columns([record(new)], [record(xeon)])["also differs"] == (
        "machine: 6.18.44-fc-v1300-x86_64, AMD EPYC (AVX512-BF16) vs 6.18.44-fc-v1300-x86_64, Intel(R) Xeon(R) "
        "Processor (AMX)")  # one machine image, two CPUs
