"""What the README's findings table says about how its numbers were read (review s4): how many times the
ensemble's test accuracy was read, and that its selection method came after a test drop (finding 2); which results
were scored with test-time augmentation (finding 9). Computed from the artifacts, never typed."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from charclf.study import goals


def build(folder, name, created, greedy, cv=None):
    body = {"created_utc": created, "members": [], "all": {"val_acc": 0.86, "test_acc": 0.865},
            "greedy": {"val_acc": greedy[0], "test_acc": greedy[1]}}
    if cv is not None:
        body["cv"] = {"val_acc": cv[0], "test_acc": cv[1], "method": "greedy"}
    (folder / name).write_text(json.dumps(body))


def test_each_kept_build_with_a_test_score_is_one_read_of_test(tmp_path):
    build(tmp_path, "results-2026-12-01T164417+0000.json", "2026-12-01T16:44:17+00:00", (0.8705, 0.8687))
    build(tmp_path, "results-2026-12-02T154903+0000.json", "2026-12-02T15:49:03+00:00", (0.87373, 0.8738))
    build(tmp_path, "results-2026-12-02T191356+0000.json", "2026-12-02T19:13:56+00:00", (0.87502, 0.8727))
    build(tmp_path, "results-2026-12-07T013148+0000.json", "2026-12-07T01:31:48+00:00", (0.87502, 0.8727),
          cv=(0.8743, 0.8730))
    build(tmp_path, "results.json", "2026-12-07T13:55:44+00:00", (0.877, 0.8739), cv=(0.877, 0.8739))
    (tmp_path / "results-notes.json").write_text("[1, 2]")  # no test score: no read
    (tmp_path / "members.csv").write_text("x")
    reads = goals.ensemble_test_reads(tmp_path)
    assert reads["reads"] == 5 and reads["cv_first"] == "results-2026-12-07T013148+0000.json"
    before = reads["before_cv"]  # the last greedy change before cv appeared
    assert (before["from"], before["to"]) == ("results-2026-12-02T154903+0000.json",
                                             "results-2026-12-02T191356+0000.json")
    assert before["d_val"] == pytest.approx(0.00129) and before["d_test"] == pytest.approx(-0.0011)
    words = goals.ensemble_reads_words(reads)
    assert words.startswith("its test accuracy was read at 5 builds (each kept as a results file")
    assert ("`cv` was added after test was read and had dropped: a greedy rebuild raised val by 0.13 points and "
            "lowered test by 0.11 points") in words
    # One build only: read once, and nothing to say about cv.
    lone = tmp_path / "lone"
    lone.mkdir()
    build(lone, "results.json", "2026-12-07T13:55:44+00:00", (0.877, 0.8739), cv=(0.877, 0.8739))
    assert goals.ensemble_reads_words(goals.ensemble_test_reads(lone)) == "its test accuracy was read once"
    # A damaged kept build still counts as a read of test (its numbers are lost, not the fact that test was read).
    (lone / "results-2026-12-05T101010+0000.json").write_text('{"greedy": {"test_acc": 0.87')
    damaged = goals.ensemble_test_reads(lone)
    assert damaged["reads"] == 2 and damaged["unreadable"] == 1
    build(lone, "results-2026-12-06T101010+0000.json", "2026-12-06T10:10:10+00:00", (0.87, 0.87))
    build(lone, "results-2026-12-04T101010+0000.json", "2026-12-04T10:10:10+00:00", (0.87, 0.87))
    order = [b["file"] for b in goals.ensemble_builds(lone)]  # the damaged one dated by its name: in its place
    assert order == ["results-2026-12-04T101010+0000.json", "results-2026-12-05T101010+0000.json",
                     "results-2026-12-06T101010+0000.json", "results.json"]
    assert "; 1 of them unreadable), not once" in goals.ensemble_reads_words(damaged)
    # A rebuild that carried its selections' test numbers from an earlier build read nothing: not counted.
    carried = tmp_path / "carried"
    carried.mkdir()
    build(carried, "results-2026-12-07T13:55:44+0000.json", "2026-12-07T13:55:44+00:00", (0.877, 0.8739),
          cv=(0.877, 0.8739))
    body = {"created_utc": "2026-12-08T01:00:00+00:00", "all": {"val_acc": 0.878, "test_acc": None},
            **{kind: {"val_acc": 0.877, "test_acc": 0.8739, "test_from": "results-2026-12-07T13:55:44+0000.json"}
               for kind in ("greedy", "cv")}}
    (carried / "results.json").write_text(json.dumps(body))
    assert goals.ensemble_test_reads(carried)["reads"] == 1


def test_the_ensemble_goal_row_says_how_often_test_was_read():
    ensemble = {"greedy": {"val_acc": 0.877, "test_acc": 0.8739, "distinct_members": ["a", "b"], "params": 10},
                "cv": {"val_acc": 0.877, "test_acc": 0.8739, "distinct_members": ["a", "b"], "params": 10,
                       "method": "greedy"}}
    reads = {"reads": 13, "cv_first": "x", "before_cv": None}
    row = {"params": 10, "n": 3, "val_mean": 0.87, "test_mean": 0.87, "test_std": 0.001, "distilled": False,
           "train s mean": 10.0}
    table = goals.goals_table(pd.DataFrame([row], index=["m"]), ensemble, ensemble_reads=reads)
    verdict = table.loc["ensemble", "verdict"]
    assert verdict.startswith("not met (one ensemble, no seeds; its test accuracy was read at 13 builds")
    assert table.loc["ensemble", "test reads"] == 13
    unknown = goals.goals_table(pd.DataFrame([row], index=["m"]), ensemble).loc["ensemble", "verdict"]
    assert unknown == "not met (one ensemble, no seeds)"  # without the folder's builds: nothing claimed


def test_the_readme_ensemble_row_counts_the_kept_builds():
    from charclf.provenance import REPO_ROOT
    from charclf.study.headline import ENSEMBLE_JSON, findings_rows

    folder = (REPO_ROOT / ENSEMBLE_JSON).parent
    if not (folder / "results.json").is_file():
        pytest.skip("an installed package without the repository's outputs/")
    # A build that read test: a selection holds a test accuracy it did not carry from an earlier build (test_from)
    count = sum(1 for p in [*folder.glob("results-*.json"), folder / "results.json"]
                if any(isinstance(v, dict) and v.get("test_acc") is not None and not v.get("test_from")
                       for v in json.loads(p.read_text()).values()))
    row = next(r for r in findings_rows() if r["finding"].startswith("ensemble"))
    assert f"test read at {count} builds" in row["goal"] and "one ensemble)" not in row["goal"]
    assert f"read at {count} builds" in row["result"] and "`cv` was added after test was read" in row["result"]


def test_the_tta_tag_says_which_scores_used_test_time_augmentation():
    from charclf.study.headline import tta_tag, tta_words

    assert tta_tag([True, True, True]) == " (TTA)" and tta_tag([False, False]) == "" and tta_tag([]) == ""
    assert tta_tag([True, False, None]) == " (TTA on 1 of 2 seeds)"
    words = tta_words()
    assert words.startswith("*(TTA)*: scored with test-time augmentation") and "4 shifts by 1 pixel" in words


def test_every_readme_result_scored_with_tta_is_tagged_and_only_those():
    from charclf.provenance import REPO_ROOT
    from charclf.study import beyond
    from charclf.study.headline import earlier_rows, findings_markdown, findings_rows

    runs = REPO_ROOT / "outputs" / "runs" / "full"
    if not runs.is_dir():
        pytest.skip("an installed package without the repository's outputs/")
    rows = beyond.model_rows(runs)
    text = findings_markdown()
    assert "*(TTA)*: scored with test-time augmentation" in text.split("\n")[0]  # the table's opening sentence
    checked = 0
    for r in findings_rows() + earlier_rows():
        match = re.match(r"`([^`]+)` \([\d,]+ params\): \*\*[^*]+\*\* test( \(TTA[^)]*\))?,", r["result"])
        if match is None or match.group(1) not in set(rows["entry"]):
            continue
        flags = rows[rows["entry"] == match.group(1)]["tta"].astype(bool)
        assert (match.group(2) is not None) == bool(flags.any()), r["result"]
        checked += 1
    assert checked >= 4


def test_the_goal_targets_table_is_read_from_the_goals_themselves():
    from charclf.study import goals

    table = goals.goal_targets()
    assert table.loc[goals.GOALS[0].name, "target"] == f"≥ {goals.GOALS[0].target:.1%}"
    assert len(table) == len(goals.GOALS) + 5 and table["target"].str.contains(f"{goals.RACE_GOAL_RATIO:g}×").any()


def test_the_ensemble_finding_counts_each_member_run_once_though_tta_rescorings_repeat_it(tmp_path):
    from records import write_fake_run

    from charclf.study import beyond
    from charclf.study.headline import findings_rows

    runs = tmp_path / "outputs" / "runs" / "full"
    names = []
    for seed, precision in enumerate(("bf16", "fp32")):
        name = f"11_beyond/minivision_s-onecycle-seed{seed}"
        record = write_fake_run(runs / name, run=name, profile="full", model="minivision_s", seed=seed,
                                precision=precision, config={"model": "minivision_s", "seed": seed, "tta": False})
        saved = json.loads((runs / name / "metrics.json").read_text())
        saved["evaluation"].update({"val_tta": {"accuracy": 0.6}, "test_tta": {"accuracy": 0.6}})  # a +TTA entry
        (runs / name / "metrics.json").write_text(json.dumps(saved))
        names.append(record.run)
    assert len(beyond.model_rows(runs)) == 4 and len(beyond.trained_runs(beyond.model_rows(runs))) == 2
    ensemble = {"members": [{"member": n, "tta": False} for n in names], "all": {},
                "greedy": {"members": names, "distinct_members": names, "params": 1, "val_acc": 0.6, "test_acc": 0.6}}
    (runs / "11_beyond" / "ensemble").mkdir()
    (runs / "11_beyond" / "ensemble" / "results.json").write_text(json.dumps(ensemble))
    row = next(r for r in findings_rows(tmp_path) if r["finding"].startswith("ensemble"))
    assert "bf16 ×1" in row["precision"] and "fp32 ×1" in row["precision"], row["precision"]
