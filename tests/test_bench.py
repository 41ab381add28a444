"""Benchmark smoke tests: structure of the table/JSON and equal work for both pipelines — no timing assertions."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from charclf.apps import bench
from charclf.apps.bench import AffineDataset, BenchSettings, format_table, load_bench_images, run_bench


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, bench.NUM_CLASSES))


def random_images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, bench.NUM_CLASSES, n).astype(np.int64)


def test_usual_dataset_applies_random_affine_and_normalizes():
    images, labels = random_images(8)
    ds = AffineDataset(images, labels, mean=0.5, std=0.25)
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == int(labels[3])
    plain = (torch.from_numpy(images[3]).float() / 255 - 0.5) / 0.25
    assert not torch.allclose(x[0], plain)  # augmented, not just normalised
    assert x.min() >= (0 - 0.5) / 0.25 - 1e-6 and x.max() <= (1 - 0.5) / 0.25 + 1e-6


@pytest.mark.parametrize("n_images", [64, 10])  # 10 < steps * batch: the run walks several permutations
def test_run_bench_rows_and_equal_image_counts(n_images):
    images, labels = random_images(n_images)
    settings = BenchSettings(models=("tiny",), batch_size=4, steps=3, warmup=1, device="cpu", workers=(0,),
                             variants=("fp32", "fp32_cl"), repeats=2, data_only=False)
    lines = []
    rows = run_bench(settings, images, labels, {"tiny": tiny_model}, log=lines.append)
    assert [r["kind"] for r in rows] == ["usual", "charclf", "charclf"]
    assert [r["variant"] for r in rows] == ["fp32", "fp32", "fp32_cl"]
    assert len(lines) == 3 * settings.repeats  # one progress line per pipeline and round
    for r in rows:
        # same timed work for every pipeline
        assert r["images"] == settings.steps * settings.batch_size * settings.repeats
        assert len(r["images_per_s_runs"]) == settings.repeats
        assert r["images_per_s"] == pytest.approx(float(np.median(r["images_per_s_runs"])))
        assert r["images_per_s"] > 0 and r["seconds"] > 0 and np.isfinite(r["final_loss"])
        assert r["batch_size"] == 4
    assert rows[0]["ratio"] == pytest.approx(1.0)
    assert rows[1]["ratio"] == pytest.approx(rows[1]["images_per_s"] / rows[0]["images_per_s"])
    table = format_table(rows).splitlines()
    assert table[0].split() == ["model", "pipeline", "batch", "images/s", "ratio"]
    assert len(table) == 2 + len(rows)
    assert all(line.rstrip().endswith("x") for line in table[2:])


def test_synthetic_fallback_says_so(tmp_path):
    images, labels, note = load_bench_images(tmp_path, 50)
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8 and labels.shape == (50,)
    assert note["source"] == "synthetic" and "not found" in note["note"]


@pytest.mark.slow  # ~7 s on the real data
def test_real_data_is_used_when_present(real_data_dir):
    images, labels, note = load_bench_images(real_data_dir, 10)
    assert note["source"] == "emnist-byclass" and note["protocol"] == "holdout"
    assert images.shape == (93055, 28, 28) and labels.max() == 61


def test_cli_writes_json_with_provenance(tmp_path, capsys):
    from charclf.apps.cli import main
    from charclf.train.precision import cpu_has_fast_bf16

    out = tmp_path / "bench.json"
    rc = main(["bench", "--models", "minivision_v3", "--device", "cpu", "--batch-size", "4", "--steps", "2",
               "--warmup", "1", "--repeats", "1", "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "images/s" in printed and "ratio" in printed and str(out) in printed
    data = json.loads(out.read_text())
    assert data["profile"] == "bench" and data["protocol"] == "synthetic" and data["git_sha"]
    assert data["machine"]["torch_threads"] >= 1
    assert data["config"]["batch_size"] == 4 and data["config"]["steps"] == 2
    assert [(r["model"], r["pipeline"]) for r in data["results"]] == [
        ("(data only)", "usual data only (0 workers)"),
        ("(data only)", "charclf data only (index+normalize+BatchAugment)"),
        ("minivision_v3", "usual (DataLoader, 0 workers)"),
        ("minivision_v3", "charclf train_epoch (fp32)"),
        ("minivision_v3", "charclf train_epoch (fp32_cl)")] + (
        [("minivision_v3", "charclf train_epoch (bf16_cl)")] if cpu_has_fast_bf16() else [])
    assert {r["images"] for r in data["results"]} == {8}  # every pipeline timed on the same images
    assert data["load_average_1min"]["before"] is not None


def test_model_kwargs_reach_every_model_and_name_its_rows(tmp_path):
    from charclf.apps.cli import main

    out = tmp_path / "bench.json"
    rc = main(["bench", "--models", "charnet_xs", "--device", "cpu", "--batch-size", "4", "--steps", "1",
               "--warmup", "0", "--repeats", "1", "--no-data-only", "--data-dir", str(tmp_path / "nowhere"),
               "--model-kwargs", '{"dropout": 0.1}', "--out", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert {r["model"] for r in data["results"]} == {"charnet_xs(dropout=0.1)"}
    assert data["config"]["model_kwargs"] == {"dropout": 0.1}


@pytest.mark.parametrize("argv, message", [(["--workers", "two"], "--workers"),
                                           (["--models", "vgx"], "vgg"),
                                           (["--model-kwargs", "{input_size: 56}"], "not JSON"),
                                           (["--model-kwargs", "[56]"], "a JSON object is needed"),
                                           (["--model-kwargs", '{"num_classes": 10}'], "the bench's own"),
                                           (["--models", "lenet", "--model-kwargs", '{"input_size": 56}'],
                                            "does not accept"),
                                           (["--steps", "0"], "--steps"),
                                           (["--repeats", "0"], "--repeats")])
def test_cli_bad_input_exits_with_clear_error(argv, message, tmp_path, capsys):
    from charclf.apps.cli import main

    rc = main(["bench", "--device", "cpu", "--out", str(tmp_path / "b.json"), *argv])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()
