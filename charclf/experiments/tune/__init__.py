"""Hyperparameter search (random search as in the ByClass study, or TPE) on Optuna.

Modules, by concern: :mod:`.space` (what is searched: tuples of choices and Optuna distributions),
:mod:`.sampler` (Optuna's samplers, plus the worker-independent seeded draws Optuna lacks), :mod:`.storage`
(the RDB storage a killed search resumes from and workers share), :mod:`.objective` (a short ``fit`` per
trial), :mod:`.search` (the study run to its budget: :func:`run_search`), :mod:`.results` (the trials table and
summary files) and :mod:`.cli` (``charclf tune``).

``charclf tune`` needs only :mod:`.cli`, which imports no Optuna until it runs; every other name is imported
on first use (Optuna is an optional dependency: without it, a one-line error says how to install it).
"""
from __future__ import annotations

import importlib

from charclf.experiments.tune.cli import add_parser, run

_WHERE = {
    "space": ("PARAM_PATHS", "SearchSpace", "BYCLASS_GRID", "CONTINUOUS_SPACE", "SPACES", "get_space",
              "require_optuna", "describe_distribution"),
    "sampler": ("SeededRandomSampler", "TPE_STARTUP_TRIALS", "make_sampler", "make_pruner"),
    "storage": ("SPEC_ATTR", "DEFAULT_HEARTBEAT_S", "MAX_RETRY", "storage_url", "make_storage",
                "load_or_create_study", "safe_url"),
    "objective": ("fit_objective", "reuse_repeats"),
    "results": ("SearchResult", "trials_dataframe", "FINISHED_STATES", "WORKER_ATTR", "COPIED_ATTR", "REPEAT_ATTR"),
    "search": ("run_search", "optimize_to_budget", "copy_startup_trials", "search_location"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = ["add_parser", "run", *_MODULE_OF]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module(f"{__name__}.space")  # first: without Optuna, its one-line error says what to install
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
