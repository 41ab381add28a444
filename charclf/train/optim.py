"""Optimizers and learning-rate schedules from their configs.

Every schedule here is stepped once per OPTIMIZER STEP (never per epoch): epoch-based schedules of the earlier
works (StepLR every k epochs, cosine warm restarts every t0 epochs) are converted to steps with
``steps_per_epoch``, so the training loop has a single rule and a resumed run continues mid-epoch correctly.

Resuming: build the optimizer and the scheduler as for a fresh run, then load the optimizer's state dict,
then the scheduler's — the learning rates then continue exactly as in an uninterrupted run.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    SequentialLR,
    StepLR,
)

from charclf.errors import ConfigError, unknown_name
from charclf.train.config import OptimizerConfig, SchedulerConfig

OPTIMIZERS = ("sgd", "adam", "adamw", "lion")
SCHEDULERS = ("none", "step", "onecycle", "cosine", "warmup_cosine_restarts")

# LinearLR warm-up starts at this fraction of the base lr (LinearLR refuses 0).
WARMUP_START_FACTOR = 0.01


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights of layers (decayed) and biases / norm weights / any 1-D parameter (not decayed).

    Decaying a bias or a BatchNorm scale only pulls it to zero without regularising the function, so like
    most modern recipes (timm, nanoGPT) we exempt every parameter with fewer than 2 dimensions.
    """
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """sgd (momentum, nesterov, weight decay) | adam | adamw | lion (package ``lion-pytorch``).

    ``cfg.betas`` is used as given for adam, adamw and lion (the Lion paper's default is (0.9, 0.99): set it
    in the config; the field's default (0.9, 0.999) is Adam's).
    """
    name = cfg.name.lower()
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", cfg.name, OPTIMIZERS)
    if not cfg.lr > 0:
        raise ConfigError(f"OptimizerConfig.lr={cfg.lr}: the learning rate must be > 0. Fix: e.g. 0.01 for sgd")
    if cfg.weight_decay < 0:
        raise ConfigError(f"OptimizerConfig.weight_decay={cfg.weight_decay}: must be >= 0. Fix: e.g. 5e-4 or 0")
    groups = param_groups(model, cfg.weight_decay)
    if not groups:
        raise ConfigError(f"{type(model).__name__} has no trainable parameters: nothing to optimise. "
                          "Fix: unfreeze some parameters (requires_grad=True)")
    betas = tuple(cfg.betas)
    if name == "sgd":
        if cfg.nesterov and cfg.momentum <= 0:
            raise ConfigError(f"OptimizerConfig: nesterov=True needs momentum > 0 (got {cfg.momentum}). "
                              "Fix: set momentum (e.g. 0.9) or nesterov=false")
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)
    try:
        from lion_pytorch import Lion
    except ImportError as err:
        raise ConfigError("optimizer 'lion' needs the package lion-pytorch, which is not installed. "
                          "Fix: pip install lion-pytorch (or pip install 'charclf[lion]')") from err
    return Lion(groups, lr=cfg.lr, betas=betas)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: SchedulerConfig, *, epochs: int,
                    steps_per_epoch: int) -> LRScheduler | None:
    """A per-step learning-rate schedule (``None`` for ``"none"``). Call ``scheduler.step()`` after every
    ``optimizer.step()``.

    * ``step``: multiply the lr by ``gamma`` every ``step_size`` epochs (= ``step_size * steps_per_epoch``
      steps), like ``StepLR`` stepped per epoch.
    * ``onecycle``: ``OneCycleLR`` to ``max_lr`` (default: the optimizer's lr) over all steps; warm-up is
      ``warmup_epochs / epochs`` of the run when ``warmup_epochs > 0``, else OneCycleLR's 30 %. Momentum is
      left as configured (no momentum cycling) so the optimizer config means what it says.
    * ``cosine``: cosine annealing from the lr to ``eta_min`` over all steps.
    * ``warmup_cosine_restarts`` (the EfficientNet study): ``LinearLR`` warm-up over ``warmup_epochs`` from
      1 % of the lr, then ``CosineAnnealingWarmRestarts(T_0=t0 epochs, T_mult=t_mult, eta_min)``.
    """
    name = cfg.name.lower()
    if name not in SCHEDULERS:
        raise unknown_name("scheduler", cfg.name, SCHEDULERS)
    if epochs < 1 or steps_per_epoch < 1:
        raise ConfigError(f"scheduler {cfg.name!r}: epochs={epochs} and steps_per_epoch={steps_per_epoch} must "
                          "be >= 1. Fix: check the training set size and batch size")
    total = epochs * steps_per_epoch
    if name == "none":
        return None
    if name == "step":
        if cfg.step_size < 1:
            raise ConfigError(f"SchedulerConfig.step_size={cfg.step_size}: must be >= 1 epoch. Fix: e.g. 5")
        return StepLR(optimizer, step_size=cfg.step_size * steps_per_epoch, gamma=cfg.gamma)
    if name == "onecycle":
        max_lr = cfg.max_lr if cfg.max_lr is not None else optimizer.param_groups[0]["lr"]
        pct = min(max(cfg.warmup_epochs / epochs, 1.0 / total), 0.99) if cfg.warmup_epochs > 0 else 0.3
        return OneCycleLR(optimizer, max_lr=max_lr, total_steps=total, pct_start=pct, cycle_momentum=False)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.eta_min)
    # warmup_cosine_restarts
    if cfg.t0 < 1 or cfg.t_mult < 1:
        raise ConfigError(f"SchedulerConfig: t0={cfg.t0} and t_mult={cfg.t_mult} must be >= 1. Fix: e.g. t0=10, "
                          "t_mult=1")
    restarts = CosineAnnealingWarmRestarts(optimizer, T_0=cfg.t0 * steps_per_epoch, T_mult=cfg.t_mult,
                                           eta_min=cfg.eta_min)
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    if warmup_steps <= 0:
        return restarts
    warmup = LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, end_factor=1.0, total_iters=warmup_steps)
    return SequentialLR(optimizer, schedulers=[warmup, restarts], milestones=[warmup_steps])
