"""Ensembles of trained runs: probabilities averaged, members chosen on val only, test read after the choice."""
from __future__ import annotations

import json

import numpy as np
import pytest
from synth import quadrant_bundle

from charclf.errors import ConfigError, DataError
from charclf.experiments.ensemble import accuracy, combine, greedy_selection, run_ensemble
from charclf.train import fit
from charclf.train.config import AugmentConfig
from charclf.train.recipes import get_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def onehot(pred, n_classes=3, confidence=0.9):
    probs = np.full((len(pred), n_classes), (1 - confidence) / (n_classes - 1))
    probs[np.arange(len(pred)), pred] = confidence
    return probs


def test_greedy_starts_from_the_best_member_and_each_addition_improves_val():
    labels = np.array([0, 1, 2, 0, 1, 2])
    val = {"good": onehot([0, 1, 2, 0, 1, 0]),      # 5/6, wrong on the last image
           "bad": onehot([1, 2, 0, 1, 2, 0]),       # 0/6: can only hurt
           "fixer": np.vstack([np.full((5, 3), 1 / 3), [[0.005, 0.005, 0.99]]])}  # unsure, but sure of the last
    chosen = greedy_selection(val, labels)
    assert chosen[0] == "good" and "bad" not in chosen and "fixer" in chosen
    assert accuracy(combine(val, chosen), labels) == 1.0  # the fixer's confidence flips the last image
    # Every step raised (val accuracy, -val log-loss): no step was taken for nothing.
    from charclf.experiments.ensemble import log_loss

    scores = [(accuracy(p, labels), -log_loss(p, labels)) for p in
              (combine(val, chosen[:k]) for k in range(1, len(chosen) + 1))]
    assert all(later > earlier for earlier, later in zip(scores, scores[1:]))


def test_combine_weights_a_repeated_member_twice():
    a, b = onehot([0, 0]), onehot([1, 1])
    mixed = combine({"a": a, "b": b}, ["a", "a", "b"])
    np.testing.assert_allclose(mixed, (2 * a + b) / 3)
    assert (mixed.argmax(axis=1) == 0).all()


def test_cross_validated_selection_prefers_the_method_that_holds_up_on_held_out_halves():
    """Many noisy members that each fit a different random slice of val: greedy adds whichever fits the val
    noise, while held-out halves see that the uniform top-k average generalises. The choice is made on val alone."""
    from charclf.experiments.ensemble import cross_validated_selection, top_k_selection

    rng = np.random.default_rng(0)
    n, classes = 400, 5
    labels = np.arange(n) % classes
    val = {}
    for m in range(12):  # each member: right on ~70% of images, a different random 70%
        probs = rng.dirichlet(np.ones(classes), size=n)
        right = rng.random(n) < 0.7
        probs[right] = 0.5 * probs[right] + 0.5 * np.eye(classes)[labels[right]]
        val[f"m{m}"] = probs / probs.sum(axis=1, keepdims=True)
    result = cross_validated_selection(val, labels)
    assert set(result["candidates"]) == {"greedy", *(f"top-{k}" for k in range(1, 13))}
    assert result["held_out_val_acc"] == max(result["candidates"].values())
    assert result["method"].startswith("top-") and int(result["method"][4:]) > 1
    assert result["members"] == top_k_selection(val, labels, int(result["method"][4:]))  # re-run on all of val
    assert cross_validated_selection(val, labels) == result  # deterministic (seeded halves)


def _train(out, seed, data):
    config = get_recipe("byclass_study", model="lenet", epochs=1, batch_size=16, augment=AugmentConfig(),
                        optimizer__lr=0.05, seed=seed)
    from charclf.models import create_model
    from charclf.train.engine import seed_everything

    seed_everything(seed)
    fit(create_model("lenet", num_classes=data.num_classes), data, config, out, progress=False)
    return out


def test_run_ensemble_scores_members_once_and_caches_their_probabilities(tmp_path, monkeypatch):
    data = quadrant_bundle(64, 32, 32, 0)
    runs = [_train(tmp_path / "runs" / f"lenet-seed{s}", s, data) for s in (0, 1)]
    results = run_ensemble(runs, data, tmp_path / "ens", metadata={"profile": "quick"}, log=lambda *_: None)
    saved = json.loads((tmp_path / "ens" / "results.json").read_text())
    assert saved["protocol"] == data.protocol and saved["git_sha"] and saved["profile"] == "quick"
    assert {m["member"] for m in saved["members"]} == {"runs/lenet-seed0", "runs/lenet-seed1"}
    assert saved["greedy"]["val_acc"] >= max(m["val_acc"] for m in saved["members"])
    assert set(saved["all"]["members"]) == {"runs/lenet-seed0", "runs/lenet-seed1"}
    assert results["all"]["params"] == 2 * saved["members"][0]["params"]
    assert saved["cv"]["method"] in saved["cv"]["candidates"] and saved["cv"]["test_acc"] is not None
    caches = sorted(p.name for p in (tmp_path / "ens" / "probs").iterdir())
    assert caches == ["runs__lenet-seed0.npz", "runs__lenet-seed1.npz"]
    # A rerun reads the cache (nothing is scored again); a cache of other weights or other data is refused,
    # never silently reused or deleted.
    import charclf.experiments.ensemble as ens

    scored = []
    real = ens.member_probs
    monkeypatch.setattr(ens, "member_probs", lambda *a, **k: scored.append(a[0]) or real(*a, **k))
    first = json.loads((tmp_path / "ens" / "results.json").read_text())
    assert run_ensemble(runs, data, tmp_path / "ens", log=lambda *_: None)["all"] == results["all"]
    assert scored == []
    kept = list((tmp_path / "ens").glob("results-*.json"))  # the first results.json, kept under its own time
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == first
    # The same selections again: their test numbers are carried from the first build, which read them; the
    # rebuild is no second look at test.
    again = json.loads((tmp_path / "ens" / "results.json").read_text())
    for kind in ("greedy", "cv"):
        assert again[kind]["test_from"] == kept[0].name and again[kind]["test_acc"] == first[kind]["test_acc"]
    assert first["all"]["test_acc"] is None and "test_from" not in first["greedy"]
    from charclf.study.goals import ensemble_builds

    assert [b["file"] for b in ensemble_builds(tmp_path / "ens")] == [kept[0].name]
    other = quadrant_bundle(64, 32, 32, 1)
    with pytest.raises(DataError, match="other data"):
        run_ensemble(runs, other, tmp_path / "ens", log=lambda *_: None)
    (runs[0] / "model.safetensors").write_bytes((runs[1] / "model.safetensors").read_bytes())
    with pytest.raises(DataError, match="cached probabilities of other weights"):
        run_ensemble(runs, data, tmp_path / "ens", log=lambda *_: None)
    assert len(list((tmp_path / "ens" / "probs").iterdir())) == 2


def test_a_run_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(DataError, match="no model.safetensors"):
        run_ensemble([tmp_path / "run"], quadrant_bundle(8, 8, 8, 0), tmp_path / "ens")


def test_the_command_scores_the_split_and_protocol_its_runs_were_trained_on(tmp_path, monkeypatch):
    from records import write_fake_run

    import charclf.data
    from charclf.experiments import ensemble

    write_fake_run(tmp_path / "a", data={"split": "balanced", "protocol": "official", "num_classes": 47,
                                         "sizes": {"train": 1, "val": 1, "test": 1}})
    (tmp_path / "a" / "model.safetensors").write_bytes(b"weights")
    asked = []

    def fake_load(split, protocol, data_dir=None):
        asked.append((split, protocol))
        raise DataError("data", "not loaded in this test", "none")

    monkeypatch.setattr(charclf.data, "load_data", fake_load)
    for extra, expected in (([], ("balanced", "official")), (["--split", "byclass", "--protocol", "holdout"],
                                                             ("byclass", "holdout"))):
        with pytest.raises(DataError, match="not loaded"):
            ensemble.main([str(tmp_path / "a"), "--out", str(tmp_path / "out"), *extra])
        assert asked[-1] == expected


def test_an_unwritable_out_is_refused_before_any_member_is_scored(tmp_path, monkeypatch):
    from denied import deny_writes_in

    from charclf.errors import WriteError
    from charclf.experiments import ensemble

    from records import write_fake_run

    monkeypatch.setattr(ensemble, "score_member", lambda *a, **k: pytest.fail("a member was scored"))
    for name in ("a", "b"):
        write_fake_run(tmp_path / name)
        (tmp_path / name / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "out").mkdir()
    deny_writes_in(monkeypatch, tmp_path / "out")
    with pytest.raises(WriteError, match="permission denied"):
        run_ensemble([tmp_path / "a", tmp_path / "b"], None, tmp_path / "out")


def test_a_selection_carries_its_test_only_with_the_same_members_and_weights():
    from charclf.experiments.ensemble import _same_selection

    previous = {"members": [{"member": "a", "weights_sha256": "1"}, {"member": "b", "weights_sha256": "2"}],
                "greedy": {"members": ["a", "b", "a"], "test_acc": 0.9, "test_log_loss": 0.3}}
    digests = {"a": "1", "b": "2", "c": "3"}
    assert _same_selection(previous, "greedy", ["a", "b", "a"], digests) is previous["greedy"]
    assert _same_selection(previous, "greedy", ["a", "b"], digests) is None  # a repeat is a weight: it changed
    assert _same_selection(previous, "greedy", ["a", "b", "c"], digests) is None
    assert _same_selection(previous, "greedy", ["a", "b", "a"], {**digests, "b": "retrained"}) is None
    assert _same_selection(previous, "cv", ["a", "b", "a"], digests) is None  # no such selection before
    assert _same_selection(None, "greedy", ["a"], digests) is None
    # A member scoring otherwise now than the build recorded: not the same val/test images, nothing carried.
    previous["members"] = [{**m, "val_acc": 0.8, "test_acc": 0.7} for m in previous["members"]]
    same = {"a": (0.8, 0.7), "b": (0.8, 0.7)}
    assert _same_selection(previous, "greedy", ["a", "b", "a"], digests, same) is previous["greedy"]
    assert _same_selection(previous, "greedy", ["a", "b", "a"], digests, {**same, "b": (0.8, 0.71)}) is None


def test_a_rebuild_on_other_data_carries_no_test_number(tmp_path, monkeypatch):
    """Review: after the probability caches were moved aside (as their refusal says) for changed data, a rebuild
    whose selection came out the same carried the old data's test accuracy."""
    from charclf.experiments import ensemble as ens

    (tmp_path / "ens").mkdir()
    saved = {"data_sha256": "old", "members": [], "greedy": {"members": ["a"], "test_acc": 0.5}}
    (tmp_path / "ens" / "results.json").write_text(json.dumps(saved))
    assert ens._previous_results(tmp_path / "ens", "new") is None
    assert ens._previous_results(tmp_path / "ens", "old") == saved
    del saved["data_sha256"]  # an older build: the members' scores decide (above)
    (tmp_path / "ens" / "results.json").write_text(json.dumps(saved))
    assert ens._previous_results(tmp_path / "ens", "new") == saved


def test_bad_members_caches_and_teacher_folders_are_one_line_before_any_work(tmp_path, monkeypatch):
    """Probe: a member that does not exist was found only after the others were scored; a truncated or NaN cache
    was a traceback; a --teacher that is a file, or already holds a teacher, failed only after the ensemble's
    results.json had been written."""
    from records import write_fake_run

    from charclf.experiments import ensemble

    monkeypatch.setattr(ensemble, "member_probs", lambda *a, **k: pytest.fail("a member was scored"))
    write_fake_run(tmp_path / "a")
    (tmp_path / "a" / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ConfigError, match=r"\['.*/a'\] is given more than once. Fix:"):
        run_ensemble([tmp_path / "a", tmp_path / "a"], None, tmp_path / "out")
    # Probe: two different folders named alike (x/g/r, y/g/r) were refused as "given more than once".
    for top in ("x", "y"):
        write_fake_run(tmp_path / top / "g" / "r")
    with pytest.raises(ConfigError, match=r"x/g/r and .*y/g/r would both be the ensemble member 'g/r'.*Fix: give"):
        run_ensemble([tmp_path / "x" / "g" / "r", tmp_path / "y" / "g" / "r"], None, tmp_path / "out")
    with pytest.raises(DataError, match="nope: does not exist"):
        run_ensemble([tmp_path / "a", tmp_path / "nope"], None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    cache = tmp_path / "c.npz"
    np.savez(cache, weights_sha256=np.array("w"), data_sha256=np.array("d"), val=np.full((2, 3), np.nan),
             test=np.ones((2, 3)))
    with pytest.raises(DataError, match="not finite"):
        ensemble._read_cache(cache)
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.raises(DataError, match=r"c.npz: is not a readable probability cache .*move it aside"):
        ensemble._read_cache(cache)
    (tmp_path / "tfile").write_text("mine")
    for teacher, words in ((tmp_path / "tfile", "is a file"), (tmp_path / "t", "exists and students")):
        if teacher.name == "t":
            teacher.mkdir()
            (teacher / "teacher.npz").write_bytes(b"t")
        with pytest.raises(ConfigError, match=words):
            ensemble.main([str(tmp_path / "a"), "--out", str(tmp_path / "out"), "--teacher", str(teacher)])
    assert not (tmp_path / "out").exists() and (tmp_path / "tfile").read_text() == "mine"
