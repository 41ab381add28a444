"""Turning uint8 character images into logits — the one place normalisation and batching happen at inference."""
from __future__ import annotations

import torch
from torch import nn

from charclf.tensorops import resolve_device, shift_integer

# Shifts (in pixels) used by test-time augmentation. Translations only: flips or rotations would turn
# characters into other characters (b/d, 6/9, M/W).
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) in 0..255 -> float (N, 1, 28, 28), (x/255 - mean) / std."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(images.shape)}")
    x = images.float() if images.dtype == torch.uint8 else images.float() * 255.0
    return (x / 255.0 - mean) / std


def default_device() -> torch.device:
    """The device inference runs on when none is named: ``resolve_device("auto")``, as training chooses."""
    return resolve_device("auto")


# A CPU's caches hold a few hundred 28x28 activations per layer, not a GPU-sized 1024: in one-off timings on
# 2 cores (not a committed benchmark) batches of 128-256 ran every model tried faster than 1024.
CPU_MAX_BATCH = 256


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, mean: float, std: float, batch_size: int = 1024,
                   device: torch.device | str | None = None, tta: bool = False,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Logits (N, C) as ``dtype`` (float32 unless asked) on the CPU. With ``tta`` the softmax over small
    translations is averaged and returned as log-probabilities (argmax and softmax behave like logits).

    ``dtype`` is the precision the whole pass runs in, and the model's parameters must already be in it
    (``model.double()`` for float64, which is what makes a result come out the same on every CPU once it is
    rounded to float16: see ``charclf.experiments.ensemble.write_teacher``).

    On a CPU the chunks are at most ``CPU_MAX_BATCH`` images whatever ``batch_size`` says: the results are the
    same (eval mode), and activations that stay in the caches make it faster.
    """
    first = next(model.parameters())
    if first.dtype != dtype:
        raise ValueError(f"predict_logits: the model's parameters are {first.dtype}, asked for {dtype}; convert "
                         "the model first (e.g. model.double())")
    device = torch.device(device) if device is not None else first.device
    if device.type == "cpu":
        batch_size = min(batch_size, CPU_MAX_BATCH)
    was_training = model.training
    model.eval()
    outs = []
    try:
        for start in range(0, len(images), batch_size):
            xb = normalize(images[start:start + batch_size].to(device, non_blocking=True), mean, std).to(dtype)
            if not tta:
                outs.append(model(xb).to(dtype).cpu())
                continue
            probs = sum(torch.softmax(model(shift_integer(xb, dy, dx, fill=None)).to(dtype), dim=1)
                        for dy, dx in TTA_SHIFTS)
            outs.append(torch.log(probs / len(TTA_SHIFTS)).cpu())
    finally:
        model.train(was_training)
    if not outs:
        return torch.empty(0, 0)
    return torch.cat(outs)
