"""Cached runs: a finished run folder under ``outputs/runs/<profile>/<name>`` is loaded instead of retrained.

Unless ``RETRAIN`` is true or the environment says ``CHARCLF_RETRAIN=1`` (what CI does, so that the quick
profile really trains there). Also the tables notebooks build from runs (runs_table, seed_summary,
generalisation_table), all read from each run's RunRecord.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from charclf.errors import ConfigError, NotTrainedYet, TrainingError
from charclf.eval.record import RunRecord
from charclf.paths import outputs_dir, runs_folder
from charclf.provenance import read_json
from charclf.study.profiles import profile_settings
from charclf.train.run_folder import RUN_MARKERS, is_finished_run, prune_run, resumable  # noqa: F401

RETRAIN_ENV = "CHARCLF_RETRAIN"
RENDER_ENV = "CHARCLF_RENDER_ONLY"  # set by `charclf study` without --train: load finished results, train nothing
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}




REPLACED_DIR = "replaced"  # beside runs/: where retraining moves the folders it replaces (never in a table)


def set_aside(folder: Path, runs_root: Path, why: str) -> Path:
    """Move ``folder`` (under ``runs_root``) to ``<runs_root>/../replaced/<its path under runs_root>-<UTC time>``
    instead of deleting it, and say where: retraining replaces a run, but nothing the study did not just write
    is ever deleted (weights, notes, another tool's files go with the folder). Returns the new place."""
    from charclf.fileio import move_aside
    from charclf.runlock import refuse_if_locked

    folder, runs_root = Path(folder), Path(runs_root)
    refuse_if_locked(folder)  # a training writing into it (another notebook, a plan worker) keeps its folder
    try:
        inside = folder.resolve().relative_to(runs_root.resolve())
    except ValueError:
        inside = Path(folder.name)
    target = move_aside(folder, runs_root.parent / REPLACED_DIR / inside)
    print(f"[{inside.as_posix()}] {why}: moved the old folder to {_display_path(target)} (delete it yourself once "
          "you no longer need it)")
    return target


def retrain_requested(retrain: bool = False) -> bool:
    """``retrain``, unless ``$CHARCLF_RETRAIN`` says otherwise (``1``/``0``): CI forces real training this way,
    because nbmake runs the committed notebooks as they are and cannot inject parameters."""
    env = os.environ.get(RETRAIN_ENV)
    if env is None:
        return bool(retrain)
    value = env.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"${RETRAIN_ENV}={env!r} is not understood. Fix: set it to 1 (retrain) or 0 (use cached runs)")


def render_only_requested() -> bool:
    """Whether ``$CHARCLF_RENDER_ONLY`` asks notebooks to load finished results only and train nothing (what
    ``charclf study`` sets unless ``--train`` is given): a missing result then raises :class:`NotTrainedYet`."""
    env = os.environ.get(RENDER_ENV)
    value = "" if env is None else env.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"${RENDER_ENV}={env!r} is not understood. Fix: set it to 1 (render finished results only) "
                      "or 0 (train what is missing)")


def not_trained_yet(what: str, path: Path, profile: str) -> NotTrainedYet:
    """The error of a render-only execution that needs ``what`` (at ``path``), which is not finished."""
    state = "unfinished" if Path(path).exists() else "not there"
    return NotTrainedYet(f"{what} is {state} at {_display_path(path)}, and this execution only renders finished "
                         f"results (${RENDER_ENV}=1). Fix: train it first, e.g. `charclf study --profile {profile} "
                         f"--train --only NN` for this notebook (or `charclf plan --profile "
                         f"{profile}` for notebook 04's runs)")


# -- cached runs -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A finished run folder: what training wrote (metrics, history, config) and how to get its model."""

    name: str
    dir: Path
    record: RunRecord  # the run's metrics.json, in its one schema
    history: "object"  # pandas.DataFrame
    cached: bool  # True when loaded from disk instead of trained in this session

    @property
    def config(self) -> dict:
        path = self.dir / "train_config.json"
        return read_json(path, "restore it with git, or retrain the run") if path.exists() else {}

    def load_model(self, device: str = "cpu"):
        from charclf.models.hub import load_model

        return load_model(self.dir, device=device)


def load_run(run_dir: str | Path, *, name: str | None = None, cached: bool = True) -> Run:
    import pandas as pd

    run_dir = Path(run_dir)
    if not is_finished_run(run_dir):
        missing = [m for m in RUN_MARKERS if not (run_dir / m).is_file()]
        raise TrainingError(f"{run_dir}: not a finished run (missing {', '.join(missing)}). "
                            "Fix: retrain it (RETRAIN = True or CHARCLF_RETRAIN=1)")
    return Run(name=name or run_dir.name, dir=run_dir, record=RunRecord.load(run_dir),
               history=pd.read_csv(run_dir / "history.csv"), cached=cached)


def cached_run(name: str, profile: str, build_fn: Callable[[Path], object], retrain: bool = False, *,
               runs_root: str | Path | None = None, train_missing: bool = True, protocol: str = "holdout") -> Run:
    """Load the finished run ``outputs/runs/<profile>/<name>`` (``<profile>-official/`` under the official
    protocol: :func:`charclf.paths.runs_folder`), or build it with ``build_fn(run_dir)``.

    ``build_fn`` trains into the folder it is given (typically ``fit(model, data, cfg, run_dir)``). A folder
    that was killed mid-way with a resume state (``resume.pt``) is handed to ``build_fn`` as it is, which
    resumes it (``fit`` refuses a resume under another config). Any other unfinished folder, or one that is to
    be retrained, is set aside first (:func:`set_aside`: moved, never deleted), so a stale metrics.json can never
    sit beside new weights and no weights or notes are lost.

    ``train_missing=False`` (rendering) only loads: a run that is not finished raises :class:`NotTrainedYet`
    and nothing is trained or removed.
    """
    profile_settings(profile)  # refuse unknown profiles before touching any folder
    retrain = retrain_requested(retrain)
    root = Path(runs_root or outputs_dir() / "runs")
    run_dir = root / runs_folder(profile, protocol) / name  # one folder per protocol (paths.runs_folder)
    if not train_missing and (retrain or not is_finished_run(run_dir)):
        raise (not_trained_yet(f"run {name!r}", run_dir, profile) if not retrain else _render_and_retrain())
    if not retrain and is_finished_run(run_dir):
        run = load_run(run_dir, name=name, cached=True)
        made, sha = run.record.provenance.get("created_utc", "?"), str(run.record.git_sha)[:12]
        print(f"[{name}] loaded the cached run {_display_path(run_dir)} (made {made}, git {sha}); "
              f"set RETRAIN = True or CHARCLF_RETRAIN=1 to train it again")
        return run
    if run_dir.exists() and (retrain or not resumable(run_dir)):
        set_aside(run_dir, root, "retraining" if retrain else
                  "an unfinished run with no resume state (resume.pt) to continue from: training it afresh")
    elif run_dir.exists():  # a run killed mid-way (session end): continue it exactly where it stopped
        print(f"[{name}] resuming the unfinished run {_display_path(run_dir)}")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    build_fn(run_dir)
    if not is_finished_run(run_dir):
        raise TrainingError(f"{run_dir}: the build function returned but did not write "
                            f"{' and '.join(RUN_MARKERS)}. Fix: let it train into the folder it is given")
    return load_run(run_dir, name=name, cached=False)


def update_record(run_dir: str | Path, **changes) -> RunRecord:
    """Set the study's bookkeeping fields (profile, run, weights_kept) of a run's record, atomically."""
    record = RunRecord.load(run_dir).replace(**changes)
    record.save(run_dir)
    return record


def describe_run(run: Run) -> str:
    """One line: what trained, how long, and its accuracies (val picks the epoch; test is measured once)."""
    r = run.record
    return (f"[{run.name}] {r.model}: {r.epochs_run} epoch(s) on {r.train_samples:,} images, {val_words(r)}, "
            f"test acc {r.test_acc:.2%}" + (" (TTA)" if r.tta else "") + f", {r.train_time_s:.0f} s"
            + (" — cached" if run.cached else ""))


def val_words(record: RunRecord) -> str:
    """``"best val acc 86.57% (epoch 21)"``: the val accuracy the tables show (:attr:`RunRecord.val_acc`), with
    its precision where it is not float32, and — for an older run re-scored in float32 — the per-epoch val that
    chose the epoch, in its own precision (``"best val acc 87.03% (fp32; epoch 44 chosen on bf16 val 87.14%)"``),
    so the two numbers of one run are never shown as one."""
    words = f"best val acc {record.val_acc:.2%}"
    if record.epoch_chosen_on != record.val_precision:
        return (words + f" ({record.val_precision}; epoch {record.best_epoch} chosen on {record.epoch_chosen_on} "
                f"val {record.best_val_acc:.2%})")
    precision = "" if record.val_precision == "fp32" else f"{record.val_precision} val, "
    return words + f" ({precision}epoch {record.best_epoch})"


def runs_table(runs) -> "object":
    """A DataFrame with one row per run (``{label: Run}`` or a list of runs): size, data, accuracy, speed."""
    import pandas as pd

    items = runs.items() if isinstance(runs, dict) else ((r.name, r) for r in runs)
    rows = []
    for label, run in items:
        r = run.record
        rows.append({"run": label, "model": r.model, "params": r.params, "MMACs": round(r.macs / 1e6, 2),
                     "train images": r.train_samples, "epochs": r.epochs_run,
                     # The val the other tables show (float32 where re-scored): its precision is the
                     # record's val_precision, not necessarily the one that chose the epoch (epoch_chosen_on)
                     "best val acc": r.val_acc, "test acc": r.test_acc, "test TTA": r.tta,
                     "precision": r.precision, "train time (s)": round(r.train_time_s, 1),
                     "s / epoch": round(float(run.history["epoch_time_s"].mean()), 2),
                     "images / s": round(float(r.images_per_s or float("nan")), 0)})
    return pd.DataFrame(rows).set_index("run")


def seed_summary(table) -> "object":
    """Mean and std over seeds of ``runs_table``'s accuracies, one row per model (``n`` = number of seeds);
    std is the sample std (ddof=1), NaN for a single seed. ``test TTA``: whether the model's test numbers average
    translated copies (True / False, "mixed" where its seeds differ), so models are compared like for like."""
    from charclf.eval.seeds import seed_stats

    stats = seed_stats(table, val="best val acc", test="test acc", seed=None)
    grouped = table.groupby("model")
    out = stats.rename(columns={"val_mean": "val acc mean", "val_std": "val acc std", "test_mean": "test acc mean",
                                "test_std": "test acc std"})
    out["test TTA"] = grouped["test TTA"].agg(lambda v: bool(v.iloc[0]) if v.nunique() == 1 else "mixed")
    out["params"] = grouped["params"].first()
    out["train time mean (s)"] = grouped["train time (s)"].mean()
    return out.sort_values("val acc mean", ascending=False)


def generalisation_table(runs) -> "object":
    """The earlier ByClass study's table: accuracy and weighted precision / recall / F1 of the same (chosen)
    weights on the train part and on the test part, per run — from the one evaluation ``fit`` recorded.
    Runs whose train part was not scored are left out."""
    import pandas as pd

    items = runs.items() if isinstance(runs, dict) else ((r.name, r) for r in runs)
    rows = []
    for label, run in items:
        train, test = run.record.part("train"), run.record.part("test")
        if train is None or test is None:
            continue
        row = {"run": label, "model": run.record.model, "TTA": run.record.tta}
        for part, entry in (("train", train), ("test", test)):
            for metric in ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted"):
                row[f"{part} {metric.replace('_weighted', '')}"] = entry[metric]
        row["gap (train - test acc)"] = train["accuracy"] - test["accuracy"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def cached_json(name: str, profile: str, build_fn: Callable[[Path], object], retrain: bool = False, *,
                filename: str = "results.json", runs_root: str | Path | None = None,
                train_missing: bool = True, protocol: str = "holdout") -> dict:
    """Like :func:`cached_run` for experiments that write one results JSON (pre-train -> fine-tune, transfer):
    load ``outputs/runs/<profile>/<name>/<filename>`` when it exists, else build the folder with
    ``build_fn(folder)`` and load what it wrote. An unfinished folder (a killed experiment) is kept and handed
    to ``build_fn``, which must resume its runs (``pretrain_finetune(resume=True)``,
    ``transfer_to_mnist(resume=True)``); it is removed only when retraining. ``train_missing=False``
    (rendering) only loads, like :func:`cached_run`."""
    profile_settings(profile)
    retrain = retrain_requested(retrain)
    root = Path(runs_root or outputs_dir() / "runs")
    folder = root / runs_folder(profile, protocol) / name
    path = folder / filename
    if not train_missing and (retrain or not path.is_file()):
        raise not_trained_yet(f"experiment {name!r} ({filename})", folder, profile) if not retrain \
            else _render_and_retrain()
    if not retrain and path.is_file():
        results = read_json(path, "move it away (it is kept, not deleted) and run the experiment again, or "
                            "restore it with git")
        print(f"[{name}] loaded the cached results {_display_path(path)} (made {results.get('created_utc', '?')}, "
              f"git {str(results.get('git_sha', '?'))[:12]}); set RETRAIN = True or CHARCLF_RETRAIN=1 to rerun")
        return results
    if folder.exists() and retrain:
        set_aside(folder, root, "rerunning")
    elif folder.exists():  # killed mid-way (session end): build_fn resumes or reuses the runs it finished
        print(f"[{name}] continuing the unfinished experiment {_display_path(folder)}")
    folder.mkdir(parents=True, exist_ok=True)
    build_fn(folder)
    if not path.is_file():
        raise TrainingError(f"{folder}: the build function returned but did not write {filename}. "
                            "Fix: let it write its results into the folder it is given")
    return _stamp_profile(folder, path, name, profile)


def _stamp_profile(folder: Path, results_path: Path, name: str, profile: str) -> object:
    """Record the study profile on what ``build_fn`` just wrote: the results JSON and the record of each of the
    experiment's own fit folders (which it trains with ``fit`` directly, outside :meth:`StudyContext.train`),
    pruned to what a reader needs. Without this their profile showed only in the folder's path. Returns the
    stamped results, so that the caller need not read the file again."""
    from charclf.fileio import write_json

    results = read_json(results_path, "rerun the experiment: its results file was just written")
    if isinstance(results, dict) and results.get("profile") is None:
        results = {**results, "profile": profile}
        write_json(results_path, results)
    for run_dir in sorted(folder.iterdir()):
        if run_dir.is_dir() and is_finished_run(run_dir):
            prune_run(run_dir)
            update_record(run_dir, profile=profile, run=f"{name}/{run_dir.name}")
    return results


def _render_and_retrain() -> ConfigError:
    return ConfigError(f"retraining was asked for (RETRAIN or ${RETRAIN_ENV}=1) while ${RENDER_ENV}=1 asks to train "
                       f"nothing. Fix: drop one of the two (`charclf study --train --retrain` retrains)")


def _display_path(path: Path) -> str:
    from charclf.provenance import repo_relative

    return repo_relative(path)
