"""Hyperparameter search (random search as in the ByClass study, or TPE) backed by Optuna.

What the study needs from a search, and how this module gives it:

* **The ByClass study's random search** — ``BYCLASS_GRID`` (lr x batch size x momentum x weight decay, 144
  points, ``n_iter`` 28) sampled *without replacement*, as scikit-learn's ``ParameterSampler`` does for an
  all-list grid, and each trial picked by **validation loss** after a short training.
* **Reproducible across workers** — Optuna's ``RandomSampler(seed)`` draws from one random stream per
  process, so two workers with the same seed would draw the *same* parameters. ``SeededRandomSampler``
  instead derives each trial's parameters from ``(seed, draw index)`` (the trial number, not counting
  re-queued retries of killed trials): the first ``n`` trials are the same
  whether one worker runs them or five, and a resumed search draws what an uninterrupted one would have.
  With TPE (``sampler="tpe"``) the random start-up trials come from the same seeded sampler, then TPE with the
  constant liar (which keeps parallel workers from proposing the same point) takes over.
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
* **Pruning** — MedianPruner on the validation loss reported after each epoch (through ``fit``'s per-epoch
  callback); a trial whose training diverges (NaN loss) is recorded as PRUNED with ``diverged=True``.

The test part is never touched: trials train with ``fit(out_dir=None)``, which evaluates on val only.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import socket
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from charclf.argtypes import COUNT, NON_NEGATIVE, SECONDS
from charclf.errors import ConfigError, TrainingError, unknown_name
from charclf.train.config import RUN_PLACE_FIELDS, TrainConfig, dict_differences, with_new_fields

# Short parameter names (the ByClass study's) -> TrainConfig field paths. Any dotted path works too.
PARAM_PATHS = {
    "lr": "optimizer.lr",
    "momentum": "optimizer.momentum",
    "weight_decay": "optimizer.weight_decay",
    "nesterov": "optimizer.nesterov",
    "optimizer": "optimizer.name",
    "batch_size": "batch_size",
    "label_smoothing": "label_smoothing",
    "ema_decay": "ema_decay",
}
FINISHED_STATES = ("COMPLETE", "PRUNED")
WORKER_ATTR = "worker"

# TPE's first trials are the seeded random sampler's draws (it has nothing to model yet): with the same seed, a
# TPE search and a random one share these trials exactly, so only TPE's later trials can tell the two apart.
TPE_STARTUP_TRIALS = 10

COPIED_ATTR = "copied_from"  # a trial copied from another search (copy_startup_trials): "<study name>#<number>"
REPEAT_ATTR = "repeat_of"  # a trial that drew an earlier trial's parameters and took its result (reuse_repeats)
SPEC_ATTR = "charclf_search_spec"
DEFAULT_HEARTBEAT_S = 10
MAX_RETRY = 3  # a parameter set that kills its worker more often than this is not re-queued again


# -- search spaces -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogUniform:
    """A float drawn log-uniformly from [low, high] (learning rates, weight decays)."""

    low: float
    high: float

    def to_optuna(self):
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=True)

    def describe(self) -> dict:
        return {"log_uniform": [self.low, self.high]}


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [low, high] (momentum, label smoothing)."""

    low: float
    high: float

    def to_optuna(self):
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high)

    def describe(self) -> dict:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class IntRange:
    """An integer from [low, high] (uniform, or log-uniform with ``log=True``)."""

    low: int
    high: int
    log: bool = False

    def to_optuna(self):
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log)

    def describe(self) -> dict:
        return {"int_log_uniform" if self.log else "int_uniform": [self.low, self.high]}


Distribution = LogUniform | Uniform | IntRange


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameters to search: each a tuple of choices (a grid axis) or a distribution.

    Names are the short names of ``PARAM_PATHS`` (``lr``, ``batch_size`` ...) or dotted TrainConfig paths
    (``"scheduler.gamma"``). ``n_iter`` is the default number of trials. When every parameter is a tuple the
    space is a *grid* and random search samples it without replacement.
    """

    params: Mapping[str, tuple | Distribution]
    n_iter: int = 28
    name: str = "custom"

    def __post_init__(self):
        if not self.params:
            raise ConfigError(f"search space {self.name!r} has no parameters. Fix: give at least one, e.g. "
                              "{'lr': LogUniform(1e-4, 1e-1)}")
        fixed = {}
        for key, spec in self.params.items():
            if isinstance(spec, (list, tuple)):
                if len(spec) == 0:
                    raise ConfigError(f"search space {self.name!r}: parameter {key!r} has no choices")
                spec = tuple(spec)
            elif not isinstance(spec, (LogUniform, Uniform, IntRange)):
                raise ConfigError(f"search space {self.name!r}: parameter {key!r} is {spec!r}. Fix: use a list of "
                                  "choices or LogUniform/Uniform/IntRange")
            elif not spec.low < spec.high or (isinstance(spec, LogUniform) and spec.low <= 0):
                raise ConfigError(f"search space {self.name!r}: {key!r} has an empty or invalid range {spec}")
            fixed[key] = spec
        if self.n_iter < 1:
            raise ConfigError(f"search space {self.name!r}: n_iter={self.n_iter} must be >= 1")
        object.__setattr__(self, "params", fixed)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    @property
    def is_grid(self) -> bool:
        return all(isinstance(spec, tuple) for spec in self.params.values())

    @property
    def grid_size(self) -> int | None:
        return math.prod(len(s) for s in self.params.values()) if self.is_grid else None

    def grid(self) -> list[dict]:
        """Every point of a grid space, in a fixed order (the first parameter varies slowest)."""
        if not self.is_grid:
            raise ConfigError(f"search space {self.name!r} has continuous parameters: it is not a grid")
        return [dict(zip(self.names, values)) for values in itertools.product(*self.params.values())]

    def distributions(self) -> dict:
        """The Optuna distributions, exactly as :meth:`suggest` asks for them."""
        from optuna.distributions import CategoricalDistribution

        return {k: CategoricalDistribution(list(s)) if isinstance(s, tuple) else s.to_optuna()
                for k, s in self.params.items()}

    def suggest(self, trial) -> dict:
        """Ask ``trial`` for one value of every parameter (in declaration order)."""
        out = {}
        for key, spec in self.params.items():
            if isinstance(spec, tuple):
                out[key] = trial.suggest_categorical(key, list(spec))
            elif isinstance(spec, IntRange):
                out[key] = trial.suggest_int(key, spec.low, spec.high, log=spec.log)
            else:
                out[key] = trial.suggest_float(key, spec.low, spec.high, log=isinstance(spec, LogUniform))
        return out

    def config_overrides(self, params: Mapping[str, Any]) -> dict:
        """``{"optimizer.lr": 0.01, ...}`` for :func:`charclf.train.recipes.override_config`."""
        return {PARAM_PATHS.get(k, k): v for k, v in params.items()}

    def describe(self) -> dict:
        return {"name": self.name, "n_iter": self.n_iter,
                "params": {k: {"choices": list(s)} if isinstance(s, tuple) else s.describe()
                           for k, s in self.params.items()}}


# The ByClass study's grid (README section 4 of XavierSpycy/EMNIST-Classifier): 3 x 3 x 4 x 4 = 144 points,
# n_iter 28 (about 20 % of the grid), each trial a short SGD training, picked by validation loss.
BYCLASS_GRID = SearchSpace(
    {"lr": (1e-3, 1e-2, 1e-1), "batch_size": (16, 32, 64), "momentum": (0.0, 0.85, 0.9, 0.95),
     "weight_decay": (0.0, 1e-2, 1e-3, 1e-4)},
    n_iter=28, name="byclass_grid")

# The same knobs as continuous distributions: random search over a grid can only land on 144 points, a
# log-uniform learning rate explores between them (Bergstra & Bengio 2012), and TPE can refine.
CONTINUOUS_SPACE = SearchSpace(
    {"lr": LogUniform(1e-3, 0.2), "batch_size": (32, 64, 128, 256), "momentum": Uniform(0.0, 0.95),
     "weight_decay": LogUniform(1e-6, 1e-2)},
    n_iter=28, name="continuous")

SPACES = {"byclass": BYCLASS_GRID, "continuous": CONTINUOUS_SPACE}


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise unknown_name("search space", name, list(SPACES))
    return SPACES[name]


# -- Optuna plumbing (optuna is imported lazily: it is an optional dependency) --------------------------------
def _optuna():
    try:
        import optuna
    except ImportError as err:
        raise ConfigError("hyperparameter search needs the package optuna, which is not installed. "
                          "Fix: pip install optuna (or pip install 'charclf[tune]')") from err
    return optuna


def _trial_seed(seed: int, number: int, name: str) -> int:
    """A reproducible seed for one parameter of one trial, independent of which worker asks."""
    return int(np.random.SeedSequence([seed, number, zlib.crc32(name.encode())]).generate_state(1)[0])


@lru_cache(maxsize=None)
def _sampler_classes():
    """Define the sampler classes on first use (they subclass optuna's BaseSampler)."""
    optuna = _optuna()
    from optuna.samplers import BaseSampler, RandomSampler, TPESampler
    from optuna.trial import TrialState

    class SeededRandomSampler(BaseSampler):
        """Random search whose draw for trial ``k`` depends only on ``(seed, k)``.

        ``k`` is the trial's *draw index*: how many earlier trials drew fresh parameters, i.e. its number minus
        the re-queued retries of killed trials before it (a retry re-runs fixed parameters and draws nothing).
        Counting draws rather than trial numbers keeps a killed-and-resumed search on the same sequence as an
        uninterrupted one, instead of skipping one draw per retry. A retry's flag is written when it is
        created, so every worker computes the same index.

        A grid space is sampled without replacement: draw ``k`` takes the point at position ``k`` of a
        seeded permutation of the grid (a new permutation after every full pass). Other spaces draw each
        parameter independently from a generator seeded with ``(seed, k, name)``.
        """

        def __init__(self, space: SearchSpace, seed: int = 0):
            self.space = space
            self.seed = int(seed)
            self._grid = space.grid() if space.is_grid else None
            self._draw_cache: dict = {}

        def draw_index(self, study, trial) -> int:
            key = (study._study_id, trial.number)
            if key not in self._draw_cache:
                self._draw_cache[key] = sum(1 for t in study.get_trials(deepcopy=False)
                                            if t.number < trial.number and "failed_trial" not in t.system_attrs)
            return self._draw_cache[key]

        def infer_relative_search_space(self, study, trial):
            return self.space.distributions() if self._grid is not None else {}

        def sample_relative(self, study, trial, search_space):
            if not search_space or self._grid is None:
                return {}
            size = len(self._grid)
            cycle, pos = divmod(self.draw_index(study, trial), size)
            perm = np.random.default_rng([self.seed, cycle]).permutation(size)
            point = self._grid[int(perm[pos])]
            return {k: point[k] for k in search_space if k in point}

        def sample_independent(self, study, trial, param_name, param_distribution):
            sampler = RandomSampler(seed=_trial_seed(self.seed, self.draw_index(study, trial), param_name))
            return sampler.sample_independent(study, trial, param_name, param_distribution)

    class SeededStartupTPE(BaseSampler):
        """TPE (with the constant liar, for parallel workers) after ``n_startup`` seeded random trials."""

        def __init__(self, space: SearchSpace, seed: int = 0, n_startup: int = TPE_STARTUP_TRIALS):
            self.n_startup = int(n_startup)
            self._random = SeededRandomSampler(space, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._tpe = TPESampler(seed=seed, n_startup_trials=self.n_startup, constant_liar=True,
                                       multivariate=True)

        def _started(self, study) -> bool:
            return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))) \
                >= self.n_startup

        def infer_relative_search_space(self, study, trial):
            if self._started(study):
                return self._tpe.infer_relative_search_space(study, trial)
            return self._random.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            if self._started(study):
                return self._tpe.sample_relative(study, trial, search_space)
            return self._random.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            if self._started(study):
                return self._tpe.sample_independent(study, trial, param_name, param_distribution)
            return self._random.sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study, trial):
            self._tpe.before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self._tpe.after_trial(study, trial, state, values)

    return SeededRandomSampler, SeededStartupTPE


def make_sampler(kind: str, space: SearchSpace, seed: int = 0, *, n_startup: int = TPE_STARTUP_TRIALS):
    """``"random"`` (reproduces the ByClass study's random search) or ``"tpe"``."""
    random_cls, tpe_cls = _sampler_classes()
    if kind == "random":
        return random_cls(space, seed)
    if kind == "tpe":
        return tpe_cls(space, seed, n_startup=n_startup)
    raise unknown_name("sampler", kind, ["random", "tpe"])


def make_pruner(kind: str | None):
    """``"median"``: stop a trial whose val loss after an epoch is worse than the median of earlier trials at
    that epoch (not before 5 trials finished, never after the first epoch); ``None``/``"none"``: never prune."""
    optuna = _optuna()
    if kind in (None, "none"):
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    raise unknown_name("pruner", str(kind), ["median", "none"])


def storage_url(storage: str | os.PathLike | None, out_dir: str | os.PathLike | None) -> str:
    """The database URL: as given, a plain file path turned into ``sqlite:///<abs path>``, or by default
    ``sqlite:///<out_dir>/study.db``."""
    if storage is None:
        if out_dir is None:
            raise ConfigError("no storage for the search. Fix: pass storage='sqlite:///path/study.db' (or a "
                              "database URL) or an out_dir, whose study.db is then used")
        return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"
    storage = str(storage)
    if "://" not in storage:
        return f"sqlite:///{Path(storage).resolve()}"
    return storage


def make_storage(url: str, *, heartbeat_interval: int = DEFAULT_HEARTBEAT_S, grace_period: int | None = None):
    """An Optuna RDB storage with heartbeats, whose stale (killed) trials the storage's retry callback re-queues,
    once per failure and at most ``MAX_RETRY`` times per parameter set."""
    optuna = _optuna()
    engine_kwargs = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes share the file: wait for a lock rather than failing after sqlite's 5 s default.
        # isolation_level=None: the sqlite3 module emits no BEGIN of its own (each transaction's BEGIN IMMEDIATE
        # is added below).
        engine_kwargs = {"connect_args": {"timeout": 120, "isolation_level": None}}
    if heartbeat_interval < 1:
        raise ConfigError(f"heartbeat_interval={heartbeat_interval}: must be >= 1 second")
    grace = grace_period if grace_period is not None else max(3 * heartbeat_interval, 2)
    if grace <= heartbeat_interval:
        raise ConfigError(f"grace_period={grace} must exceed heartbeat_interval={heartbeat_interval}, or live "
                          "trials would be declared dead. Fix: e.g. grace_period = 3 x heartbeat_interval")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, grace_period=grace,
                                                 heartbeat_interval=heartbeat_interval,
                                                 heartbeat_stale_trial_callback=retry)
        except Exception as err:  # sqlalchemy errors: bad URL, missing driver, unreachable server
            raise ConfigError(f"cannot open the search storage {url!r}: {err}. Fix: check the URL (e.g. "
                              "sqlite:///outputs/tune/study.db) and that its database driver is installed") from err
    if storage.engine.name == "sqlite":
        # Optuna fails a stale trial, and hands a WAITING trial to one worker, by reading the trial's state and
        # writing the new one under SELECT ... FOR UPDATE. SQLite ignores that clause, so two workers could both
        # fail one dead trial (re-queueing its parameters twice) or both take one WAITING trial. Taking the
        # write lock when a transaction begins makes each such read-and-write atomic across processes.
        from sqlalchemy import event

        event.listen(storage.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return storage


def load_or_create_study(storage, study_name: str, *, sampler=None, pruner=None, spec: dict | None = None):
    """Create the study, or load it when it exists (``load_if_exists``): how a killed search resumes and how
    several workers join one study. ``spec`` (what the trials mean: model, space, epochs, data) is stored with
    the study; joining it with a different spec is refused, since its trials would not be comparable."""
    optuna = _optuna()
    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize", sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ConfigError(f"study {study_name!r} exists and maximises its objective; a charclf search minimises "
                          "validation loss. Fix: choose another --study-name")
    if spec is not None:
        spec = json.loads(json.dumps(spec, default=str))
        stored = study.user_attrs.get(SPEC_ATTR)
        if isinstance(stored, dict) and isinstance(stored.get("base_config"), dict):
            # a config field added since the study began counts as its default there (its trials ran without it)
            stored = {**stored, "base_config": with_new_fields(stored["base_config"], left_out=RUN_PLACE_FIELDS)}
        if stored is None:
            study.set_user_attr(SPEC_ATTR, spec)
        elif stored != spec:
            raise ConfigError(f"study {study_name!r} in {getattr(storage, 'url', storage)} was started with other "
                              f"settings (stored -> now: {dict_differences(stored, spec)}). Fix: rerun with the same "
                              "settings to resume it, or choose another --study-name")
    return study


def _require_finished(study, n_trials: int, out_dir: Path) -> None:
    from optuna.trial import TrialState

    from charclf.errors import NotTrainedYet
    from charclf.provenance import repo_relative

    done = 0 if study is None else len(study.get_trials(deepcopy=False,
                                                           states=(TrialState.COMPLETE, TrialState.PRUNED)))
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
    (see :func:`make_storage`); ``ask`` hands out such a WAITING trial before drawing new parameters.
    """
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining <= 0:  # optimize would start a trial before any callback could stop it
        return 0
    worker = f"{socket.gethostname()}:{os.getpid()}"
    started: list[int] = []

    def tagged(trial):
        started.append(trial._trial_id)
        trial.set_user_attr(WORKER_ATTR, worker)
        return objective(trial)

    callbacks = [MaxTrialsCallback(n_trials, states=finished)]
    if log is not None:
        callbacks.append(lambda _study, trial: log(_trial_line(trial)))
    try:
        with _no_interrupt_tracebacks():
            study.optimize(tagged, n_trials=remaining, callbacks=callbacks, gc_after_trial=False)
    except KeyboardInterrupt:
        # Optuna marks the interrupted trial FAIL, but its heartbeat stopped cleanly, so it never goes stale and
        # the retry callback never sees it. Re-queue it with that same callback, so that a resumed search runs
        # its parameters and draws what an uninterrupted one would have.
        retry = study._storage.get_heartbeat_stale_trial_callback()
        frozen = study._storage.get_trial(started[-1]) if started else None
        if retry is not None and frozen is not None and frozen.state == TrialState.FAIL:
            retry(study, frozen)
        raise
    return len(started)


class _DropInterruptLogs(logging.Filter):
    """Optuna logs an interrupted trial as a failure with its whole KeyboardInterrupt traceback, then "Trial N
    failed with value None."; the interrupt is reported once, on one line, by ``run`` (and the trial re-queued),
    so those two records are dropped."""

    interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            self.interrupted = True
            return False
        return not (self.interrupted and "failed with value" in record.getMessage())


@contextlib.contextmanager
def _no_interrupt_tracebacks():
    handlers = logging.getLogger("optuna").handlers
    drop = _DropInterruptLogs()
    for handler in handlers:
        handler.addFilter(drop)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(drop)


def _trial_line(t) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    value = f"val loss {t.value:.4f}" if t.value is not None else t.state.name.lower()
    extra = " (diverged)" if t.user_attrs.get("diverged") else ""
    return f"trial {t.number}: {params} -> {value}{extra}"


# -- the objective: a short fit per trial -------------------------------------------------------------------------
def _is_divergence(err: Exception) -> bool:
    text = str(err).lower()
    return "nan" in text or "inf" in text or "non-finite" in text


def fit_objective(model_name: str, data, base_config: TrainConfig, space: SearchSpace, *,
                  epochs_per_trial: int, prune: bool = True) -> Callable:
    """The objective: train ``model_name`` with ``base_config`` + the trial's parameters for
    ``epochs_per_trial`` epochs and return the final validation loss (lower is better).

    Every trial uses the same seed (same initial weights and data order), so trials differ only by their
    hyperparameters. The val loss of every epoch is reported to the pruner as it happens.
    """
    optuna = _optuna()
    import torch

    from charclf.models import create_model
    from charclf.train import fit
    from charclf.train.recipes import override_config

    def objective(trial) -> float:
        params = space.suggest(trial)
        config = override_config(base_config, {**space.config_overrides(params), "epochs": epochs_per_trial,
                                               "model": model_name, "early_stopping_patience": None},
                                 source=f"trial {trial.number}")
        torch.manual_seed(config.seed)
        model = create_model(model_name, num_classes=data.num_classes, **config.model_kwargs)
        losses: list[float] = []

        def on_epoch(row: dict) -> None:
            losses.append(float(row["val_loss"]))
            if math.isfinite(row["val_loss"]):
                trial.report(float(row["val_loss"]), step=int(row["epoch"]))
                if prune and trial.should_prune():
                    raise optuna.TrialPruned(f"epoch {row['epoch']}: val loss {row['val_loss']:.4f} is worse "
                                             f"than the median of earlier trials")

        try:  # fit calls on_epoch after every epoch; the TrialPruned it may raise stops the training
            history = fit(model, data, config, None, progress=False, callbacks=[on_epoch])
        except TrainingError as err:
            if not _is_divergence(err):
                raise
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned(f"training diverged: {err}") from None
        finally:
            trial.set_user_attr("val_loss_per_epoch", losses)
        metrics = history.attrs.get("metrics", {})
        trial.set_user_attr("val_acc_per_epoch", [float(v) for v in history["val_acc"]])
        trial.set_user_attr("best_val_acc", metrics.get("best_val_acc"))
        trial.set_user_attr("train_time_s", metrics.get("train_time_s"))
        final = float(history["val_loss"].iloc[-1])
        if not math.isfinite(final):
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned("the validation loss is not finite")
        return final

    return objective


def reuse_repeats(objective: Callable, space: SearchSpace) -> Callable:
    """``objective``, except that a trial drawing the parameters of an earlier finished trial takes that trial's
    result instead of training again (Optuna's FAQ, "How can I ignore duplicated samples?").

    Every trial trains from the same seed, so a repeat would retrain to the same losses; TPE samples with
    replacement, and on a small grid it proposes points it has already run (2 of its 18 own trials in notebook 05).
    A repeat of a complete trial returns its value; a repeat of a pruned (or diverged) one is pruned again, since
    the search has already spent its compute on that point once. The earlier trial's per-epoch val losses are
    reported again, as a retraining would have, and its per-epoch records copied (not its training time: the
    repeat trained nothing). The repeat names its origin in the ``repeat_of`` user attribute; a complete earlier
    trial is preferred over a pruned one of the same parameters."""
    optuna = _optuna()
    from optuna.trial import TrialState

    not_copied = {WORKER_ATTR, COPIED_ATTR, REPEAT_ATTR, "train_time_s"}

    def objective_or_earlier(trial) -> float:
        space.suggest(trial)
        matches = [t for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                   if t.number != trial.number and t.params == trial.params]
        if not matches:
            return objective(trial)
        earlier = min(matches, key=lambda t: (t.state != TrialState.COMPLETE, t.number))
        trial.set_user_attr(REPEAT_ATTR, earlier.number)
        for key, value in earlier.user_attrs.items():
            if key not in not_copied:
                trial.set_user_attr(key, value)
        for step, value in sorted(earlier.intermediate_values.items()):
            trial.report(value, step)
        if earlier.state == TrialState.COMPLETE:
            return float(earlier.value)
        how = "diverged" if earlier.user_attrs.get("diverged") else "was pruned"
        raise optuna.TrialPruned(f"repeats trial {earlier.number}, which {how}")

    return objective_or_earlier


# -- results ---------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """A finished (or joined) search: the Optuna study plus what its trials mean."""

    study: Any
    space: SearchSpace
    n_trials: int
    model_name: str
    base_config: TrainConfig
    storage_url: str
    out_dir: Path | None = None
    spec: dict = field(default_factory=dict)
    # The caller's base config's max_train_samples (None: all of train), before the search's own subset, which is
    # for the short trials only: best_config() trains the best setting on this.
    caller_max_train_samples: int | None = None

    def trials_dataframe(self, all_states: bool = False):
        """One row per trial: number, state, val_loss (the objective), each parameter, val accuracy, worker,
        retry_of, copied_from, repeat_of, diverged, duration. Finished trials only unless ``all_states``."""
        return trials_dataframe(self.study, self.space, all_states=all_states)

    @property
    def best_trial(self):
        return self.study.best_trial

    @property
    def best_params(self) -> dict:
        return dict(self.study.best_trial.params)

    @property
    def best_value(self) -> float:
        return float(self.study.best_value)

    def best_config(self, **overrides) -> TrainConfig:
        """The base config with the best parameters (and ``overrides``) applied — ready for a full training: on
        the training set the caller's base config asked for, not on the trials' ``max_train_samples`` subset."""
        from charclf.train.recipes import override_config

        return override_config(self.base_config, {**self.space.config_overrides(self.best_params),
                                                  "model": self.model_name, "max_train_samples": self.caller_max_train_samples,
                                                  **overrides},
                               source="best search parameters")

    def plot(self):
        from charclf.eval.figures import plot_search

        return plot_search(self.trials_dataframe())

    def summary(self) -> dict:
        df = self.trials_dataframe()
        complete = (df.state == "COMPLETE").any()
        return {"study_name": self.study.study_name, "storage": _safe_url(self.storage_url),
                "n_trials": self.n_trials, "finished": int(len(df)),
                "complete": int((df.state == "COMPLETE").sum()), "pruned": int((df.state == "PRUNED").sum()),
                "best_trial": int(self.best_trial.number) if complete else None,
                "best_params": self.best_params if complete else None,
                "best_val_loss": self.best_value if complete else None,
                "selection": "lowest validation loss (test part never used)", "spec": self.spec}


def trials_dataframe(study, space: SearchSpace | None = None, *, all_states: bool = False):
    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    names = space.names if space is not None else sorted({k for t in trials for k in t.params})
    rows = []
    for t in trials:
        if not all_states and t.state.name not in FINISHED_STATES:
            continue
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name, "val_loss": t.value}
        row.update({k: t.params.get(k) for k in names})
        row.update({"best_val_acc": t.user_attrs.get("best_val_acc"),
                    "epochs": len(t.user_attrs.get("val_loss_per_epoch", []) or []),
                    "diverged": bool(t.user_attrs.get("diverged", False)),
                    "retry_of": t.system_attrs.get("failed_trial"), "worker": t.user_attrs.get(WORKER_ATTR),
                    "duration_s": duration, "copied_from": t.user_attrs.get(COPIED_ATTR),
                    "repeat_of": t.user_attrs.get(REPEAT_ATTR)})
        rows.append(row)
    df = pd.DataFrame(rows, columns=["number", "state", "val_loss", *names, "best_val_acc", "epochs", "diverged",
                                     "retry_of", "worker", "duration_s", "copied_from", "repeat_of"])
    df.attrs["params"] = list(names)
    return df.sort_values("number").reset_index(drop=True)


def _safe_url(url: str) -> str:
    """The storage URL as a committed results file may show it: no password, and a SQLite file inside the repo
    given relative to the repo root (no machine's absolute path)."""
    if url.startswith("sqlite:///"):
        from charclf.provenance import repo_relative

        return f"sqlite:///{repo_relative(url[len('sqlite:///'):])}"
    from charclf.errors import mask_credentials

    return mask_credentials(url)


# -- run_search -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_optuna():
    """Optuna logs every trial at INFO; we print our own one-line summary instead (restored afterwards)."""
    optuna = _optuna()
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(old)


def run_search(model_name: str, data, base_config: TrainConfig | None = None,
               space: SearchSpace = BYCLASS_GRID, *, n_trials: int | None = None, sampler: str = "random",
               pruner: str | None = "median", storage: str | None = None, study_name: str | None = None,
               seed: int = 0, epochs_per_trial: int = 5, max_train_samples: int | None = None,
               max_val_samples: int | None = None, out_dir: str | os.PathLike | None = None,
               heartbeat_interval: int = DEFAULT_HEARTBEAT_S, grace_period: int | None = None,
               objective: Callable | None = None, progress: bool = True, train: bool = True,
               startup_from: "SearchResult | None" = None) -> SearchResult:
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
    from charclf.paths import outputs_dir
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
    study_name = study_name or f"{model_name}-{space.name}-{sampler}-s{seed}"
    if out_dir is None:
        out_dir = outputs_dir() / "tune" / study_name
    out_dir = Path(out_dir)
    url = storage_url(storage, out_dir)
    if max_val_samples is not None and max_val_samples < len(data.val):
        data = dataclasses.replace(data, val=stratified_subset(data.val, max_val_samples, seed=seed))
    # What the trials mean; workers joining the study must agree on it (where it runs may differ).
    meaning = {k: v for k, v in base_config.to_dict().items() if k not in RUN_PLACE_FIELDS}
    spec = {"model": model_name, "space": space.describe(), "sampler": sampler, "pruner": pruner or "none",
            "seed": seed, "epochs_per_trial": epochs_per_trial, "max_train_samples": base_config.max_train_samples,
            "max_val_samples": max_val_samples, "data": data.describe(), "base_config": meaning,
            "objective": "fit" if objective is None else "custom"}
    log = (lambda line: print(line, flush=True)) if progress else None
    if not train and url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
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
    if started or _summary_is_stale(out_dir, summary):
        # Several workers finish the same study at about the same time: both writers go through a private
        # temporary file and an atomic rename, so none reads another's half-written file; the last to stop wins.
        write_csv(result.trials_dataframe(), out_dir / "trials.csv")
        write_json(out_dir / "search.json", {**summary, **run_metadata(
            recipe=base_config.name or "tune", protocol=data.protocol, seed=seed, config=base_config.to_dict())})
    if progress and summary["best_trial"] is not None:
        print(f"best of {summary['finished']} trials: #{summary['best_trial']} {summary['best_params']} "
              f"(val loss {summary['best_val_loss']:.4f})", flush=True)
    return result


def copy_startup_trials(source: "SearchResult", study, spec: dict, *, n_startup: int = TPE_STARTUP_TRIALS,
                        log=None) -> int:
    """Copy ``source``'s first ``n_startup`` finished trials (params, val losses per epoch, state) into ``study``,
    a new TPE study of the same spec but the sampler; returns how many were copied.

    A TPE search's first ``n_startup`` trials are the seeded random sampler's draws (:class:`SeededStartupTPE`),
    and a random search of the same seed draws the same sequence, so these trials are the same trainings: copying
    them saves their compute and changes nothing the TPE search decides (its pruner and model see the same
    history). Each copy names its origin in the ``copied_from`` user attribute. A study that already holds trials
    is left alone (it was started without the copies, and its draws must go on as they began)."""
    from charclf.errors import ConfigError

    optuna = _optuna()
    from optuna.trial import TrialState

    details = dict_differences(json.loads(json.dumps(source.spec, default=str)),
                               json.loads(json.dumps(spec, default=str)), ignore={"sampler"})
    if details:
        raise ConfigError(f"startup_from: the search {source.study.study_name!r} differs from this one in more than "
                          f"its sampler ({details}), so its trials are not this search's. Fix: pass a search "
                          "with the same model, space, seed, epochs and data, or none")
    if spec.get("sampler") != "tpe" or study.get_trials(deepcopy=False):
        return 0
    finished = sorted(source.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)),
                      key=lambda t: t.number)[:n_startup]
    for t in finished:
        study.add_trial(optuna.trial.create_trial(
            state=t.state, value=t.value, params=t.params, distributions=t.distributions,
            intermediate_values=t.intermediate_values,
            user_attrs={**t.user_attrs, COPIED_ATTR: f"{source.study.study_name}#{t.number}"}))
    if log and finished:
        log(f"copied the first {len(finished)} trials of {source.study.study_name!r} (TPE's seeded random start "
            "draws the same ones)")
    return len(finished)


def _summary_is_stale(out_dir: Path, summary: dict) -> bool:
    """True when ``out_dir``'s search.json or trials.csv is missing or counts other trials than ``summary``."""
    if not (out_dir / "search.json").is_file() or not (out_dir / "trials.csv").is_file():
        return True
    try:
        saved = json.loads((out_dir / "search.json").read_text())
    except (OSError, ValueError):
        return True
    return any(saved.get(key) != summary[key] for key in ("finished", "complete", "pruned", "best_trial"))


# -- CLI --------------------------------------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tune", help="random/TPE hyperparameter search (Optuna)",
        description="Hyperparameter search for one model: short trainings scored by validation loss, stored in a "
                    "database so a killed search resumes and several workers (same --storage and --study-name) "
                    "share one study. --trials is the total across all workers (workers racing for the last "
                    "trials may finish up to workers - 1 more; search.json reports the actual number).")
    p.add_argument("--model", required=True, help="model name (charclf.list_models())")
    p.add_argument("--trials", type=COUNT, default=None, help="total finished trials (default: the space's n_iter, 28)")
    p.add_argument("--storage", default=None,
                   help="database URL or SQLite file path (default: sqlite:///<out>/study.db)")
    p.add_argument("--study-name", default=None, help="default: <model>-<space>-<sampler>-s<seed>")
    p.add_argument("--sampler", choices=["random", "tpe"], default="random")
    p.add_argument("--pruner", choices=["median", "none"], default="median")
    p.add_argument("--space", choices=sorted(SPACES), default="byclass",
                   help="byclass: the ByClass study's grid; continuous: log-uniform lr/weight decay")
    p.add_argument("--recipe", default="byclass_study", help="base TrainConfig the trials modify")
    p.add_argument("--epochs-per-trial", type=COUNT, default=5)
    p.add_argument("--max-train-samples", type=COUNT, default=None, help="stratified train subset per trial")
    p.add_argument("--max-val-samples", type=COUNT, default=None, help="stratified val subset for scoring")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", default="byclass")
    p.add_argument("--protocol", default="holdout", choices=["holdout", "official"])
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--heartbeat", type=SECONDS, default=DEFAULT_HEARTBEAT_S,
                   help="seconds between a trial's heartbeats; a trial silent for 3x this is re-queued")
    p.add_argument("--out", default=None, help="output folder (default: outputs/tune/<study-name>)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from charclf.data import load_data
    from charclf.train.recipes import get_recipe

    space = get_space(args.space)
    base = get_recipe(args.recipe, device=args.device)
    data = load_data(args.split, args.protocol, args.data_dir)
    try:
        result = run_search(args.model, data, base, space, n_trials=args.trials, sampler=args.sampler,
                            pruner=args.pruner, storage=args.storage, study_name=args.study_name, seed=args.seed,
                            epochs_per_trial=args.epochs_per_trial, max_train_samples=args.max_train_samples,
                            max_val_samples=args.max_val_samples, out_dir=args.out,
                            heartbeat_interval=args.heartbeat)
    except KeyboardInterrupt:
        print("charclf tune: interrupted. The search's finished trials are kept in its storage and the interrupted "
              "one is queued again: rerun the same command to resume it", file=sys.stderr)
        return 130
    df = result.trials_dataframe()
    with contextlib.suppress(ImportError):
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(df.sort_values("val_loss").head(10).to_string(index=False))
    if (df.state == "COMPLETE").any() and result.out_dir is not None:
        fig = result.plot()
        fig.savefig(result.out_dir / "search.png", dpi=120)
        print(f"wrote {result.out_dir / 'search.json'}, trials.csv and search.png", file=sys.stderr)
    return 0
