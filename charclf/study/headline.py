"""The study's findings at a glance: one table, built from the committed artifacts, that README.md and notebook
00 both show (``tools/write_readme.py`` writes it into the README; notebook 00 calls :func:`findings_markdown`).

Each row states a number (mean ± sample std over seeds where there are seeds), the precision that trained the
runs, the one that scored the val that compares runs (test is always scored in float32) and, where it differs,
the one of the per-epoch val that chose each run's weights, the goal it is
held against, the notebook that owns it and the artifact it was read from. A goal reads "met" only when the
mean clears it by at least one std, "met, within noise" when it clears it by less, else "not met" with the margin;
a race goal met in its latest session but missed in another recorded session of the same race reads "not
reproduced". A result scored with test-time augmentation carries "(TTA)".
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from charclf.eval.seeds import mean_pm_std
from charclf.study.report import precision_label, read_artifact

NOTEBOOKS = {
    "04": "notebooks/04_training.ipynb", "08": "notebooks/08_mnist_transfer.ipynb",
    "09": "notebooks/09_efficientnet_recipe.ipynb",
    "10": "notebooks/10_try_it_yourself.ipynb",
    "11": "notebooks/11_beyond_the_earlier_works.ipynb", "12": "notebooks/12_label_errors.ipynb",
}
RACE_JSON = "outputs/bench/bench-cpu-time-to-accuracy.json"
AVX2_RACE_JSON = "outputs/bench/bench-cpu-avx2-time-to-accuracy.json"
ENSEMBLE_JSON = "outputs/runs/full/11_beyond/ensemble/results.json"
MNIST_DIR = "outputs/runs/full/08_mnist_transfer"
AUDIT_JSON = "outputs/label_audit/label-audit.json"
REALWORLD_JSON = "outputs/realworld/model_hub-default.json"  # what `charclf predict` does (notebook 10)
REALWORLD_RAW_JSON = "outputs/realworld/model_hub-default-prior-train.json"  # the same, the model's raw answers
# What to do about a damaged artifact (read_artifact names the file): each is committed, and rewritten by its command.
ENSEMBLE_FIX = "restore it with git, or render notebook 11 again (it scores the ensemble anew)"
RACE_FIX = "restore it with git, or run `charclf race` again"
RACE_KEYS = ("summary", "target")
MNIST_FIX = "restore it with git, or render notebook 08 again"
REALWORLD_FIX = "restore it with git, or score the model again with `charclf evaluate-images --overwrite`"
AUDIT_FIX = "restore it with git, or rebuild it with `charclf label-audit --rewrite-report`"
# The earlier works' architectures, each under its own work's recipe (notebook 04's entries), in the order the
# README's first table names the works.
# ... and where notebook 04's run of a work's recipe differs from the work's own code, the faithful run (notebook
# 11): Mini-Vision V3's card resamples its rotations nearest, charclf's recipe bilinear.
FAITHFUL_ENTRIES = {"minivision_v3": ("minivision_v3-nearest", "its card's nearest resampling")}
EARLIER_ENTRIES = {"lenet": "ByClass study", "alexnet": "ByClass study", "vgg": "ByClass study",
                   "resnet": "ByClass study", "spinalnet": "ByClass study", "minivision_v2": "Mini-Vision V2",
                   "minivision_v3": "Mini-Vision V3", "lenet5_keras": "Keras LeNet-5"}


def goal_verdict(mean: float, target: float, std: float | None = None, *, lower_is_better: bool = False,
                 unit: str = "points", scale: float = 100.0, seeds: int | None = None) -> str:
    """The goal's verdict in words (:func:`charclf.study.goals.verdict`: met / met, within noise / not met ...)
    with its margin in ``unit`` (and the std it was compared with)."""
    from charclf.study.goals import GOAL_SEEDS, verdict

    margin, words = verdict(mean, target, None if std is None or pd.isna(std) else float(std),
                            seeds=GOAL_SEEDS if seeds is None else seeds, lower_is_better=lower_is_better)
    if margin is None:
        return words
    spread = f", 1 std {std * scale:.2f}" if std is not None and not pd.isna(std) else ""
    return f"{words} ({margin * scale:+.2f} {unit}{spread})"


def tta_words() -> str:
    """What the "(TTA)" tag on a result means, from the shifts TTA averages over (``charclf.eval.inference``)."""
    from charclf.eval.inference import TTA_SHIFTS

    shifts = [s for s in TTA_SHIFTS if any(s)]
    largest = max(max(abs(dy), abs(dx)) for dy, dx in shifts)
    return (f"*(TTA)*: scored with test-time augmentation, the softmax averaged over each image and its "
            f"{len(shifts)} shifts by {largest} pixel{'s' if largest != 1 else ''} (`--tta`); a result without the tag "
            "scored each image once")


def tta_tag(flags) -> str:
    """``" (TTA)"`` when every score behind a result used test-time augmentation, ``" (TTA on 1 of 3 seeds)"``
    when some did, ``""`` when none did (``flags``: each run's ``RunRecord.tta``; unknown ones are left out)."""
    known = [bool(f) for f in flags if f is not None and not (isinstance(f, float) and pd.isna(f))]
    used = sum(known)
    if not used:
        return ""
    return " (TTA)" if used == len(known) else f" (TTA on {used} of {len(known)} seeds)"


def _link(text: str, path: str, prefix: str) -> str:
    return f"[{text}]({prefix}{path})"


def _seed_links(runs: pd.DataFrame, prefix: str) -> str:
    return " · ".join(_link(f"s{int(r.seed)}", f"{r.run}/metrics.json", prefix)
                      for r in runs.sort_values("seed").itertuples())


def _entry_row(what: str, rows: pd.DataFrame, front: pd.DataFrame, entry: str, goal: str, notebook: str,
               prefix: str) -> dict:
    stats, runs = front.loc[entry], rows[rows["entry"] == entry]
    return {"finding": what,
            "result": f"`{entry}` ({int(stats['params']):,} params): **{mean_pm_std(stats['test_mean'], stats['test_std'])}** "
                      f"test{tta_tag(list(runs['tta']))}, {int(stats['n'])} seed{'s' if stats['n'] != 1 else ''}",
            "goal": goal, "precision": precision_label(list(runs["precision"]), list(runs["val_precision"]),
                                                                  list(runs["epoch_chosen_on"])),
            "notebook": _link(notebook, NOTEBOOKS[notebook], prefix), "artifact": _seed_links(runs, prefix)}


def findings_rows(repo: str | Path | None = None, *, prefix: str = "") -> list[dict]:
    """The findings table's rows, read from the artifacts under ``repo`` (default: this repository). Links are
    relative to the repository root, behind ``prefix`` (``"../"`` from notebooks/)."""
    from charclf.provenance import REPO_ROOT
    from charclf.study import beyond
    from charclf.study import goals as study_goals

    repo = Path(repo) if repo else REPO_ROOT
    rows = beyond.model_rows(repo / "outputs" / "runs" / "full")
    front = beyond.frontier(rows)
    ensemble_path = repo / ENSEMBLE_JSON
    ensemble = (read_artifact(ensemble_path, ("members", "greedy"), fix=ENSEMBLE_FIX) if ensemble_path.is_file()
                else None)
    reads = study_goals.ensemble_test_reads(ensemble_path.parent) if ensemble is not None else None
    goals = study_goals.goals_table(front, ensemble, ensemble_reads=reads)
    out = []
    labels = {"single model, trained in <= 2 h on the study's CPU": "best single model (≤ 2 h of CPU training)",
              "<= 100k parameters": "best model ≤ 100k parameters", "<= 30k parameters": "best model ≤ 30k parameters",
              "<= 10k parameters": "best model ≤ 10k parameters"}
    for goal, label in labels.items():
        if goal not in goals.index or pd.isna(goals.loc[goal].get("candidate (chosen on val)")):
            continue
        g = goals.loc[goal]
        verdict = goal_verdict(g["test mean"], g["target"], g["test std"], seeds=int(g["seeds"]))
        waiting = g.get("waiting for seeds (val higher)", "–")
        waiting = "" if waiting == "–" or pd.isna(waiting) else f"; waiting for seeds: {waiting}"
        out.append(_entry_row(f"{label}, chosen on val", rows, front, g["candidate (chosen on val)"],
                              f"≥ {g['target']:.1%}: {verdict}{waiting}", "11", prefix))
    if ensemble is not None:
        # The ensemble whose selection method held-out val halves chose (greedy for results from before it).
        chosen = ensemble.get("cv", ensemble["greedy"])
        how = f"{chosen['method']}, chosen on held-out val halves" if "method" in chosen else "greedy on val"
        members = ensemble["members"]
        trained = beyond.trained_runs(rows)
        runs = trained[trained["name"].isin(chosen["distinct_members"])]
        member_tta = {m["member"]: m.get("tta") for m in members}
        picked_tta = [member_tta.get(name) for name in chosen["distinct_members"]]
        used = sum(bool(t) for t in picked_tta)
        ensemble_tta = ("" if not used else "TTA; " if used == len(picked_tta) else
                        f"TTA on {used} of {len(picked_tta)} distinct runs, each scored as its run is; ")
        out.append({"finding": f"ensemble ({how}) over {len(members)} finished runs",
                    "result": f"{len(chosen['members'])} picks (with replacement) of {len(chosen['distinct_members'])} "
                              f"distinct runs: **{chosen['test_acc']:.2%}** test ({ensemble_tta}"
                              f"val {chosen['val_acc']:.2%}, the "
                              "val it was selected on"
                              + (f"; on held-out val halves {chosen['held_out_val_acc']:.2%}"
                                 if chosen.get("held_out_val_acc") is not None else "") + "); "
                              + study_goals.ensemble_reads_words(reads),
                    "goal": f"≥ {study_goals.ENSEMBLE_GOAL:.1%}: "
                            f"{goal_verdict(chosen['test_acc'], study_goals.ENSEMBLE_GOAL)} (one ensemble, no seeds; "
                            f"test read at {reads['reads']} build{'s' if reads['reads'] != 1 else ''})",
                    "precision": precision_label(list(runs["precision"]), list(runs["val_precision"]),
                                                                  list(runs["epoch_chosen_on"])),
                    "notebook": _link("11", NOTEBOOKS["11"], prefix),
                    "artifact": _link("results.json", ENSEMBLE_JSON, prefix)
                                + (f" (and {reads['reads'] - 1} earlier `results-*.json` beside it)"
                                   if reads["reads"] > 1 else "")})
    out += race_rows(repo, prefix=prefix)
    out += avx2_race_rows(repo, prefix=prefix)
    out += mnist_rows(repo, prefix=prefix)
    out += realworld_rows(repo, prefix=prefix)
    out += audit_rows(repo, prefix=prefix)
    return out


def race_rows(repo: Path, *, prefix: str = "") -> list[dict]:
    """The time-to-accuracy race: our fastest entrant's seconds and the best ratio over the earlier pipeline
    (the mean ± std of its seed-by-seed ratios, with each entrant's images/s), judged over every recorded session
    of the same race (the JSON, and those kept in its ``history/`` folder: ``charclf.study.race_sessions.race_history``)."""
    from charclf.study import goals as study_goals, race_sessions

    path = repo / RACE_JSON
    if not path.is_file():
        return []
    race = read_artifact(path, RACE_KEYS, fix=RACE_FIX)
    history = race_sessions.race_history(race, path.parent / race_sessions.RACE_HISTORY_DIR)
    goals = study_goals.race_goals(race, history=history)
    out = []
    for goal, g in goals.iterrows():
        if g["candidate"] is None or pd.isna(g["value"]):
            continue
        own_words = g["verdict"].startswith(("not met: timed", race_sessions.NOT_REPRODUCED))
        seconds = g["target"] == study_goals.RACE_GOAL_S
        result, verdict, precision = (_race_seconds(race, g, own_words) if seconds else
                                      _race_ratio(race, g, own_words))
        out.append({"finding": "time-to-accuracy race: " + (f"training seconds to {race['target']:.1%} val" if seconds
                                                             else "speed-up over the earlier works' training"),
                    "result": result,
                    "goal": (f"≤ {study_goals.RACE_GOAL_S:.0f} s" if seconds else f"≥ {study_goals.RACE_GOAL_RATIO:.0f}×")
                            + f": {verdict}", "precision": precision,
                    "notebook": _link("11", NOTEBOOKS["11"], prefix),
                    "artifact": _race_artifacts(RACE_JSON, history, prefix)})
    return out


def _rate(entrant: dict) -> str:
    """`` at 2,080 images/s`` from a race summary's entrant, "" when it has no rate."""
    rate = entrant.get("images_per_s_mean")
    return "" if rate is None else f" at {rate:,.0f} images/s"


def _sessions(g) -> str:
    """The goal row's words on every recorded session of its race, "" when there is only this one."""
    told = g.get("sessions")
    return "" if told is None or pd.isna(told) else f". Every recorded session of this race on this host: {told}"


def _race_artifacts(rel_json: str, history: list[dict], prefix: str) -> str:
    """Links to a race JSON and to each earlier session of it kept in its ``history/`` folder."""
    from charclf.study import race_sessions

    folder = f"{Path(rel_json).parent.as_posix()}/{race_sessions.RACE_HISTORY_DIR}"
    return " · ".join([_link(Path(rel_json).name, rel_json, prefix)] + [
        _link(f"history: {h['history_path']}", f"{folder}/{h['history_path']}", prefix) for h in history])


def _race_seconds(race: dict, g, own_words: bool) -> tuple[str, str, str]:
    """(result, verdict, precision) of the race's seconds goal for its candidate entrant."""
    from charclf.study import goals as study_goals, race_sessions

    s = race["summary"][g["candidate"]]
    recipe = race.get("fast_recipe") if g["candidate"] == "charclf_fast" else g["candidate"]
    result = (f"`{recipe}`: **{s['seconds_to_target_mean']:.1f} ± {s['seconds_to_target_std']:.1f} s** "
              f"of training to {race['target']:.1%} val ({race_sessions.seeds_words(s['seeds'])}; "
              f"test then {s['test_acc_mean']:.2%}){_sessions(g)}")
    verdict = g["verdict"] if not g["met"] and own_words else goal_verdict(
        s["seconds_to_target_mean"], study_goals.RACE_GOAL_S, s["seconds_to_target_std"], lower_is_better=True,
        unit="s", scale=1.0)
    return result, verdict, f"{s.get('precision', '?')} (train)"


def _race_ratio(race: dict, g, own_words: bool) -> tuple[str, str, str]:
    """(result, verdict, precision) of a race ratio goal: the per-seed ratios' mean ± std, each side's seconds and
    images/s, and our pipeline's own ratio where the race measured it."""
    from charclf.study import goals as study_goals, race_sessions

    summary = race["summary"]
    usual = summary.get("usual", {})
    fast = summary.get(race_sessions.RATIO_ENTRANT.get(g["candidate"], ""), {})
    pipeline_mean, pipeline_std = (race_sessions.ratio_stats(race, "ratio_pipeline")
                                   if race.get("ratio_pipeline") is not None else (None, None))
    ours = (f"our recipe `{race.get('fast_recipe')}`, its model and our pipeline together"
            if g["candidate"] == "ratio_fast" else
            "the same recipe through our pipeline, in bf16 where native, resampled bilinear")
    spread = "" if g.get("std") is None or pd.isna(g.get("std")) else f" ± {g['std']:.2f}"
    result = (f"`{g['candidate']}` = **{g['value']:.2f}×{spread}** (mean ± std of the per-seed ratios, "
              f"{race_sessions.seeds_words(race.get('seeds'))}): the earlier works' recipe and pipeline "
              f"{mean_pm_std(usual.get('seconds_to_target_mean'), usual.get('seconds_to_target_std'), '.1f')} s"
              f"{_rate(usual)}; {ours} "
              f"{mean_pm_std(fast.get('seconds_to_target_mean'), fast.get('seconds_to_target_std'), '.1f')} s"
              f"{_rate(fast)}"
              + (f"; our pipeline alone, same recipe, float32 and nearest resampling: `ratio_pipeline` = "
                 f"{pipeline_mean:.2f}×" + ("" if pipeline_std is None else f" ± {pipeline_std:.2f}")
                 if pipeline_mean is not None else "")
              + _sessions(g))
    verdict = g["verdict"] if not g["met"] and own_words else goal_verdict(
        g["value"], study_goals.RACE_GOAL_RATIO, g.get("std"), unit="×", scale=1.0)
    return result, verdict, f"{usual.get('precision', '?')} against {fast.get('precision', '?')}: arms differ"


def avx2_race_rows(repo: Path, *, prefix: str = "") -> list[dict]:
    """The race on an AVX2-only CPU (float32), when its JSON exists: ratio_fast against its goal."""
    from charclf.study import goals as study_goals, race_sessions

    path = repo / AVX2_RACE_JSON
    if not path.is_file():
        return []
    race = read_artifact(path, RACE_KEYS, fix=RACE_FIX)
    history = race_sessions.race_history(race, path.parent / race_sessions.RACE_HISTORY_DIR)
    g = study_goals.avx2_race_goal(race, history=history).iloc[0]
    if pd.isna(g["value"]):
        return []
    verdict = g["verdict"] if not g["met"] and g["verdict"].startswith(("not met:", race_sessions.NOT_REPRODUCED)) \
        else goal_verdict(g["value"], study_goals.AVX2_RACE_GOAL_RATIO, g.get("std"), unit="×", scale=1.0)
    spread = "" if g.get("std") is None or pd.isna(g.get("std")) else f" ± {g['std']:.2f}"
    summary = race["summary"]
    return [{"finding": "time-to-accuracy race on an AVX2-only CPU (kernels capped to AVX2, float32)",
             "result": f"`ratio_fast` = **{g['value']:.2f}×{spread}** (mean ± std of the per-seed ratios, "
                       f"{race_sessions.seeds_words(race.get('seeds'))}): the earlier works' pipeline "
                       f"{g['usual s (mean ± std)']} s{_rate(summary.get('usual', {}))}; `{race.get('fast_recipe')}` "
                       f"{g['charclf_fast s (mean ± std)']} s{_rate(summary.get('charclf_fast', {}))}"
                       + ("" if pd.isna(g.get("sessions")) else
                          f". Every recorded session of this race on this host: {g['sessions']}"),
             "goal": f"≥ {study_goals.AVX2_RACE_GOAL_RATIO:.0f}×: {verdict}", "precision": f"{g['precision']} (train)",
             "notebook": _link("11", NOTEBOOKS["11"], prefix),
             "artifact": _race_artifacts(AVX2_RACE_JSON, history, prefix)}]


def mnist_result_dirs(root: Path) -> list[tuple[Path, str | None, int]]:
    """Notebook 08's result folders under ``root`` as ``(folder, recipe or None, seed)``: ``seed<N>`` first (the
    earlier study's comparison), then each ``<recipe>-seed<N>``, in name order; only those with results.json."""
    import re

    found = []
    for folder in sorted(root.iterdir() if root.is_dir() else [], key=lambda d: ("-" in d.name, d.name)):
        match = re.fullmatch(r"(?:(.+)-)?seed(\d+)", folder.name)
        if match is not None and (folder / "results.json").is_file():
            found.append((folder, match.group(1), int(match.group(2))))
    return found


def mnist_table(repo: Path | None, folder: Path | None = None) -> pd.DataFrame:
    """Notebook 08's runs over its seeds: one row per (seed, run) from each ``seed<N>/results.json`` of ``folder``
    (default: the full profile's, ``repo / MNIST_DIR``), and from each ``<recipe>-seed<N>/results.json`` (the
    same comparison under another recipe), whose runs are named ``"<run> (<recipe>)"``."""
    frames = {}
    for seed_dir, recipe, seed in mnist_result_dirs(folder or repo / MNIST_DIR):
        runs = pd.DataFrame(read_artifact(seed_dir / "results.json", rows={"runs": ("run",)}, fix=MNIST_FIX)["runs"])
        if recipe:
            runs["run"] = runs["run"] + f" ({recipe})"
        frames.setdefault(seed, []).append(runs.set_index("run"))
    frames = {seed: pd.concat(parts) for seed, parts in frames.items()}
    return pd.concat(frames, names=["seed"]) if frames else pd.DataFrame()


def mnist_rows(repo: Path, *, prefix: str = "") -> list[dict]:
    """Notebook 08's finding: transfer against scratch under each recipe it ran (the earlier study's, then each
    ``<recipe>-seed<N>``), the recipe of the run chosen on val for the MNIST goal first and in bold."""
    from charclf.eval.record import RunRecord
    from charclf.study import goals as study_goals

    table = mnist_table(repo)
    if table.empty or not {"transfer", "scratch"} <= set(table.index.get_level_values("run")):
        return []
    stats = table.groupby("run")["test_acc"].agg(["mean", "std", "count"])
    runs = set(stats.index)
    chosen = str(study_goals.mnist_goal(table).iloc[0]["candidate (chosen on val)"])
    chosen_suffix = chosen[len("transfer"):] if chosen.startswith("transfer") else None
    suffixes = sorted({run[len("transfer"):] for run in runs if run.startswith("transfer")},
                      key=lambda sfx: (sfx != chosen_suffix, sfx))
    run_names = table.index.get_level_values("run")

    def records_of(names) -> list:
        dirs = table.loc[run_names.isin(names), "run_dir"]
        return [RunRecord.load(repo / d) for d in dirs if (repo / d / "metrics.json").is_file()]

    pairs = []
    for sfx in suffixes:
        t_name, s_name = "transfer" + sfx, "scratch" + sfx
        if s_name not in runs:
            continue
        t, s = stats.loc[t_name], stats.loc[s_name]
        gap, noise = t["mean"] - s["mean"], max(t["std"], s["std"])
        bold = "**" if t_name == chosen else ""
        pair_records = records_of([t_name, s_name])
        tagged = {name: tta_tag([r.tta for r in records_of([name])]) for name in (t_name, s_name)}
        pairs.append(f"{t_name} {bold}{mean_pm_std(t['mean'], t['std'])}{bold}{tagged[t_name]}, {s_name} "
                     f"{mean_pm_std(s['mean'], s['std'])}{tagged[s_name]} ({int(t['count'])} seeds, "
                     + precision_label([r.precision for r in pair_records], [r.val_precision for r in pair_records],
                                       [r.epoch_chosen_on for r in pair_records])
                     + f"): {100 * gap:+.2f} points, " + ("within" if abs(gap) <= noise else "beyond")
                     + " the seeds' spread")
    records = records_of(["transfer" + sfx for sfx in suffixes] + ["scratch" + sfx for sfx in suffixes])
    return [{"finding": "MNIST: EMNIST pre-training vs from scratch (official MNIST test, 10,000 images)",
             "result": "; ".join(pairs),
             "goal": mnist_goal_words(table), "precision": precision_label([r.precision for r in records],
                                                      [r.val_precision for r in records],
                                                      [r.epoch_chosen_on for r in records]),
             "notebook": _link("08", NOTEBOOKS["08"], prefix),
             "artifact": " · ".join(_link(d.name, f"{MNIST_DIR}/{d.name}/results.json", prefix)
                                    for d, _, _ in mnist_result_dirs(repo / MNIST_DIR))}]


def mnist_goal_words(table: pd.DataFrame) -> str:
    """The MNIST goal's verdict (the run chosen on val: :func:`charclf.study.goals.mnist_goal`) with its margin."""
    from charclf.study import goals as study_goals

    g = study_goals.mnist_goal(table).iloc[0]
    return (f"≥ {study_goals.MNIST_GOAL:.1%} ({g['candidate (chosen on val)']}, chosen on val): "
            + goal_verdict(g["test mean"], study_goals.MNIST_GOAL, g["test std"], seeds=int(g["seeds"])))


def realworld_rows(repo: Path, *, prefix: str = "") -> list[dict]:
    """The shipped model on real handwriting that is not NIST, as ``charclf predict`` reads it, beside its raw
    answers (the class prior is the one change between the two artifacts). The artifacts are found by path, so
    each counts only while it scored the weights now in ``model_hub/default`` (``describes_current_weights``): a
    model published there since would otherwise be credited with the old model's score. A stale artifact gives
    no number: the row says so and which command scores the model again."""
    from charclf.eval.realworld_scores import GOALS, describes_current_weights
    from charclf.class_prior import PRIOR_WORDS, recorded_prior

    path, raw_path = repo / REALWORLD_JSON, repo / REALWORLD_RAW_JSON
    if not path.is_file():
        return []
    art = read_artifact(path, ("metrics",), fix=REALWORLD_FIX)
    m, n = art["metrics"], art["metrics"]["overall"]["n"]
    sources = len(art.get("sources", {}))
    finding = (f"real handwriting, not NIST ({n} images, {sources} public sources): `model_hub/default` as "
               "`charclf predict` reads it")
    model = str(art.get("provenance", {}).get("model") or "model_hub/default")
    if not describes_current_weights(art, repo):
        return [{"finding": finding,
                 "result": f"stale: `{path.name}` scored other weights than `{model}` holds now, so no number is "
                           f"shown; score it again with `charclf evaluate-images --model {model} --overwrite`",
                 "goal": "–", "precision": "–", "notebook": _link("10", NOTEBOOKS["10"], prefix),
                 "artifact": _link(path.name, REALWORLD_JSON, prefix)}]
    raw_art = read_artifact(raw_path, ("metrics",), fix=REALWORLD_FIX) if raw_path.is_file() else None
    raw = raw_art["metrics"] if raw_art is not None else None
    if raw is not None and recorded_prior(raw) == recorded_prior(m):
        raw = None  # not the other prior: nothing to set beside it
    stale_raw = ""
    if raw is not None and not describes_current_weights(raw_art, repo):  # another model's raw answers
        raw = None
        stale_raw = (f" (`{raw_path.name}` is stale: it scored other weights; score them again with "
                     f"`charclf evaluate-images --model {model} --prior train --overwrite`)")
    target = dict((key, t) for key, _, _, t in GOALS)["merged_top1"]
    was = (f" (under {PRIOR_WORDS[recorded_prior(raw)]}: {raw['overall']['top1']:.1%} / "
           f"{raw['overall']['merged_top1']:.1%})" if raw else stale_raw)
    return [{"finding": finding,
             "result": f"whole set (its preprocessing and prior were developed on it): top-1 "
                       f"**{m['overall']['top1']:.1%}**, merged top-1 **{m['overall']['merged_top1']:.1%}**, "
                       f"lower case merged {m['kind']['lower']['merged_top1']:.1%}, under "
                       f"{PRIOR_WORDS[recorded_prior(m)]}{was}; the other goals (top-1, photos, lower case, "
                       "shadowed and ruled copies) in notebook 10",
             "goal": f"merged ≥ {target:.0%}: {_realworld_goal(m, target)}",
             "precision": _shipped_precision(repo / str(art.get("provenance", {}).get("model", ""))) + "; fp32 inference",
             "notebook": _link("10", NOTEBOOKS["10"], prefix),
             "artifact": _link(path.name, REALWORLD_JSON, prefix)
                         + (" · " + _link(raw_path.name, REALWORLD_RAW_JSON, prefix) if raw else "")}]


def _realworld_goal(metrics: dict, target: float) -> str:
    """The merged-top-1 goal's verdict: on the held-out part of the set where the artifact has one
    (``charclf.data.realworld_parts``), else on the whole set, in-sample."""
    from charclf.eval.realworld_scores import part_verdict

    held = (metrics.get("parts") or {}).get("heldout", {}).get("overall", {})
    if held.get("n"):
        return part_verdict(None, held["merged_top1"], held["n"], target, held.get("merged_top1_se"))["verdict"] + \
            f"; {held['merged_top1']:.1%} held-out"
    return f"{goal_verdict(metrics['overall']['merged_top1'], target)} (one set, in-sample)"


def _shipped_precision(folder: Path) -> str:
    """A model folder's training and val precisions (``run_precision`` of its metrics.json), "?" when unreadable."""
    from charclf.errors import CharclfError
    from charclf.eval.record import RunRecord
    from charclf.study.report import run_precision

    try:
        return run_precision(RunRecord.load(folder))
    except (CharclfError, OSError, ValueError, KeyError, TypeError):
        return "?"


def audit_shares(audit: dict) -> dict:
    """The test part's errors of the audit's model, by the kind of flag on the image (``{kind: (count, share)}``
    plus ``"errors"``). Every flagged test image is an error of that model when the JSON's two counts agree (the
    flag needs the model to read another label); otherwise the counts are upper bounds and ``exact`` is False."""
    test, kinds = audit["test"], audit["by_part"]["test"]["by_kind"]
    errors = test["model_errors"]
    exact = test.get("errors_on_likely_label_errors") == test.get("likely_label_errors")
    shares = {kind: (n, n / errors) for kind, n in kinds.items()}
    return {"errors": errors, "exact": exact, "shares": shares, "ceiling": test["ceiling_accuracy"],
            "accuracy": test["model_accuracy"]}


def audit_rows(repo: Path, *, prefix: str = "") -> list[dict]:
    path = repo / AUDIT_JSON
    if not path.is_file():
        return []
    audit = read_artifact(path, ("test", "by_part", "models"), fix=AUDIT_FIX)
    s = audit_shares(audit)
    plain = sum(s["shares"].get(k, (0, 0))[0] for k in ("wrong_label", "orientation"))
    soft = s["shares"].get("digit_letter", (0, 0))[0]
    bound = "" if s["exact"] else "at most "
    model = audit["models"]["full"]
    return [{"finding": "label audit: test errors that fall on suspect labels",
             "result": f"of the audit model's {s['errors']:,} test errors ({s['accuracy']:.2%} accuracy), {bound}"
                       f"**{plain:,} ({plain / s['errors']:.1%})** on plainly wrong or mis-oriented labels, "
                       f"{soft:,} ({soft / s['errors']:.1%}) on digit/letter look-alikes; were every flagged test "
                       f"label wrong, no model could score above {s['ceiling']:.1%} against these labels (one seed)",
             "goal": "–", "precision": f"{model.get('precision', '?')} / val {model.get('precision', '?')}",
             "notebook": _link("12", NOTEBOOKS["12"], prefix), "artifact": _link(path.name, AUDIT_JSON, prefix)}]


def earlier_rows(repo: str | Path | None = None, *, prefix: str = "") -> list[dict]:
    """The earlier works' architectures on this protocol, each under its own work's recipe (notebook 04)."""
    from charclf.provenance import REPO_ROOT
    from charclf.study import beyond
    from charclf.study.earlier import EARLIER_BYCLASS_STUDY
    from charclf.study.plan import BEYOND

    repo = Path(repo) if repo else REPO_ROOT
    every = beyond.model_rows(repo / "outputs" / "runs" / "full")
    if every.empty:
        return []
    rows = every[every["group"] == "04_training"]
    front = beyond.frontier(rows)
    out = []
    for entry, work in EARLIER_ENTRIES.items():
        if entry not in front.index:
            continue
        row = _entry_row(work, rows, front, entry, "", "04", prefix)
        theirs = EARLIER_BYCLASS_STUDY.get(entry)
        row["goal"] = (f"its paper: {theirs:.2%} (official test, ~120k train images)" if theirs else "–")
        out.append(row)
        faithful = FAITHFUL_ENTRIES.get(entry)
        if faithful:  # the work's recipe as its own code runs it, trained in notebook 11
            mine = every[(every["group"] == "11_beyond") & (every["entry"] == faithful[0])]
            if mine.empty:
                continue
            # Its one change is measured against the work's recipe trained again in the same precision (its pair in
            # plan.paired_comparisons), not against notebook 04's row above, which differs in precision too.
            pair = beyond.one_change_row(repo / "outputs" / "runs" / "full", "full", f"{BEYOND}/{faithful[0]}")
            if pair is not None:
                base = every[(every["group"] == "11_beyond") & (every["entry"] == pair["baseline entry"])]
                out.append(_entry_row(f"{work} (the same recipe trained again in the next row's precision: its "
                                      "baseline)", base, beyond.frontier(base), pair["baseline entry"], "–", "11",
                                      prefix))
            row = _entry_row(f"{work} ({faithful[1]})", mine, beyond.frontier(mine), faithful[0], "–", "11", prefix)
            if pair is not None:
                row["result"] += f"; {beyond.one_change_caption(pair)}"
            out.append(row)
    effnet = efficientnet_cpu_row(repo, prefix=prefix)
    return out + ([effnet] if effnet else [])


def efficientnet_cpu_row(repo: Path, *, prefix: str = "") -> dict | None:
    """The EfficientNet transfer study's row: notebook 09's CPU-scale B2 (its largest finished size, the one
    ``efficientnet_cpu_plan`` shows), beside the work's published number, which had ImageNet weights, 112 px and
    the official test. None while no size has finished."""
    from charclf.eval.record import load_records
    from charclf.study.earlier import EARLIER_EFFICIENTNET_B2
    from charclf.study.plan import efficientnet_cpu_runs
    from charclf.study.report import precision_label, record_row

    runs_dir = repo / "outputs" / "runs" / "full"
    planned = {r.name: r for r in efficientnet_cpu_runs()}
    finished = {rec.run: (folder, rec) for folder, rec in load_records(runs_dir).items()
                if rec.profile == "full" and rec.run in planned} if runs_dir.is_dir() else {}
    chosen = next((name for name in reversed(list(planned)) if name in finished), None)
    if chosen is None:
        return None
    folder, rec = finished[chosen]
    row = record_row(folder, rec)
    size = rec.config.get("model_kwargs", {}).get("input_size")
    return {"finding": f"EfficientNet transfer study, B2 at CPU scale (from scratch, {size} px inside the model, "
                       f"its recipe over {rec.epochs_run} epochs)",
            "result": f"`{planned[chosen].entry}` ({int(row['params']):,} params): **{row['test_acc']:.2%}** "
                      f"test{tta_tag([row['tta']])}, "
                      f"1 seed ({row['train_time_s'] / 3600:.1f} h of training)",
            "goal": f"its work: {EARLIER_EFFICIENTNET_B2:.2%} (ImageNet weights, 112 px, official test; not the same "
                    "experiment)",
            "precision": precision_label([row["precision"]], [row["val_precision"]], [row["epoch_chosen_on"]]),
            "notebook": _link("09", NOTEBOOKS["09"], prefix),
            "artifact": _link(f"s{rec.seed}", f"{row['run']}/metrics.json", prefix)}


def _markdown(rows: list[dict], columns: dict[str, str]) -> str:
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def findings_markdown(repo: str | Path | None = None, *, prefix: str = "") -> str:
    """The findings table and the earlier works' table, as Markdown (README.md's block; notebook 00's first
    output, with ``prefix="../"``)."""
    findings = findings_rows(repo, prefix=prefix)
    earlier = earlier_rows(repo, prefix=prefix)
    if not findings and not earlier:  # an installed package without the repository's outputs/
        return "_No committed results here: a clone of the repository holds them under outputs/._"
    text = ["All on the offline `holdout` protocol (train 93,055 / val 11,634 / test 11,634 images of EMNIST "
            "ByClass, 62 classes) unless the row says otherwise; test accuracy is mean ± sample std over seeds, "
            "scored once in float32 on the weights chosen on val. *precision*: what trained the runs / what scored "
            "the val that compares them; *epoch chosen on bf16 val*: older runs chose their best epoch on val "
            f"in bf16 and were scored on val in float32 afterwards; {tta_words()}.", "",
            _markdown(findings, {"finding": "finding", "result": "result", "goal": "goal",
                                 "precision": "precision (train / val)", "notebook": "notebook",
                                 "artifact": "artifact"})]
    if earlier:
        text += ["", "The earlier works' architectures, each under its own work's recipe as notebook 04 trains it "
                 "(rotations resampled bilinear), on this protocol; where the work's own code differs, its faithful "
                 "run follows, after the work's recipe trained again beside it in the same precision (the baseline "
                 "its one change is measured against; *(TTA)* as above: scored with test-time augmentation):", "",
                 _markdown(earlier, {"finding": "work", "result": "result", "goal": "published",
                                     "precision": "precision (train / val)", "notebook": "notebook",
                                     "artifact": "artifact"})]
    return "\n".join(text)
