"""Every figure renders (Agg) on small synthetic data and is saved as a real PNG."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from charclf.data.dataset import CharDataset, DataBundle
from charclf.eval import figures as viz
from charclf.eval.evaluate import confusion, per_class_report

BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _dataset(n=400, classes=BYCLASS[:12], part="train", seed=0) -> CharDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(classes)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    # A bar whose position encodes the class, plus noise: distinct, visible images.
    for i, y in enumerate(labels.tolist()):
        images[i, 4 + y % 20: 8 + y % 20, 6:22] = 200
    images = (images.int() + torch.randint(0, 40, images.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return CharDataset(images=images, labels=labels, classes=classes, split="byclass", part=part, protocol="holdout")


def _check_png(path):
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000  # a real rendering, not an empty canvas


def _render(fig, name, tmp_path):
    path = viz.savefig(fig, name, directory=tmp_path)
    assert path == tmp_path / f"{viz.sanitize_name(name)}.png"
    _check_png(path)
    return path


def _synthetic_predictions(n=3000, c=62, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, c, n)
    y_pred = np.where(rng.random(n) < 0.85, y_true, rng.integers(0, c, n))
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y_pred] += 4
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y_true, y_pred, probs


def test_savefig_sanitises_names_and_honours_env(tmp_path, monkeypatch):
    fig = viz.sample_grid(_dataset(), per_class=3)
    monkeypatch.setenv("CHARCLF_FIGURES_DIR", str(tmp_path / "env"))
    path = viz.savefig(fig, "my figure/../x: 1.png")
    assert path.parent == tmp_path / "env"
    assert path.name == "my_figure_.._x_1.png"
    _check_png(path)
    with pytest.raises(ValueError):
        viz.sanitize_name("///")


def test_sample_grid_class_distribution_pixel_statistics(tmp_path):
    ds = _dataset()
    _render(viz.sample_grid(ds, per_class=6, classes=["A", "B", 3], subtitle="quick profile · holdout"),
            "samples", tmp_path)
    bundle = DataBundle(train=ds, val=_dataset(60, part="val"), test=_dataset(60, part="test"), split="byclass",
                        protocol="holdout", classes=ds.classes)
    fig = viz.class_distribution(bundle, title="Class balance")
    assert fig.get_suptitle() == "Class balance"
    _render(fig, "distribution", tmp_path)
    _render(viz.class_distribution({"train": ds.class_counts()}, ds.classes), "distribution_counts", tmp_path)
    _render(viz.pixel_statistics(ds), "pixels", tmp_path)


def test_ink_per_class_is_the_mean_pixel_sum_of_each_class():
    images = torch.zeros(6, 28, 28, dtype=torch.uint8)
    images[1, :2, :] = 255  # class "b": 56 and 0 full pixels -> mean 28
    images[3, 0, :10] = 255  # class "a": 10 and 0 -> mean 5
    ds = CharDataset(images=images, labels=torch.tensor([0, 1, 0, 0, 1, 2]), classes=("a", "b", "c"),
                     split="byclass", part="train", protocol="holdout")
    ink = viz.ink_per_class(ds)
    assert ink.index.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(ink.to_numpy(), [10 / 3, 28.0, 0.0])
    assert viz.ink_per_class(ds, max_images=4).index.tolist() == ["a", "b", "c"]  # a sample keeps every class row


def test_augmentation_grid_calls_fn_and_keeps_global_rng(tmp_path):
    ds = _dataset(8)
    calls = []

    def shift(x):
        calls.append(x.shape)
        return torch.roll(x, shifts=int(torch.randint(-3, 4, ())), dims=-1), None  # (x, targets) like BatchAugment

    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    fig = viz.augmentation_grid(ds.images[:4], shift, n_aug=5)
    assert torch.rand(1) == expected  # the figure's seeded draws did not disturb the caller's RNG
    assert calls == [(4, 1, 28, 28)] * 5
    _render(fig, "augment", tmp_path)


def test_training_curves_overlay_runs(tmp_path):
    def hist(offset):
        e = np.arange(1, 6)
        return pd.DataFrame({"epoch": e, "train_loss": 2 / e + offset, "val_loss": 2.2 / e + offset,
                             "train_acc": 0.9 - 0.3 / e - offset, "val_acc": 0.88 - 0.3 / e - offset})

    fig = viz.training_curves({"vgg": hist(0), "lenet": hist(0.05)}, subtitle="quick · holdout")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4  # 2 runs x (train, val)
    assert "quick · holdout" in fig.get_suptitle()
    _render(fig, "curves", tmp_path)


def test_race_curves_draw_one_line_per_race_and_mark_who_reached_the_target(tmp_path):
    def race(pipeline, seed, accs, reached):
        return {"pipeline": pipeline, "seed": seed, "reached": reached,
                "curve": [(10.0 * (i + 1), i + 1, a) for i, a in enumerate(accs)]}

    result = {"target": 0.86, "races": [race("usual", 0, [0.8, 0.85, 0.861], True),
                                        race("charclf", 0, [0.84, 0.862], True),
                                        race("usual", 1, [0.8, 0.83], False)]}
    fig = viz.race_curves(result, subtitle="holdout")
    ax = fig.axes[0]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 3  # one per race
    reached = [line for line in ax.get_lines() if line.get_linestyle() in ("None", "") and line.get_markersize() == 7]
    assert len(reached) == 2  # the race that never reached the target has no mark
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["charclf", "target 86.0%", "usual"]
    _render(fig, "race", tmp_path)


@pytest.mark.slow  # ~7 s of drawing
def test_confusion_heatmap_62_classes(tmp_path):
    y_true, y_pred, _ = _synthetic_predictions()
    cm = confusion(y_true, y_pred, 62)
    fig = viz.confusion_heatmap(cm, BYCLASS, subtitle="synthetic")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(BYCLASS)  # every class labelled by its char
    assert fig.get_figwidth() >= 15
    _render(fig, "confusion62", tmp_path)
    _render(viz.confusion_heatmap(cm[:10, :10], BYCLASS[:10], normalize=False, log_scale=False), "confusion10",
            tmp_path)


@pytest.mark.slow  # ~7 s of drawing
def test_per_class_prediction_grids_params_reliability(tmp_path):
    y_true, y_pred, probs = _synthetic_predictions(600, 12)
    ds = _dataset(600)
    report = per_class_report(y_true, y_pred, ds.classes)
    _render(viz.per_class_f1(report), "f1", tmp_path)
    # The promised red bars: exactly the `worst` lowest classes, even when the scores spread so widely that
    # "one std below the mean" would mark none (half the classes at 0, as after a short training run).
    spread = pd.DataFrame({"char": list(BYCLASS[:12]), "f1": [0.0] * 6 + [0.3, 0.5, 0.6, 0.8, 0.85, 0.9]})
    fig = viz.per_class_f1(spread, worst=4)
    red = matplotlib.colors.to_rgb("tab:red")
    assert sum(p.get_facecolor()[:3] == red for p in fig.axes[0].patches) == 4
    ticks = fig.axes[0].get_xticklabels()  # bars at 0 have no height: their labels are red too
    assert [t.get_text() for t in ticks if matplotlib.colors.to_rgb(t.get_color()) == red] == list(BYCLASS[:4])
    assert ticks[-1].get_text() == BYCLASS[11]  # worst first, ties in table order
    assert "the 4 lowest" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    _render(viz.prediction_grid(ds.images[:20], y_true[:20], y_pred[:20], ds.classes, probs[:20]), "preds", tmp_path)
    fig = viz.misclassified_gallery(ds.images, y_true, y_pred, ds.classes, probs, k=12)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 12
    _render(fig, "mistakes", tmp_path)
    df = pd.DataFrame({"model": ["lenet", "vgg", "resnet", "charnet_tiny"], "params": [6e4, 2e6, 1.1e7, 9e4],
                       "accuracy": [0.85, 0.87, 0.875, 0.868]})
    _render(viz.params_vs_accuracy(df), "params", tmp_path)
    fig = viz.params_vs_accuracy(df, budgets=(30_000, 1_500_000))
    assert [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("≤")] == ["≤ 30k", "≤ 1.5M"]
    assert len([ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]) == 2
    _render(viz.reliability_diagram(probs, y_true), "reliability", tmp_path)
