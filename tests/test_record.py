"""RunRecord: the one schema of metrics.json — round trip, legacy migration, and every committed run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from records import fake_record, write_fake_run

from charclf.errors import DataError
from charclf.eval.record import SCHEMA, NotARunRecord, RunRecord, load_records
from charclf.provenance import REPO_ROOT


def test_round_trip_and_the_one_test_number(tmp_path):
    record = write_fake_run(tmp_path / "run", test_acc=0.8125, tta=True)
    loaded = RunRecord.load(tmp_path / "run")
    assert loaded == record and loaded.schema == SCHEMA
    assert loaded.test_key == "test_tta" and loaded.test_acc == 0.8125 and loaded.part("train") is None
    assert loaded.replace(weights_kept=False).weights_kept is False and loaded.weights_kept is True


def test_keys_the_record_does_not_know_survive_every_rewrite(tmp_path):
    write_fake_run(tmp_path / "run")
    path = tmp_path / "run" / "metrics.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "my_notes": "keep me", "extra": {"mine": 1}}))
    record = RunRecord.load(tmp_path / "run")
    record.replace(evaluation={**record.evaluation, "val": {"accuracy": 0.5}}).save(tmp_path / "run")  # evaluate
    again = json.loads(path.read_text())
    assert again["my_notes"] == "keep me" and again["extra"] == {"mine": 1} and again["evaluation"]["val"]
    assert RunRecord.load(tmp_path / "run").extra == {"my_notes": "keep me", "extra": {"mine": 1}}


def test_a_record_written_before_the_schema_is_migrated(tmp_path):
    # The flat layout fit wrote until this schema: run_metadata holds config/recipe/provenance.
    legacy = {"best_epoch": 4, "best_val_acc": 0.85, "best_val_loss": 0.4, "final_val_acc": 0.84,
              "final_val_loss": 0.41, "epochs_run": 5, "train_time_s": 100.0, "wall_time_s": 110.0,
              "images_per_s": 900.0, "mean": 0.17, "std": 0.33, "selection": "best val accuracy",
              "channels_last": True, "device": "cpu",
              "evaluation": {"test": {"accuracy": 0.8499, "n": 100}}, "test_acc": 0.8499, "test_tta": False,
              "data": {"split": "byclass", "protocol": "holdout", "sizes": {"train": 9, "val": 1, "test": 100}},
              "train_samples": 9, "world_size": 1, "profile": "full", "run": "04_training/lenet-seed0",
              "run_metadata": {"git_sha": "abc", "created_utc": "t", "machine": {"device": "cpu"},
                               "protocol": "holdout", "seed": 2, "recipe": "byclass_study",
                               "config": {"model": "lenet", "amp": "auto", "tta": False}}}
    (tmp_path / "metrics.json").write_text(json.dumps(legacy))
    # No params/macs recorded: computed once from the model's config.json (then written by the migration tool).
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "lenet", "num_classes": 62,
                                                      "labels": [str(i) for i in range(62)], "mean": 0.17,
                                                      "std": 0.33}))
    r = RunRecord.load(tmp_path)
    assert (r.model, r.params, r.recipe, r.seed, r.git_sha) == ("lenet", 35_814, "byclass_study", 2, "abc")
    assert r.precision == "fp32" and r.test_acc == 0.8499 and r.run == "04_training/lenet-seed0"
    assert "config" not in r.provenance and r.config["model"] == "lenet"
    r.save(tmp_path)
    assert RunRecord.load(tmp_path) == r and json.loads((tmp_path / "metrics.json").read_text())["schema"] == SCHEMA


def test_what_is_not_a_run_record_is_skipped_and_what_is_broken_is_named(tmp_path):
    write_fake_run(tmp_path / "a")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "metrics.json").write_text(json.dumps({"evaluation": {"test": {"accuracy": 0.5}}}))
    with pytest.raises(NotARunRecord):
        RunRecord.load(tmp_path / "exp")
    assert list(load_records(tmp_path)) == [tmp_path / "a"]
    incomplete = {k: v for k, v in fake_record().to_dict().items() if k != "params"}
    (tmp_path / "exp" / "metrics.json").write_text(json.dumps(incomplete))
    with pytest.raises(DataError, match="without params"):
        RunRecord.load(tmp_path / "exp")
    (tmp_path / "a" / "metrics.json").write_text("{half")
    with pytest.raises(DataError, match=r"a[/\\]metrics.json"):
        load_records(tmp_path)


COMMITTED = sorted(p.parent for root in ("outputs", "model_hub") for p in (REPO_ROOT / root).rglob("metrics.json"))


@pytest.mark.parametrize("run_dir", COMMITTED, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_committed_run_is_a_record_whose_test_number_is_its_evaluation(run_dir: Path):
    """Each committed run's metrics.json is a schema record, and its one test accuracy is the accuracy of the
    confusion matrix its evaluation wrote (tools/migrate_runs.py --verify re-evaluates the weights too)."""
    raw = json.loads((run_dir / "metrics.json").read_text())
    assert raw.get("schema") == SCHEMA, "run `python tools/migrate_runs.py outputs model_hub`"
    record = RunRecord.load(run_dir)
    assert record.test["accuracy"] == record.test_acc and record.test["tta"] == record.tta
    matrix = run_dir / f"confusion_{record.test_key}.csv"
    if matrix.exists():
        cm = pd.read_csv(matrix, index_col=0).to_numpy()
        assert cm.sum() == record.test["n"]
        assert np.trace(cm) / cm.sum() == pytest.approx(record.test_acc, abs=1e-12)


def test_a_record_whose_accuracy_is_no_accuracy_is_refused_naming_the_file_and_value(tmp_path):
    """A hand-edited or damaged metrics.json must not reach a table as 170% or NaN (probe: `charclf report`
    printed **170.00%**)."""
    import json

    from charclf.errors import DataError
    from charclf.eval.record import RunRecord

    good = fake_record()
    good.save(tmp_path)
    assert RunRecord.load(tmp_path).test_acc == good.test_acc
    for key, value in (("test", 1.7), ("test", -0.1), ("test", float("nan")), ("test", "0.9"), ("val", True)):
        d = json.loads((tmp_path / "metrics.json").read_text())
        d["evaluation"][key] = {**d["evaluation"].get("test", {}), "accuracy": value}
        (tmp_path / "bad").mkdir(exist_ok=True)
        (tmp_path / "bad" / "metrics.json").write_text(json.dumps(d))
        with pytest.raises(DataError, match=rf"bad/metrics.json: evaluation.{key}.accuracy is .*not an accuracy"):
            RunRecord.load(tmp_path / "bad")
    d = json.loads((tmp_path / "metrics.json").read_text())
    (tmp_path / "bad" / "metrics.json").write_text(json.dumps({**d, "best_val_acc": 87.1}))  # a percentage
    with pytest.raises(DataError, match="best_val_acc is 87.1, not an accuracy in"):
        RunRecord.load(tmp_path / "bad")


def test_migrate_runs_refuses_a_folder_that_checks_nothing(tmp_path, capsys):
    """Probe: `charclf migrate-runs nonexist` exited 0 with no output."""
    from charclf.apps.cli import main

    (tmp_path / "empty").mkdir()
    for root, problem in ((tmp_path / "nonexist", "does not exist"), (tmp_path / "empty", "holds no run record")):
        assert main(["migrate-runs", str(root)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{root}: {problem}" in err and "Fix: pass folders" in err


@pytest.mark.parametrize("verify", [[], ["--verify"]])
def test_migrate_runs_fails_naming_the_records_it_could_not_read(tmp_path, capsys, verify):
    """Probe: with --verify a damaged record was printed as "skip" and the check still exited 0."""
    migrate_runs = pytest.importorskip("migrate_runs")  # tools/, on the path in a clone (conftest)
    write_fake_run(tmp_path / "good")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text('{"schema": ')
    assert migrate_runs.main([str(tmp_path), *verify]) == 1
    out, err = capsys.readouterr()
    assert f"FAIL {tmp_path / 'broken'}: {tmp_path / 'broken' / 'metrics.json'}: is not valid JSON" in out
    assert err.count("\n") == 1 and "1 of 2 run record(s) could not be read" in err and str(tmp_path / "broken") in err
    (tmp_path / "broken" / "metrics.json").unlink()
    assert migrate_runs.main([str(tmp_path), *verify]) == 0
    assert "1 run record(s) read" in capsys.readouterr().out
