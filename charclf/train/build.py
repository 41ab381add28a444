"""What trains a model, built from a ``TrainConfig`` in one place: optimizer, learning-rate schedule, loss,
batch augmentation and EMA.

``fit``, the study plan's feasibility timing, ``charclf bench`` and the time-to-accuracy race all build through
:func:`build_training`, so a recipe means the same optimizer, schedule, loss and augmentation wherever it runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from charclf.train.augment import BatchAugment
from charclf.train.config import TrainConfig
from charclf.train.ema import EMA, SWA
from charclf.train.losses import build_loss
from charclf.train.optim import build_optimizer, build_scheduler


@dataclass
class TrainingParts:
    """What :func:`build_training` returns. ``scheduler`` is None when no steps per epoch were given (a timing
    without a schedule), ``augment`` when the config augments nothing (the loop then skips the call), ``ema`` (the
    weight average: an ``EMA``, or an ``SWA`` with ``swa_start_epoch``) when the config has neither."""

    optimizer: torch.optim.Optimizer
    scheduler: object | None
    loss_fn: nn.Module
    augment: BatchAugment | None
    ema: EMA | None


def build_training(model: nn.Module, config: TrainConfig, *, num_classes: int, mean: float, std: float,
                   class_counts=None, steps_per_epoch: int | None = None,
                   device: torch.device | None = None) -> TrainingParts:
    """Build what trains ``model`` (already on its device and in its memory format: the EMA copies it as it is)
    under ``config``: the optimizer over its parameters, the schedule laid out over ``config.epochs`` epochs of
    ``steps_per_epoch`` optimizer steps, the loss (``class_counts`` weigh the weighted losses) on ``device``
    (default: the model's), the batch augmentation filling with black as normalised by ``mean``/``std``, and the
    EMA of the weights. The order of construction is fixed: nothing here draws random numbers, but keeping it
    keeps every object's state what ``fit`` always built."""
    if device is None:
        device = next(model.parameters()).device
    optimizer = build_optimizer(model, config.optimizer)
    scheduler = (build_scheduler(optimizer, config.scheduler, epochs=config.epochs, steps_per_epoch=steps_per_epoch)
                 if steps_per_epoch is not None else None)
    loss_fn = build_loss(config.loss, num_classes=num_classes, class_counts=class_counts,
                         label_smoothing=config.label_smoothing).to(device)
    augment = build_augment(config, num_classes, mean=mean, std=std)
    ema = (EMA(model, config.ema_decay) if config.ema_decay
           else SWA(model, config.swa_start_epoch, config.swa_lr) if config.swa_start_epoch else None)
    return TrainingParts(optimizer, scheduler, loss_fn, augment if augment.enabled else None, ema)


def build_augment(config: TrainConfig, num_classes: int, *, mean: float, std: float) -> BatchAugment:
    """The config's batch augmentation for inputs normalised with ``mean``/``std``: what is moved in from outside
    the image is black (a zero pixel, normalised)."""
    return BatchAugment(config.augment, num_classes, fill=(0.0 - mean) / std)
