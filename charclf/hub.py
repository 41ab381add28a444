"""Saving and loading trained models in the Hugging Face layout: ``model.safetensors`` + ``config.json``.

A model folder is self-contained: ``load_model(dir)`` needs nothing else (no training config, no data) to
rebuild the network, its labels and its input normalisation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from charclf.errors import DataError
from charclf.provenance import git_sha, write_json

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REQUIRED_KEYS = ("architecture", "num_classes", "labels", "mean", "std")


def model_state_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """A state dict safe for safetensors: unwrap DDP/compile, contiguous CPU tensors, no shared storage."""
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write weights atomically: a killed process leaves the previous file intact."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(model_state_for_saving(model), str(tmp))
    os.replace(tmp, path)
    return path


def save_pretrained(model: nn.Module, out_dir: str | Path, *, architecture: str, num_classes: int,
                    labels, mean: float, std: float, protocol: str, model_kwargs: dict | None = None,
                    extra: dict | None = None, weights_name: str = WEIGHTS_NAME) -> Path:
    """Save ``model.safetensors`` + ``config.json`` into ``out_dir``; returns the folder."""
    out_dir = Path(out_dir)
    save_weights(model, out_dir / weights_name)
    config = {
        "architecture": architecture,
        "num_classes": int(num_classes),
        "labels": list(labels),
        "mean": float(mean),
        "std": float(std),
        "orientation": "upright",
        "input_size": [28, 28],
        "protocol": protocol,
        "git_sha": git_sha(),
        "model_kwargs": dict(model_kwargs or {}),
    }
    config.update(extra or {})
    write_json(out_dir / CONFIG_NAME, config)
    return out_dir


def read_model_config(model_dir: str | Path) -> dict:
    model_dir = Path(model_dir)
    cfg_path = model_dir / CONFIG_NAME
    if not model_dir.is_dir():
        raise DataError(model_dir, "is not a model folder",
                        "pass a folder holding model.safetensors and config.json (e.g. model_hub/<name>)")
    if not cfg_path.exists():
        raise DataError(cfg_path, "is missing", "a model folder needs config.json beside model.safetensors; "
                        "re-save it with charclf.hub.save_pretrained")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(cfg_path, f"is not valid JSON ({err})", "restore the file from the run folder") from err
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise DataError(cfg_path, f"lacks the keys {missing}", "re-save the model with charclf.hub.save_pretrained")
    return config


def load_model(path: str | Path, device: str | torch.device = "cpu", *, weights_name: str = WEIGHTS_NAME) -> nn.Module:
    """Rebuild a ready (eval-mode) model from a folder with ``config.json`` + ``model.safetensors``.

    The returned module carries ``model.charclf_config`` (labels, mean, std, ...) for prediction.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from charclf.models import architecture_kwargs, create_model

    model_dir = Path(path)
    config = read_model_config(model_dir)
    weights = model_dir / weights_name
    if not weights.exists():
        raise DataError(weights, "is missing", "train the model (charclf train) or copy the weights file here")
    # Init-only options (pretrained=..., weights_path=...) are dropped: the saved weights replace them, and
    # re-fetching ImageNet weights on another machine would be slow, or fail.
    model = create_model(config["architecture"], num_classes=config["num_classes"],
                         **architecture_kwargs(config.get("model_kwargs", {})))
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as err:
        raise DataError(weights, f"cannot be read as safetensors ({err})",
                        "the file is damaged or truncated; copy it again from the run folder") from err
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise DataError(weights, f"does not match architecture {config['architecture']!r}: {str(err)[:300]}",
                        "check config.json's architecture/num_classes/model_kwargs") from err
    model.charclf_config = config
    return model.to(device).eval()
