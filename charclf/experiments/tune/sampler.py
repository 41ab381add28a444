"""The samplers: Optuna's, plus the one thing Optuna lacks — random draws that do not depend on the worker.

Optuna's ``RandomSampler(seed)`` draws from one random stream per process, so two workers with the same seed
draw the *same* parameters, and a resumed search draws other ones than an uninterrupted search would have;
its ``GridSampler`` picks an unvisited point at random, with the same problem. :class:`SeededRandomSampler`
derives the draw of a trial from ``(seed, draw index)`` alone, so the first ``n`` trials are the same whether
one worker runs them or five, killed and resumed or not. With TPE its draws are the start-up trials, then
Optuna's ``TPESampler`` (with the constant liar, which keeps parallel workers from proposing one point twice)
takes over: a TPE search and a random search of one seed share their start.
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
from optuna.exceptions import ExperimentalWarning
from optuna.pruners import MedianPruner, NopPruner
from optuna import storages
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from charclf.errors import unknown_name
from charclf.experiments.tune.space import SearchSpace

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

# TPE's first trials are the seeded random sampler's draws (it has nothing to model yet): with the same seed, a
# TPE search and a random one share these trials exactly, so only TPE's later trials can tell the two apart.
TPE_STARTUP_TRIALS = 10

# Optuna's callback that re-queues a failed trial's parameters as a WAITING trial (renamed in Optuna 4.9; the
# old name, all Optuna 3 has, goes in 6.0).
RetryCallback = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback


def retried_trial_number(trial) -> int | None:
    """The number of the trial that ``trial`` re-runs (a re-queued killed or interrupted trial), else None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RetryCallback.retried_trial_number(trial)


def _trial_seed(seed: int, number: int, name: str) -> int:
    """A reproducible seed for one parameter of one trial, independent of which worker asks."""
    return int(np.random.SeedSequence([seed, number, zlib.crc32(name.encode())]).generate_state(1)[0])


class SeededRandomSampler(BaseSampler):
    """Random search whose draw for trial ``k`` depends only on ``(seed, k)``; with ``then`` (e.g. a
    ``TPESampler``), that sampler takes over once the study holds ``n_startup`` finished trials.

    ``k`` is the trial's *draw index*: how many earlier trials drew fresh parameters, i.e. its number minus
    the re-queued retries of killed trials before it (a retry re-runs fixed parameters and draws nothing).
    Counting draws rather than trial numbers keeps a killed-and-resumed search on the same sequence as an
    uninterrupted one, instead of skipping one draw per retry. A retry's flag is written when it is created,
    so every worker computes the same index.

    A grid space is sampled without replacement: draw ``k`` takes the point at position ``k`` of a seeded
    permutation of the grid (a new permutation after every full pass). Other spaces draw each parameter
    independently with Optuna's ``RandomSampler`` seeded with ``(seed, k, name)``.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, then: BaseSampler | None = None,
                 n_startup: int = TPE_STARTUP_TRIALS):
        self.space = space
        self.seed = int(seed)
        self.then = then
        self.n_startup = int(n_startup)
        self._grid = space.grid() if space.is_grid else None
        self._draw_cache: dict = {}

    def draw_index(self, study, trial) -> int:
        key = (study.study_name, trial.number)
        if key not in self._draw_cache:
            self._draw_cache[key] = sum(1 for t in study.get_trials(deepcopy=False)
                                        if t.number < trial.number and retried_trial_number(t) is None)
        return self._draw_cache[key]

    def _handed_over(self, study) -> bool:
        return self.then is not None and len(study.get_trials(deepcopy=False, states=FINISHED)) >= self.n_startup

    def infer_relative_search_space(self, study, trial):
        if self._handed_over(study):
            return self.then.infer_relative_search_space(study, trial)
        return self.space.distributions() if self._grid is not None else {}

    def sample_relative(self, study, trial, search_space):
        if self._handed_over(study):
            return self.then.sample_relative(study, trial, search_space)
        if not search_space or self._grid is None:
            return {}
        cycle, pos = divmod(self.draw_index(study, trial), len(self._grid))
        point = self._grid[int(np.random.default_rng([self.seed, cycle]).permutation(len(self._grid))[pos])]
        return {k: point[k] for k in search_space if k in point}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if self._handed_over(study):
            return self.then.sample_independent(study, trial, param_name, param_distribution)
        sampler = RandomSampler(seed=_trial_seed(self.seed, self.draw_index(study, trial), param_name))
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        if self.then is not None:
            self.then.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        if self.then is not None:
            self.then.after_trial(study, trial, state, values)


def make_sampler(kind: str, space: SearchSpace, seed: int = 0, *, n_startup: int = TPE_STARTUP_TRIALS):
    """``"random"`` (reproduces the ByClass study's random search) or ``"tpe"`` (its seeded random start, then
    Optuna's multivariate TPE with the constant liar)."""
    if kind == "random":
        return SeededRandomSampler(space, seed)
    if kind == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            tpe = TPESampler(seed=seed, n_startup_trials=n_startup, constant_liar=True, multivariate=True)
        return SeededRandomSampler(space, seed, then=tpe, n_startup=n_startup)
    raise unknown_name("sampler", kind, ["random", "tpe"])


def make_pruner(kind: str | None):
    """``"median"``: stop a trial whose val loss after an epoch is worse than the median of earlier trials at
    that epoch (not before 5 trials finished, never after the first epoch); ``None``/``"none"``: never prune."""
    if kind in (None, "none"):
        return NopPruner()
    if kind == "median":
        return MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    raise unknown_name("pruner", str(kind), ["median", "none"])
