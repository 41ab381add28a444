"""The objective of a search: a short ``fit`` per trial, scored by its final validation loss.

A trial reports each epoch's val loss to Optuna's pruner as it happens (through ``fit``'s per-epoch callback);
one whose training diverges (``DivergenceError``: a NaN/inf loss) is recorded as PRUNED with ``diverged=True``,
and one whose config ``TrainConfig.check`` refuses (an lr above the bound) as PRUNED with ``refused`` (the
reason) before anything trains; the search goes on. The test part is never touched: trials train with ``fit(out_dir=None)``, which
evaluates on val only.
"""
from __future__ import annotations

import math
from typing import Callable

import optuna
from optuna.trial import TrialState

from charclf.errors import ConfigError, DivergenceError
from charclf.experiments.tune.results import COPIED_ATTR, REPEAT_ATTR, WORKER_ATTR
from charclf.experiments.tune.sampler import FINISHED
from charclf.experiments.tune.space import SearchSpace
from charclf.train.config import TrainConfig


def fit_objective(model_name: str, data, base_config: TrainConfig, space: SearchSpace, *,
                  epochs_per_trial: int, prune: bool = True) -> Callable:
    """The objective: train ``model_name`` with ``base_config`` + the trial's parameters for
    ``epochs_per_trial`` epochs and return the final validation loss (lower is better).

    Every trial uses the same seed (same initial weights and data order), so trials differ only by their
    hyperparameters. The val loss of every epoch is reported to the pruner as it happens.
    """
    import torch

    from charclf.models import create_model
    from charclf.train import fit
    from charclf.train.recipes import override_config

    def objective(trial) -> float:
        params = space.suggest(trial)
        config = override_config(base_config, {**space.config_overrides(params), "epochs": epochs_per_trial,
                                               "model": model_name, "early_stopping_patience": None},
                                 source=f"trial {trial.number}")
        try:  # fit would refuse it too; here the trial is recorded with the reason and the search goes on
            config.check()
        except ConfigError as err:
            trial.set_user_attr("refused", str(err))
            raise optuna.TrialPruned(f"refused before training: {err}") from None
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
        except DivergenceError as err:
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned(f"training diverged: {err}") from None
        finally:
            trial.set_user_attr("val_loss_per_epoch", losses)
        metrics = history.attrs.get("metrics", {})
        trial.set_user_attr("val_acc_per_epoch", [float(v) for v in history["val_acc"]])
        trial.set_user_attr("best_val_acc", metrics.get("best_val_acc"))
        trial.set_user_attr("train_time_s", metrics.get("train_time_s"))
        final = float(history["val_loss"].iloc[-1])
        if not math.isfinite(final):  # the training loss stayed finite, the network's val outputs did not
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
    not_copied = {WORKER_ATTR, COPIED_ATTR, REPEAT_ATTR, "train_time_s"}

    def objective_or_earlier(trial) -> float:
        space.suggest(trial)
        matches = [t for t in trial.study.get_trials(deepcopy=False, states=FINISHED)
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
