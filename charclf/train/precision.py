"""Which precision a training run uses: ``TrainConfig.amp`` = auto | bf16 | off, resolved for the device.

"auto" is bf16 autocast wherever the hardware runs bf16 natively: every CUDA GPU charclf targets, and CPUs whose
oneDNN has bf16 kernels (AVX512-BF16 or AMX). On such a 2-core CPU bf16 + channels_last trained Mini-Vision-V3
3x faster than float32 with the same accuracy (the run pair outputs/runs/cpu/minivision_v3-recipe and
minivision_v3-recipe-bf16: same recipe and seed, holdout protocol). Elsewhere bf16 would be emulated and slower,
so "auto" stays float32 there.
"""
from __future__ import annotations

import functools

import torch

from charclf.errors import ConfigError

AMP_CHOICES = ("auto", "bf16", "off")


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(value: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``TrainConfig.amp=value`` on ``device`` (None = plain float32)."""
    if value not in AMP_CHOICES:
        raise ConfigError(f"TrainConfig.amp={value!r}. Fix: use one of {list(AMP_CHOICES)}")
    if value == "off":
        return None
    if value == "bf16":
        return torch.bfloat16
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())
    return torch.bfloat16 if native else None


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """"bf16" or "fp32", as recorded in a run's metrics.json."""
    return "bf16" if amp_dtype == torch.bfloat16 else "fp32"
