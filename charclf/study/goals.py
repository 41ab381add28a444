"""The goals beyond the earlier works, and their verdicts: each goal's target, the candidate chosen on val inside
its limits, its test mean against the target and by what margin against its std (met, met within noise, not met).

The tables they judge come from :mod:`charclf.study.beyond` (the models' frontier, the ensemble, with the earlier
builds kept beside its results) and from the races' JSON (``charclf race``, with the earlier sessions of the same
race kept in ``history/`` beside it); this module reads them and decides nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# The rule a goal is judged by lives with the other seed statistics (the real-world goals use it too).
from charclf.eval.seeds import GOAL_SEEDS, verdict  # noqa: F401
# A race's sessions (this one and those kept beside it), their ratios and the verdict over all of them.
from charclf.study.race_sessions import (race_history, race_in_sample, race_session, ratio_stats,
                                         reproduced_verdict, session_words)


@dataclass(frozen=True)
class Goal:
    name: str
    target: float  # mean holdout-test accuracy over seeds
    max_params: int | None = None
    max_train_s: float | None = None  # training seconds on the machine that trained it


# The second round of goals (the first, 87.0% / 86.7% / 85.2% / ensemble 87.5% / race 60 s, were met or nearly:
# met goals are no longer goals).
GOALS = (
    Goal("single model, trained in <= 2 h on the study's CPU", 0.875, max_train_s=2 * 3600.0),
    Goal("<= 100k parameters", 0.870, max_params=100_000),
    Goal("<= 30k parameters", 0.865, max_params=30_000),
    Goal("<= 10k parameters", 0.845, max_params=10_000),
)
ENSEMBLE_GOAL = 0.880
# The time-to-accuracy race's goals: our fastest entrant at the target within this many training seconds (its
# test accuracy at that epoch at least the target too), and that many times faster than the earlier pipeline.
RACE_GOAL_S = 25.0
RACE_GOAL_RATIO = 10.0
# The same race on a CPU without native bf16 (AVX2 only; measured here with the kernels capped to AVX2), where
# every entrant trains in float32: ratio_fast at least this.
AVX2_RACE_GOAL_RATIO = 5.0
MNIST_GOAL = 0.996  # notebook 08's best run, chosen on val, on the official MNIST test (10,000 images)


def goal_targets() -> pd.DataFrame:
    """This round's goals and their targets, as the tables below judge them (one home: notebook 11 shows this
    table instead of a typed copy that could drift)."""
    rows = [(g.name, f"≥ {g.target:.1%}") for g in GOALS]
    rows += [("an ensemble, members and weights chosen on val", f"≥ {ENSEMBLE_GOAL:.1%}"),
             ("MNIST, a single model of notebook 08 (official MNIST test)", f"≥ {MNIST_GOAL:.1%}"),
             ("race: seconds of training to the race's val target, on seeds that did not choose the recipe",
              f"≤ {RACE_GOAL_S:g} s"),
             ("race: ratio over the earlier works' pipeline, same seeds", f"≥ {RACE_GOAL_RATIO:g}×"),
             ("race on an AVX2-only CPU (float32): ratio", f"≥ {AVX2_RACE_GOAL_RATIO:g}×")]
    return pd.DataFrame(rows, columns=["goal", "target"]).set_index("goal")


def ensemble_builds(folder: str | Path) -> list[dict]:
    """Every build of the ensemble kept in ``folder`` that holds a test score, oldest first: ``results.json`` and
    each earlier one kept beside it (``results-<its time>.json``: a rebuild never replaces one). Each is
    ``{"file", "created_utc", "selections": {name: (val_acc, test_acc)}}`` over its selections that scored test
    (``all``, ``greedy``, ``cv``) and read it anew: every such file is one more time the ensemble's test accuracy
    was read, and a build that carried every test number from an earlier one (its selections unchanged) is none. A file
    that cannot be read (damaged JSON) still counts as a build, with no selections and ``unreadable`` saying why:
    dropping it would undercount the reads of test."""
    from charclf.errors import CharclfError
    from charclf.provenance import read_json

    folder = Path(folder)
    paths = sorted(folder.glob("results-*.json")) + ([folder / "results.json"] if (folder / "results.json").is_file()
                                                     else [])
    builds = []
    for path in paths:
        try:
            results = read_json(path, "restore it from git")
        except CharclfError as err:  # dated by its file name (results-<time>.json), so it sorts where it belongs
            builds.append({"file": path.name, "created_utc": _stamp_time(path.name), "selections": {},
                           "unreadable": str(err)})
            continue
        if not isinstance(results, dict):
            continue
        # A selection whose test numbers were carried from an earlier build ("test_from") read nothing new.
        selections = {name: (part.get("val_acc"), part["test_acc"]) for name, part in results.items()
                      if isinstance(part, dict) and part.get("test_acc") is not None and not part.get("test_from")}
        if selections:
            builds.append({"file": path.name, "created_utc": str(results.get("created_utc") or ""),
                           "selections": selections})
    return sorted(builds, key=lambda b: (b["file"] == "results.json", b["created_utc"], b["file"]))


def _stamp_time(name: str) -> str:
    """``results-2026-12-02T154903+0000.json`` -> ``2026-12-02T15:49:03+00:00`` (a build's created_utc form);
    ``"~"`` (after every date) for ``results.json``, the newest build, or a name without a stamp."""
    import re

    found = re.fullmatch(r"results-(\d{4}-\d\d-\d\d)T(\d\d)(\d\d)(\d\d)([+-]\d\d)(\d\d)\.json", name)
    return "~" if not found else f"{found[1]}T{found[2]}:{found[3]}:{found[4]}{found[5]}:{found[6]}"


def ensemble_test_reads(folder: str | Path) -> dict:
    """How often the ensemble's test accuracy was read before the one reported (:func:`ensemble_builds`), and
    what test showed before its selection method ``cv`` existed: ``{"reads": n, "cv_first": file or None,
    "before_cv": {"from", "to", "d_val", "d_test"} or None}``, the last rebuild before ``cv`` first appears whose
    greedy selection changed (its val and test change, in accuracy units)."""
    builds = ensemble_builds(folder)
    first_cv = next((i for i, b in enumerate(builds) if "cv" in b["selections"]), None)
    before = None
    if first_cv:
        greedy = [b for b in builds[:first_cv] if "greedy" in b["selections"]]
        for a, b in reversed(list(zip(greedy, greedy[1:]))):
            (va, ta), (vb, tb) = a["selections"]["greedy"], b["selections"]["greedy"]
            if (va, ta) != (vb, tb):
                before = {"from": a["file"], "to": b["file"],
                          "d_val": None if va is None or vb is None else vb - va, "d_test": tb - ta}
                break
    return {"reads": len(builds), "cv_first": builds[first_cv]["file"] if first_cv is not None else None,
            "before_cv": before, "unreadable": sum("unreadable" in b for b in builds)}


def ensemble_reads_words(reads: dict) -> str:
    """What :func:`ensemble_test_reads` found, in words: ``"its test accuracy was read at 13 builds (...), not once;
    the selection method `cv` was added after test was read and had dropped: a greedy rebuild raised val by 0.13
    points and lowered test by 0.11 points (<file> → <file>)"``."""
    n = reads["reads"]
    lost = reads.get("unreadable") or 0
    words = (f"its test accuracy was read at {n} builds (each kept as a results file in the ensemble's folder; "
             "a rebuild whose selection did not change carries the last numbers and reads nothing"
             + (f"; {lost} of them unreadable" if lost else "") + "), not once" if n > 1
             else "its test accuracy was read once")
    before = reads.get("before_cv")
    if before is not None:
        d_val, d_test = before["d_val"], before["d_test"]

        def moved(what, d):
            if not d:
                return f"left {what} as it was"
            return f"{'raised' if d > 0 else 'lowered'} {what} by {abs(100 * d):.2f} points"

        change = (f"{moved('val', d_val)} and " if d_val is not None else "") + moved("test", d_test)
        words += ("; the selection method `cv` was added after test was read"
                  + (" and had dropped" if d_test < 0 else "")
                  + f": a greedy rebuild {change} ({before['from']} → {before['to']})")
    return words


def goals_table(front: pd.DataFrame, ensemble: dict | None = None, *,
                ensemble_reads: dict | None = None) -> pd.DataFrame:
    """One row per goal: the candidate chosen on val inside the goal's limits (among the entries with the 3 seeds
    a goal asks for, when any has them; a better val of fewer seeds is named as waiting), its test mean +- std
    over its seeds, and whether the mean meets the goal (``seeds`` says how many there are).
    The ensemble row, when given, is one ensemble: the one whose selection method was chosen on held-out val
    halves (``cv``; the greedy one for results from before it existed), its one test number (no seeds).
    ``ensemble_reads`` (:func:`ensemble_test_reads` of its folder) adds how many builds read its test, and what
    test showed before ``cv`` was added."""
    if front.empty:
        return pd.DataFrame([{"goal": g.name, "target": g.target, "met": False, "verdict": verdict(None, g.target)[1]}
                             for g in GOALS]).set_index("goal")
    from charclf.study.beyond import candidates

    front = candidates(front)
    rows = []
    for goal in GOALS:
        inside = front
        if goal.max_train_s is not None:  # a distilled student's time leaves out its teacher's training
            inside = inside[~inside["distilled"].astype(bool)]
        if goal.max_params is not None:
            inside = inside[inside["params"] <= goal.max_params]
        if goal.max_train_s is not None:
            inside = inside[inside["train s mean"] <= goal.max_train_s]
        row = {"goal": goal.name, "target": goal.target}
        if inside.empty:
            rows.append({**row, "candidate (chosen on val)": None, "met": False,
                         "verdict": verdict(None, goal.target)[1]})
            continue
        # Chosen among the entries with the seeds a goal asks for, when there are any: a one-seed val score set
        # against a three-seed mean would favour luck. A better val of fewer seeds waits, named beside it.
        complete = inside[inside["n"] >= GOAL_SEEDS]
        pool = complete if not complete.empty else inside
        name = pool["val_mean"].idxmax()
        best = pool.loc[name]
        waiting = inside[(inside["n"] < GOAL_SEEDS) & (inside["val_mean"] > best["val_mean"])]
        row["waiting for seeds (val higher)"] = ", ".join(
            f"{entry} ({int(r['n'])} seed{'s' if r['n'] != 1 else ''}, val {r['val_mean']:.2%})"
            for entry, r in waiting.sort_values("val_mean", ascending=False).iterrows()) or "–"
        std = None if pd.isna(best["test_std"]) else float(best["test_std"])
        margin, words = verdict(float(best["test_mean"]), goal.target, std, seeds=int(best["n"]))
        rows.append({**row, "candidate (chosen on val)": name, "params": int(best["params"]), "seeds": int(best["n"]),
                     "precision (train / val)": best.get("precision (train / val)"), "val mean": best["val_mean"], "test mean": best["test_mean"],
                     "test std": best["test_std"], "margin": margin, "met": words.startswith("met"),
                     "verdict": words})
    if ensemble is not None:
        chosen = ensemble.get("cv", ensemble["greedy"])
        # One ensemble, one test number: no seeds to average, so the margin stands alone.
        margin, words = verdict(chosen["test_acc"], ENSEMBLE_GOAL, seeds=GOAL_SEEDS)
        distinct = chosen["distinct_members"]
        rows.append({"goal": "ensemble", "target": ENSEMBLE_GOAL,
                     "candidate (chosen on val)": (" + ".join(distinct) if len(distinct) <= 4 else
                                                   f"{chosen.get('method', 'greedy')}: {len(distinct)} runs"),
                     "params": chosen["params"], "seeds": 1, "val mean": chosen["val_acc"],
                     "test mean": chosen["test_acc"], "margin": margin, "met": words.startswith("met"),
                     "test reads": None if ensemble_reads is None else ensemble_reads["reads"],
                     "verdict": f"{words} (one ensemble, no seeds"
                                + ("" if ensemble_reads is None else f"; {ensemble_reads_words(ensemble_reads)}")
                                + ")"})
    return pd.DataFrame(rows).set_index("goal")


def avx2_race_goal(race: dict | None, history: list[dict] | None = None) -> pd.DataFrame:
    """The AVX2-only race's goal, read from its ``charclf race`` JSON: ``ratio_fast`` (the mean ± std of its
    seed-by-seed ratios) against :data:`AVX2_RACE_GOAL_RATIO`, valid only when the race ran with the kernels
    capped to AVX2 (its machine record's ``cpu_capability``) and every entrant trained in float32; otherwise the
    verdict says which is not so. ``history``: the other recorded sessions of the same race (default
    :func:`race_history`), judged as :func:`race_goals` judges them."""
    goal = f">= {AVX2_RACE_GOAL_RATIO:.0f}x on an AVX2-only CPU (float32)"
    if race is None:
        margin, words = verdict(None, AVX2_RACE_GOAL_RATIO)
        return pd.DataFrame([{"goal": goal, "target": AVX2_RACE_GOAL_RATIO, "candidate": None, "value": None,
                              "margin": margin, "met": False, "verdict": words + " (no AVX2 race JSON)"}]
                            ).set_index("goal")
    kernels = race_kernels(race.get("machine", {}))
    precisions = sorted({str(s.get("precision")) for s in race["summary"].values()})
    value, std = ratio_stats(race, "ratio_fast")  # both from the seed-by-seed ratios
    margin, words = verdict(value, AVX2_RACE_GOAL_RATIO, std)
    in_sample = race_in_sample(race)
    if in_sample:
        words = f"not met: timed on seeds {in_sample}, which chose the recipe (in-sample)"
    elif kernels != "avx2":
        words = f"not met: the race ran with {kernels} kernels, not AVX2 only"
    elif precisions != ["fp32"]:
        words = f"not met: entrants trained in {', '.join(precisions)}, not float32 only"
    met = words.startswith("met")
    sessions = None
    history = race_history(race) if history is None else list(history)
    if history and value is not None:
        latest, others = race_session(race, "ratio_fast"), [race_session(h, "ratio_fast") for h in history]
        sessions = "; ".join(f"{x['when']}: {session_words(x, '×')}"
                             for x in sorted([latest, *others], key=lambda x: str(x["created_utc"])))
        words, met = reproduced_verdict(words, latest, others, AVX2_RACE_GOAL_RATIO, unit="×")
    usual, fast = race["summary"].get("usual", {}), race["summary"].get("charclf_fast", {})
    return pd.DataFrame([{
        "goal": goal, "target": AVX2_RACE_GOAL_RATIO,
        "candidate": "ratio_fast" if value is not None else None, "value": value,
        "std": std, "seeds": race.get("seeds"),
        "usual s (mean ± std)": _seconds(usual), "charclf_fast s (mean ± std)": _seconds(fast),
        "kernels": kernels, "precision": ", ".join(precisions), "margin": margin,
        "met": met, "verdict": words, "sessions": sessions}]).set_index("goal")


def race_kernels(machine: dict) -> str:
    """``"avx2"`` when a race's machine record shows AVX2-only kernels: a CPU without AVX-512, or both kernel
    libraries capped to AVX2 (ATen's capability and oneDNN's ISA; one cap alone leaves the other's AVX-512
    convolutions); else what it had (``"avx512"``, ``"avx2 in ATen only"``...)."""
    flags = str(machine.get("cpu_flags", ""))
    if "avx512f" not in flags:
        return "avx2" if "avx2" in flags else "unrecorded"
    aten = str(machine.get("cpu_capability") or "avx512").lower()
    onednn = str((machine.get("isa_limits") or {}).get("ONEDNN_MAX_CPU_ISA") or "avx512").lower()
    if aten == "avx2" and onednn == "avx2":
        return "avx2"
    return "avx512" if aten != "avx2" and onednn != "avx2" else f"AVX2 in {'ATen' if aten == 'avx2' else 'oneDNN'} only"


def _seconds(summary: dict) -> str:
    from charclf.eval.seeds import mean_pm_std

    return mean_pm_std(summary.get("seconds_to_target_mean"), summary.get("seconds_to_target_std") or 0, ".1f")


def mnist_goal(table: pd.DataFrame) -> pd.DataFrame:
    """The MNIST goal from notebook 08's runs (``table``: :func:`charclf.study.headline.mnist_table`, one row per
    seed and run): the run with the best val mean over its seeds, its official-MNIST test mean ± std against
    :data:`MNIST_GOAL`."""
    goal = f"MNIST, single model from the study: >= {MNIST_GOAL:.1%}"
    if table.empty:
        margin, words = verdict(None, MNIST_GOAL)
        return pd.DataFrame([{"goal": goal, "target": MNIST_GOAL, "margin": margin, "met": False,
                              "verdict": words}]).set_index("goal")
    stats = table.groupby("run").agg(val_mean=("best_val_acc", "mean"), test_mean=("test_acc", "mean"),
                                     test_std=("test_acc", "std"), n=("test_acc", "count"))
    name = stats["val_mean"].idxmax()
    best = stats.loc[name]
    std = None if pd.isna(best["test_std"]) else float(best["test_std"])
    margin, words = verdict(float(best["test_mean"]), MNIST_GOAL, std, seeds=int(best["n"]))
    return pd.DataFrame([{"goal": goal, "target": MNIST_GOAL, "candidate (chosen on val)": name,
                          "seeds": int(best["n"]), "val mean": best["val_mean"], "test mean": best["test_mean"],
                          "test std": best["test_std"], "margin": margin, "met": words.startswith("met"),
                          "verdict": words}]).set_index("goal")


def race_facts(race: dict) -> str:
    """What a reader must know to read a race's ratios: each entrant's precision, resampling and epochs, each
    ratio and what it compares, and the race's seeds beside the seeds of the search that chose the fast recipe."""
    from charclf.train.recipes import search_seeds

    def resampling_of(name: str, summary: dict) -> str:
        """The entrant's rotation/affine resampling; older JSONs recorded it in the configs only."""
        if summary.get("resampling"):
            return summary["resampling"]
        if name == "usual":
            return "nearest"
        augment = (race.get("fast_config") if name == "charclf_fast" else race.get("config") or {}).get("augment", {})
        rotates = augment.get("rotation") or augment.get("degrees") or augment.get("shear")
        return augment.get("interpolation", "bilinear") if rotates else "none (no rotation: crop only)"

    lines = []
    for name, s in race["summary"].items():
        resampling = resampling_of(name, s)
        lines.append(f"{name}: {s.get('precision')} {s.get('memory_format')}, resampling {resampling}, "
                     f"epochs {s.get('epochs')}")
    meaning = {"ratio": "usual / charclf: pipeline + precision + resampling",
               "ratio_pipeline": "usual / charclf_fp32_nearest: the pipeline alone",
               "ratio_fast": f"usual / charclf_fast ({race.get('fast_recipe')}): pipeline + precision + recipe"}
    for key, words in meaning.items():
        if key in race:
            value, std = ratio_stats(race, key)
            of_means = race[key]
            lines.append(f"{key} ({words}): " + ("n/a" if value is None else
                         f"{value:.2f}x" + (f" ± {std:.2f} (mean ± std of the per-seed ratios; the ratio of the "
                                             f"mean seconds is {of_means:.2f}x)" if std is not None else "")))
        elif key == "ratio_pipeline":
            lines.append(f"{key} ({words}): not measured in this race (it predates that entrant)")
    chosen_on = race.get("search_seeds") or (list(search_seeds(race["fast_recipe"])) if race.get("fast_recipe")
                                             else [])
    lines.append(f"race seeds {race.get('seeds')}; the fast recipe was chosen on seeds {chosen_on}"
                 + (" (in-sample: the same seeds)" if set(chosen_on) & set(race.get("seeds") or ()) else ""))
    return "\n".join(lines)


def race_goals(race: dict, history: list[dict] | None = None) -> pd.DataFrame:
    """The race's two goals, read from ``charclf race``'s JSON: our fastest entrant that
    reached the target on every seed (chosen on its seconds, which the val target stops), its seconds mean and
    test mean against :data:`RACE_GOAL_S`; and the best ratio over the earlier works' pipeline against
    :data:`RACE_GOAL_RATIO`, as the mean ± sample std of its seed-by-seed ratios (:func:`ratio_stats`). An entrant
    that missed the target on a seed has no mean, so it is no candidate, and a race timed on the seeds of the
    search that chose its recipe (in-sample) meets no goal.

    ``history``: the other recorded sessions of the same race (default :func:`race_history`: the JSONs kept in
    ``history/`` beside the bench JSONs; ``[]`` for none). Each goal's ``sessions`` column states every session's
    value, and a goal met in this session but missed in another is not met (:func:`reproduced_verdict`)."""
    summary, target = race["summary"], race["target"]
    history = race_history(race) if history is None else list(history)
    in_sample = race_in_sample(race)
    ours = {name: s for name, s in summary.items() if name != "usual" and s["reached"] == len(s["seeds"])}
    rows = []
    time_goal = f"{target:.1%} in <= {RACE_GOAL_S:.0f} s of training"

    def judged(value, goal_target, std=None, *, lower_is_better=False, extra_ok=True):
        margin, words = verdict(value, goal_target, std, lower_is_better=lower_is_better)
        if in_sample:
            words = f"not met: timed on seeds {in_sample}, which chose the recipe (in-sample)"
        elif words.startswith("met") and not extra_ok:
            words = "not met: test accuracy at the stop below the target"
        return {"margin": margin, "met": words.startswith("met"), "verdict": words}

    def over_sessions(row, key, unit, *, lower_is_better=False):
        """``row`` judged over this session and every recorded other one of the same race."""
        if not history:
            return row
        latest = race_session(race, key)
        others = [race_session(other, key) for other in history]
        sessions = sorted([latest, *others], key=lambda x: str(x["created_utc"]))
        row["sessions"] = "; ".join(f"{x['when']}: {session_words(x, unit)}" for x in sessions)
        row["verdict"], row["met"] = reproduced_verdict(row["verdict"], latest, others, row["target"], unit=unit,
                                                        lower_is_better=lower_is_better)
        return row

    if not ours:
        rows.append({"goal": time_goal, "target": RACE_GOAL_S, "candidate": None, "value": None,
                     **judged(None, RACE_GOAL_S)})
    else:
        name = min(ours, key=lambda n: ours[n]["seconds_to_target_mean"])
        best = ours[name]
        rows.append(over_sessions({
            "goal": time_goal, "target": RACE_GOAL_S, "candidate": name,
            "value": best["seconds_to_target_mean"], "std": best["seconds_to_target_std"],
            "test mean": best["test_acc_mean"], "precision": best.get("precision"),
            **judged(best["seconds_to_target_mean"], RACE_GOAL_S, best["seconds_to_target_std"],
                     lower_is_better=True, extra_ok=(best["test_acc_mean"] or 0.0) >= target)},
            name, " s", lower_is_better=True))
    # Each ratio and its std from the same seed-by-seed ratios (the JSON's own ratio is of the mean seconds).
    ratios = {key: ratio_stats(race, key) for key in ("ratio", "ratio_fast") if race.get(key) is not None}
    ratios = {key: stats for key, stats in ratios.items() if stats[0] is not None}
    ratio_goal = f">= {RACE_GOAL_RATIO:.0f}x faster than the earlier works' pipeline"
    if not ratios:
        rows.append({"goal": ratio_goal, "target": RACE_GOAL_RATIO, "candidate": None, "value": None,
                     **judged(None, RACE_GOAL_RATIO)})
    else:
        key = max(ratios, key=lambda k: ratios[k][0])
        value, std = ratios[key]
        rows.append(over_sessions({"goal": ratio_goal, "target": RACE_GOAL_RATIO, "candidate": key, "value": value,
                                   "std": std, **judged(value, RACE_GOAL_RATIO, std)}, key, "×"))
    return pd.DataFrame(rows).set_index("goal")
