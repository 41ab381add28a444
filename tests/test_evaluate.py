"""Metrics against hand-computed cases; evaluate_model / evaluate_run / `charclf evaluate` on a tiny model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from records import fake_record

from charclf.apps.cli import main
from charclf.data.dataset import CharDataset, DataBundle
from charclf.errors import ConfigError, DataError
from charclf.eval.evaluate import (
    classification_metrics,
    confusion,
    evaluate_model,
    evaluate_run,
    expected_calibration_error,
    merge_confusion,
    merged_accuracy,
    misclassified_indices,
    per_class_report,
    reliability_bins,
    top_confusions,
)
from charclf.models import create_model
from charclf.models.hub import load_model, save_pretrained

BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


# -- hand-computed cases --------------------------------------------------------------------------------
# y_true 0 0 0 1 2 2 / y_pred 0 0 1 1 2 0:
#   class 0: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3 (support 3)
#   class 1: TP 1, FP 1, FN 0 -> P 1/2, R 1,   F1 2/3 (support 1)
#   class 2: TP 1, FP 0, FN 1 -> P 1,   R 1/2, F1 2/3 (support 2)
Y_TRUE = [0, 0, 0, 1, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 0]


def test_classification_metrics_hand_case():
    m = classification_metrics(Y_TRUE, Y_PRED, ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision_macro"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["recall_macro"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert m["f1_macro"] == pytest.approx(2 / 3)
    assert m["precision_weighted"] == pytest.approx((3 * 2 / 3 + 1 * 1 / 2 + 2 * 1) / 6)  # 0.75
    assert m["recall_weighted"] == pytest.approx(4 / 6)  # weighted recall is always the accuracy
    assert m["f1_weighted"] == pytest.approx(2 / 3)
    assert m["n"] == 6


def test_per_class_report_and_confusion_hand_case():
    df = per_class_report(Y_TRUE, Y_PRED, ("a", "b", "c", "d"))
    assert list(df.columns) == ["char", "support", "precision", "recall", "f1"]
    assert df["char"].tolist() == ["a", "b", "c", "d"]
    assert df["support"].tolist() == [3, 1, 2, 0]
    np.testing.assert_allclose(df["precision"], [2 / 3, 1 / 2, 1, 0])
    np.testing.assert_allclose(df["recall"], [2 / 3, 1, 1 / 2, 0])  # absent class: 0, no warning
    cm = confusion(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_top_confusions_order():
    classes = ("O", "0", "l", "1", "I")
    cm = np.zeros((5, 5), dtype=int)
    np.fill_diagonal(cm, [70, 270, 40, 100, 95])
    cm[0, 1] = 30  # O -> 0: 30 of 100 (30%)
    cm[1, 0] = 30  # 0 -> O: 30 of 300 (10%): same count, smaller share -> after O -> 0
    cm[2, 3] = 50  # l -> 1: the most frequent
    cm[4, 2] = 5   # I -> l
    top = top_confusions(cm, classes, k=10)
    assert list(zip(top["true"], top["pred"])) == [("l", "1"), ("O", "0"), ("0", "O"), ("I", "l")]
    assert top["count"].tolist() == [50, 30, 30, 5]
    np.testing.assert_allclose(top["share"], [50 / 90, 0.3, 0.1, 5 / 100])
    assert len(top_confusions(cm, classes, k=2)) == 2


def test_merged_accuracy_hand_case():
    ix = BYCLASS.index
    y_true = [ix("o"), ix("O"), ix("c"), ix("a"), ix("0"), ix("x")]
    y_pred = [ix("O"), ix("o"), ix("C"), ix("A"), ix("O"), ix("x")]
    # o/O, O/o and c/C are case confusions of merged letters -> right; a/A is not merged; 0/O is not case.
    assert merged_accuracy(y_true, y_pred, BYCLASS) == pytest.approx(4 / 6)
    assert classification_metrics(y_true, y_pred, BYCLASS)["accuracy"] == pytest.approx(1 / 6)


def test_merged_accuracy_matches_official_bymerge_mapping():
    from charclf.data.merge import merge_classes

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 62, 500), rng.integers(0, 62, 500)
    t47, classes47 = merge_classes(y_true, BYCLASS)
    p47, _ = merge_classes(y_pred, BYCLASS)
    assert len(classes47) == 47
    assert merged_accuracy(y_true, y_pred, BYCLASS) == pytest.approx(np.mean(t47 == p47))


def test_merge_confusion_hand_case_and_agrees_with_merged_accuracy():
    ix = BYCLASS.index
    y_true = [ix("o"), ix("O"), ix("c"), ix("a"), ix("0"), ix("x"), ix("O")]
    y_pred = [ix("O"), ix("o"), ix("C"), ix("A"), ix("O"), ix("x"), ix("0")]
    cm47, classes47 = merge_confusion(confusion(y_true, y_pred, 62), BYCLASS)
    assert classes47 == tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt") and cm47.shape == (47, 47)
    m = classes47.index
    # o->O, O->o (both now O->O), c->C (C->C) and x->x are right; a->A stays an error (a/A is not merged);
    # 0->O and O->0 are not case confusions.
    assert cm47[m("O"), m("O")] == 2 and cm47[m("C"), m("C")] == 1 and cm47[m("X"), m("X")] == 1
    assert cm47[m("a"), m("A")] == 1 and cm47[m("0"), m("O")] == 1 and cm47[m("O"), m("0")] == 1
    assert cm47.sum() == len(y_true) and np.trace(cm47) == 4

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 62, 500), rng.integers(0, 62, 500)
    cm47, _ = merge_confusion(confusion(y_true, y_pred, 62), BYCLASS)
    assert np.trace(cm47) / cm47.sum() == pytest.approx(merged_accuracy(y_true, y_pred, BYCLASS))
    with pytest.raises(ConfigError, match="62 classes"):
        merge_confusion(np.zeros((10, 10)), BYCLASS)


def test_expected_calibration_error_hand_case():
    probs = np.array([[0.85, 0.15], [0.85, 0.15], [0.25, 0.75], [0.65, 0.35]])
    y_true = np.array([0, 1, 1, 0])
    # 10 bins: (0.8, 0.9]: 2 samples, acc 1/2, conf 0.85 -> gap 0.35; (0.7, 0.8]: acc 1, conf 0.75 -> 0.25;
    # (0.6, 0.7]: acc 1, conf 0.65 -> 0.35.  ECE = 2/4 * 0.35 + 1/4 * 0.25 + 1/4 * 0.35 = 0.325
    assert expected_calibration_error(probs, y_true, n_bins=10) == pytest.approx(0.325)
    bins = reliability_bins(probs, y_true, n_bins=10)
    assert bins["count"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 2, 0]
    assert bins.loc[8, "accuracy"] == pytest.approx(0.5) and bins.loc[8, "confidence"] == pytest.approx(0.85)
    perfect = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(perfect, [0, 1, 2, 1]) == pytest.approx(0.0)
    assert expected_calibration_error(perfect, [1, 2, 0, 0]) == pytest.approx(1.0)  # sure and always wrong


def test_misclassified_most_confident_first():
    y_true = np.array([0, 1, 1, 0, 2])
    y_pred = np.array([0, 0, 2, 1, 2])
    probs = np.full((5, 3), 0.1)
    probs[1, 0], probs[2, 2], probs[3, 1] = 0.6, 0.9, 0.4
    np.testing.assert_array_equal(misclassified_indices(y_true, y_pred, probs), [2, 1, 3])
    np.testing.assert_array_equal(misclassified_indices(y_true, y_pred), [1, 2, 3])
    np.testing.assert_array_equal(misclassified_indices(y_true, y_pred, probs, k=1), [2])


# -- a tiny model on tiny data --------------------------------------------------------------------------
def _part(n, part, seed):
    g = torch.Generator().manual_seed(seed)
    return CharDataset(images=torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g),
                       labels=torch.arange(n) % 62, classes=BYCLASS, split="byclass", part=part, protocol="holdout")


def _bundle():
    return DataBundle(train=_part(124, "train", 0), val=_part(62, "val", 1), test=_part(186, "test", 2),
                      split="byclass", protocol="holdout", classes=BYCLASS)


@pytest.fixture()
def run_dir(tmp_path):
    from charclf.models import create_model

    torch.manual_seed(0)
    out = tmp_path / "run"
    save_pretrained(create_model("lenet", num_classes=62), out, architecture="lenet", num_classes=62,
                    labels=BYCLASS, mean=0.17, std=0.33, protocol="holdout", extra={"split": "byclass"})
    fake_record(best_val_acc=0.5, test_acc=0.49).save(out)
    return out


def test_evaluate_model_matches_direct_prediction(run_dir):
    from charclf.eval.inference import predict_logits

    model = load_model(run_dir)
    ds = _part(186, "test", 2)
    result = evaluate_model(model, ds)
    expected = predict_logits(model, ds.images, mean=0.17, std=0.33).argmax(1).numpy()
    np.testing.assert_array_equal(result.y_pred, expected)
    assert result.metrics["accuracy"] == pytest.approx(np.mean(expected == ds.labels.numpy()))
    assert {"merged47_accuracy", "ece", "f1_macro", "precision_weighted"} <= set(result.metrics)
    assert result.probs.shape == (186, 62) and np.allclose(result.probs.sum(1), 1, atol=1e-5)
    assert result.confusion.sum() == 186 and result.per_class["support"].sum() == 186
    assert len(result.misclassified()) == int((result.y_pred != result.y_true).sum())
    with pytest.raises(ConfigError, match="mean"):
        evaluate_model(torch.nn.Flatten(), ds)


def test_evaluate_run_merges_into_metrics_json(run_dir, monkeypatch, capsys):
    import charclf.data

    calls = []

    def fake_load_data(split, protocol, data_dir=None, **kw):
        calls.append((split, protocol, data_dir))
        return _bundle()

    monkeypatch.setattr(charclf.data, "load_data", fake_load_data)
    recorded = (run_dir / "metrics.json").read_text()
    with pytest.raises(DataError, match=r"already records evaluation.test: 49 of 100 right \(49.0000%.*nothing was "
                                        r"written. Fix: to keep both, evaluate a copy"):
        evaluate_run(run_dir, "test", data_dir="somewhere")  # another number than the one training recorded
    assert (run_dir / "metrics.json").read_text() == recorded
    saved = json.loads(recorded)
    del saved["evaluation"]["test"]  # what the message tells a user to do to replace it
    (run_dir / "metrics.json").write_text(json.dumps(saved))
    calls.clear()
    entry = evaluate_run(run_dir, "test", data_dir="somewhere")
    assert calls == [("byclass", "holdout", "somewhere")]  # split/protocol from the run's config.json
    assert entry["n"] == 186 and entry["part"] == "test" and entry["protocol"] == "holdout"
    assert entry["tta"] is False and len(entry["per_class"]) == 62
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["best_val_acc"] == 0.5 and saved["schema"] == "charclf.run/1"  # what training wrote is kept
    assert saved["evaluation"]["test"]["accuracy"] == pytest.approx(entry["accuracy"])
    assert saved["evaluation"]["test"]["provenance"]["git_sha"]

    assert main(["evaluate", str(run_dir), "--part", "val", "--json", "--tta"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["part"] == "val" and printed["n"] == 62 and printed["tta"] is True
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert set(saved["evaluation"]) == {"test", "val_tta"}  # TTA results never overwrite plain ones

    before = (run_dir / "metrics.json").read_text()
    assert main(["evaluate", str(run_dir)]) == 0  # the same numbers again: the recorded entry stays as it is
    out = capsys.readouterr().out
    assert "accuracy" in out and "merged-47" in out and "ECE" in out and "under evaluation.test\n" in out
    assert (run_dir / "metrics.json").read_text() == before

    # --split is the EMNIST split (scored with the run's classes); the old --split PART still means the part.
    calls.clear()
    assert main(["evaluate", str(run_dir), "--split", "bymerge"]) == 0
    assert calls[-1][:2] == ("bymerge", "holdout")
    assert "under evaluation.test@bymerge" in capsys.readouterr().out
    saved = json.loads((run_dir / "metrics.json").read_text())  # another split's number keeps its own key
    assert saved["evaluation"]["test"] == json.loads(before)["evaluation"]["test"]
    assert saved["evaluation"]["test@bymerge"]["provenance"]["split"] == "bymerge"
    assert main(["evaluate", str(run_dir), "--split", "ByClass"]) == 0  # naming the run's own split: its own key
    assert "under evaluation.test\n" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--split", "val", "--json"]) == 0
    captured = capsys.readouterr()
    assert "is `--part val` now" in captured.err and json.loads(captured.out[captured.out.index("{"):])["part"] == "val"
    assert calls[-1][:2] == ("byclass", "holdout")
    assert main(["evaluate", str(run_dir), "--part", "val", "--split", "test"]) == 2  # two parts: which one?
    assert "name two parts" in capsys.readouterr().err


def test_evaluate_run_errors(run_dir, monkeypatch):
    import charclf.data

    monkeypatch.setattr(charclf.data, "load_data", lambda *a, **k: _bundle())
    with pytest.raises(ConfigError, match="part"):
        evaluate_run(run_dir, part="train")
    with pytest.warns(DeprecationWarning, match="part="), pytest.raises(ConfigError, match="part"):
        evaluate_run(run_dir, split="train")  # the old meaning of split: still the part, with a warning
    cfg = json.loads((run_dir / "config.json").read_text())
    del cfg["split"]
    (run_dir / "config.json").write_text(json.dumps(cfg))
    evaluate_run(run_dir, "val")  # the run record still names the split
    (run_dir / "metrics.json").unlink()  # a bare model folder that names none
    with pytest.raises(ConfigError, match="split"):
        evaluate_run(run_dir)


@pytest.mark.realdata
def test_evaluate_run_on_real_holdout(run_dir, real_data_dir):
    entry = evaluate_run(run_dir, "val", data_dir=real_data_dir)  # the fake record's test entry is not this model's
    assert entry["n"] == 11634 and entry["protocol"] == "holdout" and entry["split"] == "byclass"
    assert 0.0 <= entry["accuracy"] <= entry["merged47_accuracy"] <= 1.0


def test_predict_logits_chunks_cpu_batches_without_changing_results():
    from charclf.eval.inference import CPU_MAX_BATCH, predict_logits

    torch.manual_seed(0)
    model = create_model("lenet", num_classes=10).eval()
    seen = []
    model.register_forward_hook(lambda mod, args, out: seen.append(len(args[0])))
    images = torch.randint(0, 256, (CPU_MAX_BATCH + 44, 28, 28), dtype=torch.uint8)
    big = predict_logits(model, images, mean=0.2, std=0.3, batch_size=4096)
    assert seen == [CPU_MAX_BATCH, 44]  # capped on a CPU, for speed only
    small = predict_logits(model, images, mean=0.2, std=0.3, batch_size=32)
    torch.testing.assert_close(big, small)


def test_evaluating_again_keeps_the_recorded_number_within_rounding_and_refuses_a_broken_entry(run_dir, monkeypatch,
                                                                                               capsys):
    import charclf.data

    monkeypatch.setattr(charclf.data, "load_data", lambda *a, **k: _bundle())
    entry = evaluate_run(run_dir, "val")
    path = run_dir / "metrics.json"
    saved = json.loads(path.read_text())
    right = round(entry["accuracy"] * entry["n"])
    saved["evaluation"]["val"]["accuracy"] = (right + 1) / entry["n"]  # another CPU flipped one near-tie
    path.write_text(json.dumps(saved))
    before = path.read_text()
    kept = evaluate_run(run_dir, "val")
    assert kept["accuracy"] == (right + 1) / entry["n"]  # the recorded one stays, the fresh one shown beside it
    assert kept["rescored_now"] == {"n": entry["n"], "right": right, "accuracy": entry["accuracy"]}
    assert "within another CPU's rounding" in capsys.readouterr().err and path.read_text() == before
    for broken in (None, "nan", {"n": 62}, {**entry, "n": 62.5}, {**entry, "n": True}):
        saved["evaluation"]["val"] = broken if isinstance(broken, dict) else {**entry, "accuracy": broken}
        path.write_text(json.dumps(saved))
        # refused when the record is read (an accuracy that is no number in [0, 1]) or when the entry is
        with pytest.raises(DataError, match="not a readable evaluation.*nothing was written|not an accuracy in"):
            evaluate_run(run_dir, "val")
        assert json.loads(path.read_text()) == saved
    saved["evaluation"]["val"] = 0.5  # a bare number
    path.write_text(json.dumps(saved))
    with pytest.raises(DataError, match="not a readable evaluation|evaluation.val is not an object"):
        evaluate_run(run_dir, "val")
