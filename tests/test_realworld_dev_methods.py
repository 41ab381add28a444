"""Methods tried on the real-world dev part (tools/realworld_dev_methods.py) and how notebook 10 reports them."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import realworld_dev_methods as tool  # noqa: E402

from charclf.apps import realworld_report as rep  # noqa: E402
from charclf.apps.realworld import merged_char  # noqa: E402
from charclf.data.realworld import ManifestRow  # noqa: E402

LABELS = [str(i) for i in range(10)] + [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]


def _row(label):
    return ManifestRow(id=label, source="s", label=label, capture="photo", path=f"{label}.png", url="http://x",
                       sha256="0" * 64)


def test_scores_count_case_merging_lower_case_and_refused_images_as_wrong():
    rows = [_row("o"), _row("a"), _row("A"), _row("x")]
    probs = np.zeros((4, len(LABELS)))
    for i, answer in enumerate(["O", "a", "A", "x"]):
        probs[i, LABELS.index(answer)] = 1
    refused = np.array([False, False, False, True])  # the preprocessing refused x: wrong whatever the model says
    got = tool.scores(probs, rows, refused, LABELS, merged_char(LABELS))
    assert got == {"top1": 0.5, "merged_top1": 0.75, "lower_merged_top1": 2 / 3}


def _arm(plain, tta, average=None):
    seeds = [{"run": f"r{i}", "plain": {"top1": p, "merged_top1": p, "lower_merged_top1": p},
              "tta": {"top1": t, "merged_top1": t, "lower_merged_top1": t}} for i, (p, t) in enumerate(zip(plain, tta))]
    entry = {"what": "x", "seeds": seeds}
    for mode, values in (("plain", plain), ("tta", tta)):
        std = float(np.std(values, ddof=1)) if len(values) > 1 else None
        entry[mode] = {k: {"mean": float(np.mean(values)), "std": std}
                       for k in ("top1", "merged_top1", "lower_merged_top1")}
    if average is not None:
        entry["seed_average"] = {m: {"top1": a, "merged_top1": a, "lower_merged_top1": a}
                                 for m, a in zip(("plain", "tta"), average)}
    return entry


def test_the_table_pairs_seeds_against_what_ships_and_the_finding_weighs_the_noise():
    artifact = {"n": 400, "shipped": "base", "arms": {
        "base": _arm([0.80, 0.79, 0.81], [0.81, 0.80, 0.82], (0.80, 0.81)),
        "better": _arm([0.84, 0.83, 0.85], [0.84, 0.84, 0.85], (0.86, 0.85)),
        "one": _arm([0.70], [0.71])}}
    table = rep.dev_methods_table(artifact)
    assert table.loc[("better", "as predict answers"), "Δ merged vs shipped"] == "+4.0 ± 0.0"  # paired per seed
    assert table.loc[("base", "TTA"), "Δ merged vs shipped"] == "+1.0 ± 0.0"  # TTA against what ships (no TTA)
    assert table.loc[("one", "as predict answers"), "Δ merged vs shipped"] == "-10.0"  # one seed: against the mean
    assert table.loc[("better", "seed average"), "merged top-1"] == "86.0%"
    line = rep.dev_methods_finding(artifact)
    assert "the best of the 10 ways tried, the maximum of many and so favoured by chance, is better (seed " \
           "average) at 86.0% (+6.0 points); a candidate" in line
    assert "held-out" in line
    artifact["arms"]["better"] = _arm([0.805] * 3, [0.80] * 3, (0.805, 0.80))
    artifact["arms"]["base"]["seed_average"] = {"plain": dict.fromkeys(("top1", "merged_top1", "lower_merged_top1"),
                                                                     0.80), "tta": dict.fromkeys(
        ("top1", "merged_top1", "lower_merged_top1"), 0.80)}
    assert "the shipped model stays" in rep.dev_methods_finding(artifact)  # +1.0 point < the 3-point bar
    artifact["arms"]["better"] = _arm([0.825] * 3, [0.82] * 3, (0.825, 0.82))
    line = rep.dev_methods_finding(artifact)  # +2.5 points: more than one s.e. (2.0), still under the bar
    assert "(+2.5 points); under the 3-point gain" in line and "the shipped model stays" in line


def test_the_study_ensemble_is_one_row_against_what_ships_and_one_way_tried():
    artifact = {"n": 400, "shipped": "base", "arms": {
        "base": _arm([0.80, 0.79, 0.81], [0.81, 0.80, 0.82], (0.80, 0.81)),
        "ensemble (notebook 11)": {"what": "e", "members": ["a", "b", "a"], "precision": "bf16 / val fp32",
                                   "plain": {"top1": 0.7, "merged_top1": 0.85, "lower_merged_top1": 0.8}}}}
    table = rep.dev_methods_table(artifact)
    row = table.loc[("ensemble (notebook 11)", "mean of its members' probabilities")]
    assert row["Δ merged vs shipped"] == "+5.0" and row["merged top-1"] == "85.0%"
    assert "is ensemble (notebook 11) at 85.0% (+5.0 points)" in rep.dev_methods_finding(artifact)


def test_a_goal_met_within_noise_is_counted_as_such_and_a_loss_is_called_a_loss():
    import pandas as pd

    goals = pd.DataFrame([
        {"goal": "photo", "met": True, "verdict": "met (+2.3 points)", "before": 0.7, "after": 0.87, "target": 0.85},
        {"goal": "EMNIST", "met": True, "verdict": "met, within noise (3-seed mean 87.06% ± 0.07%)",
         "before": 0.87, "after": 0.871, "target": 0.87},
        {"goal": "merged", "met": False, "verdict": "not met", "before": 0.7, "after": 0.8, "target": 0.88}],
    ).set_index("goal")
    slices = pd.DataFrame({"merged before": [0.7, 0.6, 0.9], "merged after": [0.8, 0.8, 0.88],
                           "Δ merged": [0.1, 0.2, -0.02]}, index=["overall", "photo", "scan"])
    lines = rep.findings(goals, slices, None)
    assert lines[0] == "2 of 3 goals are met (1 of them within noise): photo, EMNIST (within noise)."
    assert "the largest loss scan (-2.0 points)" in lines[-1]


def test_the_ablation_finding_gives_the_costliest_step_on_the_held_out_part_too():
    import pandas as pd

    goals = pd.DataFrame([{"goal": "g", "met": False, "verdict": "not met", "before": 0.7, "after": 0.8,
                           "target": 0.88}]).set_index("goal")
    slices = pd.DataFrame({"merged before": [0.7], "merged after": [0.8], "Δ merged": [0.1]}, index=["overall"])
    row = {"n": 10, "top1": 0.7, "top5": 0.9, "prior": "train"}
    ablation = {"complete": True, "rows": [
        {**row, "disabled": "none", "merged_top1": 0.80, "part=dev": 0.78, "part=heldout": 0.82},
        {**row, "disabled": "thin", "merged_top1": 0.75, "part=dev": 0.70, "part=heldout": 0.81}]}
    line = next(x for x in rep.findings(goals, slices, ablation) if x.startswith("Turning off"))
    assert line.startswith("Turning off thin costs the most on the real set (-5.0 points merged top-1; on the "
                           "held-out part -1.0 points)")
