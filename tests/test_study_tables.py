"""The notebook cells moved into charclf.study (notebooks hold calls, not logic): notebook 07's evaluation tables,
08's transfer verdicts, 11's sentences and 10's model line, each checked on made-up records."""
from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pytest
from records import fake_record, write_fake_run


def _run(name, model, seed, val, acc, **test):
    evaluation = {"test": {"accuracy": acc, "n": 100, "f1_macro": acc - 0.1, "merged47_accuracy": acc + 0.05,
                           "ece": 0.01, **test}}
    record = fake_record(model=model, seed=seed, best_val_acc=val, test_acc=acc, evaluation=evaluation)
    return types.SimpleNamespace(name=name, record=record)


def test_every_model_is_mean_and_sample_std_over_seeds_sorted_by_val():
    from charclf.study.evaluation import every_model

    runs = [_run("04_training/vgg-seed0", "vgg", 0, 0.86, 0.85), _run("04_training/vgg-seed1", "vgg", 1, 0.88, 0.87),
            _run("04_training/lenet-seed0", "lenet", 0, 0.865, 0.80)]
    records, stats, table = every_model(runs)
    assert list(records["run"]) == [r.name for r in runs] and list(table.index) == ["vgg", "lenet"]  # by val mean
    assert stats.loc["vgg", ("accuracy", "std")] == pytest.approx(np.std([0.85, 0.87], ddof=1))
    assert table.loc["vgg", "accuracy"] == "0.8600 ± 0.0141" and table.loc["lenet", "accuracy"] == "0.8000"
    assert list(table.columns[:3]) == ["seeds", "TTA", "precision (train / val)"] and table.loc["vgg", "seeds"] == 2


def test_recorded_parts_read_the_run_and_the_check_refuses_a_re_evaluation_that_disagrees(tmp_path, capsys):
    from charclf.study.evaluation import check_against_record, recorded_parts

    classes = ["a", "b"]
    write_fake_run(tmp_path / "run")
    pd.DataFrame([[3, 1], [0, 4]], index=pd.Index(classes, name="true"), columns=classes).to_csv(
        tmp_path / "run" / "confusion_test.csv")
    from charclf.eval.record import RunRecord

    run = types.SimpleNamespace(dir=tmp_path / "run", record=RunRecord.load(tmp_path / "run"))
    data = types.SimpleNamespace(classes=classes, test=None, train=None)
    parts = recorded_parts(run, data, None, None, tta=False, batch_size=8)
    assert list(parts) == ["test"] and parts["test"]["source"] == "recorded (confusion_test.csv)"
    assert "train part: not recorded by the run and its weights are not here" in capsys.readouterr().out
    same = types.SimpleNamespace(metrics={"accuracy": 0.49}, confusion=parts["test"]["confusion"])
    check_against_record(same, parts["test"], 100)
    assert "net 0 images apart; confusion matrix identical: True" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="disagrees"):
        check_against_record(types.SimpleNamespace(metrics={"accuracy": 0.6}, confusion=np.eye(2)), parts["test"], 100)
    with pytest.raises(AssertionError, match="Fix: use notebook 04's SEED and PROTOCOL"):
        check_against_record(same, parts["test"], 99)


def test_transfer_verdicts_use_the_seeds_spread_and_the_measured_threshold_for_one_seed():
    from charclf.eval.seeds import mean_std
    from charclf.study.findings import transfer_found

    def summary(rows):
        table = pd.DataFrame(rows, columns=["run", "seed", "test_acc", "emnist_mnist_test_acc"])
        return mean_std(table, "run", ["test_acc", "emnist_mnist_test_acc"])

    three = summary([(run, s, acc + 0.001 * s, acc) for s in range(3)
                     for run, acc in (("transfer", 0.99), ("scratch", 0.985), ("minivision_v2", 0.9895))])
    lines = transfer_found(three, seeds=3, epochs=5)
    assert lines[0] == ("MNIST test: transfer 99.10% vs scratch 98.60% (+0.50 points, larger than the seeds' "
                        "spread; 3 seed(s), 5 epochs each)")
    assert "within the seeds' spread" in lines[1]  # 0.05 points, spread 0.1
    one = summary([("transfer", 0, 0.99, 0.99), ("scratch", 0, 0.987, 0.99), ("minivision_v2", 0, 0.98, 0.99)])
    full, quick = transfer_found(one, seeds=1, epochs=5), transfer_found(one, seeds=1, epochs=5, profile="quick")
    assert "+0.30 points, within the seeds' spread" in full[0] and "larger" in full[1]  # SEED_NOISE_PTS = 0.5
    assert all("one seed: its spread is unknown" in line for line in quick)


def test_notebook_11_sentences_read_the_goal_tables():
    from charclf.study.beyond_found import goal_lines, race_goal_lines, teacher_lines

    goals = pd.DataFrame([{"goal": "<= 30k parameters", "target": 0.865, "verdict": "met",
                           "candidate (chosen on val)": "charnet_xs", "seeds": 3, "test mean": 0.8661},
                          {"goal": "<= 10k parameters", "target": 0.845, "verdict": "not met: no candidate yet"}
                          ]).set_index("goal")
    assert goal_lines(goals) == ["<= 30k parameters (target 86.5%): met (charnet_xs: test mean 86.61%, 3 seeds)",
                                 "<= 10k parameters (target 84.5%): not met: no candidate yet (no candidate yet)"]
    named = pd.DataFrame([{"goal": "MNIST: >= 99.6%", "target": 0.996, "verdict": "met",
                           "candidate (chosen on val)": "transfer", "seeds": 3, "test mean": 0.9964}]).set_index("goal")
    assert goal_lines(named) == ["MNIST: >= 99.6%: met (transfer: test mean 99.64%, 3 seeds)"]  # no target twice
    race = pd.DataFrame([{"goal": "time", "target": 25.0, "candidate": "charclf_fast", "value": 20.04, "std": 1.0,
                          "verdict": "met"},
                         {"goal": "ratio", "target": 10.0, "candidate": None, "value": None, "verdict": "not met"}
                         ]).set_index("goal")
    assert race_goal_lines(race) == ["race, time: met (charclf_fast: 20.0 ± 1.0 s)",
                                     "race, ratio: not met (no entrant reached the target on every seed)"]
    assert race_goal_lines(None) == []
    from charclf.study.plan import DISTILL_TEACHER_RUN, TEACHER_RUN

    teacher = {"members": ["a", "b"], "train_acc": 0.9}
    assert teacher_lines({TEACHER_RUN: teacher}, {"greedy": {"distinct_members": ["b", "a"]}},
                         train_missing=False)[-1] == "  its members are the greedy ensemble's above"
    second = {"members": ["a", "b"], "train_acc": 0.9012, "precision": "float64"}
    assert teacher_lines({TEACHER_RUN: teacher, DISTILL_TEACHER_RUN: second}, None, train_missing=False)[-1] == (
        "teacher of the runs trained since (the alpha/temperature settings, their base, the other students): the "
        "same members, scored in float64 (the "
        "first in float32), so that any kind of CPU rebuilds it bit for bit; its accuracy on the training part: "
        "90.12%")
    assert teacher_lines({}, None, train_missing=False)[0].startswith("No teacher written yet: no distilled")


def test_describe_model_reads_the_folders_files(tmp_path):
    from charclf.apps.predict import describe_model

    assert describe_model(tmp_path, "model_hub/default") == "this checkout has no model_hub/default"
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "lenet", "num_classes": 62, "split": "byclass",
                                                      "protocol": "holdout"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"params": 35_814, "evaluation": {
        "test": {"accuracy": 0.8512, "merged47_accuracy": 0.9}}}))
    assert describe_model(tmp_path, "model_hub/default") == (
        "model_hub/default: lenet, 35,814 parameters, 62 classes (byclass), trained under the holdout protocol; "
        "test accuracy 85.12%, merged-47 90.00%")


def test_every_models_precision_counts_the_seeds_and_a_notebook_table_shows_it_whole():
    from charclf.study.evaluation import every_model
    from charclf.study.notebook import table_display_options

    runs = [_run(f"04_training/vgg-seed{s}", "vgg", s, 0.86, 0.85) for s in range(3)]
    runs[2].record = runs[2].record.replace(precision="bf16", selection_precision="fp32")  # bf16 steps, fp32 val
    _, _, table = every_model(runs)
    label = "bf16 ×1, fp32 ×2 / val fp32"
    assert table.loc["vgg", "precision (train / val)"] == label
    wide = table.assign(**{"precision (train / val)": label + ", epoch chosen on bf16 ×1, fp32 ×2 val"})
    with pd.option_context(*table_display_options()):
        assert label + ", epoch chosen on bf16 ×1, fp32 ×2 val" in wide._repr_html_()  # pandas cuts at 50 by default
