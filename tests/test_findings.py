"""Notebooks 02's, 05's, 06's and 09's conclusions are read off their trials, runs and results, never written by
hand."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from charclf.eval.seeds import SEED_NOISE_RULE
from charclf.study.findings import (ablation_findings, complete_trials, finetune_findings, search_findings,
                                   trials_to_match)
from records import fake_record


def _trials(losses, states=None, lr=0.1, diverged=None):
    n = len(losses)
    df = pd.DataFrame({"number": range(n), "state": states or ["COMPLETE"] * n, "val_loss": losses,
                       "lr": [lr] * n, "batch_size": [32] * n, "momentum": [0.9] * n, "weight_decay": [1e-4] * n,
                       "diverged": diverged or [False] * n})
    df.attrs["params"] = ["lr", "batch_size", "momentum", "weight_decay"]
    return df


def test_each_search_reports_its_best_complete_trial_and_tells_pruned_from_diverged():
    # The pruned trial's lower loss (its last mid-training one) is not a result: the best is a complete trial.
    random = _trials([0.60, 0.40, 0.55, 9.0], ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"],
                     diverged=[False, False, False, True])
    assert search_findings({"random": random}) == [
        "random: 4 trials finished (1 pruned by the median rule, 1 stopped as diverged); the lowest val loss of a "
        "complete trial, 0.5500, is trial #2 (lr 0.1, batch_size 32, momentum 0.9, weight_decay 0.0001)."]
    assert list(complete_trials(random)["number"]) == [0, 2]


def test_a_repeated_point_is_counted_apart_and_not_listed_twice():
    trials = _trials([0.60, 0.55, 0.55, 0.9, 0.9], ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "PRUNED"])
    trials["repeat_of"] = [None, None, 1, None, 3]  # trial 2 took trial 1's result, trial 4 trial 3's pruning
    assert list(complete_trials(trials)["number"]) == [0, 1]
    assert search_findings({"random": trials})[0].startswith(
        "random: 5 trials finished (1 pruned by the median rule, 2 drew an earlier trial's point again and took its "
        "result untrained); the lowest val loss of a complete trial, 0.5500, is trial #1 ")


def test_a_study_saved_before_repeats_and_divergence_were_recorded_still_reads():
    trials = _trials([0.60, 0.40, 0.55], ["COMPLETE", "PRUNED", "COMPLETE"]).drop(columns="diverged")
    assert search_findings({"random": trials})[0].startswith(
        "random: 3 trials finished (1 pruned by the median rule); the lowest val loss of a complete trial, 0.5500, "
        "is trial #2 ")


def test_the_two_samplers_are_compared_beyond_the_trials_they_share():
    random, tpe = _trials([0.60, 0.50, 0.58]), _trials([0.70, 0.52, 0.49])
    lines = search_findings({"random": random, "TPE": tpe}, shared_first=1)
    assert lines[2] == ("Over 3 trials each, TPE's best val loss is lower by 0.0100. TPE first matched random's best "
                        "at its trial 3, after the 1 it shares.")
    lines = search_findings({"random": tpe, "TPE": random}, shared_first=1)
    assert lines[2] == "Over 3 trials each, random's best val loss is lower by 0.0100. TPE never matched random's best."
    # A match inside the shared seeded start is not the smarter sampler's doing; a tie is a tie, not a win.
    lines = search_findings({"random": random, "TPE": _trials([0.70, 0.50, 0.9])}, shared_first=2)
    assert lines[2] == ("Over 3 trials each, both reach the same best val loss. TPE matched random's best within the 2 "
                        "seeded random trials the two share, so not by its own proposals.")
    # Different budgets are named as such.
    assert search_findings({"random": random, "TPE": _trials([0.4, 0.45])})[2].startswith("Over 3 and 2 trials, TPE's")


def test_searches_still_within_their_shared_start_are_not_compared():
    random, tpe = _trials([0.60, 0.50]), _trials([0.60, 0.50])
    lines = search_findings({"random search": random, "TPE": tpe}, shared_first=10)
    assert lines[2] == ("Both searches (2 trials each) are still within the 10 seeded random trials they share, so they "
                        "are the same draws so far: TPE has not proposed a trial of its own.")


def test_trials_to_match_counts_pruned_trials_as_spent_budget():
    trials = _trials([0.9, 0.3, 0.5, 0.45], ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"])
    assert trials_to_match(trials, 0.5) == 3
    assert trials_to_match(trials, 0.1) is None


def test_a_search_with_no_complete_trial_says_so():
    lines = search_findings({"random": _trials([0.5], ["PRUNED"]), "TPE": _trials([0.4])})
    assert lines[0] == "random: no trial has completed yet (1 finished, 1 pruned by the median rule)."
    assert len(lines) == 2  # no comparison without both bests


def test_tuned_vs_default_states_the_gaps_and_whether_seeds_can_explain_them():
    default = fake_record(best_val_acc=0.8534, test_acc=0.8534, train_samples=93_055, epochs_run=20)
    small_gain = fake_record(best_val_acc=0.8574, test_acc=0.8520, train_samples=93_055, epochs_run=20)
    lines = search_findings({"random": _trials([0.5])}, default=default, tuned=small_gain)
    assert "val 85.74% and test 85.20% (93,055 images, 20 epochs)" in lines[1]
    assert "+0.40 points on val, -0.14 on test. The setting was chosen on val" in lines[1]
    assert lines[2].startswith("The val gap is under 0.5 points (a fixed threshold, set by hand")

    big_gain = fake_record(best_val_acc=0.8600, test_acc=0.8590, train_samples=93_055, epochs_run=20)
    assert search_findings({}, default=default, tuned=big_gain)[-1] == (
        "The searched setting is better than the default recipe on val, and the test part agrees (over the "
        "0.5-point one-seed threshold, but one seed each: indicative, not conclusive).")
    test_disagrees = fake_record(best_val_acc=0.8600, test_acc=0.8500, train_samples=93_055, epochs_run=20)
    assert search_findings({}, default=default, tuned=test_disagrees)[-1].endswith(
        "the test part does not agree, so read it as noise rather than a difference.")


def test_a_tuned_run_on_other_data_is_flagged():
    default = fake_record(best_val_acc=0.85, train_samples=93_055)
    tuned = fake_record(best_val_acc=0.86, train_samples=20_000)
    assert search_findings({}, default=default, tuned=tuned)[-1].startswith("The two runs trained on different")


def _stage(val, test, optimizer="adam", samples=93_055, epochs=10):
    return {"val_acc": val, "test_acc": test, "optimizer": optimizer, "train_samples": samples, "epochs_run": epochs}


def test_finetune_findings_attribute_the_change_with_the_controls():
    results = {"pretrain": _stage(0.850, 0.848, "sgd", 83_749, 20), "finetune": _stage(0.866, 0.864),
               "controls": {"sgd_continued": _stage(0.865, 0.861, "sgd"),
                            "adam_scratch": _stage(0.858, 0.857, epochs=30)}}
    lines = finetune_findings(results)
    assert lines[0] == ("Pre-training (sgd) reaches val 85.00%, test 84.80% (83,749 images, 20 epochs); fine-tuning "
                        "from it (adam) reaches val 86.60%, test 86.40% (93,055 images, 10 epochs): +1.60 points on "
                        "val. That change mixes 3 things (more data, more epochs, another optimizer); the controls "
                        "separate them.")
    assert lines[1] == ("Against sgd continued from the same weights for the same epochs (val 86.50%, test 86.10% "
                        "(93,055 images, 10 epochs)): +0.10 points on val, +0.30 on test — the val gap is under 0.5 "
                        f"points ({SEED_NOISE_RULE}): not told apart from seed noise at one seed each.")
    assert lines[2].startswith("Against adam from scratch for both stages' epochs (")
    assert lines[2].endswith("+0.80 points on val, +0.70 on test — the two stages beat one adam run of that budget, "
                             "and the test part agrees (over the 0.5-point one-seed threshold, but one seed each: "
                             "indicative, not conclusive).")
    # A control that ran fewer epochs than both stages is not called a run of "both stages' epochs".
    results["controls"]["adam_scratch"]["epochs_run"] = 24
    assert "adam from scratch for both stages' 30 epochs as its budget (" in finetune_findings(results)[2]


def test_finetune_findings_name_only_the_changes_that_happened():
    lines = finetune_findings({"pretrain": _stage(0.80, 0.80, "adam"), "finetune": _stage(0.70, 0.71)})
    assert lines == ["Pre-training (adam) reaches val 80.00%, test 80.00% (93,055 images, 10 epochs); fine-tuning from "
                     "it (adam) reaches val 70.00%, test 71.00% (93,055 images, 10 epochs): -10.00 points on val. The "
                     "stages differ only in more epochs."]
    lines = finetune_findings({"pretrain": _stage(0.80, 0.80, "sgd"), "finetune": _stage(0.81, 0.81)})
    assert "That change mixes 2 things (more epochs, another optimizer)." in lines[0]
    assert lines[1] == "No controls were run, so the change cannot be attributed to any one of these."


def test_verdicts_outside_the_full_profile_say_they_are_no_result():
    default, tuned = fake_record(best_val_acc=0.30, test_acc=0.31), fake_record(best_val_acc=0.61, test_acc=0.60)
    assert search_findings({}, default=default, tuned=tuned, profile="quick")[-1] == (
        "The searched setting is better than the default recipe on val here (the quick profile is a smoke test with no "
        "measured seed spread, not a result).")
    results = {"pretrain": _stage(0.5, 0.5, "sgd", 2_700, 2), "finetune": _stage(0.72, 0.72, samples=3_000, epochs=2),
               "controls": {"sgd_continued": _stage(0.66, 0.64, "sgd", 3_000, 2)}}
    assert finetune_findings(results, profile="quick")[1].endswith(
        "the switch to adam helps here (the quick profile is a smoke test with no measured seed spread, not a result).")


def _ablation(rows):
    return pd.DataFrame([{"run": run, "label": label, "best val acc": val, "test acc": test}
                         for run, label, val, test in rows]).set_index("run")


def test_ablation_findings_read_each_arm_against_the_first_and_pick_on_val():
    table = _ablation([("base", "base recipe", 0.8640, 0.8640), ("none", "no augmentation", 0.8620, 0.8660),
                       ("lion", "Lion", 0.8720, 0.8700), ("kl", "KLDiv", 0.8700, 0.8600)])
    lines = ablation_findings(table)
    assert lines[0] == "Reference, base recipe: val 86.40%, test 86.40%."
    assert lines[1] == ("no augmentation: val 86.20%, test 86.60% — -0.20 points on val, +0.20 on test: the val gap "
                        f"is under 0.5 points ({SEED_NOISE_RULE}): not told apart from seed noise at one seed each.")
    assert lines[2].endswith("+0.80 points on val, +0.60 on test: the change helps, and the test part agrees (over "
                             "the 0.5-point one-seed threshold, but one seed each: indicative, not conclusive).")
    assert lines[3].endswith("the change helps; the test part does not agree, so read it as noise rather than a "
                             "difference.")
    assert lines[4] == ("Highest val accuracy: Lion (87.20%); its test accuracy, 87.00%, is read once, after the "
                        "choice.")
    assert ablation_findings(table, profile="quick")[2].endswith("the change helps here (the quick profile is a smoke "
                                                                 "test with no measured seed spread, not a result).")


def test_ablation_findings_say_the_macro_recall_change_beside_the_accuracy_verdict():
    table = _ablation([("base", "base recipe", 0.8640, 0.8640), ("kl", "class-weighted", 0.8150, 0.8180)])
    table["test macro recall"] = [0.7275, 0.7566]
    line = ablation_findings(table)[1]
    assert "the change hurts, and the test part agrees" in line
    assert line.endswith("Macro recall on test (the mean of the per-class recalls): 75.66%, +2.91 points.")


def test_goal_verdict_needs_the_mean_to_clear_the_goal_by_one_std():
    from charclf.study.headline import goal_verdict

    assert goal_verdict(0.8706, 0.870, 0.00065).startswith("met, within noise (+0.06 points")
    assert goal_verdict(0.8598, 0.852, 0.0014) == "met (+0.78 points, 1 std 0.14)"
    assert goal_verdict(0.8727, 0.875) == "not met (-0.23 points)"
    assert goal_verdict(0.8727, 0.870) == "met (+0.27 points)"  # one number (an ensemble): no spread to compare
    assert goal_verdict(0.8727, 0.870, 0.001, seeds=1).startswith("not met: 1 seed(s), the goal needs 3")
    assert goal_verdict(35.1, 60.0, 7.7, lower_is_better=True, unit="s", scale=1.0) == "met (+24.90 s, 1 std 7.70)"


def test_findings_table_reads_every_row_from_an_artifact():
    from charclf.study.headline import findings_rows

    rows = findings_rows()
    findings = " ".join(r["finding"] for r in rows)
    for what in ("single model", "100k", "30k", "ensemble", "race", "MNIST", "label audit", "real handwriting"):
        assert what in findings
    for r in rows:  # every row links a notebook and an artifact that exists in the repository
        assert "notebooks/" in r["notebook"]
        from charclf.provenance import REPO_ROOT
        for path in re.findall(r"\]\(([^)]+)\)", r["artifact"]):
            assert (REPO_ROOT / path).is_file(), path


def test_label_audit_share_counts_each_kind_of_flag():
    from charclf.study.headline import audit_shares

    audit = {"test": {"model_errors": 100, "errors_on_likely_label_errors": 30, "likely_label_errors": 30,
                      "ceiling_accuracy": 0.9, "model_accuracy": 0.8},
             "by_part": {"test": {"by_kind": {"wrong_label": 8, "orientation": 2, "digit_letter": 20, "case": 5}}}}
    shares = audit_shares(audit)
    assert shares["exact"] and shares["shares"]["wrong_label"] == (8, 0.08)
    audit["test"]["errors_on_likely_label_errors"] = 25  # not every flag an error: the counts are bounds
    assert not audit_shares(audit)["exact"]


def test_ablation_summary_names_the_best_arm_or_says_none_beat_the_reference():
    from charclf.study.findings import ablation_summary

    table = pd.DataFrame({"label": ["base", "lion", "mixup"], "best val acc": [0.864, 0.866, 0.857],
                          "test acc": [0.863, 0.862, 0.856]}, index=["base", "lion", "mixup"])
    lines = ablation_summary(table)
    assert lines[0].startswith("Best on val: lion at 86.60%") and "mixup (-0.70)" in lines[1]
    table.loc["lion", "best val acc"] = 0.860
    assert ablation_summary(table)[0].startswith("No arm beat the reference, base")
    assert "smoke test" in ablation_summary(table, profile="quick")[1]
    table["test macro recall"] = [0.7275, 0.7270, 0.7566]  # what a class-weighted loss is for, beside accuracy
    assert ablation_summary(table)[-1] == ("Highest test macro recall (the mean of the per-class recalls): mixup at "
                                           "75.66%, against the reference's 72.75% (+2.91 points; read once on test, "
                                           "one seed).")


def test_every_notebook_opens_with_its_question_and_ends_with_what_it_found():
    from pathlib import Path

    jupytext = pytest.importorskip("jupytext")
    sources = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))
    assert sources
    for path in sources:
        cells = jupytext.read(path).cells
        first = next(c for c in cells if c.cell_type == "markdown")
        assert "**Question:**" in first.source, f"{path.name}: its first markdown cell states no question"
        tail = [c.source for c in cells[-4:] if c.cell_type == "markdown"]
        assert any("## What we found" in s for s in tail), f"{path.name}: no 'What we found' at its end"


def test_mnist_goal_reads_every_recipe_of_notebook_08_and_chooses_on_val(tmp_path):
    import json

    from charclf.study.goals import mnist_goal
    from charclf.study.headline import mnist_table

    def write(folder, runs):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "results.json").write_text(json.dumps({"runs": [
            {"run": name, "best_val_acc": val, "test_acc": test} for name, val, test in runs]}))

    for seed in (0, 1, 2):
        write(f"seed{seed}", [("transfer", 0.992, 0.994), ("scratch", 0.991, 0.993)])
        write(f"charclf-seed{seed}", [("transfer", 0.995, 0.9962 + seed / 10_000), ("scratch", 0.994, 0.995)])
    (tmp_path / "notes").mkdir()  # not a seed folder: ignored
    table = mnist_table(None, tmp_path)
    assert list(table.loc[0].index) == ["transfer", "scratch", "transfer (charclf)", "scratch (charclf)"]
    goal = mnist_goal(table).iloc[0]
    assert goal["candidate (chosen on val)"] == "transfer (charclf)" and goal["seeds"] == 3
    assert goal["test mean"] == pytest.approx(0.9963) and goal["met"]


def test_the_mnist_finding_shows_the_chosen_recipes_pair_first_and_every_other_pair(tmp_path):
    import json

    from charclf.study.headline import MNIST_DIR, mnist_rows

    def write(folder, runs):
        (tmp_path / MNIST_DIR / folder).mkdir(parents=True)
        (tmp_path / MNIST_DIR / folder / "results.json").write_text(json.dumps({"runs": [
            {"run": name, "best_val_acc": val, "test_acc": test, "run_dir": f"nowhere/{folder}/{name}"}
            for name, val, test in runs]}))

    for seed in (0, 1, 2):
        write(f"seed{seed}", [("transfer", 0.992, 0.994), ("scratch", 0.991, 0.993)])
        write(f"charclf-seed{seed}", [("transfer", 0.995, 0.9962 + seed / 10_000), ("scratch", 0.994, 0.995)])
    row = mnist_rows(tmp_path)[0]
    chosen, earlier = row["result"].split("; ")
    assert chosen.startswith("transfer (charclf) **99.63% ± 0.01%**, scratch (charclf) 99.50%")
    assert earlier.startswith("transfer 99.40% ± 0.00%, scratch 99.30%") and "**" not in earlier
    assert "transfer (charclf), chosen on val): met" in row["goal"]


def test_an_experiment_gets_a_verdict_only_at_three_seeds_and_from_its_paired_val_std():
    import pandas as pd

    from charclf.study.beyond_found import experiment_lines, experiment_verdict

    def row(seeds, val, test, std, val_std=None):
        return {"seeds": seeds, "Δ val (pts)": val, "Δ test (pts)": test, "Δ test paired std (pts)": std,
                "Δ val paired std (pts)": std if val_std is None else val_std}

    assert experiment_verdict(row(1, 0.5, 0.5, float("nan"))) == "no verdict yet (1 of 3 seeds)"
    assert experiment_verdict(row(3, 0.2, 0.3, 0.1)) == "helps"
    assert experiment_verdict(row(3, -0.1, 0.3, 0.1)) == "within noise"  # val did not rise beyond its std
    assert experiment_verdict(row(3, 0.0, -0.3, 0.1)) == "within noise"  # test falls: reported, not deciding
    assert experiment_verdict(row(3, -0.3, 0.0, 0.1)) == "hurts"
    table = pd.DataFrame([{"run": "11_beyond/minivision_s-swa", "change": "+ SWA", **row(3, 0.2, 0.3, 0.1, 0.05)},
                          {"run": "02_augmentation/none", "change": "x", **row(1, 0, 0, float("nan"))}]
                         ).set_index("run")
    assert experiment_lines(table) == ["minivision_s-swa (+ SWA): Δ val +0.20 points, paired std 0.05 (decides); "
                                       "Δ test +0.30, paired std 0.10 (reported, not deciding); 3 seed(s): helps"]
    swap = pd.DataFrame([{"run": "11_beyond/minivision_xs-charclf", "change": "recipe", **row(3, 0.2, 0.3, 0.1),
                          "config differs in": "augment, tta", "also differs": "best epoch chosen on val in: fp32 vs bf16"}
                         ]).set_index("run")
    ensemble = pd.DataFrame([{"run": "11_beyond/ensemble", "change": "ensemble", "Δ val (pts)": 0.5,
                              "Δ test (pts)": 0.4}]).set_index("run")  # no seeds: not a pair, no line
    assert experiment_lines(pd.concat([swap, ensemble])) == experiment_lines(swap)
    waiting = pd.DataFrame([{"run": "11_beyond/minivision_s-ema", "change": "+ EMA", "seeds": 0,
                             "baseline": "base (not trained yet)"}]).set_index("run")
    assert experiment_lines(waiting) == ["minivision_s-ema (+ EMA): waiting for its base, base (not trained yet)"]
    assert experiment_lines(swap)[0].endswith("helps (config differs in augment, tta; also differs: best epoch "
                                              "chosen on val in: fp32 vs bf16)")


def test_the_efficientnet_row_reads_the_largest_finished_cpu_size_beside_the_works_number(tmp_path):
    from charclf.study.earlier import EARLIER_EFFICIENTNET_B2
    from charclf.study.headline import efficientnet_cpu_row
    from charclf.study.plan import efficientnet_cpu_runs

    from records import write_fake_run

    runs = tmp_path / "outputs" / "runs" / "full"
    assert efficientnet_cpu_row(tmp_path) is None  # nothing finished: no row, no placeholder number
    small, large = efficientnet_cpu_runs()[0].name, efficientnet_cpu_runs()[-1].name
    for name, acc, size in ((small, 0.80, 28), (large, 0.83, 56)):
        write_fake_run(runs / name, run=name, profile="full", model="efficientnet_b2", test_acc=acc,
                       config={"model": "efficientnet_b2", "model_kwargs": {"input_size": size}})
    write_fake_run(tmp_path / "outputs" / "runs" / "full" / "stray", run=large, profile="quick", test_acc=0.99)
    row = efficientnet_cpu_row(tmp_path)
    assert "56 px" in row["finding"] and "**83.00%**" in row["result"] and "1 seed" in row["result"]
    assert f"{EARLIER_EFFICIENTNET_B2:.2%}" in row["goal"] and "ImageNet" in row["goal"]
    assert row["artifact"].endswith("metrics.json)") and "09_efficientnet_recipe" in row["notebook"]


def _realworld_repo(tmp_path, weights: bytes = b"weights"):
    """A repository holding model_hub/default (``weights``) and the two real-world artifacts of README's row,
    both scored on the weights b"weights"."""
    import hashlib
    import json

    from charclf.study.headline import REALWORLD_JSON, REALWORLD_RAW_JSON

    model = tmp_path / "model_hub" / "default"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(weights)
    scored = hashlib.sha256(b"weights").hexdigest()
    for rel, prior, top1 in ((REALWORLD_JSON, "uniform", 0.709), (REALWORLD_RAW_JSON, "train", 0.655)):
        metrics = {"prior": prior, "overall": {"n": 500, "top1": top1, "merged_top1": top1 + 0.1},
                   "kind": {"lower": {"merged_top1": 0.7}}}
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(json.dumps({"metrics": metrics, "sources": {"a": {}, "b": {}},
                                                "provenance": {"model": "model_hub/default",
                                                               "model_weights_sha256": scored, "prior": prior}}))
    return tmp_path


def test_the_real_world_row_credits_a_score_only_to_the_weights_it_scored(tmp_path):
    """The artifacts are found by path: once another model is published into model_hub/default, their numbers
    are the old model's. The row then shows no number, says the artifact is stale and which command rescores."""
    from charclf.study.headline import findings_markdown, realworld_rows

    current = _realworld_repo(tmp_path / "current")
    row = realworld_rows(current)[0]
    assert "top-1 **70.9%**" in row["result"] and "65.5%" in row["result"]  # both artifacts, both read
    assert "stale" not in row["result"]

    stale = _realworld_repo(tmp_path / "stale", weights=b"another model")
    row = realworld_rows(stale)[0]
    assert "stale" in row["result"] and "charclf evaluate-images --model model_hub/default" in row["result"]
    assert not re.search(r"\d%", " ".join(row.values()))  # no number of the old model in any column
    # README.md's block is this table, so `charclf readme --check` fails on a README built from the stale artifact
    assert findings_markdown(current) != findings_markdown(stale)


def test_a_stale_raw_answers_artifact_is_dropped_from_the_row(tmp_path):
    import json

    from charclf.study.headline import REALWORLD_RAW_JSON, realworld_rows

    repo = _realworld_repo(tmp_path)
    raw = json.loads((repo / REALWORLD_RAW_JSON).read_text())
    raw["provenance"]["model_weights_sha256"] = "0" * 64  # an earlier model's raw answers
    (repo / REALWORLD_RAW_JSON).write_text(json.dumps(raw))
    row = realworld_rows(repo)[0]
    assert "top-1 **70.9%**" in row["result"]  # the current artifact still counts
    assert "65.5%" not in row["result"] and "model_hub-default-prior-train.json` is stale" in row["result"]
    assert "--prior train" in row["result"] and "prior-train" not in row["artifact"]


def test_the_faithful_run_follows_its_same_precision_baseline_with_the_paired_change():
    from charclf.study.headline import earlier_rows

    rows = [r for r in earlier_rows() if r["finding"].startswith("Mini-Vision V3")]
    entries = [re.search(r"`([^`]+)`", r["result"]).group(1) for r in rows]
    assert entries == ["minivision_v3", "minivision_v3-recipe", "minivision_v3-nearest"]
    assert "one change against `minivision_v3-recipe`" in rows[2]["result"] and "paired std" in rows[2]["result"]
    assert rows[1]["precision"].startswith("bf16") and rows[2]["precision"].startswith("bf16")  # same precision
