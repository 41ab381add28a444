"""The class prior a prediction assumes (charclf.class_prior): the training prior divided out for a person's
handwriting, the raw answers on request, bad counts refused at the model folder's gate, and the counts written by
fit and read by both predict paths (numpy and torch)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charclf import class_prior
from charclf.apps.cli import main
from charclf.errors import ConfigError, DataError
from charclf.models.hub import load_model, read_model_config, save_pretrained

BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_uniform_divides_the_training_prior_out():
    config = {class_prior.COUNTS_KEY: [299, 99, 0]}  # +1 each: priors 0.75, 0.25, 0.0025
    probs = np.array([[0.6, 0.3, 0.1]], dtype=np.float32)
    out = class_prior.adjust(probs, config, "uniform")
    expected = np.array([0.6 / 0.75, 0.3 / 0.25, 0.1 / 0.0025])
    np.testing.assert_allclose(out[0], expected / expected.sum(), rtol=1e-5)
    assert out.dtype == np.float32 and out[0].argmax() == 2  # a class absent from training: finite, and first
    assert class_prior.adjust(probs, config, "train") is probs
    assert class_prior.adjust(probs, config, "auto")[0].argmax() == 2  # counts recorded: auto is uniform


def test_auto_without_counts_keeps_the_raw_answers_and_uniform_without_counts_is_refused():
    probs = np.array([[0.6, 0.4]], dtype=np.float32)
    assert class_prior.resolve_prior({}, "auto") == "train"
    assert class_prior.adjust(probs, {}, "auto") is probs
    with pytest.raises(ConfigError, match="--prior train"):
        class_prior.resolve_prior({}, "uniform")
    with pytest.raises(ConfigError, match="choose one of"):
        class_prior.resolve_prior({}, "even")


@pytest.mark.parametrize("counts, problem", [
    ([1, 2], "has 2 counts but num_classes is 62"),
    ([-1] + [1] * 61, "counts >= 0"),
    ([0] * 62, "at least one image"),
    ([True] * 62, "whole numbers"),
    ("many", "whole numbers"),
])
def test_bad_counts_are_refused_at_the_model_folder_gate(tmp_path, counts, problem):
    save_pretrained(torch.nn.Linear(1, 1), tmp_path, architecture="lenet", num_classes=62, labels=BYCLASS,
                    mean=0.17, std=0.33, protocol="holdout", extra={class_prior.COUNTS_KEY: counts})
    with pytest.raises(DataError, match=problem) as err:
        read_model_config(tmp_path)
    assert "config.json" in str(err.value) and "Fix" in str(err.value)
    from charclf.apps.fastpredict import load

    assert load(tmp_path) is None  # the numpy path declines; torch's loader then says what is wrong


def _minivision_with_counts(folder, counts):
    from charclf.models import create_model

    torch.manual_seed(0)
    save_pretrained(create_model("minivision_s", num_classes=62), folder, architecture="minivision_s",
                    num_classes=62, labels=BYCLASS, mean=0.17, std=0.33, protocol="holdout",
                    extra={"split": "byclass", class_prior.COUNTS_KEY: counts})
    return folder


def test_both_predict_paths_divide_the_same_prior_out(tmp_path):
    from charclf.apps.fastpredict import load
    from charclf.apps.predict import model_probs

    counts = [int(c) for c in np.random.default_rng(0).integers(10, 5000, 62)]
    folder = _minivision_with_counts(tmp_path, counts)
    fast, slow = load(folder), load_model(folder)
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    raw = model_probs(slow, images, prior="train")
    prior = (np.array(counts) + 1) / (np.array(counts) + 1).sum()
    expected = raw / prior
    expected /= expected.sum(axis=1, keepdims=True)
    for model in (fast, slow):
        np.testing.assert_allclose(model_probs(model, images), expected, rtol=1e-4, atol=1e-6)


def test_predict_cli_says_which_prior_and_takes_the_raw_one_on_request(tmp_path, capsys):
    from PIL import Image, ImageDraw

    folder = _minivision_with_counts(tmp_path / "model", [1000] * 10 + [10] * 52)
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).ellipse([40, 30, 160, 170], outline=0, width=16)
    image.save(tmp_path / "o.png")
    runs = {}
    for prior in ("auto", "train", "uniform"):
        assert main(["predict", str(tmp_path / "o.png"), "--model", str(folder), "--json", "--top", "62",
                     "--prior", prior]) == 0
        runs[prior] = json.loads(capsys.readouterr().out)[0]
    assert runs["auto"]["prior"] == runs["uniform"]["prior"] == "uniform" and runs["train"]["prior"] == "train"
    assert runs["auto"]["top"] == runs["uniform"]["top"]
    raw, even = dict(runs["train"]["top"]), dict(runs["uniform"]["top"])
    # Digits were 100x more frequent in training: dividing that out moves probability to the letters.
    assert sum(even[d] for d in "0123456789") < sum(raw[d] for d in "0123456789")


def test_predict_cli_refuses_uniform_for_a_model_without_counts(tmp_path, model_dir, capsys):
    from PIL import Image

    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    assert main(["predict", str(tmp_path / "blank.png"), "--model", str(model_dir), "--prior", "uniform"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train_class_counts" in err[0] and "--prior train" in err[0]


def test_realworld_default_artifact_name_says_a_non_default_prior(tmp_path, model_dir):
    from charclf.apps.realworld import default_out

    with_counts = _minivision_with_counts(tmp_path / "m", [5] * 62)
    assert default_out(with_counts, "auto") == default_out(with_counts, "uniform")
    assert default_out(with_counts, "train").name.endswith("-prior-train.json")
    assert default_out(model_dir, "train") == default_out(model_dir, "auto")  # no counts: train is its default


def _artifact(prior, top1, merged):
    score = {"n": 10, "top1": top1, "top5": 0.9, "merged_top1": merged}
    metrics = {"overall": score, "kind": {"lower": score}, "capture": {}, "source": {}, "synthetic": {},
               "synthetic_base": score}
    return {"metrics": metrics if prior is None else {**metrics, "prior": prior}}


def test_prior_comparison_tables_read_one_change_and_refuse_swapped_artifacts(tmp_path):
    from charclf.data import CharDataset
    from charclf.apps import prior_report as prior_effect

    model = load_model(_minivision_with_counts(tmp_path, [1000] * 10 + [10] * 52))
    g = torch.Generator().manual_seed(0)
    val = CharDataset(torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8, generator=g), torch.arange(40) % 62,
                      BYCLASS, "byclass", "val", "holdout")
    preds = prior_effect.val_predictions(model, val)
    val_tab = prior_effect.val_table(preds)
    assert list(val_tab.index) == list(prior_effect.PRIOR_NAMES.values()) and (val_tab["n"] == 40).all()
    assert val_tab[["val accuracy", "val balanced accuracy"]].stack().between(0, 1).all()

    raw, even = _artifact(None, 0.6, 0.7), _artifact("uniform", 0.65, 0.72)  # no prior recorded: the training one
    real = prior_effect.realworld_table(raw, even)
    assert real.loc["overall", "Δ top-1"] == pytest.approx(0.05)
    assert "from 60.0% to 65.0%" in prior_effect.finding(val_tab, real)
    with pytest.raises(ConfigError, match="uniform prior was passed as the train one"):
        prior_effect.realworld_table(even, raw)
    kinds = prior_effect.kinds_table(preds, raw, even)  # the artifacts hold a "lower" slice only
    assert list(kinds.index.get_level_values("kind").unique()) == ["digit", "upper", "lower"]
    assert kinds.loc[("digit", prior_effect.PRIOR_NAMES["train"]), "val n"] == 10  # labels 0-9 of 40
    lower = kinds.loc[("lower", prior_effect.PRIOR_NAMES["uniform"])]
    assert lower["real merged"] == 0.72
    assert lower["real − val (pts)"] == pytest.approx(100 * (0.72 - lower["val merged"]))
    assert np.isnan(float(kinds.loc[("upper", prior_effect.PRIOR_NAMES["uniform"]), "real merged"]))
    assert prior_effect.kinds_finding(kinds).startswith("Under the even prior, lowers read")


def test_ablation_rows_scored_under_another_prior_are_not_reused():
    from charclf.apps.realworld_report import _same_inputs

    prov = {"model_weights_sha256": "w", "manifest_sha256": "m", "preprocessing": {"source_sha256": "s",
                                                                                   "version": "2"}}
    assert _same_inputs(prov, {**prov, "prior": "train"})  # written before the prior was recorded: train
    assert not _same_inputs(prov, {**prov, "prior": "uniform"})


def test_counts_of_other_classes_are_refused_not_broadcast_and_a_new_head_drops_them():
    from charclf.experiments.transfer import replace_head

    probs = np.full((2, 10), 0.1, dtype=np.float32)
    with pytest.raises(ConfigError, match="has 62 counts but num_classes is 10"):
        class_prior.adjust(probs, {class_prior.COUNTS_KEY: [5] * 62}, "uniform")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 62))
    model.charclf_config = {"num_classes": 62, "labels": list(BYCLASS), class_prior.COUNTS_KEY: [5] * 62}
    replace_head(model, 10, seed=0)
    assert class_prior.COUNTS_KEY not in model.charclf_config  # the 62 classes' counts went with their head


def test_a_paired_real_world_table_scored_under_two_priors_is_not_decided():
    import pandas as pd

    from charclf.study import realworld_pairs

    cols = {"arm": "change", "seed": "mean of 3", "real merged": 0.01, "EMNIST test": 0.001,
            "real-world prior": "DIFFERS between the arms"}
    table = pd.DataFrame([cols, {**cols, "seed": "std", "EMNIST test": 0.002, "real-world prior": ""}])
    assert "different class priors" in realworld_pairs.keep_verdict(table)
