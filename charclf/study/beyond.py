"""Notebook 11's tables: every model's accuracy / parameters / CPU-seconds, the ensemble of the study's trained
runs, and what helped (the paired comparisons). The goals they are judged against live in
:mod:`charclf.study.goals`.

A goal's candidate is chosen on val (the highest val mean among the models inside the goal's limits); its test
mean is then read and compared with the goal. Nothing here trains: it reads run records and, for the ensemble,
scores the committed weights (cached per member, see :mod:`charclf.experiments.ensemble`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from charclf.provenance import read_json
from charclf.train.distill import TEACHER_JSON, TEACHER_NPZ

# The notebooks whose runs compare models on the complete protocol (not ablation arms or fine-tuning stages).
MODEL_GROUPS = ("04_training", "11_beyond")
ENSEMBLE_RUN = "11_beyond/ensemble"


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
                     "entry": planned.entry, "name": record.run, "rescored": False,
                     "distilled": distilled(record)})
        rescored = tta_rescored_row(rows[-1], record)
        if rescored is not None:
            rows.append(rescored)
    return pd.DataFrame(rows)


def trained_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`model_rows`' rows one per trained run: without the ``+TTA`` re-scorings, which repeat a run (count
    or select runs by name from these)."""
    return rows[~rows["rescored"].astype(bool)] if "rescored" in rows else rows


# A run trained without TTA and scored again with it on val and on test (``charclf evaluate --part val --tta``,
# then ``--part test --tta``) is also the entry ``<entry> +TTA``: the same weights, a different way of reading
# them, so a goal's candidate is chosen on val among both. It never fills a model_hub slot (hub_choices): the
# published folder is read as its record says, without TTA.
TTA_SUFFIX = " +TTA"


def rescored_with_tta(record) -> bool:
    """Whether ``record``'s run trained without TTA and was scored again with it on val and on test."""
    return not record.tta and all(isinstance(record.evaluation.get(k), dict) for k in ("val_tta", "test_tta"))


def tta_rescored_row(row: dict, record) -> dict | None:
    """``row`` (a :func:`model_rows` row of ``record``) as its ``+TTA`` entry, from the record's ``val_tta`` and
    ``test_tta`` evaluations; None unless the run trained without TTA and has both."""
    if not rescored_with_tta(record):
        return None
    val, test = record.evaluation["val_tta"], record.evaluation["test_tta"]
    return {**row, "entry": row["entry"] + TTA_SUFFIX, "rescored": True, "val_acc": float(val["accuracy"]),
            "test_acc": float(test["accuracy"]), "tta": True, "merged47_acc": test.get("merged47_accuracy"),
            "f1_weighted": test.get("f1_weighted"), "val_precision": val.get("precision", "fp32")}


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
        # the CPU threads its seeds trained with ("1/2" where they differ): seconds compare only at one count
        "threads": grouped["threads"].agg(lambda v: "/".join(sorted({str(int(t)) for t in v.dropna()})) or "?")
        if "threads" in rows else "?",
        "distilled": grouped["distilled"].any()})).join(entry_precisions(rows))
    return out.sort_values("val_mean", ascending=False)


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
        results = read_json(saved, "move it away and render notebook 11 again: the ensemble is scored anew")
        recorded = {m["member"]: m.get("weights_sha256") for m in results["members"]}
        # Every member found here is in the saved ensemble with the same weights (a retrained run is not).
        if all(member_name(d) in recorded and recorded[member_name(d)] == weights_digest(d) for d in members):
            return results
    # The profile says which recipes' lengths the members had; run_ensemble keeps the old results beside.
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
    from charclf.train.config import changed_fields
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
            rows.append({"run": run.name, "change": run.label, "baseline": base[0].label, "seeds": 1,
                         "config differs in": ", ".join(changed_fields(base[1].config, record.config)),
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
    """Notebook 11's distilled runs (``plan.beyond_runs(distilled=True)``): a teacher is written (or loaded)
    only when a student of it still has to train, so rendering finished runs needs neither the teachers'
    probabilities nor their members' weights, and a render-only ``ctx`` never writes one. Returns ``({teacher
    run: its teacher.json} of those written so far, runs, status)``."""
    from charclf.study.plan import TEACHER_RUN, TEACHERS, beyond_runs, train_plan

    plan = beyond_runs(ctx.profile, distilled=True)
    if ctx.train_missing:
        if ensemble_results is None and not (ctx.runs_dir / TEACHER_RUN / TEACHER_JSON).is_file():
            return {}, {}, pd.DataFrame()
        ensure_teachers(ctx.runs_dir, data, plan, lambda: ensemble_results, profile=ctx.profile,
                        retrain=ctx.retrain)
    teachers = {t: read_json(ctx.runs_dir / t / TEACHER_JSON, "restore it with git: its students' records hold "
                             "the teacher's hash, so it is never rebuilt in place")
                for t in TEACHERS if (ctx.runs_dir / t / TEACHER_JSON).is_file()}
    runs, status = train_plan(ctx, data, plan)
    return teachers, runs, status


def ensure_teachers(runs_dir: Path, data, plan, ensemble_results, *, profile: str, retrain: bool = False,
                    log=print) -> None:
    """Write (or rebuild) the teacher of each run of ``plan`` that still has to train (every run's, with
    ``retrain``), and no other: a teacher that is not needed is never rebuilt, which another kind of CPU may not
    be able to do. ``ensemble_results`` is called only when the first teacher has to be chosen anew."""
    from charclf.study.plan import TEACHERS, teacher_of
    from charclf.train.run_folder import is_finished_run

    needed = {teacher_of(run, profile) for run in plan if retrain or not is_finished_run(runs_dir / run.name)}
    for teacher in [t for t in TEACHERS if t in needed]:  # in order: the float64 one takes the first's members
        ensure_teacher(runs_dir, data, ensemble_results, profile=profile, teacher=teacher, log=log)


def ensure_teacher(runs_dir: Path, data, ensemble_results, *, profile: str, teacher: str | None = None,
                   log=print) -> dict:
    """The distillation ``teacher`` (one of ``plan.TEACHERS``; default ``plan.TEACHER_RUN``) of this profile:
    loaded when written before (a teacher is never replaced: its students' records hold its hash), rebuilt from
    the members its ``teacher.json`` names where only that file is present, else written: the first teacher from
    the greedy ensemble's members (``ensemble_results``, a dict or a function returning one), the float64 one
    (``plan.DISTILL_TEACHER_RUN``) from the first teacher's members."""
    from charclf.errors import ConfigError
    from charclf.experiments.ensemble import TEACHER_PRECISION, read_teacher_json, write_teacher
    from charclf.study.plan import DISTILL_TEACHER_RUN, TEACHER_RUN

    teacher = teacher or TEACHER_RUN
    folder = runs_dir / teacher
    if (folder / TEACHER_JSON).is_file() and (folder / TEACHER_NPZ).is_file():
        return read_json(folder / TEACHER_JSON, "restore it with git: its students' records hold the teacher's "
                         "hash, so it is never rebuilt in place")
    members, precision = [], TEACHER_PRECISION  # with teacher.json present, write_teacher rebuilds what it records
    if not (folder / TEACHER_JSON).is_file():
        if teacher == DISTILL_TEACHER_RUN:
            first = runs_dir / TEACHER_RUN / TEACHER_JSON
            if not first.is_file():
                raise ConfigError(f"no {first}: the float64 teacher {folder} takes its members. Fix: restore it "
                                  "with git, or write the first teacher (charclf plan --only 11-distilled)")
            members = read_teacher_json(first)["members"]
        else:
            results = ensemble_results() if callable(ensemble_results) else ensemble_results
            if results is None:
                raise ConfigError(f"no distillation teacher in {folder} and no finished run to build one from. Fix: "
                                  f"train the study's models first (charclf plan --only 04)")
            members = results["greedy"]["members"]
    return write_teacher(ensemble_members(runs_dir, profile=profile), members, data, folder, precision=precision,
                         log=log)


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
    between the sides in a column of its own: those two, and what chose the best epoch (``epoch_chosen_on``:
    an older run's training precision), so a delta is never read as the change's alone."""
    def side(records, attr):
        return "/".join(sorted({getattr(r, attr, None) or r.precision for r in records}))

    differs = [f"{what}: {side(ours, attr)} vs {side(theirs, attr)}"
               for what, attr in (("precision", "precision"), ("val precision", "val_precision"),
                                  ("best epoch chosen on val in", "epoch_chosen_on"))
               if side(ours, attr) != side(theirs, attr)]
    # Where the sides trained: threads and the machine image can move a run as much as a small change does
    # (minivision_s-fp32val, the same config trained again, is the control that measures it).
    from charclf.provenance import machine_words, threads_words

    for what, describe in (("training threads", threads_words), ("machine", machine_words)):
        a, b = ("/".join(sorted({describe(r.provenance.get("machine", {})) for r in records}))
                for records in (ours, theirs))
        if a != b:
            differs.append(f"{what}: {a} vs {b}")
    # Distilled sides that learnt from different teachers (by the hash of the teacher's probabilities); where one
    # side has no teacher, the teacher is the change itself, not something that also differs.
    a, b = ("/".join(sorted({(r.provenance.get("distill_teacher_sha256") or "none")[:8] for r in records}))
            for records in (ours, theirs))
    if a != b and "none" not in (a + "/" + b).split("/"):
        differs.append(f"distillation teacher: {a} vs {b}")

    def label(records):  # "bf16 (val fp32)", and the epoch's val where it ran in another precision
        scored, chose = side(records, "val_precision"), side(records, "epoch_chosen_on")
        return f"{side(records, 'precision')} (val {scored}" + (f", epoch chosen on {chose} val)" if chose != scored
                                                               else ")")

    return {"precision (arm / baseline)": f"{label(ours)} / {label(theirs)}", "also differs": "; ".join(differs)}


def _seed_list(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


def _paired_row(run: str, change: str, baseline: str, seeds: list[int], changed: list, base: list,
                val: list[float], test: list[float]) -> dict:
    """One paired row: ``val``/``test`` accuracies of the changed side, seed by seed (``seeds``), against the
    records ``base`` of the same seeds; ``changed`` are the changed side's records (their precision columns).
    The std of the seed-by-seed changes goes beside each mean change, val's and test's: a mean change smaller
    than it is within noise. Val's decides (``beyond_found.experiment_verdict``); test's is reported beside it."""
    from charclf.train.config import changed_fields

    base_val, base_test = _means(base)
    diffs = pd.Series([100 * (t - b.test_acc) for t, b in zip(test, base)])
    val_diffs = pd.Series([100 * (v - b.val_acc) for v, b in zip(val, base)])
    mean_val, mean_test = sum(val) / len(val), sum(test) / len(test)
    return {"run": run, "change": change, "baseline": baseline, "seeds": len(seeds),
            # read from the two sides' saved configs, not from the label: a recipe swap shows all it changes
            "config differs in": ", ".join(changed_fields(base[0].config, changed[0].config)),
            **_precision_columns(changed, base), "val acc": mean_val, "test acc": mean_test,
            "Δ val (pts)": 100 * (mean_val - base_val), "Δ test (pts)": 100 * (mean_test - base_test),
            "Δ val paired std (pts)": val_diffs.std() if len(seeds) > 1 else float("nan"),
            "Δ test paired std (pts)": diffs.std() if len(seeds) > 1 else float("nan")}


def _paired_rows(runs_dir: Path, profile: str, only: str | None = None) -> list[dict]:
    """``plan.paired_comparisons`` as ablation rows: means over the seeds both sides have (``only``: the one
    comparison whose changed run is that series, e.g. ``11_beyond/minivision_v3-nearest``)."""
    from charclf.study.plan import paired_comparisons

    rows, plan = [], model_runs(profile)
    for run, change, base_run, base_label in paired_comparisons():
        if only is not None and run.series != only:
            continue
        base, changed = _by_seed(runs_dir, base_run, plan), _by_seed(runs_dir, run, plan)
        seeds = sorted(set(base) & set(changed))  # paired: the same seeds on both sides
        if changed and not base:  # an arm whose base is not trained yet: said, not silently left out
            rows.append({"run": run.series, "change": change, "baseline": f"{base_label} ({base_run.stem}: not "
                         f"trained yet under this profile; the arm has seeds {_seed_list(sorted(changed))})",
                         "seeds": 0})
        if not seeds:
            continue
        mine = [changed[s] for s in seeds]
        rows.append(_paired_row(run.series, change, f"{base_label} (seeds {_seed_list(seeds)} on both sides)",
                                seeds, mine, [base[s] for s in seeds], [r.val_acc for r in mine],
                                [r.test_acc for r in mine]))
    return rows


def one_change_row(runs_dir: Path, profile: str, series: str) -> dict | None:
    """The paired one-change row of ``plan.paired_comparisons`` whose changed run is ``series`` (``RunId.series``,
    e.g. ``11_beyond/minivision_v3-nearest``), as :func:`ablation_table` shows it, plus ``baseline entry`` (the
    base's entry, e.g. ``minivision_v3-recipe``: the same recipe and precision, bilinear) and ``seed list`` (the
    seeds both sides have); None while no seed has both sides. A table that sets two runs side by side reads this row,
    so the gap it shows is the one change's, paired seed by seed, with its std and whatever else differs."""
    from charclf.study.plan import paired_comparisons

    pair = next(((run, base) for run, _, base, _ in paired_comparisons() if run.series == series), None)
    if pair is None:
        raise KeyError(f"{series} is no changed run of plan.paired_comparisons")
    rows = [r for r in _paired_rows(runs_dir, profile, only=series) if r["seeds"]]
    if not rows:
        return None
    plan = model_runs(profile)
    seeds = sorted(set(_by_seed(runs_dir, pair[0], plan)) & set(_by_seed(runs_dir, pair[1], plan)))
    return {**rows[0], "baseline entry": pair[1].stem, "seed list": seeds}


def one_change_caption(row: dict | None) -> str:
    """:func:`one_change_row` in one line for a table's caption: ``one change against `minivision_v3-recipe`
    (seeds 0, 1, 2 on both sides): Δ test +0.64 points (paired std 0.22); Δ val +0.42 points (paired std
    0.12); also differs: ...`` ("" without a row). Test and val are both shown; neither is a verdict here."""
    if row is None:
        return ""
    seeds = row["seed list"]

    def delta(part):
        std = row[f"Δ {part} paired std (pts)"]
        return f"Δ {part} {row[f'Δ {part} (pts)']:+.2f} points" + ("" if pd.isna(std) else f" (paired std {std:.2f})")

    also = row.get("also differs")
    on = f"seed{'s' if len(seeds) != 1 else ''} {_seed_list(seeds)} on both sides"
    return (f"one change against `{row['baseline entry']}` ({on}): {delta('test')}; {delta('val')}"
            + (f"; also differs: {also}" if also else ""))


def _tta_rows(runs_dir: Path, profile: str) -> list[dict]:
    """Test-time translation averaging as a paired row per :data:`TTA_SERIES` entry trained without it: the same
    weights scored again with TTA on val and test (``charclf evaluate RUN --part val --tta``, then ``--part
    test``), over the seeds that have both; the weights, the epoch and the precision are the same on both sides."""
    from charclf.study.plan import TTA_SERIES

    rows, plan = [], model_runs(profile)
    for series in TTA_SERIES:
        records = {seed: r for seed, r in _by_seed(runs_dir, series, plan).items() if rescored_with_tta(r)}
        if not records:
            continue
        seeds = sorted(records)
        mine = [records[s] for s in seeds]
        rows.append(_paired_row(f"{series.series} +TTA", "test-time translation averaging (the same weights, "
                                "scored again)", f"{series.stem} without it (seeds {_seed_list(seeds)})", seeds,
                                mine, mine,
                                [r.evaluation["val_tta"]["accuracy"] for r in mine],
                                [r.evaluation["test_tta"]["accuracy"] for r in mine]))
    return rows


# model_hub/<folder> -> (the largest parameter count allowed, what the folder is for). ``default`` is what
# ``charclf predict`` and ``charclf demo`` load: the best model under ~1M parameters (small enough to load
# and run instantly on any laptop).
HUB_SLOTS = {"best": (None, "the best single model of the study"),
             "default": (1_000_000, "the best model under 1M parameters (charclf predict / demo)"),
             "small": (100_000, "the best model with at most 100k parameters"),
             "tiny": (30_000, "the best model with at most 30k parameters")}


def candidates(front: pd.DataFrame) -> pd.DataFrame:
    """The frontier's entries that may be chosen (a goal's candidate, a hub slot): all but a base trained again
    beside its arms (``plan.RERUN_ENTRIES``), which is its first training's config; two entries of one recipe
    competing on val would pick val noise, so only the first training stands for it."""
    from charclf.study.plan import RERUN_ENTRIES

    return front[~front.index.str.removesuffix(TTA_SUFFIX).isin(RERUN_ENTRIES)]  # nor their +TTA re-scorings


def hub_choices(front: pd.DataFrame, *, min_seeds: int = 3) -> dict[str, str]:
    """``{hub folder: entry}``: for each :data:`HUB_SLOTS` slot, the entry with the highest val mean among the
    :func:`candidates` within its size and with at least ``min_seeds`` seeds (a slot nobody fills is left out),
    but the ``+TTA`` re-scorings (:data:`TTA_SUFFIX`), which would ship without their TTA."""
    out = {}
    shippable = candidates(front)
    shippable = shippable[~shippable.index.str.endswith(TTA_SUFFIX)]
    for slot, (max_params, _) in HUB_SLOTS.items():
        inside = shippable
        inside = inside[inside["n"] >= min_seeds]
        if max_params is not None:
            inside = inside[inside["params"] <= max_params]
        if not inside.empty:
            out[slot] = inside["val_mean"].idxmax()
    return out
