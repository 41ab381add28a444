"""``charclf race`` (once ``charclf bench --time-to-accuracy``): when a race stops, what it scores on test, what it writes — tiny synthetic
data and a tiny model; no timing assertions."""
from __future__ import annotations

import json

import pytest
import torch
from synth import make_emnist_dir, quadrant_bundle

from charclf.apps.cli import main
from charclf.experiments import time_to_accuracy as tta
from charclf.train import AugmentConfig, OptimizerConfig, TrainConfig
from charclf.train.usual import UsualDataset

pytestmark = pytest.mark.usefixtures("one_thread")

PIPELINES = ("usual", "charclf")


def tiny_config(**kw) -> TrainConfig:
    base = {"model": "lenet5_keras", "epochs": 3, "batch_size": 32, "device": "cpu", "amp": "off",
            "optimizer": OptimizerConfig(name="adam", lr=3e-3), "augment": AugmentConfig(crop_padding=2, rotation=10)}
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def data():
    return quadrant_bundle(n_train=192, n_val=48, n_test=48)


@pytest.fixture
def test_reads(monkeypatch):
    """Every call of evaluate_model the race makes (the test part's one look), passed through."""
    calls = []
    real = tta.evaluate_model

    def counted(model, dataset, **kw):
        calls.append(dataset.part)
        return real(model, dataset, **kw)

    monkeypatch.setattr(tta, "evaluate_model", counted)
    return calls


def script_val(monkeypatch, pipeline: str, accuracies: list[float]) -> None:
    """Make the val accuracy after epoch k be accuracies[k - 1] (the training itself runs for real)."""
    values = iter(accuracies)
    if pipeline == "usual":
        monkeypatch.setattr(tta, "_val_accuracy", lambda *a, **k: next(values))
    else:
        monkeypatch.setattr("charclf.train.engine.evaluate_logits", lambda *a, **k: (1.0, next(values)))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_race_stops_at_the_first_epoch_on_target_and_reads_test_once(pipeline, data, monkeypatch, test_reads):
    script_val(monkeypatch, pipeline, [0.1, 0.5, 0.9, 0.95])
    r = tta.race(pipeline, data, target=0.3, seed=0, max_epochs=4, config=tiny_config())
    assert r["reached"] and r["epochs"] == 2 and r["val_acc"] == 0.5
    assert [(epoch, acc) for _, epoch, acc in r["curve"]] == [(1, 0.1), (2, 0.5)]
    assert r["seconds_to_target"] == pytest.approx(r["curve"][-1][0]) == pytest.approx(r["train_s"])
    assert r["curve"][0][0] < r["curve"][1][0]  # cumulative training seconds
    assert r["wall_s"] >= r["train_s"]  # the val evaluations are off the stopwatch, not off the wall clock
    assert test_reads == ["test"] and 0.0 <= r["test_acc"] <= 1.0
    assert r["images_per_s"] > 0 and r["train_samples"] == 192


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_target_not_reached_leaves_seconds_and_test_empty(pipeline, data, monkeypatch, test_reads):
    script_val(monkeypatch, pipeline, [0.1, 0.2])
    r = tta.race(pipeline, data, target=0.3, seed=0, max_epochs=2, config=tiny_config())
    assert not r["reached"] and r["epochs"] == 2
    assert r["seconds_to_target"] is None and r["test_acc"] is None
    assert test_reads == []  # nothing reached the target: the test part is not looked at


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_weights_scored_on_test_are_those_val_saw_reach_the_target(pipeline, data, monkeypatch):
    from charclf.eval.inference import predict_logits

    seen = {}

    def score(model, dataset, *, mean, std, **kw):  # what the scored model gets on val, in plain float32
        logits = predict_logits(model, data.val.images, mean=mean, std=std)
        seen["val_acc"] = (logits.argmax(1) == data.val.labels).double().mean().item()
        return real(model, dataset, mean=mean, std=std, **kw)

    real = tta.evaluate_model
    monkeypatch.setattr(tta, "evaluate_model", score)
    r = tta.race(pipeline, data, target=0.3, seed=1, max_epochs=3, config=tiny_config())
    assert r["reached"], r["curve"]  # the quadrant data is learnt within an epoch or two
    assert all(acc < 0.3 for _, _, acc in r["curve"][:-1])
    assert seen["val_acc"] == pytest.approx(r["val_acc"], abs=1.5 / len(data.val))


def test_usual_pipeline_is_a_dataloader_of_torchvision_transforms_in_float32_nchw(data, monkeypatch):
    from charclf.train import usual

    seen = []
    real = usual.train_epoch_usual

    def spy(model, loader, *args, **kw):
        x, _ = next(iter(loader))
        seen.append((type(loader), type(loader.dataset), loader.num_workers, loader.batch_size, x.dtype,
                     x.is_contiguous(), {p.dtype for p in model.parameters()}))
        return real(model, loader, *args, **kw)

    monkeypatch.setattr(usual, "train_epoch_usual", spy)
    r = tta.race("usual", data, target=0.0, seed=0, max_epochs=1, config=tiny_config())
    assert seen == [(torch.utils.data.DataLoader, UsualDataset, 0, 32, torch.float32, True, {torch.float32})]
    assert (r["precision"], r["memory_format"]) == ("fp32", "NCHW")
    names = [type(t).__name__ for t in UsualDataset(data.train.images, data.train.labels,
                                                    tiny_config().augment, 0.1, 0.3).transform.transforms]
    assert names == ["RandomCrop", "RandomRotation", "ToTensor", "Normalize"]  # Mini-Vision's order


def test_mixup_and_ema_recipes_are_refused_before_training(data):
    from charclf.errors import ConfigError

    with pytest.raises(ConfigError, match="MixUp"):
        tta.race("usual", data, config=tiny_config(augment=AugmentConfig(mixup_alpha=0.2)), max_epochs=1)
    with pytest.raises(ConfigError, match="EMA"):
        tta.race("charclf", data, config=tiny_config(ema_decay=0.99), max_epochs=1)


def test_run_race_summarises_each_pipeline_and_the_ratio(data, test_reads):
    result = tta.run_race(data, seeds=(0, 1), target=0.0, max_epochs=2, config=tiny_config(), log=None)
    json.dumps(result)  # ready for write_json as is
    assert [(r["pipeline"], r["seed"]) for r in result["races"]] == [
        ("usual", 0), ("charclf", 0), (tta.ISOLATED, 0), ("usual", 1), ("charclf", 1), (tta.ISOLATED, 1)]
    assert test_reads == ["test"] * 6
    # The entrant that isolates the pipeline trains at the usual side's precision and resampling.
    isolated, usual = result["summary"][tta.ISOLATED], result["summary"]["usual"]
    assert (isolated["precision"], isolated["resampling"]) == (usual["precision"], usual["resampling"]) == ("fp32", "nearest")
    assert isolated["memory_format"] == "channels_last" and usual["memory_format"] == "NCHW"
    assert result["ratio_pipeline"] == pytest.approx(usual["seconds_to_target_mean"]
                                                     / isolated["seconds_to_target_mean"])
    for name in PIPELINES:
        s = result["summary"][name]
        seconds = [r["seconds_to_target"] for r in result["races"] if r["pipeline"] == name]
        assert s["reached"] == 2 and s["epochs"] == [1, 1] and s["seconds_to_target"] == seconds
        assert s["seconds_to_target_mean"] == pytest.approx(sum(seconds) / 2)
        assert s["seconds_to_target_std"] == pytest.approx(abs(seconds[0] - seconds[1]) / 2 ** 0.5)
    assert result["ratio"] == pytest.approx(result["summary"]["usual"]["seconds_to_target_mean"]
                                            / result["summary"]["charclf"]["seconds_to_target_mean"])
    assert result["target"] == 0.0 and result["target_on"] == "val" and result["protocol"] == "holdout"
    assert result["git_sha"] and result["machine"] and result["config"]["model"] == "lenet5_keras"


def test_a_race_on_the_seeds_that_chose_its_recipe_is_refused(data):
    from charclf.errors import ConfigError
    from charclf.train.recipes import search_seeds

    assert search_seeds("charclf_race") == (0, 1, 2)  # read from the search artifact the recipe names
    with pytest.raises(ConfigError, match=r"seeds \[2\] also chose the raced recipe.*Fix: race on other seeds"):
        tta.run_race(data, seeds=(2, 3), target=0.0, max_epochs=1, config=tiny_config(), log=None,
                     search_seeds=(0, 1, 2))


def test_no_ratio_unless_every_seed_reached_on_both_sides():
    def races(pipeline, seconds):
        return [{"pipeline": pipeline, "seed": i, "reached": s is not None, "seconds_to_target": s, "epochs": 3,
                 "test_acc": None if s is None else 0.9, "images_per_s": 1.0, "precision": "fp32",
                 "memory_format": "NCHW"} for i, s in enumerate(seconds)]

    summary = tta.summarize(races("usual", [10.0, None]) + races("charclf", [2.0, 3.0]), PIPELINES)
    assert summary["usual"]["reached"] == 1 and summary["usual"]["seconds_to_target_mean"] == 10.0
    assert summary["usual"]["seconds_to_target_std"] is None  # one value has no sample std
    assert summary["charclf"]["seconds_to_target_std"] == pytest.approx(0.5 ** 0.5)


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "outputs"


def test_cli_refuses_to_overwrite_the_default_artifact(outputs, tmp_path, capsys):
    artifact = outputs / "bench" / "bench-cpu-time-to-accuracy.json"
    artifact.parent.mkdir(parents=True)
    artifact.write_text("{}")
    rc = main(["race", "--device", "cpu", "--data-dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and str(artifact) in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert artifact.read_text() == "{}"
    # The old spelling still runs the race, after one line saying what it is now.
    rc = main(["bench", "--time-to-accuracy", "--device", "cpu", "--data-dir", str(tmp_path / "nowhere")])
    note, error = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "is now `charclf race`" in note and str(artifact) in error


def test_cli_races_prints_the_table_and_writes_the_json(outputs, tmp_path, capsys):
    data_dir = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=200, holdout=True, mnist=False)
    out = tmp_path / "race.json"
    out.write_text("{}")  # an earlier result: replaced only with --overwrite
    rc = main(["race", "--device", "cpu", "--data-dir", str(data_dir), "--seeds", "0",
               "--max-epochs", "1", "--target", "0.01", "--out", str(out), "--overwrite"])
    printed = capsys.readouterr().out
    assert rc == 0 and str(out) in printed
    assert "seconds to target" in printed and "ratio (usual / charclf" in printed
    assert "ratio_pipeline (usual / charclf_fp32_nearest" in printed and "resampling" in printed
    data = json.loads(out.read_text())
    assert data["recipe"] == "minivision_v3" and data["max_epochs"] == 1 and data["device_tag"] == "cpu"
    assert set(data["summary"]) == {*PIPELINES, tta.ISOLATED} and len(data["races"]) == 3
    # The file --overwrite replaced is kept, byte for byte, in history/ beside it (the race's goals read it).
    kept = list((tmp_path / "history").glob("race-*.json"))
    assert len(kept) == 1 and kept[0].read_text() == "{}" and "kept the earlier race.json" in printed


def test_cli_fast_recipe_adds_the_charclf_fast_entrant(outputs, tmp_path, capsys):
    data_dir = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=200, holdout=True, mnist=False)
    out = tmp_path / "race.json"
    rc = main(["race", "--device", "cpu", "--data-dir", str(data_dir), "--seeds", "0",
               "--max-epochs", "1", "--target", "0.01", "--out", str(out), "--fast-recipe", "charclf_fast"])
    captured = capsys.readouterr()
    printed = captured.out
    assert rc == 0, captured.err
    assert "ratio_fast (usual / charclf_fast" in printed
    data = json.loads(out.read_text())
    assert data["fast_recipe"] == "charclf_fast" and len(data["races"]) == 4
    assert [r["pipeline"] for r in data["races"]] == ["usual", "charclf", tta.ISOLATED, "charclf_fast"]


@pytest.mark.parametrize("recipe, says", [("no_such_recipe", "charclf_small"), ("charclf_tiny", "ema_decay")])
def test_cli_refuses_a_fast_recipe_it_cannot_race_before_training(outputs, tmp_path, capsys, recipe, says):
    data_dir = make_emnist_dir(tmp_path / "data", splits=("byclass",), n=200, holdout=True, mnist=False)
    rc = main(["race", "--device", "cpu", "--data-dir", str(data_dir),
               "--out", str(tmp_path / "race.json"), "--fast-recipe", recipe])
    captured = capsys.readouterr()
    assert rc == 2 and recipe in captured.err + captured.out and says in captured.err
    assert "epoch" not in captured.out  # refused before any race
    assert not (tmp_path / "race.json").exists()


def test_a_fast_recipe_races_as_a_third_entrant_with_its_own_ratio(data, test_reads):
    fast = tiny_config(model="lenet", epochs=2, batch_size=64, name="tiny_fast")
    result = tta.run_race(data, seeds=(0, 1), target=0.0, config=tiny_config(name="tiny"), fast_config=fast, log=None,
                          isolate=False)
    json.dumps(result)
    assert [(r["pipeline"], r["engine"], r["recipe"]) for r in result["races"][:3]] == [
        ("usual", "usual", "tiny"), ("charclf", "charclf", "tiny"), (tta.FAST, "charclf", "tiny_fast")]
    assert test_reads == ["test"] * 6  # one look per race, the fast entrant's included
    s = result["summary"]
    assert set(s) == {"usual", "charclf", tta.FAST} and s[tta.FAST]["reached"] == 2
    assert result["ratio_fast"] == pytest.approx(s["usual"]["seconds_to_target_mean"]
                                                 / s[tta.FAST]["seconds_to_target_mean"])
    assert result["ratio"] == pytest.approx(s["usual"]["seconds_to_target_mean"]
                                            / s["charclf"]["seconds_to_target_mean"])
    assert result["fast_recipe"] == "tiny_fast" and result["fast_config"]["model"] == "lenet"
    assert result["config"]["model"] == "lenet5_keras"  # the shared recipe is still the earlier works'


def test_without_a_fast_recipe_the_result_has_no_fast_ratio(data, test_reads):
    result = tta.run_race(data, seeds=(0,), target=0.0, max_epochs=1, config=tiny_config(), log=None, isolate=False)
    assert "ratio_fast" not in result and {r["pipeline"] for r in result["races"]} == set(PIPELINES)


def test_a_recipe_search_race_never_reads_the_test_part(data, test_reads):
    result = tta.run_race(data, seeds=(0,), target=0.0, max_epochs=1, pipelines=(), config=tiny_config(),
                          fast_config=tiny_config(name="candidate"), log=None, score_test=False)
    (only,) = result["races"]
    assert only["pipeline"] == tta.FAST and only["reached"] and only["test_acc"] is None
    assert test_reads == [] and result["test"].startswith("not read")


def test_every_race_recipe_candidate_is_a_raceable_mini_vision_v3_config():
    search = pytest.importorskip("search_race_recipe")  # tools/, on the path in a clone (conftest)
    for name in search.CANDIDATES:
        config = tta.race_config(search.candidate_config(name), seed=0, max_epochs=None)  # raises on EMA
        assert config.model in ("minivision_v3", "minivision_v3_s2d")
        assert config.name == f"race-{name}" and config.epochs <= 6
        assert config.scheduler.name == "onecycle" and config.label_smoothing == 0.1


def test_the_race_search_chooses_only_a_candidate_that_reached_the_target_on_every_seed():
    search = pytest.importorskip("search_race_recipe")

    def result(*seconds):  # None: that seed missed the target
        races = [{"pipeline": tta.FAST, "seed": i, "reached": s is not None, "seconds_to_target": s,
                  "epochs": 1, "test_acc": None, "images_per_s": 1.0, "precision": "fp32",
                  "memory_format": "channels_last"} for i, s in enumerate(seconds)]
        return {"races": races, "summary": tta.summarize(races, (tta.FAST,))}

    # the fastest on seed 0 missed on seed 1: a one-seed search would have chosen it
    results = {"fast-but-fragile": result(200.0, None), "steady": result(300.0, 320.0), "slow": result(400.0, 390.0)}
    assert search.choose(results) == "steady"
    assert search.choose({"a": result(None, 10.0)}) is None


def test_charclf_race_is_the_candidate_the_committed_search_chose():
    import dataclasses
    from pathlib import Path

    from charclf.train.recipes import get_recipe

    search = pytest.importorskip("search_race_recipe")
    # the fourth search (crop-only candidates and minivision_v3_s2d, seeds 0, 1 and 2, bf16) superseded the others
    artifact = Path(__file__).resolve().parents[1] / "outputs" / "bench" / "race-recipe-search-cpu-3seeds-crop.json"
    chosen = json.loads(artifact.read_text())["chosen"]
    assert dataclasses.replace(search.candidate_config(chosen), name="charclf_race") == get_recipe("charclf_race")
