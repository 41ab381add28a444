"""Model size and cost: parameters, multiply-accumulates (MACs) per image, output shape.

MACs are counted with forward hooks on ``nn.Conv2d`` and ``nn.Linear`` — the layers that hold essentially all
of a CNN's arithmetic. BatchNorm, pooling, activations, additions and resizes count as 0 (the usual convention
of MAC tables). Hooks fire on every call, so a module used twice (shared weights) is counted twice, and layers
run at whatever size they really see (e.g. EfficientNet after its internal 112 px resize). Biases are not
counted as MACs.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    kh, kw = module.kernel_size
    # each output element needs (in_channels / groups) * kh * kw multiply-adds
    return output.numel() * (module.in_channels // module.groups) * kh * kw


def _linear_macs(module: nn.Linear, output: torch.Tensor) -> int:
    return output.numel() * module.in_features


def count_params(model: nn.Module) -> tuple[int, int]:
    """(all, trainable) parameters; shared parameters counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


@torch.no_grad()
def model_summary(model: nn.Module, input_size: tuple[int, ...] = (1, 1, 28, 28)) -> dict:
    """``{"params", "trainable_params", "macs", "output_shape"}`` of ``model`` for an input of ``input_size``.

    ``macs`` is per image (total over the batch divided by ``input_size[0]``). The model runs one forward
    pass in eval mode on its own device/dtype; its train/eval mode is restored afterwards.
    """
    total = 0

    def hook(module: nn.Module, _inputs, output) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += _conv_macs(module, output)
        else:
            total += _linear_macs(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    was_training = model.training
    try:
        model.eval()
        out = model(torch.zeros(input_size, device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params, trainable = count_params(model)
    return {"params": params, "trainable_params": trainable, "macs": total // input_size[0],
            "output_shape": tuple(out.shape)}


def describe_models(num_classes: int = 62, names: list[str] | None = None, input_size=(1, 1, 28, 28)):
    """A pandas DataFrame (name, params, trainable_params, macs, output_shape) of registered models.

    ``names`` defaults to every registered model; models are built with their default options.
    """
    import pandas as pd

    from charclf.models.registry import create_model, list_models

    rows = []
    for name in names if names is not None else list_models():
        info = model_summary(create_model(name, num_classes=num_classes), input_size)
        rows.append({"name": name, **info})
    return pd.DataFrame(rows, columns=["name", "params", "trainable_params", "macs", "output_shape"])
