"""Notebook 11's sentences and displays around the tables of :mod:`charclf.study.beyond`: the ensemble and its
selection, the distillation teacher, the race, and the verdict of every goal, read off the records and JSONs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from charclf.study.beyond import members_table
from charclf.study.goals import RACE_GOAL_S


def experiment_verdict(row) -> str:
    """One paired row's verdict, decided on val ("choose on val; read test once"): no verdict below
    ``GOAL_SEEDS`` seeds; else it helps when the mean paired val change is above its paired std (the std over
    seeds of the seed-by-seed val changes), hurts when it is below minus that std, and is within noise between.
    The test change is reported beside it (:func:`experiment_lines`) and never moves it."""
    from charclf.eval.seeds import GOAL_SEEDS

    seeds = int(row["seeds"])
    if seeds < GOAL_SEEDS:
        return f"no verdict yet ({seeds} of {GOAL_SEEDS} seeds)"
    change, std = row["Δ val (pts)"], row["Δ val paired std (pts)"]
    if pd.isna(change) or pd.isna(std):
        return "no verdict: its paired val std is unknown"
    if change > std:
        return "helps"
    return "hurts" if change < -std else "within noise"


def experiment_lines(ablation: pd.DataFrame) -> list[str]:
    """One line per paired comparison of notebook 11 (``charclf.study.plan.paired_comparisons`` and test-time
    translation): the change, its paired val and test deltas over the seeds both sides have, each with its paired
    std, and the verdict (:func:`experiment_verdict`: val decides, test is reported). Where the two
    sides' saved configs differ in more than one field, or something else differs (the precision that chose
    the epoch), the line names it: the verdict is then of those differences together."""
    from charclf.study.plan import BEYOND

    lines = []
    for name, r in ([] if ablation.empty else ablation.iterrows()):
        if not str(name).startswith(f"{BEYOND}/") or pd.isna(r.get("seeds")):  # the ensemble row is no pair
            continue
        if int(r["seeds"]) == 0:
            lines.append(f"{name.split('/')[-1]} ({r['change']}): waiting for its base, {r['baseline']}")
            continue
        differs_in, also = r.get("config differs in"), r.get("also differs")
        fields = [f for f in (str(differs_in) if pd.notna(differs_in) else "").split(", ") if f]
        caveats = ([f"config differs in {', '.join(fields)}"] if len(fields) > 1 else []) + \
                  ([f"also differs: {also}"] if pd.notna(also) and also else [])
        verdict = experiment_verdict(r) + (f" ({'; '.join(caveats)})" if caveats else "")
        lines.append(f"{name.split('/')[-1]} ({r['change']}): Δ val {r['Δ val (pts)']:+.2f} points"
                     f"{_spread(r, 'val')} (decides); Δ test {r['Δ test (pts)']:+.2f}{_spread(r, 'test')} (reported, not deciding); "
                     f"{int(r['seeds'])} seed(s): {verdict}")
    return lines


def _spread(row, part: str) -> str:
    """``", paired std 0.05"`` for ``part`` (val or test) of a paired row; "" where it has none (one seed)."""
    std = row.get(f"Δ {part} paired std (pts)")
    return "" if std is None or pd.isna(std) else f", paired std {std:.2f}"


def show_ensemble(ctx, ensembled: dict | None) -> None:
    """Show the ensemble's members and ensembles (``members_table``), the greedy ensemble's votes and, where
    recorded, the ``cv`` selection: the method held-out val halves chose and the best 8 methods there."""
    if ensembled is None:
        print("No finished run with weights yet: nothing to ensemble.")
        return
    ctx.show(members_table(ensembled).round(4), "Members alone, and the ensembles")
    print("greedy ensemble's votes:", ", ".join(ensembled["greedy"]["members"]))
    if "cv" not in ensembled:
        return
    cv = ensembled["cv"]
    held_out = pd.Series(cv["candidates"]).sort_values(ascending=False)
    runner_up = held_out.drop(cv["method"], errors="ignore")
    print(f"cv chose {cv['method']} on held-out val halves ({cv['held_out_val_acc']:.2%}"
          + (f"; the next best method there: {runner_up.index[0]} at {runner_up.iloc[0]:.2%}" if len(runner_up) else "")
          + f"); its members: {', '.join(cv['members'])}")
    ctx.show(held_out.head(8).to_frame("held-out val accuracy").round(4),
             "The selection methods on held-out val halves (best 8)")


def teacher_lines(teachers: dict, ensembled: dict | None, *, train_missing: bool) -> list[str]:
    """What the distillation teachers are (``{teacher run: teacher.json}`` from ``train_students``): the first's
    members and train accuracy, whether they are the greedy ensemble's of today, and the float64 teacher of the
    alpha/temperature settings; or why there is none yet (``train_missing``: whether this execution trains)."""
    from charclf.study.plan import DISTILL_TEACHER_RUN, TEACHER_RUN

    teacher = teachers.get(TEACHER_RUN)
    if teacher is None:
        return ["No teacher written yet: " + (
            "no distilled student has trained, and rendering writes no teacher (`python -m charclf.study.plan "
            "--only 11-distilled` writes it and trains them)." if not train_missing
            else "no finished run with weights to ensemble, or every student was loaded.")]
    lines = [f"teacher: {' + '.join(teacher['members'])}",
             f"  its accuracy on the training part: {teacher['train_acc']:.2%}"]
    if ensembled is not None:
        greedy = ensembled["greedy"]["distinct_members"]
        same = set(teacher["members"]) == set(greedy)
        lines.append("  its members are " + (
            "the greedy ensemble's above" if same else
            f"not the greedy ensemble's above ({len(set(teacher['members']))} runs against {len(greedy)}): an "
            "earlier ensemble's, kept because its students learnt from it"))
    second = teachers.get(DISTILL_TEACHER_RUN)
    if second is not None:
        same = "the same members" if second["members"] == teacher["members"] else " + ".join(second["members"])
        lines.append(f"teacher of the runs trained since (the alpha/temperature settings, their base, the other "
                     f"students): {same}, scored in "
                     f"{second.get('precision', 'float32')} (the first in {teacher.get('precision', 'float32')}), "
                     f"so that any kind of CPU rebuilds it bit for bit; its accuracy on the training part: "
                     f"{second['train_acc']:.2%}")
    return lines


def students_line(status: pd.DataFrame) -> str:
    """``distilled seeds trained: charnet_s 3 of 3, ...`` from ``train_students``' status table."""
    trained = status.groupby("model", sort=False)["trained"].agg(["sum", "size"])
    return "distilled seeds trained: " + ", ".join(f"{model} {int(r['sum'])} of {int(r['size'])}"
                                                  for model, r in trained.iterrows())


def read_race(path: Path) -> dict | None:
    """``charclf race``'s JSON, or None with a line saying how to make it."""
    if not path.is_file():
        print(f"{path.name} not found in {path.parent.name}/: run `charclf race` first.")
        return None
    from charclf.study.headline import RACE_FIX, RACE_KEYS
    from charclf.study.report import read_artifact

    return read_artifact(path, RACE_KEYS, fix=RACE_FIX)


def race_figure(race: dict):
    """The race's curves: val accuracy against training seconds, per entrant and seed."""
    from charclf.eval import figures as viz

    return viz.race_curves(race, title="Time to accuracy: the earlier works' pipeline vs charclf's",
                           subtitle=f"{race['protocol']} protocol · {race['races'][0]['train_samples']:,} training "
                                    "images")


def goal_lines(goals: pd.DataFrame) -> list[str]:
    """One line per goal of ``goals.goals_table``: its target, verdict, and the candidate's test mean and seeds."""
    lines = []
    for goal, row in goals.iterrows():
        seen = "no candidate yet" if pd.isna(row.get("test mean")) else (
            f"{row['candidate (chosen on val)']}: test {'mean ' if row['seeds'] > 1 else ''}{row['test mean']:.2%}"
            + ("" if goal == "ensemble" else f", {int(row['seeds'])} seed{'s' if row['seeds'] != 1 else ''}"))
        waiting = row.get("waiting for seeds (val higher)")
        waiting = "" if waiting is None or pd.isna(waiting) or waiting == "–" else f"; waiting for seeds: {waiting}"
        target = "" if ">=" in str(goal) else f" (target {row['target']:.1%})"  # some goals name theirs
        lines.append(f"{goal}{target}: {row['verdict']} ({seen}){waiting}")
    return lines


def race_goal_lines(race_goal_table: pd.DataFrame | None) -> list[str]:
    """One line per goal of ``goals.race_goals`` (none without a race): its verdict and the candidate's seconds
    (mean ± std over the seeds) or ratio."""
    if race_goal_table is None:
        return []
    lines = []
    for goal, row in race_goal_table.iterrows():
        if pd.isna(row["candidate"]):  # None becomes NaN in a column of strings
            lines.append(f"race, {goal}: {row['verdict']} (no entrant reached the target on every seed)")
            continue
        seconds = row["target"] == RACE_GOAL_S  # the time goal: seconds mean ± std over the seeds
        lines.append(f"race, {goal}: {row['verdict']} ({row['candidate']}: {row['value']:.1f}"
                     + (f" ± {row['std']:.1f} s" if seconds else "×") + ")")
    return lines
