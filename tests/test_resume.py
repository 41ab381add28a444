"""Resume: a run killed after an epoch continues to exactly the weights of an uninterrupted run; bad resumes fail.

The kill is real: this file doubles as a script (``python tests/test_resume.py OUT THREADS EPOCH``) that trains in
a subprocess whose ``fit`` callback (called once an epoch is saved) calls ``os._exit`` after epoch EPOCH — no
cleanup, no atexit, like a SIGKILL between epochs.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from charclf.data import CharDataset, DataBundle
from charclf.errors import TrainingError
from charclf.models import create_model
from charclf.train import AugmentConfig, OptimizerConfig, SchedulerConfig, TrainConfig, fit

CLASSES = tuple("abcd")
# Everything that carries state across epochs: Adam moments, a per-step schedule, EMA (with BatchNorm buffers),
# dropout (global RNG), random affine + MixUp (per-epoch generator).
CONFIG = TrainConfig(model="lenet", epochs=3, batch_size=32, seed=7, ema_decay=0.9, log_every=4,
                     optimizer=OptimizerConfig(name="adam", lr=2e-3),
                     scheduler=SchedulerConfig(name="onecycle"),
                     augment=AugmentConfig(degrees=8, translate=0.1, mixup_alpha=0.2, mix_prob=0.5))


def data() -> DataBundle:
    g = torch.Generator().manual_seed(0)

    def part(n, name):
        y = torch.arange(n) % len(CLASSES)
        x = (torch.rand(n, 28, 28, generator=g) * 60).to(torch.uint8)
        for c in range(len(CLASSES)):
            x[y == c, 3 + 6 * c:7 + 6 * c, 5:23] = 250
        return CharDataset(x, y, CLASSES, "synthetic", name, "holdout")

    return DataBundle(part(256, "train"), part(64, "val"), part(64, "test"), "synthetic", "holdout", CLASSES)


def train(out: Path, config: TrainConfig = CONFIG, resume: bool = False, model_name: str | None = None,
          callbacks=None):
    torch.manual_seed(123)  # same initial weights in every process
    model = create_model(model_name or config.model, num_classes=len(CLASSES))
    return model, fit(model, data(), config, out, resume=resume, progress=False, callbacks=callbacks)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow  # a subprocess killed mid-run
def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    # The subprocess imports this checkout's charclf, not whichever one is installed (e.g. from a git worktree).
    path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, __file__, str(killed), str(torch.get_num_threads()), "2"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]  # died by the kill, not by an error
    state = torch.load(killed / "resume.pt", weights_only=True)
    assert state["run"]["epoch"] == 2 and len(pd.read_csv(killed / "history.csv")) == 2
    assert not (killed / "metrics.json").exists()

    _, resumed = train(killed, resume=True)
    _, straight = train(tmp_path / "straight")

    for name in ("last.safetensors", "model.safetensors"):
        assert_same_weights(load_file(killed / name), load_file(tmp_path / "straight" / name))
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    pd.testing.assert_frame_equal(resumed[cols], straight[cols])
    final = torch.load(killed / "resume.pt", weights_only=True)
    assert final["run"]["epoch"] == 3
    assert_same_weights(final["ema"]["module"], torch.load(tmp_path / "straight" / "resume.pt",
                                                           weights_only=True)["ema"]["module"])


def test_resume_state_is_plain_data(tmp_path):
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64, scheduler=SchedulerConfig(name="cosine"))
    train(tmp_path / "run", cfg)
    state = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)  # no pickled code needed
    assert {"model", "optimizer", "scheduler", "ema", "rng", "run", "fingerprint", "config"} <= set(state)
    assert state["run"]["epoch"] == 1 and len(state["run"]["history"]) == 1
    assert state["fingerprint"]["architecture"] == "lenet5_keras"


def test_resume_from_another_model_is_refused(tmp_path):
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64)
    train(tmp_path / "run", cfg)
    before = (tmp_path / "run" / "resume.pt").read_bytes()
    other = TrainConfig(model="minivision_v3", epochs=1, batch_size=64)
    with pytest.raises(TrainingError, match="architecture='lenet5_keras'.*'minivision_v3'"):
        train(tmp_path / "run", other, resume=True)
    assert (tmp_path / "run" / "resume.pt").read_bytes() == before  # nothing lost


def test_resume_on_other_data_is_refused(tmp_path):
    cfg = TrainConfig(model="lenet5_keras", epochs=2, batch_size=64)
    out = tmp_path / "run"
    torch.manual_seed(123)
    fit(create_model(cfg.model, num_classes=len(CLASSES)), data(), replace(cfg, epochs=1), out, progress=False)
    # Same classes and model, so the weights would fit: only the recorded data description can tell.
    other = replace(data(), split="letters-like", protocol="official")
    other = replace(other, train=replace(other.train, protocol="official"))
    before = (out / "resume.pt").read_bytes()
    with pytest.raises(TrainingError, match=r"trained on other data.*protocol: 'holdout' -> 'official'.*split"):
        fit(create_model(cfg.model, num_classes=len(CLASSES)), other, replace(cfg, epochs=1), out, resume=True,
            progress=False)
    assert (out / "resume.pt").read_bytes() == before  # nothing lost


def test_resume_with_a_changed_config_is_refused(tmp_path):
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64)
    train(tmp_path / "run", cfg)
    changed = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64, optimizer=OptimizerConfig(lr=0.5))
    with pytest.raises(TrainingError, match="different training config.*optimizer"):
        train(tmp_path / "run", changed, resume=True)


def test_a_nested_field_newer_than_the_resume_state_counts_as_its_default(tmp_path):
    from charclf.train.checkpoint import check_same_config

    current = CONFIG.to_dict()
    saved = CONFIG.to_dict()
    del saved["augment"]["interpolation"]  # a state written before the field existed
    check_same_config(saved, current, tmp_path / "resume.pt")  # the run trained with the default: no refusal
    changed = replace(CONFIG, augment=replace(CONFIG.augment, interpolation="nearest")).to_dict()
    with pytest.raises(TrainingError, match=r"augment\.interpolation: 'bilinear' -> 'nearest'"):
        check_same_config(saved, changed, tmp_path / "resume.pt")


def test_resume_without_a_state_starts_fresh_with_a_note(tmp_path, capsys):
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64)
    _, history = train(tmp_path / "new", cfg, resume=True)
    assert len(history) == 1 and (tmp_path / "new" / "resume.pt").exists()
    assert "starting a fresh run" in capsys.readouterr().err


def test_damaged_resume_file_gives_a_clear_error(tmp_path):
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=64)
    train(tmp_path / "run", cfg)
    (tmp_path / "run" / "resume.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="cannot read the resume state.*Fix"):
        train(tmp_path / "run", cfg, resume=True)


if __name__ == "__main__":  # the subprocess side of the kill test
    torch.set_num_threads(int(sys.argv[2]))
    kill_after = int(sys.argv[3])
    train(Path(sys.argv[1]), callbacks=[lambda row: os._exit(3) if row["epoch"] == kill_after else None])


def test_resume_that_would_change_precision_is_refused_unless_allowed(tmp_path):
    """amp="auto" resolves per machine: a resume elsewhere must not switch precision silently."""
    from charclf.train import checkpoint

    class Stop(Exception):
        pass

    def stop_after_epoch_1(row):
        if row["epoch"] == 1:
            raise Stop

    cfg = replace(CONFIG, epochs=2, amp="off")
    with pytest.raises(Stop):
        train(tmp_path / "run", cfg, callbacks=[stop_after_epoch_1])
    state = checkpoint.load_resume(tmp_path / "run" / "resume.pt")
    assert state["precision"] == "fp32"
    state["precision"] = "bf16"  # as if the first epoch had run on a CPU with native bf16
    checkpoint.save_resume(tmp_path / "run" / "resume.pt", {k: v for k, v in state.items() if k != "format_version"})
    before = (tmp_path / "run" / "resume.pt").read_bytes()
    with pytest.raises(TrainingError, match="trained in bf16, but here they would train in fp32.*--allow-precision-change"):
        train(tmp_path / "run", cfg, resume=True)
    assert (tmp_path / "run" / "resume.pt").read_bytes() == before  # nothing lost

    torch.manual_seed(123)
    model = create_model(cfg.model, num_classes=len(CLASSES))
    history = fit(model, data(), cfg, tmp_path / "run", resume=True, progress=False, allow_precision_change=True)
    assert history.precision.tolist()[-1] == "fp32" and history.attrs["record"].precision in ("fp32", "mixed")
