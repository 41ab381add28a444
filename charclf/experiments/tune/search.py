"""The search loop: a study run to its budget of finished trials, shared by workers, resumable after a kill.

* **The ByClass study's random search** — ``BYCLASS_GRID`` (lr x batch size x momentum x weight decay, 144
  points, ``n_iter`` 28) sampled *without replacement*, as scikit-learn's ``ParameterSampler`` does for an
  all-list grid, and each trial picked by **validation loss** after a short training.
* **Reproducible across workers** — the draws depend on ``(seed, draw index)`` only
  (:class:`~charclf.experiments.tune.sampler.SeededRandomSampler`).
* **A killed search resumes to its budget, repeating no finished trial** — the study lives in an RDB storage
  (SQLite file by default). ``n_trials`` counts *finished* trials (COMPLETE or PRUNED) across all workers and
  restarts: Optuna's ``MaxTrialsCallback`` stops a worker once the study holds that many, and a rerun of a
  finished study trains nothing. Each running trial writes a heartbeat; a trial whose heartbeat stops (its
  worker was killed) is marked FAIL by the next trial any worker starts after ``grace_period`` seconds, and
  the storage's retry callback re-queues its parameters (at most ``MAX_RETRY`` times) as a WAITING trial
  that is run before new parameters are drawn. A trial interrupted with Ctrl-C is re-queued too.
  A *single* worker ends with exactly ``n_trials`` finished trials, resumed or not. With several workers the
  budget is checked after each trial, so workers racing for the last trials may each finish the one they
  hold: the study can end with up to ``workers - 1`` trials more than ``n_trials`` (``search.json`` reports
  the actual number). A dead worker's trial that goes stale only after the budget is met stays unrun.
* **Several workers** — start the same command (same ``--storage`` and ``--study-name``) in several
  processes, or on several machines with a database URL (``postgresql://...``).
* **Pruning** — MedianPruner on the validation loss reported after each epoch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Callable

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from charclf.errors import ConfigError, NotTrainedYet
from charclf.experiments.tune.objective import fit_objective, reuse_repeats
from charclf.experiments.tune.results import COPIED_ATTR, WORKER_ATTR, SearchResult, summary_is_stale, trial_line
from charclf.experiments.tune.sampler import FINISHED, TPE_STARTUP_TRIALS, make_pruner, make_sampler
from charclf.experiments.tune.space import BYCLASS_GRID, SearchSpace
from charclf.experiments.tune.storage import (
    DEFAULT_HEARTBEAT_S,
    load_or_create_study,
    make_storage,
    retry_callback,
    sqlite_file,
    storage_url,
)
from charclf.train.config import RUN_PLACE_FIELDS, TrainConfig, dict_differences


def n_finished(study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def _require_finished(study, n_trials: int, out_dir: Path) -> None:
    from charclf.provenance import repo_relative

    done = 0 if study is None else n_finished(study)
    if done < n_trials:
        raise NotTrainedYet(f"the search in {repo_relative(out_dir)} has {done} of its {n_trials} trials, and this "
                            "execution only renders finished results. Fix: run it to the end first (the same call "
                            "with train=True resumes it; in a notebook: `charclf study --train --only NN`)")


def optimize_to_budget(study, objective: Callable, n_trials: int, *,
                       log: Callable[[str], None] | None = None) -> int:
    """Run trials until the study holds ``n_trials`` finished (COMPLETE/PRUNED) trials, counted over all
    workers and restarts; returns how many trials this worker started (0 when the budget was already met).

    Optuna keeps the books: ``MaxTrialsCallback`` stops this worker once the shared count reaches the budget
    (it is checked after each trial, so racing workers may overshoot by up to ``workers - 1``), and before each
    trial ``optimize`` fails heartbeat-stale trials, whose parameters the storage's retry callback re-queues
    (see :func:`~charclf.experiments.tune.storage.make_storage`); ``ask`` hands out such a WAITING trial before
    drawing new parameters.
    """
    remaining = n_trials - n_finished(study)
    if remaining <= 0:  # optimize would start a trial before any callback could stop it
        return 0
    worker = f"{socket.gethostname()}:{os.getpid()}"
    started: list[int] = []

    def tagged(trial):
        started.append(trial.number)
        trial.set_user_attr(WORKER_ATTR, worker)
        return objective(trial)

    callbacks = [MaxTrialsCallback(n_trials, states=FINISHED)]
    if log is not None:
        callbacks.append(lambda _study, trial: log(trial_line(trial)))
    try:
        study.optimize(tagged, n_trials=remaining, callbacks=callbacks, gc_after_trial=False)
    except KeyboardInterrupt:
        # Optuna marks the interrupted trial FAIL, but its heartbeat stopped cleanly, so it never goes stale and
        # the storage's retry callback never sees it. Re-queue it the same way, so that a resumed search runs
        # its parameters and draws what an uninterrupted one would have.
        interrupted = [t for t in study.get_trials(deepcopy=False) if started and t.number == started[-1]]
        if interrupted and interrupted[0].state == TrialState.FAIL:
            retry_callback()(study, interrupted[0])
        raise
    return len(started)


def copy_startup_trials(source: SearchResult, study, spec: dict, *, n_startup: int = TPE_STARTUP_TRIALS,
                        log=None) -> int:
    """Copy ``source``'s first ``n_startup`` finished trials (params, val losses per epoch, state) into ``study``,
    a new TPE study of the same spec but the sampler; returns how many were copied.

    A TPE search's first ``n_startup`` trials are the seeded random sampler's draws (see
    :func:`~charclf.experiments.tune.sampler.make_sampler`), and a random search of the same seed draws the same
    sequence, so these trials are the same trainings: copying them saves their compute and changes nothing the
    TPE search decides (its pruner and model see the same history). Each copy names its origin in the
    ``copied_from`` user attribute. A study that already holds trials is left alone (it was started without the
    copies, and its draws must go on as they began)."""
    details = dict_differences(json.loads(json.dumps(source.spec, default=str)),
                               json.loads(json.dumps(spec, default=str)), ignore={"sampler"})
    if details:
        raise ConfigError(f"startup_from: the search {source.study.study_name!r} differs from this one in more than "
                          f"its sampler ({details}), so its trials are not this search's. Fix: pass a search "
                          "with the same model, space, seed, epochs and data, or none")
    if spec.get("sampler") != "tpe" or study.get_trials(deepcopy=False):
        return 0
    finished = sorted(source.study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)[:n_startup]
    for t in finished:
        study.add_trial(optuna.trial.create_trial(
            state=t.state, value=t.value, params=t.params, distributions=t.distributions,
            intermediate_values=t.intermediate_values,
            user_attrs={**t.user_attrs, COPIED_ATTR: f"{source.study.study_name}#{t.number}"}))
    if log and finished:
        log(f"copied the first {len(finished)} trials of {source.study.study_name!r} (TPE's seeded random start "
            "draws the same ones)")
    return len(finished)


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna logs every trial at INFO; we print our own one-line summary instead (restored afterwards)."""
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(old)


def search_location(model_name: str, space: SearchSpace, sampler: str, seed: int, *, study_name: str | None,
                    storage: str | os.PathLike | None, out_dir: str | os.PathLike | None) -> tuple[str, Path, str]:
    """(study name, output folder, storage URL) of a search, with their defaults: ``<model>-<space>-<sampler>-s<seed>``,
    ``<outputs>/tune/<study name>`` and ``sqlite:///<out_dir>/study.db``."""
    from charclf.paths import outputs_dir

    study_name = study_name or f"{model_name}-{space.name}-{sampler}-s{seed}"
    out_dir = Path(out_dir) if out_dir is not None else outputs_dir() / "tune" / study_name
    return study_name, out_dir, storage_url(storage, out_dir)


SUMMARY_FILES = ("search.json", "trials.csv", "search.png")


def refuse_another_search(out_dir: Path, study_name: str) -> None:
    """Before any work: the summary files in ``out_dir`` may only be this study's (a resumed or joined search
    rewrites its own). Another study's search.json, or summary files with no search.json to say whose they are,
    would be replaced: refused, naming the file. (A shared database keeps every study; the files do not.)"""
    from charclf.provenance import read_json

    summary = out_dir / "search.json"
    if summary.is_file():
        fix = "pass another --out folder for this search (or --study-name to resume the one that wrote it)"
        saved = read_json(summary, fix)
        if not isinstance(saved, dict) or saved.get("study_name") != study_name:
            owner = saved.get("study_name") if isinstance(saved, dict) else None
            raise ConfigError(f"{summary}: holds the summary of " + (f"the search {owner!r}" if owner else
                              "something that is not a charclf search") + f", which this search ({study_name!r}) "
                              f"would replace. Fix: {fix}")
        return
    others = [name for name in SUMMARY_FILES[1:] if (out_dir / name).exists()]
    if others:
        raise ConfigError(f"{out_dir / others[0]}: exists with no search.json saying which search wrote it, and "
                          f"this search ({study_name!r}) would replace it. Fix: pass another --out folder, or move "
                          "the file away")


def refuse_unusable_search(model_name: str, out_dir: Path | None, *, custom_objective: bool = False) -> None:
    """Before any work (loading data, creating the study's database): an unknown model and an ``out_dir`` that
    cannot hold the summary (a file, or not writable; None: nothing will be written) are one line each. Left to
    the first trial, the model name failed there, with Optuna's traceback, in a study.db then holding a failed
    trial. A custom objective decides itself what ``model_name`` means."""
    from charclf.fileio import check_writable
    from charclf.models.registry import get_model_factory

    if not custom_objective:
        get_model_factory(model_name)
    if out_dir is not None:
        check_writable(out_dir, "--out")


def run_search(model_name: str, data, base_config: TrainConfig | None = None,
               space: SearchSpace = BYCLASS_GRID, *, n_trials: int | None = None, sampler: str = "random",
               pruner: str | None = "median", storage: str | None = None, study_name: str | None = None,
               seed: int = 0, epochs_per_trial: int = 5, max_train_samples: int | None = None,
               max_val_samples: int | None = None, out_dir: str | os.PathLike | None = None,
               heartbeat_interval: int = DEFAULT_HEARTBEAT_S, grace_period: int | None = None,
               objective: Callable | None = None, progress: bool = True, train: bool = True,
               startup_from: SearchResult | None = None) -> SearchResult:
    """Search ``space`` for ``model_name`` on ``data`` (train on train, score on val); returns a SearchResult.

    ``n_trials`` (default ``space.n_iter``) is the total number of finished trials the study should hold,
    across all workers and restarts: rerunning the same call after a kill continues where it stopped, and
    running it in several processes at once shares the work (racing workers may finish up to ``workers - 1``
    trials more; the summary reports the actual number). Each trial trains ``epochs_per_trial`` epochs on
    a stratified ``max_train_samples`` subset of train (default: the base config's, usually all of it) and is
    scored by the final validation loss (on a stratified ``max_val_samples`` subset of val when given).

    ``storage``: a database URL (or a file path for SQLite); default ``sqlite:///<out_dir>/study.db`` with
    ``out_dir`` defaulting to ``<charclf.paths.outputs_dir()>/tune/<study_name>``. ``objective`` replaces the
    training objective (a function of an Optuna trial returning the value to minimise), e.g. for a custom
    training loop. ``startup_from`` (a TPE search only): a finished random search of the same spec and seed, whose
    first :data:`TPE_STARTUP_TRIALS` finished trials are copied into a new TPE study instead of being trained
    again — TPE's seeded random start draws exactly those trials (see :func:`copy_startup_trials`).
    Writes ``search.json`` (best parameters, provenance) and ``trials.csv`` into ``out_dir``.
    ``train=False`` only loads a finished search: fewer than ``n_trials`` finished trials raise
    :class:`~charclf.errors.NotTrainedYet` (a notebook that renders committed results, trains nothing).
    """
    from charclf.data.dataset import stratified_subset
    from charclf.fileio import write_csv, write_json
    from charclf.provenance import run_metadata
    from charclf.train.recipes import get_recipe, override_config

    n_trials = space.n_iter if n_trials is None else int(n_trials)
    if n_trials < 1:
        raise ConfigError(f"n_trials={n_trials}: must be >= 1")
    if epochs_per_trial < 1:
        raise ConfigError(f"epochs_per_trial={epochs_per_trial}: must be >= 1")
    base_config = base_config if base_config is not None else get_recipe("byclass_study")
    caller_max_train_samples = base_config.max_train_samples
    fixed = {"model": model_name, "seed": seed}
    if max_train_samples is not None:
        fixed["max_train_samples"] = max_train_samples
    base_config = override_config(base_config, fixed, source="search base config")
    study_name, out_dir, url = search_location(model_name, space, sampler, seed, study_name=study_name,
                                               storage=storage, out_dir=out_dir)
    refuse_unusable_search(model_name, out_dir if train else None, custom_objective=objective is not None)
    refuse_another_search(out_dir, study_name)
    if max_val_samples is not None and max_val_samples < len(data.val):
        data = dataclasses.replace(data, val=stratified_subset(data.val, max_val_samples, seed=seed))
    # What the trials mean; workers joining the study must agree on it (where it runs may differ).
    meaning = {k: v for k, v in base_config.to_dict().items() if k not in RUN_PLACE_FIELDS}
    spec = {"model": model_name, "space": space.describe(), "sampler": sampler, "pruner": pruner or "none",
            "seed": seed, "epochs_per_trial": epochs_per_trial, "max_train_samples": base_config.max_train_samples,
            "max_val_samples": max_val_samples, "data": data.describe(), "base_config": meaning,
            "objective": "fit" if objective is None else "custom"}
    log = (lambda line: print(line, flush=True)) if progress else None
    db_file = sqlite_file(url)
    if not train and db_file is not None and not db_file.is_file():
        _require_finished(None, n_trials, out_dir)  # never create an empty database just to find nothing in it
    with _quiet_optuna():
        study = load_or_create_study(
            make_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period), study_name,
            sampler=make_sampler(sampler, space, seed), pruner=make_pruner(pruner), spec=spec)
        if startup_from is not None and train:
            copy_startup_trials(startup_from, study, spec, log=log)
        if not train:
            _require_finished(study, n_trials, out_dir)
        if objective is None:
            objective = fit_objective(model_name, data, base_config, space, epochs_per_trial=epochs_per_trial,
                                      prune=pruner not in (None, "none"))
        started = optimize_to_budget(study, reuse_repeats(objective, space), n_trials, log=log)
    result = SearchResult(study=study, space=space, n_trials=n_trials, model_name=model_name,
                          base_config=base_config, storage_url=url, out_dir=out_dir, spec=spec,
                          caller_max_train_samples=caller_max_train_samples)
    summary = result.summary()
    # The files describe the trials, with the provenance of the code that ran them: a call that only loaded a
    # finished search (a notebook render) leaves them as they are — unless they no longer describe the study
    # (a worker killed between its last trial and this write).
    if started or summary_is_stale(out_dir, summary):
        # Several workers finish the same study at about the same time: both writers go through a private
        # temporary file and an atomic rename, so none reads another's half-written file; the last to stop wins.
        write_csv(result.trials_dataframe(), out_dir / "trials.csv")
        write_json(out_dir / "search.json", {**summary, **run_metadata(
            recipe=base_config.name or "tune", protocol=data.protocol, seed=seed, config=base_config.to_dict())})
    if progress and summary["best_trial"] is not None:
        print(f"best of {summary['finished']} trials: #{summary['best_trial']} {summary['best_params']} "
              f"(val loss {summary['best_val_loss']:.4f})", flush=True)
    return result
