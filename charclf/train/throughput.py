"""Images/s of charclf's own training step: the one timing loop behind ``charclf bench``, the study plan's
feasibility measurement (which recipe fits this machine) and the label audit's runtime estimate."""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from charclf.train.loop import train_epoch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_steps(model: nn.Module, optimizer, loss_fn, augment, images: torch.Tensor, labels: torch.Tensor, *,
                     batch_size: int, steps: int, warmup: int, mean: float, std: float,
                     amp_dtype: torch.dtype | None, channels_last: bool, seed: int = 0,
                     grad_clip_norm: float | None = None) -> dict:
    """Run ``warmup`` untimed then ``steps`` timed steps of ``charclf.train.loop.train_epoch`` on ``images``
    (already on the training device); returns images, seconds, images_per_s and the last loss."""
    device = images.device
    generator = torch.Generator().manual_seed(seed)
    common = dict(batch_size=batch_size, mean=mean, std=std, amp_dtype=amp_dtype, channels_last=channels_last,
                  generator=generator, grad_clip_norm=grad_clip_norm)

    def order(n_steps: int) -> torch.Tensor | None:
        # train_epoch shuffles by itself; only a dataset smaller than the run needs repeated permutations.
        if n_steps * batch_size <= len(images):
            return None
        reps = math.ceil(n_steps * batch_size / len(images))
        return torch.cat([torch.randperm(len(images), generator=generator) for _ in range(reps)]).to(device)

    if warmup:
        train_epoch(model, optimizer, None, loss_fn, augment, images, labels, max_steps=warmup,
                    indices=order(warmup), **common)
    sync(device)
    start = time.perf_counter()
    out = train_epoch(model, optimizer, None, loss_fn, augment, images, labels, max_steps=steps,
                      indices=order(steps), **common)
    sync(device)
    seconds = time.perf_counter() - start
    return {"images": int(out["samples"]), "seconds": seconds, "images_per_s": out["samples"] / seconds,
            "final_loss": float(out["loss"])}


def measure_images_per_s(model_name: str, config, data, *, steps: int = 6, warmup: int = 2) -> float:
    """Images/s of the recipe's own training step (batch size, precision, augmentation) on ``data.train``,
    timed over ``steps`` steps after ``warmup`` untimed ones on a fresh model (thrown away afterwards)."""
    import torch

    from charclf.models import create_model
    from charclf.tensorops import resolve_device
    from charclf.train.build import build_training
    from charclf.train.engine import pixel_stats
    from charclf.train.precision import resolve_amp

    device = resolve_device(config.device)
    model = create_model(model_name, num_classes=data.num_classes, **config.model_kwargs).to(device)
    model = model.to(memory_format=torch.channels_last)
    n = min(len(data.train), (steps + warmup) * config.batch_size)
    images, labels = data.train.images[:n].to(device), data.train.labels[:n].to(device)
    mean, std = pixel_stats(images)
    # No schedule: a few steps at the recipe's base learning rate time the same work.
    parts = build_training(model, config, num_classes=data.num_classes, mean=mean, std=std,
                           class_counts=data.train.class_counts(), device=device)
    return time_train_steps(model, parts.optimizer, parts.loss_fn, parts.augment, images, labels,
                            batch_size=config.batch_size, steps=steps, warmup=warmup, mean=mean, std=std,
                            amp_dtype=resolve_amp(config.amp, device, model), channels_last=True,
                            grad_clip_norm=config.grad_clip_norm)["images_per_s"]
