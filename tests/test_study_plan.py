"""The study's plan as data: which runs each profile trains, and the ablation arms each change one thing."""
from __future__ import annotations

from pathlib import Path

import pytest

from charclf.study.notebook import StudyContext
from charclf.study.plan import (
    ABLATION_EPOCHS,
    MULTI_SEED_MODELS,
    TRAINING_PLAN,
    ablation_runs,
    beyond_runs,
    feasibility,
    training_runs,
)
from charclf.study.profiles import PROFILES
from charclf.train.recipes import get_recipe


def ctx(profile: str) -> StudyContext:
    return StudyContext(profile=profile, protocol="holdout", seed=0, data_dir=Path("."), retrain=False,
                        settings=PROFILES[profile])


def test_full_profile_trains_three_seeds_of_the_headline_models_and_scores_the_train_part():
    runs = training_runs("full")
    names = [r.name for r in runs]
    assert len(names) == len(set(names)) == len(TRAINING_PLAN) + 2 * len(MULTI_SEED_MODELS)
    for model in MULTI_SEED_MODELS:
        assert sorted(r.seed for r in runs if r.model == model) == [0, 1, 2]
    assert all(r.evaluate_parts == ("train", "test") for r in runs)
    assert {r.recipe for r in runs if r.model == "vgg"} == {"byclass_study"}


def test_quick_profile_is_one_seed_and_test_only():
    runs = training_runs("quick")
    assert [r.seed for r in runs] == [0] * len(TRAINING_PLAN)
    assert all(r.evaluate_parts == ("test",) for r in runs)
    assert [r.model for r in training_runs("quick", ["vgg", "lenet"])] == ["lenet", "vgg"]  # plan order


def test_beyond_runs_are_three_seeds_of_our_small_models_in_their_own_group():
    runs = beyond_runs("full", ["charnet_xs"])
    assert [(r.name, r.recipe) for r in runs] == [(f"11_beyond/charnet_xs-seed{s}", "charclf_tiny")
                                                  for s in (0, 1, 2)]
    assert get_recipe(runs[0].recipe).model == "charnet_xs"
    assert [r.seed for r in beyond_runs("quick", ["charnet_xs"])] == [0] and beyond_runs("full", ["vgg"]) == []
    # An earlier work's model under our recipe is its own entry, trained as that model.
    (mv3,) = beyond_runs("quick", ["minivision_v3-charclf"])
    assert (mv3.entry, mv3.model, mv3.config(ctx("full")).model) == ("minivision_v3-charclf", "minivision_v3",
                                                                     "minivision_v3")
    assert mv3.config(ctx("full")).ema_decay == get_recipe("charclf_best").ema_decay


@pytest.mark.parametrize("group", ["02_augmentation", "09_efficientnet_ideas"])
def test_each_ablation_arm_changes_only_what_it_names(group):
    base = get_recipe("minivision_v3", epochs=ABLATION_EPOCHS).to_dict()
    for run in ablation_runs(group):
        config = run.config(ctx("full")).to_dict()
        changed = {k for k in config if config[k] != base[k]} - {"seed"}
        assert changed == set(dict(run.overrides)) - {"epochs"}, run.name
        assert config["epochs"] == ABLATION_EPOCHS and run.label


def test_ablations_share_identical_runs_instead_of_training_them_twice():
    aug = {r.name: r for r in ablation_runs("02_augmentation")}
    ideas = {r.name: r for r in ablation_runs("09_efficientnet_ideas")}
    shared = set(aug) & set(ideas)
    assert shared == {"02_augmentation/recipe-crop-rotation", "02_augmentation/recipe-mixup-cutmix"}
    for name in shared:
        assert aug[name].config(ctx("full")) == ideas[name].config(ctx("full"))


def test_arms_are_selected_by_name_in_the_order_given():
    from charclf.study.plan import select_arms

    arms = ablation_runs("02_augmentation")
    chosen = select_arms(arms, ["recipe-crop-rotation-nearest", "recipe-crop-rotation"])
    assert [r.name for r in chosen] == ["02_augmentation/recipe-crop-rotation-nearest",
                                        "02_augmentation/recipe-crop-rotation"]
    assert select_arms(arms, None) == arms and select_arms(arms, ["no-such-arm"]) == []


def test_quick_profile_caps_ablation_epochs():
    for run in ablation_runs("02_augmentation"):
        assert run.config(ctx("quick")).epochs == PROFILES["quick"].max_epochs


def test_feasibility_refuses_a_recipe_over_the_budget(monkeypatch):
    """A model whose full recipe would exceed the run budget is listed with its measurement, not trained."""
    from charclf.study import plan

    class Data:
        num_classes = 62
        train = [0] * 93_055

    run = training_runs("full", ["ensnet"])[0]
    monkeypatch.setattr(plan, "measure_images_per_s", lambda *a, **k: 13.0)
    check = feasibility(ctx("full"), run, run.config(ctx("full")), Data())
    assert not check["trained"] and "needs a GPU" in check["reason"]
    assert check["estimated_s"] == pytest.approx(20 * 93_055 / 13.0)
    monkeypatch.setattr(plan, "measure_images_per_s", lambda *a, **k: 1e6)
    assert feasibility(ctx("full"), run, run.config(ctx("full")), Data())["trained"]


def test_rendering_lists_missing_runs_without_measuring_or_training(tmp_path, monkeypatch):
    """A render-only context loads the finished runs of a plan and lists the others as not yet trained; an
    ablation, whose table compares all of its arms, refuses to render with an arm missing."""
    import dataclasses

    from records import write_fake_run

    from charclf.errors import NotTrainedYet
    from charclf.study import plan

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    monkeypatch.setattr(plan, "measure_images_per_s", lambda *a, **k: pytest.fail("rendering measured a model"))
    render = dataclasses.replace(ctx("full"), train_missing=False)
    runs = training_runs("full", ["lenet", "alexnet"])
    write_fake_run(render.runs_dir / runs[0].name, model="lenet", best_val_acc=0.8)

    class Data:
        num_classes = 62

    loaded, status = plan.train_plan(render, Data(), runs)
    assert list(loaded) == [runs[0].name]
    assert status.loc[runs[0].name, "trained"] and not status.loc[runs[1].name, "trained"]
    assert status.loc[runs[1].name, "reason"] == plan.NOT_YET_TRAINED
    assert (status.loc[runs[1].name, "model"], status.loc[runs[1].name, "seed"]) == ("alexnet", 0)
    assert not (render.runs_dir / runs[1].name).exists()

    arms = plan.ablation_runs("02_augmentation")
    monkeypatch.setattr(StudyContext, "load_data", lambda self, *a, **k: Data())
    with pytest.raises(NotTrainedYet, match=arms[0].name.split("/")[1]):
        plan.run_ablation(render, "02_augmentation")
    # With every arm finished it renders, the test part's macro recall beside the accuracy (NaN when not scored).
    for i, arm in enumerate(arms):
        test = {"accuracy": 0.8, "n": 100, "tta": False, "precision": "fp32", "recall_macro": 0.7 + i / 100}
        write_fake_run(render.runs_dir / arm.name, model="minivision_v3",
                       evaluation={"test": test} if i else {"test": {**test, "recall_macro": None}})
    table, histories = plan.run_ablation(render, "02_augmentation")
    assert list(table.index) == [arm.name for arm in arms] and len(histories) == len(arms)
    assert table["test macro recall"].isna().tolist() == [True] + [False] * (len(arms) - 1)
    assert table["test macro recall"].iloc[1] == pytest.approx(0.71)


def test_a_dry_run_measures_and_lists_without_training(tmp_path, monkeypatch):
    """``--dry-run`` ("measure and list, train nothing"): each missing run's step is timed once and cached as
    its feasibility record; a slow model is listed with its reason, a fast one as not yet trained."""
    import dataclasses
    import json

    from charclf.study import plan

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    speeds = {"ensnet": 13.0, "lenet": 1e6}
    monkeypatch.setattr(plan, "measure_images_per_s", lambda model, *a, **k: speeds[model])
    monkeypatch.setattr(StudyContext, "train", lambda *a, **k: pytest.fail("a dry run trained"))
    dry = dataclasses.replace(ctx("full"), train_missing=False)
    runs = training_runs("full", ["lenet", "ensnet"])

    class Data:
        num_classes = 62
        train = [0] * 93_055

    loaded, status = plan.train_plan(dry, Data(), runs, train=False, measure=True)
    assert loaded == {}
    lenet, ensnet = (r.name for r in runs)
    assert status.loc[lenet, "reason"] == plan.NOT_YET_TRAINED and status.loc[lenet, "images_per_s"] == 1e6
    assert "needs a GPU" in status.loc[ensnet, "reason"] and status.loc[ensnet, "images_per_s"] == 13.0
    saved = json.loads((dry.runs_dir / "04_training" / "feasibility" / "ensnet-seed0.json").read_text())
    assert saved["images_per_s"] == 13.0 and not saved["trained"] and saved["git_sha"]


def test_efficientnet_runs_are_b2_and_b3_under_their_recipe_and_the_cli_only_times_them(monkeypatch):
    """Notebook 09's EfficientNets as plan data: ``--only 09-efficientnet --dry-run`` reaches exactly them."""
    from charclf.study import plan

    runs = plan.efficientnet_runs()
    assert [(r.name, r.model, r.recipe) for r in runs] == [
        (f"09_efficientnet/{m}-seed0", m, "efficientnet_kaggle") for m in ("efficientnet_b2", "efficientnet_b3")]
    assert [r.model for r in plan.efficientnet_runs(["efficientnet_b3", "vgg"])] == ["efficientnet_b3"]
    seen = {}

    def fake_train_plan(ctx, data, planned, *, train, measure):
        seen.update(names=[r.name for r in planned], train=train, measure=measure)
        import pandas as pd
        return {}, pd.DataFrame()

    monkeypatch.setattr(plan, "train_plan", fake_train_plan)
    monkeypatch.setattr("charclf.study.notebook.setup", lambda *a, **k: type(
        "Ctx", (), {"load_data": staticmethod(lambda split: None)})())
    from charclf.apps.cli import main

    assert main(["plan", "--profile", "full", "--only", "09-efficientnet", "--dry-run"]) == 0
    assert seen == {"names": [r.name for r in runs], "train": False, "measure": True}


def test_the_cpu_scale_efficientnet_trains_the_largest_size_whose_recipe_fits(tmp_path, monkeypatch):
    """Each size is timed once; the largest within the budget is the one chosen and trained; a finished size
    stays the chosen one; a dry run times the sizes and trains none."""
    import dataclasses

    import pandas as pd

    from records import write_fake_run

    from charclf.study import plan

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    runs = plan.efficientnet_cpu_runs()
    assert [r.name for r in runs] == [f"09_efficientnet/efficientnet_b2-{s}px-seed0" for s in (28, 40, 56)]
    config = runs[1].config(ctx("full"))
    assert config.model_kwargs == {"input_size": 40} and config.optimizer.lr == 3e-4
    assert config.loss == "weighted_kldiv" and config.augment.mixup_alpha > 0 and config.optimizer.name == "lion"
    # 25 epochs of 93,055 images: 28 px and 40 px fit 3 h, 56 px does not.
    speeds = {28: 900.0, 40: 400.0, 56: 150.0}
    monkeypatch.setattr(plan, "measure_images_per_s",
                        lambda model, config, data: speeds[config.model_kwargs["input_size"]])
    trained = []

    def fake_train(self, name, config, data, evaluate_parts):  # as ctx.train: loads a finished run, trains others
        from charclf.train.run_folder import is_finished_run

        if not is_finished_run(self.runs_dir / name):
            trained.append(name)
            write_fake_run(self.runs_dir / name, model="efficientnet_b2")
        return name

    monkeypatch.setattr(StudyContext, "train", fake_train)

    class Data:
        num_classes = 62
        train = [0] * 93_055

    dry = dataclasses.replace(ctx("full"), train_missing=False)
    run, status = plan.efficientnet_cpu_plan(dry, Data(), train=False, measure=True)
    assert run is None and trained == [] and status["chosen"].tolist() == [False, True, False]
    assert status["fits budget"].tolist() == [True, True, False]  # timed within the budget: the largest is chosen
    assert "needs a GPU" in status.loc[runs[2].name, "reason"]
    full = dataclasses.replace(ctx("full"), train_missing=True)
    _, status = plan.efficientnet_cpu_plan(full, Data())
    assert trained == [runs[1].name]
    assert status.loc[runs[1].name, "trained"] and pd.isna(status.loc[runs[1].name, "reason"])
    speeds[56] = 1e6  # a faster machine later: the finished 40 px run stays the one shown, nothing retrains
    _, status = plan.efficientnet_cpu_plan(dataclasses.replace(full, train_missing=False), Data())
    assert trained == [runs[1].name], trained
    assert status.loc[runs[1].name, "chosen"]


def test_the_cpu_scale_efficientnet_is_shown_beside_the_earlier_work_with_what_differs(tmp_path):
    import types

    import pandas as pd
    from records import write_fake_run

    from charclf.study.efficientnet_cpu import efficientnet_cpu_line, efficientnet_cpu_table

    status = pd.DataFrame({"chosen": [False, True]}, index=["a-28px", "a-40px"])
    assert "a-40px is the largest size" in efficientnet_cpu_line(None, status)
    assert list(efficientnet_cpu_table(None)["test acc"]) == [0.8861]
    record = write_fake_run(tmp_path / "run", model="efficientnet_b2", best_val_acc=0.85, test_acc=0.84)
    record = record.replace(config={**record.config, "model_kwargs": {"input_size": 40}})
    table = efficientnet_cpu_table(types.SimpleNamespace(record=record))
    ours = table.loc["efficientnet_b2 at 40 px, ours (CPU scale)"]
    assert ours["test acc"] == 0.84 and ours["weights"] == "none: from scratch"
    assert "holdout" in ours["tested on"] and "official" in table.iloc[0]["tested on"]
    assert "84.00%" in efficientnet_cpu_line(types.SimpleNamespace(record=record), status)
    status["fits budget"] = [True, True]
    assert "the largest size whose schedule fits" in efficientnet_cpu_line(types.SimpleNamespace(record=record), status)
    status["estimated_s"] = [float("nan"), 7200.0]
    history = pd.DataFrame({"epoch_time_s": [400.0, 500.0, 900.0]})
    timed = efficientnet_cpu_line(types.SimpleNamespace(record=record.replace(train_time_s=10800.0), history=history),
                                  status)
    assert "trained for 3.0 h against the 2.0 h estimated" in timed and "400–900 s (median 500 s)" in timed


def test_each_experiment_changes_one_thing_of_its_base_and_pairs_with_it_seed_by_seed():
    import dataclasses

    from charclf.study.plan import BEYOND, EXPERIMENTS, experiment_base, paired_comparisons
    from charclf.study.runid import RunId

    full = ctx("full")
    for (model, variant), (overrides, _) in EXPERIMENTS.items():
        base = {r.seed: r for r in beyond_runs("full", [RunId(BEYOND, *experiment_base((model, variant))).stem])}
        arm = beyond_runs("full", [RunId(BEYOND, model, variant).stem])
        assert [r.seed for r in arm] == sorted(base) and all(r.model == model for r in arm)
        a, b = arm[0].config(full).to_dict(), base[0].config(full).to_dict()
        changed = {k for k in a if a[k] != b[k]}
        assert changed == {k.split("__")[0] for k in overrides}, (variant, changed)
        assert dataclasses.replace(arm[1].config(full), seed=0) == arm[0].config(full)
    pairs = {(run.stem, base_run.stem) for run, _, base_run, _ in paired_comparisons()}
    assert {(f"{m}-{v}", RunId(BEYOND, *experiment_base((m, v))).stem) for m, v in EXPERIMENTS} <= pairs
    assert experiment_base(("minivision_xs", "charclf-long")) == ("minivision_xs", "charclf")


def test_a_cached_timing_is_re_estimated_when_the_plans_epochs_change(tmp_path, monkeypatch):
    """A size timed under the recipe's 35 epochs (3.5 h: over the budget) fits once the plan trains 25."""
    import dataclasses
    import json

    from charclf.study import plan

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    monkeypatch.setattr(plan, "measure_images_per_s", lambda *a, **k: pytest.fail("a cached timing was re-measured"))
    run = plan.efficientnet_cpu_runs([28])[0]
    render = dataclasses.replace(ctx("full"), train_missing=False)
    cached = render.runs_dir / "09_efficientnet" / "feasibility" / "efficientnet_b2-28px-seed0.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(json.dumps({"run": run.name, "model": run.model, "images_per_s": 261.0, "epochs": 35,
                                  "estimated_s": 35 * 93_055 / 261.0, "trained": False, "reason": "over"}))

    class Data:
        num_classes = 62

    _, status = plan.train_plan(render, Data(), [run])
    row = status.loc[run.name]
    assert row["epochs"] == 25 and row["estimated_s"] == pytest.approx(25 * 93_055 / 261.0)
    assert row["reason"] == plan.NOT_YET_TRAINED and row["label"] == run.label


def test_each_distillation_experiment_changes_one_setting_of_the_distilled_run():
    from charclf.study.plan import BEYOND, DISTILL_BASE, DISTILL_EXPERIMENTS, paired_comparisons
    from charclf.study.runid import RunId

    full = ctx("full")
    runs = beyond_runs("full", distilled=True)
    pairs = {(run, base_run) for run, _, base_run, _ in paired_comparisons()}
    from charclf.study.plan import DISTILL_TEACHER_RUN, teacher_file

    first_students = [r for r in runs if r.run_id.variant == "kd"]
    for (model, variant), (changed, _) in DISTILL_EXPERIMENTS.items():
        arm = [r for r in runs if r.run_id.variant == variant]
        rerun = [r for r in runs if r.model == model and r.run_id.variant == DISTILL_BASE]
        first = [r for r in first_students if r.model == model]
        assert [r.seed for r in arm] == [r.seed for r in rerun] == [r.seed for r in first] == [0, 1, 2]
        a, b = arm[0].config(full).to_dict(), rerun[0].config(full).to_dict()
        assert {k for k in a if a[k] != b[k]} == set(changed)
        # every setting and its base learn from the float64 teacher; the first students from the first one
        assert a["distill_teacher"] == b["distill_teacher"] == teacher_file("full", DISTILL_TEACHER_RUN)
        c = first[0].config(full).to_dict()
        assert {k for k in b if b[k] != c[k]} == {"distill_teacher"}
        # each setting pairs with the alpha-0.5 student trained beside it, which pairs with the first students
        expected = RunId(BEYOND, model, "kd") if variant == DISTILL_BASE else RunId(BEYOND, model, DISTILL_BASE)
        assert (RunId(BEYOND, model, variant), expected) in pairs


@pytest.mark.parametrize("extra", [["--models", "efficientnet_b2"], ["--seeds", "1"]])
def test_the_cpu_scale_efficientnet_plan_refuses_models_and_seeds_before_loading_data(extra, monkeypatch, capsys):
    from charclf.apps.cli import main

    monkeypatch.setattr("charclf.study.notebook.setup", lambda *a, **k: pytest.fail("data was loaded"))
    assert main(["plan", "--profile", "full", "--only", "09-efficientnet-cpu", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "takes no --models or --seeds" in err and "Fix:" in err


def test_width_arms_train_the_epochs_their_committed_timing_gives_and_stay_one_change_of_the_base():
    import json

    from charclf.models import create_model, model_summary
    from charclf.provenance import REPO_ROOT
    from charclf.study.plan import BEYOND, EXPERIMENTS, WIDTH_ARMS, WIDTH_BASE, WIDTH_TIME_JSON
    from charclf.study.runid import RunId

    timing = json.loads((REPO_ROOT / WIDTH_TIME_JSON).read_text())
    assert timing["arms"]["base"]["widths"] == list(WIDTH_BASE) and timing["base_epochs"] == 50
    for variant, (widths, epochs) in WIDTH_ARMS.items():
        assert timing["arms"][variant] == {**timing["arms"][variant], "widths": list(widths),
                                           "epochs_at_base_time": epochs}
        overrides, label = EXPERIMENTS[("minivision_s", variant)]
        assert overrides.get("epochs", 50) == epochs and f"{epochs} epochs" in label
        run = beyond_runs("full", [RunId(BEYOND, "minivision_s", variant).stem])[0]
        config = run.config(ctx("full"))
        net = create_model("minivision_s", num_classes=62, **config.model_kwargs)
        assert [m.out_channels for m in net.modules() if hasattr(m, "out_channels")] == list(widths)
        assert config.scheduler.step_size == max(1, round(5 * epochs / 50))
    assert model_summary(create_model("minivision_s", num_classes=62, widths=[32, 64, 64, 60]))["params"] <= 100_000


def test_a_base_trained_again_is_never_a_goals_candidate_of_its_own():
    import pandas as pd

    from charclf.study.goals import goals_table
    from charclf.study.plan import RERUN_ENTRIES

    def entry(val, test):
        return {"n": 3, "params": 97_022, "train s mean": 900.0, "distilled": False, "val_mean": val,
                "test_mean": test, "test_std": 0.001, "val_std": 0.001, "precision (train / val)": "bf16 / val fp32"}

    front = pd.DataFrame({"minivision_s": entry(0.866, 0.867), RERUN_ENTRIES[0]: entry(0.869, 0.869)}).T
    row = goals_table(front).loc["<= 100k parameters"]
    assert row["candidate (chosen on val)"] == "minivision_s"  # the rerun's higher val is the same recipe's noise


@pytest.mark.parametrize("extra, message", [
    (["--only", "11", "--models", "minivision_s-w150,minivision_s-w15O"], "--models: minivision_s-w15O not in"),
    (["--only", "02", "--seeds", "1"], "--seeds: 1 not in --only 02's plan under the full profile, whose seeds are 0"),
    (["--only", "11", "--seeds", "5"], "--seeds: 5 not in"),
    (["--only", "11", "--seeds", "x"], "'x' is not a whole number"),
])
def test_plan_refuses_a_model_or_seed_its_plan_does_not_hold_before_loading_data(extra, message, monkeypatch, capsys):
    from charclf.apps.cli import main

    monkeypatch.setattr("charclf.study.notebook.setup", lambda *a, **k: pytest.fail("data was loaded"))
    assert main(["plan", "--profile", "full", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_plan_keeps_the_queue_order_and_the_seeds_asked_for():
    from charclf.study.plan_cli import chosen_runs

    runs = chosen_runs("11", "full", ["minivision_s-w075", "minivision_s-w150"], [1, 0])
    assert [(r.entry, r.seed) for r in runs] == [("minivision_s-w075", 0), ("minivision_s-w075", 1),
                                                 ("minivision_s-w150", 0), ("minivision_s-w150", 1)]
    assert [r.entry for r in chosen_runs("02", "full", None, [0])] == [r.entry for r in chosen_runs("02", "full",
                                                                                                     None, None)]


def test_a_dry_run_of_the_students_builds_no_teacher(monkeypatch, capsys):
    from charclf.study import beyond, plan

    monkeypatch.setattr(beyond, "ensemble", lambda *a, **k: pytest.fail("the ensemble was scored"))
    monkeypatch.setattr(beyond, "ensure_teacher", lambda *a, **k: pytest.fail("a teacher was written"))
    monkeypatch.setattr(plan, "train_plan", lambda *a, **k: ({}, __import__("pandas").DataFrame()))
    monkeypatch.setattr("charclf.study.notebook.setup", lambda *a, **k: type(
        "Ctx", (), {"load_data": staticmethod(lambda split: None), "runs_dir": None, "profile": "full"})())
    from charclf.apps.cli import main

    assert main(["plan", "--profile", "full", "--only", "11-distilled", "--dry-run"]) == 0
    assert "teachers are not built" in capsys.readouterr().out


def test_a_damaged_feasibility_record_is_one_line_naming_it(tmp_path, monkeypatch):
    """A feasibility record (the background runner's timing) that is no JSON was a JSONDecodeError traceback."""
    import dataclasses

    from charclf.errors import DataError
    from charclf.study import plan

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)
    run = plan.efficientnet_cpu_runs([28])[0]
    render = dataclasses.replace(ctx("full"), train_missing=False)
    cached = render.runs_dir / "09_efficientnet" / "feasibility" / "efficientnet_b2-28px-seed0.json"
    cached.parent.mkdir(parents=True)
    cached.write_text("{truncated")

    class Data:
        num_classes = 62

    with pytest.raises(DataError, match=r"efficientnet_b2-28px-seed0.json.*move it aside"):
        plan.train_plan(render, Data(), [run])
