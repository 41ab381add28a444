"""Model cards: every number in the card is read from the model folder's own artifacts."""
from __future__ import annotations

import json

import pytest
import torch
from records import fake_record

from charclf.apps.modelcard import PUBLISHED_FILES, publish_run
from charclf.errors import DataError
from charclf.eval.record import RunRecord
from charclf.models import create_model, model_summary
from charclf.models.hub import save_pretrained
from charclf.train.config import TrainConfig

CLASSES = tuple("0123456789")


def _run_folder(path):
    torch.manual_seed(0)
    model = create_model("lenet", num_classes=len(CLASSES))
    save_pretrained(model, path, architecture="lenet", num_classes=len(CLASSES), labels=CLASSES, mean=0.13,
                    std=0.31, protocol="holdout", extra={"split": "digits", "train_class_counts": [80] * 10})
    size = model_summary(model)
    train_config = TrainConfig(model="lenet", epochs=7, seed=3)
    record = fake_record(model="lenet", params=size["params"], macs=size["macs"], best_val_acc=0.91234,
                         train_time_s=12.0, config=train_config.to_dict(),
                         data={"split": "digits", "protocol": "holdout", "num_classes": 10,
                               "sizes": {"train": 800, "val": 100, "test": 100}},
                         provenance={"git_sha": "abc123", "seed": 3, "machine": {"device": "cpu", "cpu_count": 2}},
                         evaluation={"test": {"accuracy": 0.90456, "f1_weighted": 0.87654, "f1_macro": 0.86543,
                                              "ece": 0.04321, "n": 100, "tta": False}})
    record.save(path)
    train_config.to_json(path / "train_config.json")
    return model, record


def test_card_numbers_come_from_the_run_artifacts(tmp_path):
    model, _ = _run_folder(tmp_path / "run")
    dest = publish_run(tmp_path / "run", tmp_path / "hub" / "mine", title="My model", summary="A test model.")
    for name in ("model.safetensors", "config.json", "metrics.json", "train_config.json"):
        assert (dest / name).read_bytes() == (tmp_path / "run" / name).read_bytes()
    card = (dest / "README.md").read_text()
    assert card.startswith("# My model\n\nA test model.")
    for value in ("| val accuracy (model selection, float32) | 0.9123 |", "| test accuracy | 0.9046 |",
                  "| test: weighted F1 | 0.8765 |", "| test: macro F1 | 0.8654 |", "| test: ECE (15 bins) | 0.0432 |"):
        assert value in card
    assert f"| parameters | {model_summary(model)['params']:,} |" in card
    assert "**holdout protocol**" in card and "train 800 / val 100 / test 100" in card
    assert "`abc123`" in card and "7 epochs" in card
    assert "float32" in card  # the precision the record names
    assert "merged-47" not in card.split("## Results")[1].split("## Use")[0]  # absent from metrics -> no row
    # The reproduce command points at the config copied into the published folder, not at the run folder.
    assert f"--config {dest.name}/train_config.json" in card


def test_card_names_the_precision_the_run_used(tmp_path):
    _run_folder(tmp_path / "run")
    record = RunRecord.load(tmp_path / "run")
    machine = {**record.provenance.get("machine", {}), "cpu_model": "Some CPU", "cpu_flags": ["avx2", "avx512_bf16"]}
    record.replace(precision="bf16", selection_precision="fp32",
                   provenance={**record.provenance, "machine": machine}).save(tmp_path / "run")
    card = (publish_run(tmp_path / "run", tmp_path / "hub", title="x") / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| precision |"))
    # which precision trained the model (and on which CPU), which scored the val that chose it, and the test's
    assert "trained in bf16 autocast on Some CPU (avx2, avx512_bf16)" in row
    assert "chose these weights scored in float32" in row and "test scored in float32" in row


def test_publishing_an_unfinished_run_is_refused(tmp_path):
    _run_folder(tmp_path / "run")
    (tmp_path / "run" / "metrics.json").unlink()
    with pytest.raises(DataError, match="metrics.json"):
        publish_run(tmp_path / "run", tmp_path / "dest", title="x")
    assert not (tmp_path / "dest").exists()  # nothing half-published
    assert PUBLISHED_FILES[:3] == ("model.safetensors", "config.json", "metrics.json")


def test_publishing_a_model_without_its_class_counts_is_refused(tmp_path):
    _run_folder(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "train_class_counts": None}))
    with pytest.raises(DataError, match="train_class_counts") as err:
        publish_run(tmp_path / "run", tmp_path / "dest", title="x")
    assert "add_class_counts.py" in str(err.value) and not (tmp_path / "dest").exists()


def test_publishing_seeds_ships_the_best_on_val_and_reports_every_seed(tmp_path):
    import json

    from charclf.apps.modelcard import publish_best_seed

    runs = []
    for seed, (val, test) in enumerate([(0.90, 0.95), (0.92, 0.89), (0.91, 0.90)]):
        _run_folder(tmp_path / f"seed{seed}")
        RunRecord.load(tmp_path / f"seed{seed}").replace(
            best_val_acc=val, evaluation={"test": {"accuracy": test, "n": 100, "tta": False}},
            provenance={"git_sha": "abc", "seed": seed, "machine": {}}).save(tmp_path / f"seed{seed}")
        runs.append(tmp_path / f"seed{seed}")
    dest = publish_best_seed(runs, tmp_path / "hub", title="Three seeds")
    assert (dest / "metrics.json").read_bytes() == (runs[1] / "metrics.json").read_bytes()  # best val, not best test
    seeds = json.loads((dest / "seeds.json").read_text())
    assert seeds["n"] == 3 and seeds["test_acc_mean"] == pytest.approx((0.95 + 0.89 + 0.90) / 3)
    assert seeds["val_acc_std"] == pytest.approx(0.01)  # sample std (ddof 1), as in every table over seeds
    card = (dest / "README.md").read_text()
    assert "| 1 | 0.9200 | 0.8900 |" in card
    assert f"**{seeds['test_acc_mean']:.4f} ± {seeds['test_acc_std']:.4f}**" in card


def test_publishing_refuses_mixed_runs_and_a_single_run_drops_stale_seed_stats(tmp_path, monkeypatch):
    from charclf.apps.modelcard import publish_best_seed

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))  # where the replaced folder goes
    for name, seed in (("a", 0), ("b", 0)):
        _run_folder(tmp_path / name)
    with pytest.raises(DataError, match="distinct seeds"):
        publish_best_seed([tmp_path / "a", tmp_path / "b"], tmp_path / "hub", title="x")
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "seeds.json").write_text("{}")
    publish_run(tmp_path / "a", tmp_path / "hub", title="x")
    assert not (tmp_path / "hub" / "seeds.json").exists()
    assert "Across seeds" not in (tmp_path / "hub" / "README.md").read_text()


@pytest.mark.parametrize("recipe, says, never", [
    ("minivision_v3", "random crop (padding 2), rotation ±10°", "affine"),
    ("byclass_study", "affine ±15° / translate 0.1 / scale [0.9, 1.1] / shear 3", "crop"),
    ("efficientnet_kaggle", "MixUp α 0.2, CutMix α 1 (p 0.5)", "rotation"),
    ("lenet5_keras", "none", "affine"),
])
def test_the_card_names_the_augmentation_the_recipe_used(recipe, says, never):
    from charclf.apps.modelcard import augment_words
    from charclf.train.recipes import get_recipe

    words = augment_words(get_recipe(recipe).to_dict()["augment"])
    assert words == says if says == "none" else says in words
    assert never not in words


def test_the_card_says_when_the_augmentation_resampled_nearest():
    from dataclasses import asdict

    from charclf.apps.modelcard import augment_words
    from charclf.train.config import AugmentConfig

    words = augment_words(asdict(AugmentConfig(crop_padding=2, rotation=10, interpolation="nearest")))
    assert words == "random crop (padding 2), rotation ±10°, nearest resampling"
    # a crop alone shifts whole pixels: no resampling to name; bilinear, the default, goes unsaid
    assert "nearest" not in augment_words(asdict(AugmentConfig(crop_padding=2, interpolation="nearest")))
    assert "resampling" not in augment_words(asdict(AugmentConfig(rotation=10)))


def test_the_best_seed_is_chosen_on_float32_val_and_a_tie_on_calibration():
    from types import SimpleNamespace

    from charclf.apps.modelcard import selection_key

    def record(seed, acc, ece):
        return SimpleNamespace(val_acc=acc, seed=seed, part=lambda part: {"accuracy": acc, "ece": ece})

    seeds = [record(0, 0.8703, 0.0095), record(1, 0.8702, 0.0080), record(2, 0.8703, 0.0092)]
    assert max(seeds, key=selection_key).seed == 2  # ties seed 0 on accuracy, better calibrated


def _seeds(tmp_path, n=3):
    """``n`` finished seed folders of one recipe (seed i in provenance, as fit records it)."""
    runs = []
    for seed in range(n):
        _run_folder(tmp_path / f"seed{seed}")
        record = RunRecord.load(tmp_path / f"seed{seed}")
        record.replace(best_val_acc=0.90 + seed / 100, provenance={**record.provenance, "seed": seed},
                       data={**record.data, "index_sha256": "a" * 64}).save(tmp_path / f"seed{seed}")
        runs.append(tmp_path / f"seed{seed}")
    return runs


@pytest.mark.parametrize("change, says", [
    (lambda r: {"config": {**r.config, "epochs": 3}}, "epochs: 7 -> 3"),
    (lambda r: {"config": {**r.config, "max_train_samples": 100}}, "max_train_samples: None -> 100"),
    (lambda r: {"data": {**r.data, "protocol": "official"}}, "protocol: 'holdout' -> 'official'"),
    (lambda r: {"data": {**r.data, "index_sha256": "f" * 64}}, "index_sha256: 'a+' -> 'f+'"),
    (lambda r: {"data": {**r.data, "sizes": {**r.data["sizes"], "train": 400}}}, "sizes"),
])
def test_publishing_refuses_seeds_trained_another_way(tmp_path, change, says):
    """One recipe name over seeds trained with other settings or on other data is not one experiment: its
    mean ± std would average them. Refused before anything is written, naming the run and the field."""
    from charclf.apps.modelcard import publish_best_seed

    runs = _seeds(tmp_path)
    record = RunRecord.load(runs[2])
    record.replace(**change(record)).save(runs[2])
    with pytest.raises(DataError, match=says) as err:
        publish_best_seed(runs, tmp_path / "hub", title="x")
    assert str(runs[2] / "metrics.json") in str(err.value) and "Fix:" in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    assert not (tmp_path / "hub").exists()


def test_seeds_may_differ_in_their_seed_and_where_they_trained(tmp_path):
    from charclf.apps.modelcard import publish_best_seed

    runs = _seeds(tmp_path)
    record = RunRecord.load(runs[1])
    # fit records the seed in the config too; device, eval batch and the run's name say where it ran, not what
    record.replace(config={**record.config, "seed": 1, "device": "cuda", "eval_batch_size": 4096, "name": "b"}
                   ).save(runs[1])
    dest = publish_best_seed(runs, tmp_path / "hub", title="x")
    assert json.loads((dest / "seeds.json").read_text())["n"] == 3


def _slot_files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_failed_publish_leaves_the_earlier_model_whole(tmp_path, monkeypatch):
    """Every check runs before the slot is touched: a seed without a test evaluation is one line naming it (no
    KeyError), and the slot still holds the earlier model's weights beside its own card and seeds."""
    from charclf.apps.modelcard import publish_best_seed

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    old = _seeds(tmp_path / "old")
    dest = publish_best_seed(old, tmp_path / "hub" / "slot", title="Old")
    before = _slot_files(dest)
    new = _seeds(tmp_path / "new")
    RunRecord.load(new[0]).replace(best_val_acc=0.99).save(new[0])  # the one that would be shipped
    torch.manual_seed(1)
    save_pretrained(create_model("lenet", num_classes=len(CLASSES)), new[0], architecture="lenet",
                    num_classes=len(CLASSES), labels=CLASSES, mean=0.13, std=0.31, protocol="holdout",
                    extra={"split": "digits", "train_class_counts": [80] * 10})
    RunRecord.load(new[2]).replace(evaluation={}).save(new[2])
    with pytest.raises(DataError, match="has no 'test' evaluation") as err:
        publish_best_seed(new, dest, title="New")
    assert str(new[2] / "metrics.json") in str(err.value) and "charclf evaluate" in str(err.value)
    assert _slot_files(dest) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["slot"]  # nothing assembled is left beside it


def test_a_publish_that_fails_while_writing_changes_nothing(tmp_path, monkeypatch):
    """A full disk halfway through copying the files: one WriteError, the earlier model whole, no partial folder."""
    import errno
    import shutil

    from charclf.errors import WriteError

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    _run_folder(tmp_path / "old")
    dest = publish_run(tmp_path / "old", tmp_path / "hub" / "slot", title="Old")
    before = _slot_files(dest)
    _run_folder(tmp_path / "new")
    copy, calls = shutil.copy2, []

    def full_disk(src, dst, **kw):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return copy(src, dst, **kw)

    monkeypatch.setattr(shutil, "copy2", full_disk)
    with pytest.raises(WriteError, match="disk full"):
        publish_run(tmp_path / "new", dest, title="New")
    assert _slot_files(dest) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["slot"]
    assert not (tmp_path / "outputs").exists()


def test_publishing_replaces_the_whole_slot_and_keeps_the_earlier_one(tmp_path, monkeypatch, capsys):
    """The new slot holds only the new model's files: the earlier model's train_config.json, history.csv,
    seeds.json (and a note someone left) do not stay beside other weights. The earlier folder is moved whole to
    outputs/replaced/model_hub/, never deleted."""
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    from charclf.apps.modelcard import publish_best_seed

    old = _seeds(tmp_path / "old")
    for run in old:
        (run / "history.csv").write_text("epoch,val_acc\n1,0.5\n")
    dest = publish_best_seed(old, tmp_path / "hub" / "slot", title="Old")
    (dest / "notes.txt").write_text("someone's notes")
    before = _slot_files(dest)
    assert {"history.csv", "train_config.json", "seeds.json"} <= set(before)
    _run_folder(tmp_path / "new")
    (tmp_path / "new" / "train_config.json").unlink()  # an older run folder without one
    capsys.readouterr()
    publish_run(tmp_path / "new", dest, title="New")
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.json", "metrics.json",
                                                       "model.safetensors"]
    assert (dest / "README.md").read_text().startswith("# New")
    assert f"--config {dest.name}/train_config.json" in (dest / "README.md").read_text()  # shown as dest, not staged
    kept = list((tmp_path / "outputs" / "replaced" / "model_hub").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("slot-") and _slot_files(kept[0]) == before
    assert str(kept[0]) in capsys.readouterr().out  # says where the earlier model went
    assert sorted(p.name for p in dest.parent.iterdir()) == ["slot"]
    assert oct(dest.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's private 0700


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
