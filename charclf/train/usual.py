"""The earlier works' training data path, kept as the baseline charclf's own pipeline is measured against.

A ``Dataset`` turns each uint8 image into a PIL image and applies torchvision transforms to it, one sample at a
time; a ``DataLoader`` collates the batches; each batch is copied to the device and trained on in float32,
NCHW. charclf's ``train.loop`` instead keeps the data on the device and augments whole batches there
(``train.augment.BatchAugment``, the same ranges). ``charclf bench`` times both steps;
``charclf.experiments.time_to_accuracy`` races both to the same val accuracy.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from charclf.errors import ConfigError
from charclf.train.config import AugmentConfig
from charclf.train.throughput import sync


USUAL_RESAMPLING = "nearest (torchvision's default for RandomAffine and RandomRotation, as the works shipped it)"


def torchvision_transform(cfg: AugmentConfig, mean: float, std: float):
    """The per-sample torchvision pipeline with ``cfg``'s ranges: ``RandomAffine`` (degrees, translate, scale,
    shear), ``RandomCrop(28, padding)``, ``RandomRotation`` — each only when ``cfg`` asks for it, in the order the
    earlier works list them (Mini-Vision: crop, then rotation) — then ``ToTensor`` and ``Normalize``.
    torchvision's defaults otherwise (nearest-neighbour resampling, black fill), as the works shipped them:
    ``cfg.interpolation`` is charclf's pipeline's setting and is not used here (see ``USUAL_RESAMPLING``)."""
    from torchvision import transforms

    if cfg.mixes:
        raise ConfigError(f"AugmentConfig mixup_alpha={cfg.mixup_alpha}, cutmix_alpha={cfg.cutmix_alpha}: MixUp and "
                          "CutMix mix whole batches, which a per-sample torchvision Dataset cannot do. Fix: use a "
                          "recipe without them for the usual pipeline")
    steps = []
    if cfg.degrees or cfg.translate or cfg.shear or tuple(cfg.scale) != (1.0, 1.0):
        steps.append(transforms.RandomAffine(cfg.degrees, translate=(cfg.translate,) * 2 if cfg.translate else None,
                                             scale=tuple(cfg.scale), shear=cfg.shear or None))
    if cfg.crop_padding:
        steps.append(transforms.RandomCrop(28, padding=cfg.crop_padding))
    if cfg.rotation:
        steps.append(transforms.RandomRotation(cfg.rotation))
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize((mean,), (std,))])


class UsualDataset(torch.utils.data.Dataset):
    """uint8 (N, 28, 28) images -> PIL -> :func:`torchvision_transform` -> float (1, 28, 28), per sample."""

    def __init__(self, images, labels, augment: AugmentConfig, mean: float, std: float):
        self.images, self.labels = np.asarray(images), np.asarray(labels)
        self.transform = torchvision_transform(augment, mean, std)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def train_epoch_usual(model: nn.Module, loader, optimizer: torch.optim.Optimizer, scheduler, loss_fn: nn.Module, *,
                      device: torch.device, grad_clip_norm: float | None = None) -> dict:
    """One float32, NCHW epoch over ``loader`` (batches copied to ``device``); ``scheduler.step()`` after every
    optimizer step, as in ``train.loop.train_epoch``. Returns {"loss", "acc", "samples", "seconds", "steps"}."""
    model.train()
    loss_sum = correct = samples = steps = 0
    start = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        samples += len(y)
        steps += 1
    sync(device)
    seconds = time.perf_counter() - start
    return {"loss": loss_sum / max(samples, 1), "acc": correct / max(samples, 1), "samples": samples,
            "seconds": seconds, "steps": steps}
