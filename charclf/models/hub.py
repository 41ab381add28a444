"""Saving and loading trained models in the Hugging Face layout: ``model.safetensors`` + ``config.json``.

A model folder is self-contained: ``load_model(dir)`` needs nothing else (no training config, no data) to
rebuild the network, its labels and its input normalisation.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from charclf.errors import CharclfError, DataError, UnknownNameError, file_error
from charclf.fileio import write_json
# The gate of a model folder's config.json lives in the core (torch-free: the numpy predict path uses it too).
from charclf.model_config import (_CONFIG_FIX, CONFIG_NAME, MIN_PIXEL_STD, REQUIRED_KEYS,  # noqa: F401
                                  check_model_config, read_model_config)
from charclf.provenance import git_sha

WEIGHTS_NAME = "model.safetensors"


def model_state_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """A state dict safe for safetensors: unwrap DDP/compile, contiguous CPU tensors, no shared storage."""
    from charclf.models.registry import unwrap

    return {k: v.detach().to("cpu").contiguous().clone() for k, v in unwrap(model).state_dict().items()}


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write weights atomically: a killed process leaves the previous file intact."""
    from safetensors.torch import save_file

    from charclf.fileio import atomic_path

    with atomic_path(path) as tmp:
        save_file(model_state_for_saving(model), str(tmp))
    return Path(path)


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


def load_model(path: str | Path, device: str | torch.device = "cpu", *, weights_name: str = WEIGHTS_NAME) -> nn.Module:
    """Rebuild a ready (eval-mode) model from a folder with ``config.json`` + ``model.safetensors``.

    The returned module carries ``model.charclf_config`` (labels, mean, std, ...) for prediction.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from charclf.models import architecture_kwargs, create_model, list_models

    model_dir = Path(path)
    config = read_model_config(model_dir)
    weights = model_dir / weights_name
    if not weights.exists():
        raise DataError(weights, "is missing", "train the model (charclf train) or copy the weights file here")
    # Init-only options (pretrained=..., weights_path=...) are dropped: the saved weights replace them, and
    # re-fetching ImageNet weights on another machine would be slow, or fail.
    try:
        model = create_model(config["architecture"], num_classes=config["num_classes"],
                             **architecture_kwargs(config.get("model_kwargs", {})))
    except UnknownNameError as err:
        raise DataError(model_dir / CONFIG_NAME, f"'architecture' {config['architecture']!r} is not a model "
                        "charclf knows", f"set it to one of {', '.join(list_models())}, or restore config.json "
                        "from the run folder") from err
    except CharclfError as err:  # model_kwargs the factory does not take, ...
        raise DataError(model_dir / CONFIG_NAME, f"does not describe a model charclf can build: {err}",
                        _CONFIG_FIX) from err
    if weights.is_dir():
        raise DataError(weights, "is a folder, not a weights file", "copy model.safetensors again from the run folder")
    try:
        state = load_file(str(weights), device="cpu")
    except SafetensorError as err:
        raise DataError(weights, f"cannot be read as safetensors ({err})",
                        "the file is damaged or truncated; copy it again from the run folder") from err
    except OSError as err:
        raise file_error(weights, err) from err
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:  # a diverged run saves such weights: every answer would be NaN, printed as if it were one
        raise DataError(weights, f"holds NaN or infinite values (in {', '.join(broken[:3])}"
                        f"{' ...' if len(broken) > 3 else ''})", "copy the weights again from the run folder, or "
                        "train again (a run whose loss diverged saves such weights)")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        detail = " ".join(str(err).split())  # load_state_dict's message spans lines; errors here are one line
        raise DataError(weights, f"does not match architecture {config['architecture']!r}: {detail[:300]}",
                        "check config.json's architecture/num_classes/model_kwargs") from err
    model.charclf_config = config
    return model.to(device).eval()
