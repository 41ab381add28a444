"""Two small tensor helpers every layer shares: which device to run on, and exact whole-pixel shifts.

They live here, below data/models/eval/train, so training (augmentation, ``fit``) and inference (test-time
augmentation, ``load_model``) use one implementation each instead of two that could drift apart.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from charclf.errors import ConfigError


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: this process's GPU (``cuda:<local_rank>``) when CUDA is available, else the CPU; otherwise the
    named device (``cpu``, ``cuda``, ``cuda:N``), refused with one line when it does not exist here."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"TrainConfig.device={name!r} is not a device. Fix: use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig.device={name!r} but CUDA is not available here. Fix: use device 'auto' or 'cpu'")
    return device


def shift_integer(x: Tensor, dy: Tensor | int, dx: Tensor | int, fill: float | None = 0.0, *,
                  max_shift: int | None = None) -> Tensor:
    """Exact whole-pixel shifts of a batch (B, C, H, W): ``out[b, :, i, j] = x[b, :, i - dy[b], j - dx[b]]``,
    ``fill`` outside (None: the batch's minimum, i.e. "no ink" whatever the normalisation).

    ``dy``/``dx`` are per-image (B,) tensors (augmentation) or one int for the whole batch (test-time
    augmentation). This is ``F.affine(img, 0, (dx, dy), 1, 0)`` — or a ``RandomCrop`` after zero padding — without
    any interpolation: pad once, then gather each image's window. ``max_shift`` (a bound on |dy|, |dx|) avoids
    reading the shifts back to the host, which would stall a GPU.
    """
    b, c, h, w = x.shape
    if isinstance(dy, int) and isinstance(dx, int):
        if dy == 0 and dx == 0:
            return x
        max_shift = max(abs(dy), abs(dx)) if max_shift is None else max_shift
        dy, dx = torch.full((b,), dy), torch.full((b,), dx)
    dy, dx = torch.as_tensor(dy).to(x.device, torch.long), torch.as_tensor(dx).to(x.device, torch.long)
    if max_shift is None:
        max_shift = int(max(dy.abs().max().item(), dx.abs().max().item())) if b else 0
    pad = int(max_shift)
    if pad == 0:
        return x
    if fill is None:
        fill = x.amin().item() if b else 0.0
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    rows = torch.arange(h, device=x.device)[None, :] - dy[:, None] + pad  # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] - dx[:, None] + pad  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indices separated by a slice go first: (B, H, W, C) -> (B, C, H, W).
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
