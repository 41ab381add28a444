"""Notebook 11's tables: every model's accuracy / parameters / CPU-seconds, the goals beyond the earlier works
(met or not), and the ensemble of the study's trained runs.

A goal's candidate is chosen on val (the highest val mean among the models inside the goal's limits); its test
mean is then read and compared with the goal. Nothing here trains: it reads run records and, for the ensemble,
scores the committed weights (cached per member, see :mod:`charclf.experiments.ensemble`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from charclf.train.distill import TEACHER_JSON, TEACHER_NPZ

# The notebooks whose runs compare models on the complete protocol (not ablation arms or fine-tuning stages).
MODEL_GROUPS = ("04_training", "11_beyond")
ENSEMBLE_RUN = "11_beyond/ensemble"


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
GOAL_SEEDS = 3  # a goal is judged on the mean over this many seeds


def verdict(value: float | None, target: float, std: float | None = None, *, seeds: int = GOAL_SEEDS,
            lower_is_better: bool = False) -> tuple[float | None, str]:
    """``(margin, words)`` of a goal: the margin by which ``value`` (a mean over ``seeds``) clears ``target``
    (positive = met; for seconds, ``lower_is_better``), and "met", "met, within noise" (a margin under one std),
    "not met", "not met, within noise" or "not met: n seed(s), the goal needs 3"."""
    if value is None:
        return None, "not met: no candidate yet"
    margin = (target - value) if lower_is_better else (value - target)
    noise = std is not None and abs(margin) < std
    if seeds < GOAL_SEEDS:
        return margin, f"not met: {seeds} seed(s), the goal needs {GOAL_SEEDS}"
    if margin >= 0:
        return margin, "met, within noise" if noise else "met"
    return margin, "not met, within noise" if noise else "not met"


def model_runs(profile: str) -> dict:
    """``{run name: PlannedRun}``: every run of :data:`MODEL_GROUPS` in ``profile``'s plan (notebook 04's, notebook
    11's and its distilled ones). What a run is (its group, entry, variant, seed) is read from here, never from
    its folder's name."""
    from charclf.study.plan import beyond_runs, training_runs

    plan = training_runs(profile) + beyond_runs(profile) + beyond_runs(profile, distilled=True)
    return {run.name: run for run in plan if run.run_id.group in MODEL_GROUPS}


def model_rows(runs_dir: Path) -> pd.DataFrame:
    """One row per run record under ``runs_dir`` that its profile's plan lists in :data:`MODEL_GROUPS`
    (``report.run_rows`` columns), plus ``name`` (the run, as its record names it), ``entry``: the planned run's
    entry and variant (``vgg``, ``charnet_s-kd``: a model trained two ways is two entries) and ``distilled``
    (whether its recorded config names a teacher). The profile and the run are the fields each record holds
    (``metrics.json``'s ``profile`` and ``run``), not its folder's names; a record outside the plan is no
    model comparison."""
    from charclf.eval.record import load_records
    from charclf.study.report import record_row

    plans, rows = {}, []
    for folder, record in load_records(runs_dir).items():
        if record.profile is None:  # a run made outside the study (no profile, no plan)
            continue
        planned = plans.setdefault(record.profile, model_runs(record.profile)).get(record.run)
        if planned is None:
            continue
        row = record_row(folder, record)
        rows.append({"run": row.pop("run"), "profile": record.profile, "group": planned.run_id.group, **row,
                     "entry": planned.entry, "name": record.run,
                     "distilled": distilled(record)})
    return pd.DataFrame(rows)


def frontier(rows: pd.DataFrame) -> pd.DataFrame:
    """Per entry (model, or model + training variant): seeds, parameters, MACs, val and test accuracy (mean,
    sample std), mean training seconds and images/s, and whether the test number used TTA; sorted by val mean."""
    from charclf.eval.seeds import seed_stats

    if rows.empty:
        return pd.DataFrame()
    from charclf.study.report import entry_precisions

    grouped = rows.groupby("entry")
    out = seed_stats(rows, model="entry").join(pd.DataFrame({
        "params": grouped["params"].first(), "MMACs": grouped["macs"].first() / 1e6,
        "train s mean": grouped["train_time_s"].mean(), "images / s": grouped["images_per_s"].mean(),
        "TTA": grouped["tta"].first(), "precision": grouped["precision"].first(),
        "distilled": grouped["distilled"].any()})).join(entry_precisions(rows))
    return out.sort_values("val_mean", ascending=False)


def goals_table(front: pd.DataFrame, ensemble: dict | None = None) -> pd.DataFrame:
    """One row per goal: the candidate chosen on val inside the goal's limits, its test mean +- std over its
    seeds, and whether the mean meets the goal (a goal asks for 3 seeds; ``seeds`` says how many there are).
    The ensemble row, when given, is one ensemble: the one whose selection method was chosen on held-out val
    halves (``cv``; the greedy one for results from before it existed), its one test number."""
    if front.empty:
        return pd.DataFrame([{"goal": g.name, "target": g.target, "met": False, "verdict": verdict(None, g.target)[1]}
                             for g in GOALS]).set_index("goal")
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
        name = inside["val_mean"].idxmax()
        best = inside.loc[name]
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
                     "verdict": f"{words} (one ensemble)"})
    return pd.DataFrame(rows).set_index("goal")


def avx2_race_goal(race: dict | None) -> pd.DataFrame:
    """The AVX2-only race's goal, read from its ``charclf race`` JSON: ``ratio_fast`` against
    :data:`AVX2_RACE_GOAL_RATIO`, valid only when the race ran with the kernels capped to AVX2 (its machine
    record's ``cpu_capability``) and every entrant trained in float32; otherwise the verdict says which is not so."""
    goal = f">= {AVX2_RACE_GOAL_RATIO:.0f}x on an AVX2-only CPU (float32)"
    if race is None:
        margin, words = verdict(None, AVX2_RACE_GOAL_RATIO)
        return pd.DataFrame([{"goal": goal, "target": AVX2_RACE_GOAL_RATIO, "candidate": None, "value": None,
                              "margin": margin, "met": False, "verdict": words + " (no AVX2 race JSON)"}]
                            ).set_index("goal")
    kernels = race_kernels(race.get("machine", {}))
    precisions = sorted({str(s.get("precision")) for s in race["summary"].values()})
    margin, words = verdict(race.get("ratio_fast"), AVX2_RACE_GOAL_RATIO)
    in_sample = race_in_sample(race)
    if in_sample:
        words = f"not met: timed on seeds {in_sample}, which chose the recipe (in-sample)"
    elif kernels != "avx2":
        words = f"not met: the race ran with {kernels} kernels, not AVX2 only"
    elif precisions != ["fp32"]:
        words = f"not met: entrants trained in {', '.join(precisions)}, not float32 only"
    usual, fast = race["summary"].get("usual", {}), race["summary"].get("charclf_fast", {})
    return pd.DataFrame([{
        "goal": goal, "target": AVX2_RACE_GOAL_RATIO,
        "candidate": "ratio_fast" if race.get("ratio_fast") is not None else None, "value": race.get("ratio_fast"),
        "seeds": race.get("seeds"),
        "usual s (mean ± std)": _seconds(usual), "charclf_fast s (mean ± std)": _seconds(fast),
        "kernels": kernels, "precision": ", ".join(precisions), "margin": margin,
        "met": words.startswith("met"), "verdict": words}]).set_index("goal")


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


def race_in_sample(race: dict) -> list[int]:
    """The race's seeds that also chose its fast recipe (a race on them is timed in-sample and meets no goal)."""
    from charclf.train.recipes import search_seeds

    chosen_on = set(race.get("search_seeds") or (search_seeds(race["fast_recipe"]) if race.get("fast_recipe") else ()))
    return sorted(chosen_on & set(race.get("seeds") or ()))


def _seconds(summary: dict) -> str:
    if summary.get("seconds_to_target_mean") is None:
        return "–"
    return f"{summary['seconds_to_target_mean']:.1f} ± {summary.get('seconds_to_target_std') or 0:.1f}"


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
            value = race[key]
            lines.append(f"{key} ({words}): " + (f"{value:.2f}x" if value is not None else "n/a"))
        elif key == "ratio_pipeline":
            lines.append(f"{key} ({words}): not measured in this race (it predates that entrant)")
    chosen_on = race.get("search_seeds") or (list(search_seeds(race["fast_recipe"])) if race.get("fast_recipe")
                                             else [])
    lines.append(f"race seeds {race.get('seeds')}; the fast recipe was chosen on seeds {chosen_on}"
                 + (" (in-sample: the same seeds)" if set(chosen_on) & set(race.get("seeds") or ()) else ""))
    return "\n".join(lines)


def race_goals(race: dict) -> pd.DataFrame:
    """The race's two goals, read from ``charclf race``'s JSON: our fastest entrant that
    reached the target on every seed (chosen on its seconds, which the val target stops), its seconds mean and
    test mean against :data:`RACE_GOAL_S`; and the best ratio over the earlier works' pipeline against
    :data:`RACE_GOAL_RATIO`. An entrant that missed the target on a seed has no mean, so it is no candidate, and
    a race timed on the seeds of the search that chose its recipe (in-sample) meets no goal."""
    summary, target = race["summary"], race["target"]
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

    if not ours:
        rows.append({"goal": time_goal, "target": RACE_GOAL_S, "candidate": None, "value": None,
                     **judged(None, RACE_GOAL_S)})
    else:
        name = min(ours, key=lambda n: ours[n]["seconds_to_target_mean"])
        best = ours[name]
        rows.append({"goal": time_goal, "target": RACE_GOAL_S, "candidate": name,
                     "value": best["seconds_to_target_mean"], "std": best["seconds_to_target_std"],
                     "test mean": best["test_acc_mean"], "precision": best.get("precision"),
                     **judged(best["seconds_to_target_mean"], RACE_GOAL_S, best["seconds_to_target_std"],
                              lower_is_better=True, extra_ok=(best["test_acc_mean"] or 0.0) >= target)})
    ratios = {key: race.get(key) for key in ("ratio", "ratio_fast") if race.get(key) is not None}
    ratio_goal = f">= {RACE_GOAL_RATIO:.0f}x faster than the earlier works' pipeline"
    if not ratios:
        rows.append({"goal": ratio_goal, "target": RACE_GOAL_RATIO, "candidate": None, "value": None,
                     **judged(None, RACE_GOAL_RATIO)})
    else:
        key = max(ratios, key=ratios.get)
        rows.append({"goal": ratio_goal, "target": RACE_GOAL_RATIO, "candidate": key, "value": ratios[key],
                     **judged(ratios[key], RACE_GOAL_RATIO)})
    return pd.DataFrame(rows).set_index("goal")


def ensemble_members(runs_dir: Path, *, profile: str) -> list[Path]:
    """The finished runs of ``profile``'s plan in :data:`MODEL_GROUPS` whose weights were kept, in folder order —
    but the distilled ones (their record's config names a ``distill_teacher``): they learnt from the ensemble,
    so they would vote twice with its members' opinions."""
    from charclf.train.run_folder import is_finished_run

    folders = (runs_dir / name for name in model_runs(profile))
    return sorted(d for d in folders
                  if is_finished_run(d) and (d / "model.safetensors").is_file() and not _distilled(d))


def _distilled(run_dir: Path) -> bool:
    """Whether the finished run trained towards a teacher, as its record's config says (not its name): the
    same field :func:`model_rows` reads."""
    from charclf.eval.record import RunRecord

    return distilled(RunRecord.load(run_dir))


def distilled(record) -> bool:
    """Whether the run of ``record`` (a RunRecord) trained towards a teacher: its config names one."""
    return record.config.get("distill_teacher") is not None


def ensemble(runs_dir: Path, data, *, profile: str, log=None) -> dict | None:
    """The ensemble of every member :func:`ensemble_members` finds (None when there is none).

    ``log`` (default: silent) gets the rebuild's progress lines. Silent by default because the notebook's
    output must not depend on whether this render rebuilt the ensemble or loaded it: the render of HEAD is
    then the same on the first run after new members as on every later one. The CLI passes ``print``.

    A saved results.json is loaded when it covers every member found, with the same weights (a fresh clone,
    which lacks the weights of some runs, still renders the committed ensemble). When runs were added or
    retrained since, the ensemble is rebuilt (only new weights are scored) and the old results are kept beside
    it as ``results-<created_utc>.json``."""
    from charclf.experiments.ensemble import member_name, run_ensemble, weights_digest

    members = ensemble_members(runs_dir, profile=profile)
    if not members:
        return None
    out = runs_dir / ENSEMBLE_RUN
    saved = out / "results.json"
    if saved.is_file():
        results = json.loads(saved.read_text())
        recorded = {m["member"]: m.get("weights_sha256") for m in results["members"]}
        # Every member found here is in the saved ensemble with the same weights (a retrained run is not).
        if all(member_name(d) in recorded and recorded[member_name(d)] == weights_digest(d) for d in members):
            return results
        stamp = results.get("created_utc", "undated").replace(":", "")
        saved.rename(out / f"results-{stamp}.json")
    # The profile says which recipes' lengths the members had.
    return run_ensemble(members, data, out, metadata={"profile": profile}, log=log or (lambda line: None))


def members_table(results: dict) -> pd.DataFrame:
    """The ensemble's members, each alone, and the ensembles (all, greedy and, where recorded, the one whose
    selection method held-out val halves chose), as one table."""
    table = pd.DataFrame(results["members"]).set_index("member")[["model", "params", "tta", "val_acc", "test_acc"]]
    for kind in ("all", "greedy", "cv"):
        if kind not in results:
            continue
        e = results[kind]
        method = f", {e['method']}" if kind == "cv" else ""
        table.loc[f"ensemble: {kind} ({len(e['members'])} votes{method})"] = {
            "model": "ensemble", "params": e["params"], "tta": None, "val_acc": e["val_acc"], "test_acc": e["test_acc"]}
    return table


def ablation_table(runs_dir: Path, ensemble_results: dict | None = None, *, profile: str) -> pd.DataFrame:
    """What helped and what did not: each finished arm of notebooks 02 and 09 against their shared base run
    (one change each, same model, recipe length and seed), and the ensemble against its best member on val.
    Deltas are in accuracy points; val decides, test is shown beside it."""
    from charclf.eval.record import RunRecord
    from charclf.study.plan import ablation_runs
    from charclf.train.run_folder import is_finished_run

    rows = []
    for group in ("02_augmentation", "09_efficientnet_ideas"):
        arms = [(run, runs_dir / run.name) for run in ablation_runs(group)]
        arms = [(run, RunRecord.load(d)) for run, d in arms if is_finished_run(d)]
        # The base arm changes nothing but the (shortened) epochs.
        base = next(((run, r) for run, r in arms if set(dict(run.overrides)) == {"epochs"}), None)
        if base is None:
            continue
        for run, record in arms:
            if run is base[0] or run.name in {r["run"] for r in rows}:
                continue
            rows.append({"run": run.name, "change": run.label, "baseline": base[0].label,
                         **_precision_columns([record], [base[1]]),
                         "val acc": record.val_acc, "test acc": record.test_acc,
                         "Δ val (pts)": 100 * (record.val_acc - base[1].val_acc),
                         "Δ test (pts)": 100 * (record.test_acc - base[1].test_acc)})
    rows += _paired_rows(runs_dir, profile)
    rows += _tta_rows(runs_dir, profile)
    if ensemble_results is not None:
        best = max(ensemble_results["members"], key=lambda m: m["val_acc"])
        kind = "cv" if "cv" in ensemble_results else "greedy"
        chosen = ensemble_results[kind]
        change = (f"ensemble, {chosen['method']} (method chosen on held-out val halves)" if kind == "cv"
                  else "greedy ensemble (chosen on val)")
        rows.append({"run": ENSEMBLE_RUN, "change": change,
                     "baseline": f"its best member on val ({best['member']})",
                     "precision (arm / baseline)": "members as trained; scored fp32", "also differs": "",
                     "val acc": chosen["val_acc"],
                     "test acc": chosen["test_acc"], "Δ val (pts)": 100 * (chosen["val_acc"] - best["val_acc"]),
                     "Δ test (pts)": 100 * (chosen["test_acc"] - best["test_acc"])})
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def train_students(ctx, data, ensemble_results: dict | None):
    """Notebook 11's distilled runs (``plan.beyond_runs(distilled=True)``): the teacher is written (or loaded)
    only when a student still has to train, so rendering finished runs needs neither the teacher's
    probabilities nor its members' weights, and a render-only ``ctx`` never writes one. Returns ``(teacher info
    or None, runs, status)``."""
    from charclf.study.plan import TEACHER_RUN, beyond_runs, train_plan
    from charclf.train.run_folder import is_finished_run

    plan = beyond_runs(ctx.profile, distilled=True)
    teacher = None
    if ctx.train_missing and (not all(is_finished_run(ctx.runs_dir / run.name) for run in plan) or ctx.retrain):
        if ensemble_results is None and not (ctx.runs_dir / TEACHER_RUN / TEACHER_JSON).is_file():
            return None, {}, pd.DataFrame()
        teacher = ensure_teacher(ctx.runs_dir, data, ensemble_results, profile=ctx.profile)
    elif (ctx.runs_dir / TEACHER_RUN / TEACHER_JSON).is_file():
        teacher = json.loads((ctx.runs_dir / TEACHER_RUN / TEACHER_JSON).read_text())
    runs, status = train_plan(ctx, data, plan)
    return teacher, runs, status


def ensure_teacher(runs_dir: Path, data, ensemble_results: dict | None, *, profile: str, log=print) -> dict:
    """The distillation teacher of this profile (``plan.TEACHER_RUN``): loaded when written before (a teacher
    is never replaced: its students' records hold its hash), rebuilt from the members its ``teacher.json``
    names where only that file is present, else the greedy ensemble's members scored on ``data.train``."""
    from charclf.experiments.ensemble import write_teacher
    from charclf.study.plan import TEACHER_RUN

    from charclf.errors import ConfigError

    folder = runs_dir / TEACHER_RUN
    if (folder / TEACHER_JSON).is_file() and (folder / TEACHER_NPZ).is_file():
        return json.loads((folder / TEACHER_JSON).read_text())
    if ensemble_results is None and not (folder / TEACHER_JSON).is_file():
        raise ConfigError(f"no distillation teacher in {folder} and no finished run to build one from. Fix: "
                          f"train the study's models first (charclf plan --only 04)")
    members = ensemble_results["greedy"]["members"] if ensemble_results is not None else []
    # With teacher.json present (a clone), write_teacher rebuilds the recorded teacher, whatever ``members``.
    return write_teacher(ensemble_members(runs_dir, profile=profile), members, data, folder, log=log)


def _by_seed(runs_dir: Path, series, plan: dict) -> dict:
    """``{seed: RunRecord}`` of the finished runs of ``plan`` (:func:`model_runs`) whose RunId is ``series`` (a
    RunId without a seed) but for its seed; the seed is the one each run recorded."""
    from dataclasses import replace

    from charclf.eval.record import RunRecord
    from charclf.train.run_folder import is_finished_run

    folders = [runs_dir / run.name for run in plan.values() if replace(run.run_id, seed=None) == series]
    records = [RunRecord.load(d) for d in sorted(folders) if is_finished_run(d)]
    return {r.seed: r for r in records}


def _means(records: list) -> tuple[float, float]:
    return (sum(r.val_acc for r in records) / len(records), sum(r.test_acc for r in records) / len(records))


def _precision_columns(ours: list, theirs: list) -> dict:
    """Each side's training precision and the precision of its val score (``val_precision``), and any difference
    between the sides in a column of its own: those two, and what chose the best epoch (``selection_precision``;
    an older run's None: its training precision), so a delta is never read as the change's alone."""
    def side(records, attr):
        return "/".join(sorted({getattr(r, attr, None) or r.precision for r in records}))

    differs = [f"{what}: {side(ours, attr)} vs {side(theirs, attr)}"
               for what, attr in (("precision", "precision"), ("val precision", "val_precision"),
                                  ("best epoch chosen on val in", "selection_precision"))
               if side(ours, attr) != side(theirs, attr)]
    return {"precision (arm / baseline)": f"{side(ours, 'precision')} (val {side(ours, 'val_precision')}) / "
                                          f"{side(theirs, 'precision')} (val {side(theirs, 'val_precision')})",
            "also differs": "; ".join(differs)}


def _paired_rows(runs_dir: Path, profile: str) -> list[dict]:
    """``plan.paired_comparisons`` as ablation rows: means over the seeds both sides have."""
    from charclf.study.plan import paired_comparisons

    rows, plan = [], model_runs(profile)
    for run, change, base_run, base_label in paired_comparisons():
        base, changed = _by_seed(runs_dir, base_run, plan), _by_seed(runs_dir, run, plan)
        seeds = sorted(set(base) & set(changed))  # paired: the same seeds on both sides
        if not seeds:
            continue
        (base_val, base_test), (val, test) = (_means([side[s] for s in seeds]) for side in (base, changed))
        # The spread of the seed-by-seed test changes: a mean change smaller than it is within noise.
        diffs = pd.Series([100 * (changed[s].test_acc - base[s].test_acc) for s in seeds])
        rows.append({"run": run.series, "change": change,
                     "baseline": f"{base_label} (seeds {', '.join(map(str, seeds))} on both sides)",
                     **_precision_columns([changed[s] for s in seeds], [base[s] for s in seeds]),
                     "val acc": val, "test acc": test, "Δ val (pts)": 100 * (val - base_val),
                     "Δ test (pts)": 100 * (test - base_test),
                     "Δ test paired std (pts)": diffs.std() if len(seeds) > 1 else float("nan")})
    return rows


def _tta_rows(runs_dir: Path, profile: str) -> list[dict]:
    """Test-time translation averaging as a paired row per :data:`TTA_SERIES` entry trained without it: the same
    weights scored again with TTA on val and test (``charclf evaluate RUN --part val --tta``, then ``--part
    test``), over the seeds that have both; the weights, the epoch and the precision are the same on both sides."""
    from charclf.study.plan import TTA_SERIES

    rows, plan = [], model_runs(profile)
    for series in TTA_SERIES:
        records = {seed: r for seed, r in _by_seed(runs_dir, series, plan).items()
                   if not r.tta and {"val_tta", "test_tta"} <= set(r.evaluation)}
        if not records:
            continue
        seeds = sorted(records)
        val = [records[s].evaluation["val_tta"]["accuracy"] for s in seeds]
        test = [records[s].evaluation["test_tta"]["accuracy"] for s in seeds]
        base_val, base_test = _means([records[s] for s in seeds])
        diffs = pd.Series([100 * (t - records[s].test_acc) for s, t in zip(seeds, test)])
        rows.append({"run": f"{series.series} +TTA", "change": "test-time translation averaging (the same "
                     "weights, scored again)", "baseline": f"{series.stem} without it (seeds "
                     f"{', '.join(map(str, seeds))})", **_precision_columns(list(records.values()),
                                                                           list(records.values())),
                     "val acc": sum(val) / len(val), "test acc": sum(test) / len(test),
                     "Δ val (pts)": 100 * (sum(val) / len(val) - base_val),
                     "Δ test (pts)": 100 * (sum(test) / len(test) - base_test),
                     "Δ test paired std (pts)": diffs.std() if len(seeds) > 1 else float("nan")})
    return rows


# model_hub/<folder> -> (the largest parameter count allowed, what the folder is for). ``default`` is what
# ``charclf predict`` and ``charclf demo`` load: the best model under ~1M parameters (small enough to load
# and run instantly on any laptop).
HUB_SLOTS = {"best": (None, "the best single model of the study"),
             "default": (1_000_000, "the best model under 1M parameters (charclf predict / demo)"),
             "small": (100_000, "the best model with at most 100k parameters"),
             "tiny": (30_000, "the best model with at most 30k parameters")}


def hub_choices(front: pd.DataFrame, *, min_seeds: int = 3) -> dict[str, str]:
    """``{hub folder: entry}``: for each :data:`HUB_SLOTS` slot, the entry with the highest val mean among those
    within its size and with at least ``min_seeds`` seeds (a slot nobody fills is left out)."""
    out = {}
    for slot, (max_params, _) in HUB_SLOTS.items():
        inside = front[front["n"] >= min_seeds]
        if max_params is not None:
            inside = inside[inside["params"] <= max_params]
        if not inside.empty:
            out[slot] = inside["val_mean"].idxmax()
    return out
