"""``charclf train`` end to end on tiny synthetic official-format files, and its refusals of bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from synth import make_emnist_dir

from charclf.apps.cli import main
from charclf.models.hub import read_model_config
from charclf.train import TrainConfig


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_emnist_dir(tmp_path_factory.mktemp("data"), splits=("byclass",), n=320, holdout=True, mnist=False)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Decoded-array caches of the synthetic files go to a temporary folder, not the user's ~/.cache."""
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))


def train(data_dir, out, *extra):
    from cli_args import with_overrides

    defaults = {"--model": "lenet5_keras", "--epochs": "1", "--batch-size": "32", "--data-dir": str(data_dir),
                "--out": str(out)}
    return main(["train", "--no-progress", *with_overrides(defaults, extra)])


def test_train_writes_a_run_and_reports_best_val(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_dir, out, "--epochs", "2", "--lr", "0.003", "--seed", "5") == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"run folder: {out}" in printed
    assert f"best val accuracy: {metrics['best_val_acc']:.4f}" in printed and "protocol holdout" in printed
    cfg = TrainConfig.from_json(out / "train_config.json")
    assert (cfg.model, cfg.epochs, cfg.batch_size, cfg.seed, cfg.optimizer.lr) == ("lenet5_keras", 2, 32, 5, 0.003)
    hub = read_model_config(out)
    assert hub["num_classes"] == 62 and hub["split"] == "byclass" and hub["protocol"] == "holdout"
    assert metrics["data"]["sizes"]["train"] == 256  # 80 % of the 320-image synthetic test file


def test_config_file_then_flags(data_dir, tmp_path):
    cfg_file = tmp_path / "cfg.json"
    TrainConfig(model="minivision_v3", epochs=3, batch_size=64, max_train_samples=128).to_json(cfg_file)
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg_file), "--epochs", "1", "--data-dir", str(data_dir),
                 "--out", str(out), "--no-progress"]) == 0
    cfg = TrainConfig.from_json(out / "train_config.json")
    assert (cfg.model, cfg.epochs, cfg.batch_size, cfg.max_train_samples) == ("minivision_v3", 1, 64, 128)


def test_resume_and_overwrite(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_dir, out) == 0
    assert train(data_dir, out) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert train(data_dir, out, "--resume") == 0  # already complete: nothing more to train
    assert train(data_dir, out, "--epochs", "2", "--resume") == 2  # a different config is refused ...
    assert "different training config" in capsys.readouterr().err
    assert train(data_dir, out, "--overwrite", "--epochs", "2") == 0  # ... --overwrite starts again
    assert json.loads((out / "metrics.json").read_text())["config"]["epochs"] == 2
    assert TrainConfig.from_json(out / "train_config.json").epochs == 2


def test_plain_resume_reuses_the_runs_config_split_and_protocol(tmp_path, capsys):
    data = make_emnist_dir(tmp_path / "data", splits=("digits", "mnist"), n=200, holdout=True, mnist=False)
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet5_keras", "--split", "digits", "--epochs", "1", "--batch-size", "32",
                 "--max-train-samples", "96", "--seed", "4", "--no-progress", "--data-dir", str(data),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    # Killed during its final evaluation (no metrics.json yet): the resume has that evaluation left to do.
    (out / "metrics.json").unlink()
    # No --model, --split or flags repeated: the run's train_config.json and config.json say what it was.
    assert main(["train", "--out", str(out), "--resume", "--no-progress", "--data-dir", str(data)]) == 0
    printed = capsys.readouterr().out
    assert "split digits, protocol holdout" in printed
    cfg = TrainConfig.from_json(out / "train_config.json")
    assert (cfg.max_train_samples, cfg.seed, cfg.batch_size) == (96, 4, 32)
    # Another split with as many classes (10) would fit the weights: the recorded data description refuses it.
    before = (out / "resume.pt").read_bytes()
    assert main(["train", "--out", str(out), "--resume", "--split", "mnist", "--no-progress",
                 "--data-dir", str(data)]) == 2
    assert "trained on other data" in capsys.readouterr().err and (out / "resume.pt").read_bytes() == before


def test_resume_from_another_model_is_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_dir, out) == 0
    argv = ["train", "--model", "minivision_v3", "--epochs", "1", "--batch-size", "32", "--no-progress",
            "--data-dir", str(data_dir), "--out", str(out), "--resume"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # a finished run: refused by its train_config.json (an unfinished one by its resume.pt)
    assert ("train_config.json" in err or "resume.pt" in err) and "lenet5_keras" in err and "minivision_v3" in err


@pytest.mark.parametrize("config, message", [
    ({"model": "lenet5_keras", "epocs": 2}, "unknown key.*'epocs' \\(did you mean 'epochs'\\?\\)"),
    ({"model": "lenet5_keras", "epochs": "two"}, "TrainConfig.epochs: expected an integer"),
    ({"model": "lenet5_keras", "optimizer": {"name": "adamm"}}, "unknown optimizer 'adamm'.*adam"),
    ({"model": "lenet5_keras", "scheduler": {"name": "cosin"}}, "unknown scheduler 'cosin'.*cosine"),
    ({"model": "lenet5_keras", "model_kwargs": {"widht": 3}}, "does not accept"),
])
def test_bad_config_files_fail_clearly_and_write_nothing(data_dir, tmp_path, capsys, config, message):
    import re

    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(config))
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg_file), "--data-dir", str(data_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not out.exists()


def test_recipe_is_the_base_config_then_flags(data_dir, tmp_path, capsys):
    from charclf.train.recipes import get_recipe

    out = tmp_path / "run"
    assert main(["train", "--recipe", "lenet5_keras", "--epochs", "1", "--max-train-samples", "64",
                 "--data-dir", str(data_dir), "--out", str(out), "--no-progress"]) == 0
    cfg, recipe = TrainConfig.from_json(out / "train_config.json"), get_recipe("lenet5_keras")
    assert (cfg.model, cfg.name, cfg.optimizer, cfg.augment) == (recipe.model, recipe.name, recipe.optimizer,
                                                                 recipe.augment)
    assert (cfg.epochs, cfg.max_train_samples) == (1, 64)
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["train", "--recipe", "lenet5_keras", "--config", str(out / "train_config.json"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "--config and --recipe" in capsys.readouterr().err
    assert main(["train", "--model", "lenet5_keras", "--protocol", "offical", "--out", str(tmp_path / "r")]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_unknown_model_and_missing_model(data_dir, tmp_path, capsys):
    assert main(["train", "--model", "lenet5", "--data-dir", str(data_dir), "--out", str(tmp_path / "r")]) == 2
    assert "unknown model 'lenet5'" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(data_dir), "--out", str(tmp_path / "r")]) == 2
    assert "--model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_nan_loss_stops_with_a_clear_message(data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    # No setting a config may hold diverges for sure any more (lr <= 10, momentum < 1, every number finite), so
    # the batches are made NaN: training's NaN check must speak, in one line.
    from charclf.train import loop

    real = loop.normalize
    monkeypatch.setattr(loop, "normalize", lambda *a, **kw: real(*a, **kw) * float("nan"))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": "lenet5_keras", "optimizer": {"lr": 0.01}}))
    assert train(data_dir, out, "--epochs", "3", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "NaN/inf at epoch" in err and "step" in err and "lower the learning rate" in err
    assert not (out / "metrics.json").exists()


@pytest.mark.slow  # a fresh python process
def test_the_charclf_command_runs_in_a_fresh_process(data_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "charclf", "train", "--model", "lenet5_keras", "--epochs", "1",
           "--max-train-samples", "128", "--data-dir", str(data_dir), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best val accuracy:" in proc.stdout and (out / "model.safetensors").exists()
