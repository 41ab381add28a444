"""The notebooks' helpers: retrain switch, cached runs, profile sizes, schedule compression (no training here)."""
from __future__ import annotations

import json

import pytest
from records import write_fake_run

from charclf.errors import ConfigError, NotTrainedYet, TrainingError, UnknownNameError
from charclf.eval.record import RunRecord
from charclf.study.profiles import profile_settings
from charclf.study.runs import (
    RENDER_ENV,
    RETRAIN_ENV,
    cached_json,
    cached_run,
    render_only_requested,
    retrain_requested,
)
from charclf.train import SchedulerConfig
from charclf.train.recipes import compress_schedule, get_recipe


def _fake_training(calls):
    def build(run_dir):
        calls.append(run_dir)
        write_fake_run(run_dir, best_val_acc=0.5)
    return build


def test_retrain_env_overrides_the_parameter(monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    assert retrain_requested(True) and not retrain_requested(False)
    monkeypatch.setenv(RETRAIN_ENV, "1")
    assert retrain_requested(False)
    monkeypatch.setenv(RETRAIN_ENV, "0")
    assert not retrain_requested(True)
    monkeypatch.setenv(RETRAIN_ENV, "maybe")
    with pytest.raises(ConfigError, match=RETRAIN_ENV):
        retrain_requested(False)


def test_cached_run_loads_a_finished_run_and_retrains_on_request(tmp_path, monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    calls = []
    first = cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs")
    assert not first.cached and len(calls) == 1 and first.dir == tmp_path / "runs" / "quick" / "04_training" / "lenet"
    again = cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs")
    assert again.cached and len(calls) == 1 and again.record.best_val_acc == 0.5
    (again.dir / "stale.txt").write_text("from an older run")
    monkeypatch.setenv(RETRAIN_ENV, "1")
    fresh = cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs")
    assert not fresh.cached and len(calls) == 2 and not (fresh.dir / "stale.txt").exists()
    # retraining replaced the run, and deleted nothing: the old folder (its note too) was moved beside runs/
    kept = list((tmp_path / "replaced" / "quick" / "04_training").glob("lenet-*"))
    assert len(kept) == 1 and (kept[0] / "stale.txt").read_text() == "from an older run"
    assert (kept[0] / "metrics.json").is_file()


def test_an_unfinished_run_is_rebuilt_and_a_silent_builder_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    half = tmp_path / "runs" / "quick" / "x"
    half.mkdir(parents=True)
    (half / "history.csv").write_text("epoch\n1\n")  # killed before metrics.json
    (half / "model.safetensors").write_bytes(b"50 epochs of weights")  # and no resume.pt: it cannot continue
    (half / "NOTES.md").write_text("mine")
    calls = []
    assert not cached_run("x", "quick", _fake_training(calls), runs_root=tmp_path / "runs").cached and calls
    kept = list((tmp_path / "replaced" / "quick").glob("x-*"))  # trained afresh; the old folder kept whole
    assert len(kept) == 1 and (kept[0] / "NOTES.md").read_text() == "mine"
    assert (kept[0] / "model.safetensors").read_bytes() == b"50 epochs of weights"
    with pytest.raises(TrainingError, match="metrics.json"):
        cached_run("y", "quick", lambda d: None, runs_root=tmp_path / "runs")
    with pytest.raises(UnknownNameError, match="quick"):
        cached_run("x", "quik", _fake_training(calls), runs_root=tmp_path / "runs")


def test_cached_json(tmp_path, monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "results.json").write_text(json.dumps({"gain": 0.1}))

    stamped = {"gain": 0.1, "profile": "full"}
    assert cached_json("06", "full", build, runs_root=tmp_path / "runs") == stamped
    assert cached_json("06", "full", build, runs_root=tmp_path / "runs") == stamped and len(calls) == 1
    cached_json("06", "full", build, True, runs_root=tmp_path / "runs")
    assert len(calls) == 2 and len(list((tmp_path / "replaced" / "full").glob("06-*"))) == 1  # kept, not deleted


def test_cached_json_records_the_profile_on_the_experiments_own_runs(tmp_path, monkeypatch):
    # Experiments (06, 08) train with fit directly; the study layer stamps their records and results.
    monkeypatch.delenv(RETRAIN_ENV, raising=False)

    def build(folder):
        for arm in ("transfer", "scratch"):
            write_fake_run(folder / arm, best_val_acc=0.9)
        (folder / "unfinished").mkdir()
        (folder / "results.json").write_text(json.dumps({"runs": 2, "profile": None}))

    results = cached_json("08_mnist_transfer/seed1", "full", build, runs_root=tmp_path)
    assert results == {"runs": 2, "profile": "full"}
    folder = tmp_path / "full" / "08_mnist_transfer" / "seed1"
    for arm in ("transfer", "scratch"):
        record = RunRecord.load(folder / arm)
        assert (record.profile, record.run) == ("full", f"08_mnist_transfer/seed1/{arm}")
        assert record.best_val_acc == 0.9  # only the bookkeeping changed
    assert not (folder / "unfinished" / "metrics.json").exists()


def test_cached_json_hands_a_killed_experiment_back_to_resume(tmp_path, monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    killed = tmp_path / "full" / "06" / "pretrain"
    killed.mkdir(parents=True)
    (killed / "resume.pt").write_bytes(b"state of epoch 7")  # the session ended mid-run
    seen = []

    def build(folder):
        seen.append((folder / "pretrain" / "resume.pt").read_bytes())
        (folder / "results.json").write_text(json.dumps({"gain": 0.1}))

    assert cached_json("06", "full", build, runs_root=tmp_path)["gain"] == 0.1
    assert seen == [b"state of epoch 7"]  # kept for the builder to resume, not deleted


def test_rendering_loads_finished_results_and_trains_or_removes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    calls = []
    cached_run("04_training/lenet-seed0", "full", _fake_training(calls), runs_root=tmp_path)
    loaded = cached_run("04_training/lenet-seed0", "full", _fake_training(calls), runs_root=tmp_path,
                        train_missing=False)
    assert loaded.cached and len(calls) == 1
    killed = tmp_path / "full" / "04_training" / "vgg-seed0"
    killed.mkdir(parents=True)
    (killed / "resume.pt").write_bytes(b"epoch 3")
    for name, state in (("04_training/vgg-seed0", "unfinished"), ("04_training/resnet-seed0", "not there")):
        with pytest.raises(NotTrainedYet, match="--train") as info:
            cached_run(name, "full", _fake_training(calls), runs_root=tmp_path, train_missing=False)
        assert name in str(info.value) and f"is {state} at" in str(info.value)
    assert len(calls) == 1 and (killed / "resume.pt").read_bytes() == b"epoch 3"  # the killed run is kept
    assert not (tmp_path / "full" / "04_training" / "resnet-seed0").exists()
    with pytest.raises(NotTrainedYet, match="06"):
        cached_json("06", "full", lambda folder: calls.append(folder), runs_root=tmp_path, train_missing=False)
    assert len(calls) == 1 and not (tmp_path / "full" / "06").exists()
    with pytest.raises(ConfigError, match="--train --retrain"):  # retraining while rendering is a contradiction
        cached_run("04_training/lenet-seed0", "full", _fake_training(calls), True, runs_root=tmp_path,
                   train_missing=False)


def test_render_env_is_read_strictly(monkeypatch):
    monkeypatch.delenv(RENDER_ENV, raising=False)
    assert not render_only_requested()
    monkeypatch.setenv(RENDER_ENV, "1")
    assert render_only_requested()
    monkeypatch.setenv(RENDER_ENV, "0")
    assert not render_only_requested()
    monkeypatch.setenv(RENDER_ENV, "sometimes")
    with pytest.raises(ConfigError, match=RENDER_ENV):
        render_only_requested()


def test_profiles_and_schedule_compression():
    quick, full = profile_settings("quick"), profile_settings("full")
    assert quick.epochs(20) == 2 and quick.epochs(1) == 1 and full.epochs(35) == 35
    assert full.train_samples is None and quick.train_samples < 10_000
    sched = compress_schedule(SchedulerConfig(name="warmup_cosine_restarts", warmup_epochs=5, t0=10, step_size=5),
                              2 / 35)
    assert (sched.warmup_epochs, sched.t0, sched.step_size) == (0, 1, 1)
    assert compress_schedule(SchedulerConfig(warmup_epochs=3, t0=10), 1.0) == SchedulerConfig(warmup_epochs=3, t0=10)


def test_versions_name_the_training_precision():
    import torch

    from charclf.study.notebook import versions
    from charclf.train.precision import cpu_has_fast_bf16

    info = versions()
    assert info["precision a run started here trains in"] == ("bf16" if torch.cuda.is_available() or cpu_has_fast_bf16() else "fp32")


def test_a_cached_run_under_another_config_is_flagged_not_passed_off(tmp_path, monkeypatch, capsys):
    import dataclasses

    from charclf.study.notebook import StudyContext

    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    ctx = StudyContext(profile="full", protocol="holdout", seed=0, data_dir=tmp_path, retrain=False,
                       settings=profile_settings("full"))
    trained = get_recipe("minivision_v3", epochs=15)
    folder = tmp_path / "runs" / "full" / "04_training" / "mv3"
    write_fake_run(folder)
    (folder / "train_config.json").write_text(json.dumps(trained.to_dict()))

    def cached(config):
        capsys.readouterr()
        ctx.train("04_training/mv3", config, data=None)  # cached: nothing trains, so no data is needed
        return capsys.readouterr().out

    # the same config, or one differing only in where it runs: no warning
    assert "WARNING" not in cached(dataclasses.replace(trained, device="cpu", log_every=7))
    asked = dataclasses.replace(trained, epochs=20, augment=dataclasses.replace(trained.augment, rotation=5.0))
    out = cached(asked)
    assert "[04_training/mv3] WARNING" in out and "RETRAIN = True" in out
    assert "epochs: 15 -> 20" in out and "augment.rotation: 10.0 -> 5.0" in out


def test_the_profiles_table_writes_out_what_none_means():
    from charclf.study.profiles import profiles_table

    table = profiles_table()
    assert table.loc["train_samples", "full"] == "all" and table.loc["max_epochs", "full"] == "the recipe's own"
    assert table.loc["train_samples", "quick"] == 3000 and isinstance(table.loc["train_samples", "quick"], int)
    assert table.loc["max_mmacs", "full"] == "no limit" and table.loc["transfer_seeds", "full"] == "0, 1, 2"


def test_a_run_of_one_protocol_is_never_loaded_or_replaced_as_the_others(tmp_path, monkeypatch):
    from charclf.paths import runs_dir, runs_folder
    from charclf.study.notebook import StudyContext

    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    calls = []
    holdout = cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs")
    with pytest.raises(NotTrainedYet):  # rendering under the official protocol finds no official run
        cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs",
                   protocol="official", train_missing=False)
    official = cached_run("04_training/lenet", "quick", _fake_training(calls), runs_root=tmp_path / "runs",
                          protocol="official")
    assert not official.cached and official.dir == tmp_path / "runs" / "quick-official" / "04_training" / "lenet"
    assert holdout.dir.is_dir() and len(calls) == 2 and not (tmp_path / "replaced").exists()  # nothing set aside
    assert runs_folder("full") == "full" and runs_dir("full", "official") == tmp_path / "runs" / "full-official"
    ctx = StudyContext(profile="quick", protocol="official", seed=0, data_dir=tmp_path, retrain=False,
                       settings=profile_settings("quick"))
    assert ctx.runs_dir == tmp_path / "runs" / "quick-official"


def test_a_damaged_cached_result_is_one_line_naming_it_and_is_kept(tmp_path, monkeypatch):
    from charclf.errors import DataError

    monkeypatch.delenv(RETRAIN_ENV, raising=False)
    folder = tmp_path / "runs" / "full" / "06"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text('{"gain": 0.1')  # cut off mid-write
    with pytest.raises(DataError, match=r"06/results.json.*Fix: move it away") as err:
        cached_json("06", "full", lambda f: pytest.fail("rebuilt"), runs_root=tmp_path / "runs")
    assert "\n" not in str(err.value) and (folder / "results.json").read_text() == '{"gain": 0.1'


def _rescored_bf16_run(tmp_path, name="minivision_v3-nearest-seed1"):
    """An older bf16 run: its per-epoch val (best_val_acc) ran in bf16, and `charclf evaluate --part val` added its
    float32 val later, the number every table shows."""
    from charclf.study.runs import load_run

    val = {"accuracy": 0.8702, "n": 100}
    write_fake_run(tmp_path / name, precision="bf16", best_val_acc=0.8712, best_epoch=34,
                   evaluation={"test": {"accuracy": 0.8699, "n": 100}, "val": val})
    return load_run(tmp_path / name)


def test_the_loader_line_shows_the_tables_val_and_says_what_chose_the_epoch(tmp_path):
    from charclf.study.runs import describe_run, load_run

    line = describe_run(_rescored_bf16_run(tmp_path))
    assert "best val acc 87.02% (fp32; epoch 34 chosen on bf16 val 87.12%), test acc 86.99%" in line
    write_fake_run(tmp_path / "plain", best_val_acc=0.8657, best_epoch=21)
    assert "best val acc 86.57% (epoch 21), test acc" in describe_run(load_run(tmp_path / "plain"))
    write_fake_run(tmp_path / "bf16", precision="bf16", best_val_acc=0.8657, best_epoch=21)  # not re-scored
    assert "best val acc 86.57% (bf16 val, epoch 21), test acc" in describe_run(load_run(tmp_path / "bf16"))


def test_the_runs_table_shows_the_float32_val_and_the_summary_whether_test_used_tta(tmp_path):
    from charclf.study.runs import load_run, runs_table, seed_summary

    write_fake_run(tmp_path / "tta", model="charnet_s", tta=True)
    runs = {"old": _rescored_bf16_run(tmp_path), "tta": load_run(tmp_path / "tta")}
    table = runs_table(runs)
    assert table.loc["old", "best val acc"] == 0.8702  # what its val_precision (fp32) describes
    summary = seed_summary(table)
    assert list(summary.loc[["charnet_s", "lenet"], "test TTA"]) == [True, False]
