"""Saving and loading trained models in the Hugging Face layout: ``model.safetensors`` + ``config.json``.

A model folder is self-contained: ``load_model(dir)`` needs nothing else (no training config, no data) to
rebuild the network, its labels and its input normalisation.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from charclf.class_prior import COUNTS_KEY, counts_problem
from charclf.errors import CharclfError, DataError, UnknownNameError, file_error
from charclf.fileio import write_json
from charclf.provenance import git_sha, read_json

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REQUIRED_KEYS = ("architecture", "num_classes", "labels", "mean", "std")


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


def read_model_config(model_dir: str | Path) -> dict:
    """Read and validate ``<model_dir>/config.json``: every way it can be wrong is a ``DataError`` naming it.

    This is the one gate of a model folder (``load_model``, and so predict, evaluate, demo, transfer): a
    config that passes holds the types and values the rest of the package relies on (labels for every class,
    a usable input normalisation), so nothing downstream crashes or predicts NaN on a bad file.
    """
    model_dir = Path(model_dir)
    cfg_path = model_dir / CONFIG_NAME
    if not model_dir.exists():
        raise DataError(model_dir, "does not exist", "pass a model folder holding model.safetensors and config.json "
                        "(e.g. model_hub/<name> or a run folder of charclf train)")
    if not model_dir.is_dir():
        raise DataError(model_dir, "is not a model folder",
                        "pass a folder holding model.safetensors and config.json (e.g. model_hub/<name>)")
    if not cfg_path.exists():
        raise DataError(cfg_path, "is missing", "a model folder needs config.json beside model.safetensors; "
                        "re-save it with charclf.models.hub.save_pretrained")
    config = read_json(cfg_path, _CONFIG_FIX)
    check_model_config(config, cfg_path)
    return config


_CONFIG_FIX = "restore config.json from the run folder, or re-save the model with charclf.models.hub.save_pretrained"


def check_model_config(config, path: str | Path = CONFIG_NAME) -> None:
    """Raise ``DataError`` naming ``path`` unless ``config`` is a usable model config (types and values)."""
    if not isinstance(config, dict):
        raise DataError(path, f"holds a JSON {_json_kind(config)}, not an object with the model's settings",
                        _CONFIG_FIX)
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise DataError(path, f"lacks the keys {missing}", _CONFIG_FIX)

    def bad(key: str, expected: str):
        return DataError(path, f"{key!r} must be {expected}, got {_short(config[key])}", _CONFIG_FIX)

    if not isinstance(config["architecture"], str) or not config["architecture"]:
        raise bad("architecture", "a model name (a string)")
    n = config["num_classes"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise bad("num_classes", "a whole number >= 1")
    labels = config["labels"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise bad("labels", "a list of strings (one per class)")
    if len(labels) != n:
        raise DataError(path, f"has {len(labels)} labels but num_classes is {n}: every class needs one label",
                        _CONFIG_FIX)
    # mean/std are pixel statistics on the 0..1 scale (charclf.train.engine.pixel_stats): a std of 0 would
    # divide every input by zero and turn every probability into NaN.
    for key, lo_ok in (("mean", True), ("std", False)):
        value = config[key]
        if not _is_number(value) or not math.isfinite(value) or not (0 <= value <= 1) or (value == 0 and not lo_ok):
            raise bad(key, "a finite number in [0, 1]" if lo_ok else "a finite number in (0, 1] (a std of 0 "
                      "would make every prediction NaN)")
    if not isinstance(config.get("model_kwargs", {}), dict):
        raise bad("model_kwargs", "an object of keyword arguments (e.g. {} or {\"dropout\": 0.1})")
    if config.get("orientation", "upright") != "upright":
        raise bad("orientation", "\"upright\" (charclf models see upright images)")
    if "input_size" in config and config["input_size"] != [28, 28]:
        raise bad("input_size", "[28, 28]")
    if config.get(COUNTS_KEY) is not None:
        problem = counts_problem(config[COUNTS_KEY], n)
        if problem:
            raise DataError(path, problem, "remove the key (predict then keeps the model's raw answers) or write "
                            "it again with python tools/add_class_counts.py MODEL_DIR")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_kind(value) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", type(None): "null"}
    return f"{kinds.get(type(value), type(value).__name__)} ({_short(value)})"


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        detail = " ".join(str(err).split())  # load_state_dict's message spans lines; errors here are one line
        raise DataError(weights, f"does not match architecture {config['architecture']!r}: {detail[:300]}",
                        "check config.json's architecture/num_classes/model_kwargs") from err
    model.charclf_config = config
    return model.to(device).eval()
