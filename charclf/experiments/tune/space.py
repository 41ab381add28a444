"""Search spaces: which hyperparameters a search varies, as Optuna distributions.

A parameter is either a tuple of choices (an axis of a grid: a space of tuples only is a grid, which random
search samples without replacement) or an ``optuna.distributions.FloatDistribution`` / ``IntDistribution``
(``log=True`` for a log-uniform draw). What Optuna does not have, and this module adds: the short names of the
ByClass study (``lr`` -> ``optimizer.lr``), the grid's points in a fixed order, and a JSON description of the
space that a stored study compares against (so a worker cannot join a study of another space).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping

from charclf.errors import ConfigError, unknown_name


def require_optuna():
    """The optuna module, or a one-line error saying how to install it (it is an optional dependency)."""
    try:
        import optuna
    except ImportError as err:
        raise ConfigError("hyperparameter search needs the package optuna, which is not installed. "
                          "Fix: pip install optuna (or pip install 'charclf[tune]')") from err
    return optuna


require_optuna()
from optuna.distributions import (  # noqa: E402  (after the check, which names the fix)
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

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


def describe_distribution(dist: BaseDistribution) -> dict:
    """The JSON form a study's stored spec holds (the form of charclf's own distribution classes before it used
    Optuna's, so that studies begun then compare equal now)."""
    if isinstance(dist, FloatDistribution):
        out = {"log_uniform" if dist.log else "uniform": [dist.low, dist.high]}
    elif isinstance(dist, IntDistribution):
        out = {"int_log_uniform" if dist.log else "int_uniform": [dist.low, dist.high]}
    else:
        raise ConfigError(f"cannot describe the distribution {dist!r}: use FloatDistribution or IntDistribution")
    if dist.step not in (None, 1):
        out["step"] = dist.step
    return out


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameters to search: each a tuple of choices (a grid axis) or an Optuna Float/IntDistribution.

    Names are the short names of ``PARAM_PATHS`` (``lr``, ``batch_size`` ...) or dotted TrainConfig paths
    (``"scheduler.gamma"``). ``n_iter`` is the default number of trials. When every parameter is a tuple the
    space is a *grid* and random search samples it without replacement.
    """

    params: Mapping[str, Any]
    n_iter: int = 28
    name: str = "custom"

    def __post_init__(self):
        if not self.params:
            raise ConfigError(f"search space {self.name!r} has no parameters. Fix: give at least one, e.g. "
                              "{'lr': FloatDistribution(1e-4, 1e-1, log=True)}")
        fixed = {}
        for key, spec in self.params.items():
            if isinstance(spec, CategoricalDistribution):
                spec = spec.choices
            if isinstance(spec, (list, tuple)):
                if len(spec) == 0:
                    raise ConfigError(f"search space {self.name!r}: parameter {key!r} has no choices")
                spec = tuple(spec)
            elif not isinstance(spec, (FloatDistribution, IntDistribution)):
                raise ConfigError(f"search space {self.name!r}: parameter {key!r} is {spec!r}. Fix: use a list of "
                                  "choices or optuna.distributions.FloatDistribution/IntDistribution")
            elif not spec.low < spec.high:  # Optuna accepts a single point; a search over one is a mistake
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

    def distributions(self) -> dict[str, BaseDistribution]:
        """The Optuna distributions, exactly as :meth:`suggest` asks for them."""
        return {k: CategoricalDistribution(list(s)) if isinstance(s, tuple) else s for k, s in self.params.items()}

    def suggest(self, trial) -> dict:
        """Ask ``trial`` for one value of every parameter (in declaration order)."""
        out = {}
        for key, spec in self.params.items():
            if isinstance(spec, tuple):
                out[key] = trial.suggest_categorical(key, list(spec))
            elif isinstance(spec, IntDistribution):
                out[key] = trial.suggest_int(key, spec.low, spec.high, step=spec.step, log=spec.log)
            else:
                out[key] = trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)
        return out

    def config_overrides(self, params: Mapping[str, Any]) -> dict:
        """``{"optimizer.lr": 0.01, ...}`` for :func:`charclf.train.recipes.override_config`."""
        return {PARAM_PATHS.get(k, k): v for k, v in params.items()}

    def describe(self) -> dict:
        return {"name": self.name, "n_iter": self.n_iter,
                "params": {k: {"choices": list(s)} if isinstance(s, tuple) else describe_distribution(s)
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
    {"lr": FloatDistribution(1e-3, 0.2, log=True), "batch_size": (32, 64, 128, 256),
     "momentum": FloatDistribution(0.0, 0.95), "weight_decay": FloatDistribution(1e-6, 1e-2, log=True)},
    n_iter=28, name="continuous")

SPACES = {"byclass": BYCLASS_GRID, "continuous": CONTINUOUS_SPACE}


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise unknown_name("search space", name, list(SPACES))
    return SPACES[name]
