"""fit / train_epoch / EMA: the run folder, model selection on val, refusals, NaN handling — on tiny synthetic data."""
from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from charclf.data import CharDataset, DataBundle
from charclf.errors import ConfigError, TrainingError, UnknownNameError
from charclf.eval.record import RunRecord
from charclf.models import create_model
from charclf.models.hub import load_model
from charclf.train import AugmentConfig, OptimizerConfig, SchedulerConfig, TrainConfig, fit
from charclf.train.ema import EMA
from charclf.train.engine import HISTORY_COLUMNS, pixel_stats
from charclf.train.loop import train_epoch

CLASSES = tuple("abcd")


def bars(n: int, part: str, seed: int = 0, classes=CLASSES) -> CharDataset:
    """Class c = a bright horizontal bar at row band c, with random brightness and speckle noise: easy to learn,
    not trivially constant."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % len(classes)
    x = (torch.rand(n, 28, 28, generator=g) < 0.05).float() * 120
    for c in range(len(classes)):
        x[y == c, 3 + 6 * c:7 + 6 * c, 5:23] = 255
    x = (x * (0.6 + 0.4 * torch.rand(n, 1, 1, generator=g))).to(torch.uint8)
    perm = torch.randperm(n, generator=g)
    return CharDataset(x[perm], y[perm], classes, "synthetic", part, "holdout")


def bundle(n_train: int = 256, n_eval: int = 64) -> DataBundle:
    return DataBundle(bars(n_train, "train", 1), bars(n_eval, "val", 2), bars(n_eval, "test", 3),
                      "synthetic", "holdout", CLASSES)


def config(**kw) -> TrainConfig:
    base = dict(model="lenet5_keras", epochs=2, batch_size=32, log_every=4,
                optimizer=OptimizerConfig(name="adam", lr=3e-3))
    base.update(kw)
    return TrainConfig(**base)


def new_model(cfg: TrainConfig, num_classes: int = len(CLASSES)) -> nn.Module:
    torch.manual_seed(0)
    return create_model(cfg.model, num_classes=num_classes, **cfg.model_kwargs)


def test_fit_writes_a_complete_run_folder(tmp_path):
    cfg = config(epochs=3, augment=AugmentConfig(degrees=5, translate=0.1), tta=True, name="unit")
    data = bundle()
    model = new_model(cfg)
    history = fit(model, data, cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"

    assert list(history.columns) == HISTORY_COLUMNS and history.epoch.tolist() == [1, 2, 3]
    assert history.val_acc.max() > 0.9  # the bars are easy: it really learned
    for name in ("model.safetensors", "config.json", "train_config.json", "history.csv", "last.safetensors",
                 "resume.pt", "metrics.json"):
        assert (run / name).is_file(), name
    if importlib.util.find_spec("tensorboard") is not None:
        assert any((run / "tb").iterdir())
    pd.testing.assert_frame_equal(pd.read_csv(run / "history.csv"), history, check_dtype=False)
    assert TrainConfig.from_json(run / "train_config.json") == cfg

    mean, std = pixel_stats(data.train.images)
    hub_cfg = json.loads((run / "config.json").read_text())
    assert hub_cfg["architecture"] == "lenet5_keras" and hub_cfg["labels"] == list(CLASSES)
    assert hub_cfg["mean"] == pytest.approx(mean) and hub_cfg["std"] == pytest.approx(std)
    assert hub_cfg["protocol"] == "holdout" and hub_cfg["split"] == "synthetic"
    # the training images' class counts, which predict divides out for a person's handwriting
    assert hub_cfg["train_class_counts"] == data.train.class_counts().tolist()
    assert model.charclf_config["train_class_counts"] == hub_cfg["train_class_counts"]  # in memory as on disk

    record = RunRecord.load(run)
    assert json.loads((run / "metrics.json").read_text())["schema"] == "charclf.run/1"
    assert record == history.attrs["record"]
    best = int(history.val_acc.idxmax())  # first epoch reaching the max
    assert record.best_epoch == best + 1 and record.best_val_acc == history.val_acc.max()
    assert 0.0 <= record.test_acc <= 1.0 and record.data["sizes"]["train"] == 256 and record.train_samples == 256
    assert record.provenance["protocol"] == "holdout" and record.seed == 0 and TrainConfig.from_dict(record.config) == cfg
    assert (record.mean, record.std) == (hub_cfg["mean"], hub_cfg["std"]) and record.model == "lenet5_keras"

    # The folder alone rebuilds the model, and it is the model fit left in memory (the best epoch's weights).
    loaded = load_model(run)
    x = torch.randn(8, 1, 28, 28)
    model.eval()
    torch.testing.assert_close(loaded(x), model(x))
    state = torch.load(run / "resume.pt", weights_only=True)
    assert state["run"]["epoch"] == 3 and state["run"]["best_epoch"] == best + 1


def test_selection_is_on_val_and_test_is_read_once(tmp_path):
    data = bundle()
    # Test labels are garbage: selection must not care, and test accuracy reports exactly what it is.
    garbage = replace(data.test, labels=(data.test.labels + 1) % 4)
    data = replace(data, test=garbage)
    cfg = config(epochs=3)
    history = fit(new_model(cfg), data, cfg, tmp_path / "run", progress=False)
    record = RunRecord.load(tmp_path / "run")
    assert record.best_epoch == int(history.val_acc.idxmax()) + 1
    assert record.test_acc < 0.5 < record.best_val_acc


def test_in_memory_fit_writes_nothing_and_never_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config(epochs=1, max_train_samples=64)
    history = fit(new_model(cfg), bundle(), cfg, progress=False)
    assert len(history) == 1 and list(tmp_path.iterdir()) == []
    assert "evaluation" not in history.attrs["metrics"] and "record" not in history.attrs
    assert history.images_per_s.iloc[0] > 0


def test_without_tensorboard_training_goes_on_quietly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    cfg = config(epochs=1, max_train_samples=64)
    fit(new_model(cfg), bundle(), cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "history.csv").exists() and not (tmp_path / "run" / "tb").exists()


def test_existing_folder_is_refused_unless_resume_or_overwrite(tmp_path):
    cfg = config(epochs=1)
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not empty"):
        fit(new_model(cfg), bundle(), cfg, run, progress=False)
    # --overwrite does not delete a folder that is not a run folder.
    with pytest.raises(TrainingError, match="deletes only the files charclf train writes.*notes.txt"):
        fit(new_model(cfg), bundle(), cfg, run, overwrite=True, progress=False)
    assert (run / "notes.txt").read_text() == "mine"

    other = tmp_path / "run2"
    fit(new_model(cfg), bundle(), cfg, other, progress=False)
    before = (other / "model.safetensors").stat().st_mtime_ns
    fit(new_model(cfg), bundle(), cfg, other, overwrite=True, progress=False)
    assert (other / "model.safetensors").stat().st_mtime_ns != before  # the run's own files were replaced


@pytest.mark.parametrize("bad, exc", [
    (dict(optimizer=OptimizerConfig(name="adamm")), UnknownNameError),
    (dict(scheduler=SchedulerConfig(name="cosin")), UnknownNameError),
    (dict(loss="focal"), UnknownNameError),
    (dict(amp="fp16"), ConfigError),
    (dict(device="tpu"), ConfigError),
    (dict(epochs=0), ConfigError),
])
def test_bad_config_fails_before_touching_the_folder(tmp_path, bad, exc):
    cfg = config(**bad)
    with pytest.raises(exc):
        fit(new_model(config()), bundle(), cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


class NaNAfter(nn.Module):
    """A linear model whose training forward turns NaN after ``good_steps`` calls."""

    def __init__(self, good_steps: int):
        super().__init__()
        self.fc = nn.Linear(28 * 28, len(CLASSES))
        self.good_steps, self.calls = good_steps, 0

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls > self.good_steps:
                out = out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path):
    cfg = config(model="nan_after", epochs=3, log_every=100)
    run = tmp_path / "run"
    # 256 samples / 32 = 8 steps per epoch: call 11 is epoch 2, step 3.
    with pytest.raises(TrainingError, match=r"epoch 2, step 3 of 8") as err:
        fit(NaNAfter(good_steps=10), bundle(), cfg, run, progress=False)
    assert "last good checkpoint" in str(err.value)
    state = torch.load(run / "resume.pt", weights_only=True)
    assert state["run"]["epoch"] == 1 and len(pd.read_csv(run / "history.csv")) == 1
    last = load_file(run / "last.safetensors")
    assert all(torch.equal(last[k], state["model"][k]) for k in last)
    assert all(torch.isfinite(v).all() for v in last.values())


def test_early_stopping_stops_when_val_stalls(tmp_path):
    # A learning rate this small cannot change any prediction: val accuracy is flat from epoch 1.
    cfg = config(epochs=6, early_stopping_patience=2, optimizer=OptimizerConfig(name="sgd", lr=1e-12))
    history = fit(new_model(cfg), bundle(), cfg, progress=False)
    assert history.epoch.tolist() == [1, 2, 3]
    assert history.attrs["metrics"]["best_epoch"] == 1


def test_callbacks_see_each_epoch_and_can_stop_the_run(tmp_path):
    seen = []

    def stop_after_two(row):
        seen.append(row["epoch"])
        if row["epoch"] == 2:
            raise KeyboardInterrupt("enough")

    cfg = config(epochs=4)
    with pytest.raises(KeyboardInterrupt):
        fit(new_model(cfg), bundle(), cfg, tmp_path / "run", progress=False, callbacks=[stop_after_two])
    assert seen == [1, 2]
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["run"]["epoch"] == 2


def test_max_train_samples_takes_a_stratified_subset(tmp_path):
    cfg = config(epochs=1, max_train_samples=96, batch_size=32)
    fit(new_model(cfg), bundle(), cfg, tmp_path / "run", progress=False)
    assert RunRecord.load(tmp_path / "run").train_samples == 96


def test_ema_model_is_what_gets_saved(tmp_path):
    cfg = config(epochs=2, ema_decay=0.9, model="lenet")  # BatchNorm buffers are averaged too
    model = new_model(cfg)
    fit(model, bundle(), cfg, tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)
    saved = load_file(tmp_path / "run" / "model.safetensors")
    assert state["ema"]["updates"] == 16
    best = state["run"]["best_state"]
    assert all(torch.equal(saved[k], best[k]) for k in saved)
    # The raw weights (last.safetensors) differ from the averaged ones.
    last = load_file(tmp_path / "run" / "last.safetensors")
    assert not all(torch.equal(last[k], state["ema"]["module"][k]) for k in last)


def test_ema_update_matches_the_formula_for_weights_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    ema = EMA(model, decay=0.5)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.randn(4, 1, 5, 5))  # train-mode forward moves the BatchNorm running stats
    d = ema.current_decay  # warm-up: min(0.5, (1 + 0) / (10 + 0))
    ema.update(model)
    assert d == pytest.approx(0.1) and ema.current_decay == pytest.approx(2 / 11)
    for k, v in ema.module.state_dict().items():
        new = model.state_dict()[k]
        expected = new if not v.is_floating_point() else before[k] * d + new * (1 - d)
        torch.testing.assert_close(v, expected.to(v.dtype))


def test_train_epoch_uses_only_the_given_indices_and_full_batches():
    ds = bars(100, "train")
    labels = ds.labels.clone()
    labels[50:] = 999  # any use of these samples would make cross_entropy fail
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    stats = train_epoch(model, opt, None, nn.CrossEntropyLoss(), None, ds.images, labels, batch_size=16,
                        mean=0.1, std=0.3, amp_dtype=None, channels_last=False, generator=torch.Generator(),
                        indices=torch.randperm(50))
    assert stats["steps"] == 3 and stats["samples"] == 48 and seen == [16, 16, 16]
    assert 0.0 <= stats["acc"] <= 1.0 and stats["loss"] > 0
    stats = train_epoch(model, opt, None, nn.CrossEntropyLoss(), None, ds.images, ds.labels, batch_size=16,
                        mean=0.1, std=0.3, amp_dtype=None, channels_last=False, generator=torch.Generator(),
                        max_steps=2)
    assert stats["steps"] == 2 and stats["samples"] == 32


def test_train_epoch_runs_bf16_autocast_and_channels_last_on_cpu():
    ds = bars(64, "train")
    model = create_model("minivision_v3", num_classes=4).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    stats = train_epoch(model, opt, None, nn.CrossEntropyLoss(), None, ds.images, ds.labels, batch_size=32,
                        mean=0.1, std=0.3, amp_dtype=torch.bfloat16, channels_last=True,
                        generator=torch.Generator().manual_seed(0))
    assert stats["samples"] == 64 and torch.isfinite(torch.tensor(stats["loss"]))


def test_tta_is_translations_only_and_averages_probabilities():
    from charclf.eval.inference import TTA_SHIFTS, normalize, predict_logits
    from charclf.tensorops import shift_integer

    assert (0, 0) in TTA_SHIFTS and all(abs(dy) + abs(dx) == 1 for dy, dx in TTA_SHIFTS if (dy, dx) != (0, 0))
    x = torch.full((1, 1, 28, 28), -0.5)
    x[..., 10, 12] = 2.0
    down, left = shift_integer(x, 1, 0, fill=None), shift_integer(x, 0, -1, fill=None)
    assert down[0, 0, 11, 12] == 2.0 and left[0, 0, 10, 11] == 2.0       # moved, not mirrored or rotated
    assert (down[..., 0, :] == -0.5).all() and (left[..., :, 27] == -0.5).all()  # no wrap-around: background

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    images = bars(10, "val").images
    xb = normalize(images, 0.1, 0.3)
    with torch.no_grad():
        probs = sum(torch.softmax(model(shift_integer(xb, dy, dx, fill=None)), 1) for dy, dx in TTA_SHIFTS) / len(TTA_SHIFTS)
    torch.testing.assert_close(predict_logits(model, images, mean=0.1, std=0.3, tta=True), probs.log())
    torch.testing.assert_close(predict_logits(model, images, mean=0.1, std=0.3, batch_size=3), model(xb).detach())


def test_load_model_bad_folders_name_the_file_and_the_fix(tmp_path):
    import shutil

    from charclf.errors import DataError
    from charclf.models.hub import save_pretrained

    good = tmp_path / "good"
    model = new_model(config())
    save_pretrained(model, good, architecture="lenet5_keras", num_classes=4, labels=CLASSES, mean=0.1, std=0.3,
                    protocol="holdout")
    loaded = load_model(good)
    assert loaded.charclf_config["orientation"] == "upright" and not loaded.training

    def broken(name, change):
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        with pytest.raises(DataError) as err:
            load_model(folder)
        assert "Fix:" in str(err.value)
        return str(err.value)

    assert "config.json: is missing" in broken("no_config", lambda f: (f / "config.json").unlink())
    assert "not valid JSON" in broken("bad_json", lambda f: (f / "config.json").write_text("{"))
    assert "model.safetensors: is missing" in broken("no_weights", lambda f: (f / "model.safetensors").unlink())

    def truncate(f):
        data = (f / "model.safetensors").read_bytes()
        (f / "model.safetensors").write_bytes(data[: len(data) // 2])

    assert "cannot be read as safetensors" in broken("truncated", truncate)

    def other_arch(f):
        cfg = json.loads((f / "config.json").read_text())
        (f / "config.json").write_text(json.dumps({**cfg, "architecture": "minivision_v3"}))

    assert "does not match architecture 'minivision_v3'" in broken("other_arch", other_arch)
    assert (good / "model.safetensors").exists()  # nothing was touched


# -- precision: what TrainConfig.amp resolves to, and that the run records it ------------------------------
def test_amp_resolution(monkeypatch):
    from charclf.train import precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision.resolve_amp("off", cuda) is None
    assert precision.resolve_amp("bf16", cpu) is torch.bfloat16
    assert precision.resolve_amp("auto", cuda) is torch.bfloat16
    for native in (True, False):  # auto on a CPU: bf16 exactly when oneDNN has native bf16 kernels
        monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda native=native: native)
        assert precision.resolve_amp("auto", cpu) is (torch.bfloat16 if native else None)
    with pytest.raises(ConfigError, match="fp16"):
        precision.resolve_amp("fp16", cpu)
    # Depthwise-conv models: float32 under auto on a CPU (bf16 measured no faster there), bf16 on CUDA or asked.
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    depthwise, plain = create_model("charnet_s"), create_model("minivision_v3")
    assert precision.has_depthwise_convs(depthwise) and not precision.has_depthwise_convs(plain)
    assert precision.resolve_amp("auto", cpu, depthwise) is None
    assert precision.resolve_amp("auto", cpu, plain) is torch.bfloat16
    assert precision.resolve_amp("auto", cuda, depthwise) is torch.bfloat16
    assert precision.resolve_amp("bf16", cpu, depthwise) is torch.bfloat16


@pytest.mark.parametrize("amp, expected", [("off", "fp32"), ("bf16", "bf16")])
def test_metrics_record_the_precision_used(tmp_path, amp, expected):
    cfg = config(epochs=1, amp=amp)
    fit(new_model(cfg), bundle(), cfg, tmp_path / "run", progress=False)
    record = RunRecord.load(tmp_path / "run")
    assert (record.precision, record.channels_last, record.device) == (expected, True, "cpu")


@pytest.mark.parametrize("clip", [None, 0.01])
def test_grad_clip_norm_bounds_each_step(clip):
    # Plain SGD, lr 1: a step moves the weights by exactly the (clipped) gradient, so its global norm is the clip.
    ds = bars(64, "train")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    train_epoch(model, opt, None, nn.CrossEntropyLoss(), None, ds.images, ds.labels, batch_size=32, mean=0.1,
                std=0.3, amp_dtype=None, channels_last=False, generator=torch.Generator().manual_seed(0),
                max_steps=1, grad_clip_norm=clip)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm().item()
    if clip is None:
        assert step > 0.1  # unclipped, this step is far larger than the clip below
    else:
        assert step == pytest.approx(clip, rel=1e-3)


def test_grad_clip_norm_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="grad_clip_norm"):
        fit(new_model(config()), bundle(), config(grad_clip_norm=0.0), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="grad_clip_norm"):
        TrainConfig.from_dict({"grad_clip_norm": "1"})


@pytest.mark.parametrize("tta", [False, True])
def test_recorded_test_accuracy_is_one_fresh_float32_evaluation(tmp_path, tta):
    """fit's one test number comes from evaluate_model: a fresh evaluation of the saved weights gives exactly
    the recorded accuracy, the record says whether TTA was used, and the confusion matrices are written."""
    from charclf.eval.evaluate import evaluate_model

    cfg = config(epochs=2, tta=tta)
    data = bundle()
    fit(new_model(cfg), data, cfg, tmp_path / "run", progress=False, evaluate_parts=("train", "test"))
    record = RunRecord.load(tmp_path / "run")
    key = "test_tta" if tta else "test"
    fresh = evaluate_model(load_model(tmp_path / "run"), data.test, tta=tta)
    assert record.test_acc == record.evaluation[key]["accuracy"] == fresh.metrics["accuracy"]
    assert record.tta is tta and record.test_key == key and record.test["precision"] == "fp32"
    assert set(record.evaluation) == {"train" + key[4:], key}
    assert record.params == sum(p.numel() for p in new_model(cfg).parameters()) and record.macs > 0
    cm = pd.read_csv(tmp_path / "run" / f"confusion_{key}.csv", index_col=0)
    assert list(cm.index) == list(CLASSES) and cm.to_numpy().sum() == len(data.test)
    assert (cm.to_numpy() == fresh.confusion).all()


def test_evaluate_parts_must_include_test(tmp_path):
    cfg = config(epochs=1)
    with pytest.raises(ConfigError, match="test is always"):
        fit(new_model(cfg), bundle(), cfg, tmp_path / "run", progress=False, evaluate_parts=("train",))
    assert not (tmp_path / "run").exists()


# -- the run names the architecture that trained (issue: config.json once said "vgg" for a LeNet) -----------------
def test_fit_takes_the_architecture_from_the_model(tmp_path):
    data = bundle(64, 32)
    model = create_model("lenet", num_classes=len(CLASSES))
    fit(model, data, TrainConfig(epochs=1, batch_size=32), tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["architecture"] == "lenet"
    assert TrainConfig.from_json(tmp_path / "run" / "train_config.json").model == "lenet"
    assert RunRecord.load(tmp_path / "run").model == "lenet"
    assert type(load_model(tmp_path / "run")).__name__ == type(model).__name__  # it loads back


def test_fit_refuses_a_config_naming_another_architecture(tmp_path):
    model = create_model("lenet", num_classes=len(CLASSES))
    with pytest.raises(ConfigError, match="TrainConfig.model='vgg' but the model given to fit was built as 'lenet'"):
        fit(model, bundle(64, 32), TrainConfig(model="vgg", epochs=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before the folder is touched


def test_fit_refuses_a_module_of_unknown_architecture_without_a_name(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, len(CLASSES)))
    with pytest.raises(ConfigError, match="not built by charclf.create_model"):
        fit(model, bundle(64, 32), TrainConfig(epochs=1), tmp_path / "run", progress=False)


def test_fit_checks_the_config_first_so_a_python_caller_gets_the_config_error_not_a_nan_epoch(tmp_path):
    """TrainConfig.check ran only in `charclf train`: fit with lr 1e308 trained a NaN epoch. Now fit refuses it
    with the check's one line, before the run folder is made."""
    model = create_model("lenet", num_classes=len(CLASSES))
    cfg = TrainConfig(epochs=1, optimizer=OptimizerConfig(lr=1e308))
    with pytest.raises(ConfigError, match=r"OptimizerConfig.lr=1e\+308: the learning rate must be > 0"):
        fit(model, bundle(64, 32), cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="TrainConfig.seed=-1"):
        fit(model, bundle(64, 32), TrainConfig(epochs=1, seed=-1), None, progress=False)


def test_val_is_scored_in_float32_and_each_epoch_records_its_precision(tmp_path):
    """Selection uses the test evaluation's numerics: the history's val_acc equals a float32 evaluate_model of
    the chosen weights, even when the steps trained in bf16."""
    from charclf.eval.evaluate import evaluate_model

    cfg = config(epochs=2, amp="bf16")
    data = bundle()
    model = new_model(cfg)
    history = fit(model, data, cfg, tmp_path / "run", progress=False)
    assert history.precision.tolist() == ["bf16", "bf16"]
    record = RunRecord.load(tmp_path / "run")
    assert record.precision == "bf16" and record.selection_precision == "fp32"
    best = history[history.epoch == record.best_epoch].val_acc.iloc[0]
    mean, std = pixel_stats(data.train.images)
    assert evaluate_model(model, data.val, mean=mean, std=std).metrics["accuracy"] == pytest.approx(best, abs=1e-12)
