"""Images/s of charclf's own training step: the one timing loop behind ``charclf bench`` and the study plan's
feasibility measurement (which recipe fits this machine)."""
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
