"""The hot loop: one epoch over a dataset that already lives on the training device.

No DataLoader and no per-sample Python: each step indexes a batch of uint8 images on the device, normalises
and augments the whole batch there, and runs forward/backward under optional bf16 autocast.
Running loss/accuracy stay on the device; the host only syncs every ``log_every`` steps (progress bar and
the NaN check), so a GPU is never stalled by bookkeeping.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from charclf.errors import DivergenceError
from charclf.eval.inference import normalize


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    """Full batches only (static shapes for torch.compile, no 1-sample BatchNorm batch); the remainder left
    out differs every epoch because the order does. A dataset smaller than one batch is one step."""
    return max(1, num_samples // batch_size)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loss_fn: nn.Module, augment,
                images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, mean: float, std: float,
                amp_dtype: torch.dtype | None, channels_last: bool, generator: torch.Generator,
                max_steps: int | None = None, ema=None, progress=None, indices: torch.Tensor | None = None,
                epoch: int = 0, log_every: int = 50, grad_clip_norm: float | None = None,
                soft_targets: torch.Tensor | None = None) -> dict:
    """Train ``model`` for one epoch (or ``max_steps`` steps); returns {"loss", "acc", "samples", "seconds", "steps"}.

    images: uint8 (N, 28, 28) and labels: int64 (N,), both already on the training device.
    Order: ``indices`` as given (e.g. a DDP rank's shard, shuffled by the caller), else a permutation drawn from
    ``generator``, which also drives the augmentation. ``scheduler.step()`` runs after every optimizer step.
    ``grad_clip_norm``: clip the global gradient norm (all parameters together) before each optimizer step.
    ``soft_targets``: float (N, C) on the device, the training targets instead of ``labels`` (distillation);
    accuracy is still counted against ``labels``.
    ``progress``: an optional tqdm bar, advanced per step; its postfix shows loss/acc every ``log_every`` steps.
    A non-finite loss raises ``DivergenceError`` (a ``TrainingError``) naming ``epoch`` and the step.
    """
    device = images.device
    if indices is None:
        indices = torch.randperm(len(images), generator=generator, device=generator.device)
    order = indices.to(device)
    steps = steps_per_epoch(len(order), batch_size)
    if max_steps is not None:
        steps = min(steps, max_steps)
    use_augment = augment is not None and getattr(augment, "enabled", True)

    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)  # first step with a NaN/inf loss
    samples = 0
    start = time.perf_counter()
    for step in range(steps):
        idx = order[step * batch_size:(step + 1) * batch_size]
        y = labels[idx]
        x = normalize(images[idx], mean, std)
        targets = y if soft_targets is None else soft_targets[idx]
        if use_augment:
            x, targets = augment(x, targets, generator=generator)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            logits = model(x)
        loss = loss_fn(logits.float(), targets)  # the loss itself in float32, whatever autocast did

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip_norm is not None:
            # foreach: one fused pass over all gradients; no host sync (the norm stays on the device).
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm, foreach=True)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update(model)

        loss = loss.detach()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        loss_sum += loss * len(idx)
        correct += (logits.detach().argmax(1) == y).sum()  # accuracy against the un-mixed labels
        samples += len(idx)
        if progress is not None:
            progress.update(1)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            bad = int(first_bad)
            if bad >= 0:
                raise DivergenceError(
                    f"the training loss became NaN/inf at epoch {epoch}, step {bad + 1} of {steps} "
                    f"(lr {optimizer.param_groups[0]['lr']:.3g}). Fix: lower the learning rate (or add warmup) "
                    f"and check the data for bad values")
            if progress is not None:
                progress.set_postfix(loss=f"{loss_sum.item() / samples:.4f}", acc=f"{correct.item() / samples:.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"loss": loss_sum.item() / max(samples, 1), "acc": correct.item() / max(samples, 1),
            "samples": samples, "seconds": seconds, "steps": steps}
