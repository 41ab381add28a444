"""The gate of a model folder's ``config.json``: every way it can be wrong is one ``DataError`` naming it.

Torch-free, so the numpy predict path (``charclf.apps.fastpredict``) refuses exactly what the torch loader
(``charclf.models.hub.load_model``) refuses; ``charclf.models.hub`` re-exports these names.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from charclf.class_prior import COUNTS_KEY, counts_problem
from charclf.errors import DataError
from charclf.provenance import read_json

CONFIG_NAME = "config.json"
REQUIRED_KEYS = ("architecture", "num_classes", "labels", "mean", "std")


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


MIN_PIXEL_STD = 0.01


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
    if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise bad("labels", "a list of non-empty strings (one per class)")
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise DataError(path, f"names the classes {repeated[:5]} more than once: each class needs its own label",
                        _CONFIG_FIX)
    if len(labels) != n:
        raise DataError(path, f"has {len(labels)} labels but num_classes is {n}: every class needs one label",
                        _CONFIG_FIX)
    # mean/std are pixel statistics on the 0..1 scale (charclf.train.engine.pixel_stats): a std of 0 would
    # divide every input by zero and turn every probability into NaN.
    # A std far below any image set's (EMNIST's is ~0.33) blows every input up to saturation: confident nonsense.
    for key, low in (("mean", 0.0), ("std", MIN_PIXEL_STD)):
        value = config[key]
        if not _is_number(value) or not math.isfinite(value) or not (low <= value <= 1):
            raise bad(key, "a finite number in [0, 1]" if key == "mean" else f"a finite number in [{MIN_PIXEL_STD}, 1] "
                      "(the pixels' std on the 0..1 scale, EMNIST's about 0.33; near 0 every prediction is NaN or "
                      "saturated nonsense)")
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


