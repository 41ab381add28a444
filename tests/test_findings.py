"""Notebook 05's conclusions are read off the trials and the two runs, never written by hand."""
from __future__ import annotations

import pandas as pd

from charclf.study.findings import finetune_findings, search_findings, trials_to_match
from records import fake_record


def _trials(losses, states=None, lr=0.1):
    n = len(losses)
    df = pd.DataFrame({"number": range(n), "state": states or ["COMPLETE"] * n, "val_loss": losses,
                       "lr": [lr] * n, "batch_size": [32] * n, "momentum": [0.9] * n, "weight_decay": [1e-4] * n})
    df.attrs["params"] = ["lr", "batch_size", "momentum", "weight_decay"]
    return df


def test_each_search_reports_its_best_complete_trial_and_counts_pruned_ones():
    # The pruned trial's lower loss (reported mid-training) is not a result: the best is a complete trial.
    random = _trials([0.60, 0.40, 0.55], ["COMPLETE", "PRUNED", "COMPLETE"])
    lines = search_findings({"random": random})
    assert lines == ["random: 3 trials finished (1 pruned by the median rule); the lowest val loss, 0.5500, is "
                     "trial #2 (lr 0.1, batch_size 32, momentum 0.9, weight_decay 0.0001)."]


def test_the_two_samplers_are_compared_at_the_same_budget():
    random, tpe = _trials([0.60, 0.50, 0.58]), _trials([0.70, 0.52, 0.49])
    lines = search_findings({"random": random, "TPE": tpe})
    assert lines[2] == ("At the same budget, TPE's best val loss is lower by 0.0100. TPE first matched random's "
                        "best after 3 of its 3 trials.")
    lines = search_findings({"random": tpe, "TPE": random})
    assert lines[2] == "At the same budget, random's best val loss is lower by 0.0100. TPE never matched random's best."
    # Both samplers seeded alike draw the same first trial: a tie is a tie, not a win.
    lines = search_findings({"random": random, "TPE": _trials([0.50, 0.7])})
    assert lines[2] == "At the same budget, both reach the same best val loss. TPE first matched random's best after 1 " \
                       "of its 2 trials."


def test_trials_to_match_counts_pruned_trials_as_spent_budget():
    trials = _trials([0.9, 0.3, 0.5, 0.45], ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"])
    assert trials_to_match(trials, 0.5) == 3
    assert trials_to_match(trials, 0.1) is None


def test_a_search_with_no_complete_trial_says_so():
    lines = search_findings({"random": _trials([0.5], ["PRUNED"]), "TPE": _trials([0.4])})
    assert lines[0] == "random: no trial has completed yet (1 finished, 1 pruned)."
    assert len(lines) == 2  # no comparison without both bests


def test_tuned_vs_default_states_the_gaps_and_whether_seeds_can_explain_them():
    default = fake_record(best_val_acc=0.8534, test_acc=0.8534, train_samples=93_055, epochs_run=20)
    small_gain = fake_record(best_val_acc=0.8550, test_acc=0.8520, train_samples=93_055, epochs_run=20)
    lines = search_findings({"random": _trials([0.5])}, default=default, tuned=small_gain)
    assert "val 85.50% and test 85.20% (93,055 images, 20 epochs)" in lines[1]
    assert lines[1].endswith("+0.16 points on val, -0.14 on test.")
    assert lines[2].startswith("The val gap is under 0.3 points, within what seeds alone move a run")

    big_gain = fake_record(best_val_acc=0.8600, test_acc=0.8590, train_samples=93_055, epochs_run=20)
    assert search_findings({}, default=default, tuned=big_gain)[-1] == (
        "The searched setting is better than the default recipe on val, and the test part agrees.")
    test_disagrees = fake_record(best_val_acc=0.8600, test_acc=0.8500, train_samples=93_055, epochs_run=20)
    assert search_findings({}, default=default, tuned=test_disagrees)[-1].endswith(
        "the test part does not agree, so read it as noise rather than a difference.")


def test_a_tuned_run_on_other_data_is_flagged():
    default = fake_record(best_val_acc=0.85, train_samples=93_055)
    tuned = fake_record(best_val_acc=0.86, train_samples=20_000)
    assert search_findings({}, default=default, tuned=tuned)[-1].startswith("The two runs trained on different")


def _stage(val, test, optimizer="adam", samples=93_055, epochs=10):
    return {"val_acc": val, "test_acc": test, "optimizer": optimizer, "train_samples": samples, "epochs_run": epochs}


def test_finetune_findings_attribute_the_gain_with_the_controls():
    results = {"pretrain": _stage(0.850, 0.848, "sgd", 83_749, 20), "finetune": _stage(0.866, 0.864),
               "controls": {"sgd_continued": _stage(0.865, 0.861, "sgd"), "adam_scratch": _stage(0.858, 0.857, epochs=30)}}
    lines = finetune_findings(results)
    assert lines[0].startswith("Pre-training (sgd) reaches val 85.00%, test 84.80% (83,749 images, 20 epochs); "
                               "fine-tuning from it (adam) reaches val 86.60%")
    assert "+1.60 points on val" in lines[0]
    assert lines[1] == ("Against SGD continued from the same weights for the same epochs (val 86.50%, test 86.10% "
                        "(93,055 images, 10 epochs)): +0.10 points on val, +0.30 on test — the val gap is under 0.3 "
                        "points, within what seeds alone move a run (one seed each): no measurable difference.")
    assert lines[2].endswith("+0.80 points on val, +0.70 on test — the two stages beat one Adam run of the same "
                             "length, and the test part agrees.")


def test_finetune_findings_without_controls_say_the_gain_is_not_attributed():
    lines = finetune_findings({"pretrain": _stage(0.80, 0.80, "sgd"), "finetune": _stage(0.70, 0.71)})
    assert "-10.00 points on val" in lines[0]
    assert lines[1].startswith("No controls were run")
