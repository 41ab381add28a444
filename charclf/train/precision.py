"""Which precision a training run uses: ``TrainConfig.amp`` = auto | bf16 | off, resolved for the device.

"auto" is bf16 autocast wherever the hardware runs bf16 natively: every CUDA GPU charclf targets, and CPUs whose
oneDNN has bf16 kernels (AVX512-BF16 or AMX). On such a 2-core CPU, Mini-Vision-V3 trained in bf16 reached the
same accuracy as in float32 (the run pair outputs/runs/cpu/minivision_v3-recipe and minivision_v3-recipe-bf16:
same recipe and seed, holdout protocol). Elsewhere bf16 would be emulated and slower,
so "auto" stays float32 there. One exception, measured: models built on depthwise convolutions (charnet_s, the
EfficientNets) train no faster in bf16 on a CPU (oneDNN's bf16 depthwise kernels do not pay), so on a CPU "auto"
keeps them in float32. Training steps, bf16 + channels_last over float32 + channels_last on 2 cores
(outputs/bench/bench-cpu-precision.json and bench-cpu-efficientnet.json, written by ``charclf bench``):
VGG 3.2x, SpinalNet 1.9x, Mini-Vision-V3 1.8x, AlexNet 1.6x, ResNet 1.3x, LeNets 1.1x; charnet_s 0.94x,
EfficientNet-B2 0.74x.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from charclf.errors import ConfigError

AMP_CHOICES = ("auto", "bf16", "off")


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def has_depthwise_convs(model: nn.Module) -> bool:
    """True when ``model`` has a grouped convolution with one input channel per group (depthwise)."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def resolve_amp(value: str, device: torch.device, model: nn.Module | None = None) -> torch.dtype | None:
    """The autocast dtype for ``TrainConfig.amp=value`` on ``device`` (None = plain float32); ``model``, when
    given, lets "auto" keep depthwise-convolution models in float32 on a CPU (see the module docstring)."""
    if value not in AMP_CHOICES:
        raise ConfigError(f"TrainConfig.amp={value!r}. Fix: use one of {list(AMP_CHOICES)}")
    if value == "off":
        return None
    if value == "bf16":
        return torch.bfloat16
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16()
                                       and not (model is not None and has_depthwise_convs(model)))
    return torch.bfloat16 if native else None


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """"bf16" or "fp32", as recorded in a run's metrics.json."""
    return "bf16" if amp_dtype == torch.bfloat16 else "fp32"
