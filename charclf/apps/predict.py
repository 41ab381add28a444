"""Predicting characters in image files: ``predict_files`` and the ``charclf predict IMAGE... --model DIR`` command.

Each file is read and converted to an EMNIST-style 28x28 image by ``charclf.apps.imageprep``; a file that cannot
be used gets an error entry (which file, what is wrong, what to do) and the other files still run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from charclf.apps.imageprep import load_image, preprocess_image  # noqa: F401  (re-exported: the contract's home)
from charclf.argtypes import COUNT
from charclf.errors import CharclfError, DataError

DEFAULT_MODEL = "default"  # the model_hub folder predict and demo use when no --model is given


def predict_arrays(model, images: np.ndarray, *, top: int = 5, tta: bool = False) -> list[list[tuple[str, float]]]:
    """uint8 (N, 28, 28) upright EMNIST-style images -> for each, the ``top`` (char, probability) pairs."""
    import torch

    from charclf.eval.inference import predict_logits

    cfg = model.charclf_config
    if len(images) == 0:
        return []
    logits = predict_logits(model, torch.as_tensor(np.asarray(images, dtype=np.uint8)), mean=cfg["mean"],
                            std=cfg["std"], tta=tta)
    probs = torch.softmax(logits.float(), dim=1)
    k = max(1, min(int(top), probs.shape[1]))
    values, indices = probs.topk(k, dim=1)
    labels = cfg["labels"]
    return [[(labels[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist())]
            for row_p, row_i in zip(values, indices)]


def predict_files(paths, model, top: int = 5, *, tta: bool = False) -> list[dict]:
    """One entry per path, in order: ``{"file", "ok", "error", "top": [(char, prob), ...]}``.

    A file that cannot be read or holds no character gets ``ok=False`` and an ``error`` message; it never
    stops the others. All good files go through the model in one batch.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    entries, images, good = [], [], []
    for path in paths:
        entry = {"file": str(path), "ok": False, "error": None, "top": []}
        try:
            images.append(preprocess_image(Path(path)))
            good.append(entry)
            entry["ok"] = True
        except CharclfError as err:
            entry["error"] = str(err)
        entries.append(entry)
    if images:
        for entry, ranked in zip(good, predict_arrays(model, np.stack(images), top=top, tta=tta)):
            entry["top"] = ranked
    return entries


def default_model_dir() -> Path:
    """``<model hub>/default`` (see ``charclf.paths.model_hub_dir``; ``$CHARCLF_MODEL_HUB`` moves it)."""
    from charclf.paths import model_hub_dir

    return model_hub_dir() / DEFAULT_MODEL


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    """``model_dir`` or, when not given, the shipped ``model_hub/default`` (with a how-to when it is absent)."""
    if model_dir is not None:
        return Path(model_dir)
    default = default_model_dir()
    if default.is_dir():
        return default
    raise DataError(default, "no model given and the default model folder does not exist",
                    "pass --model DIR with a trained run folder (model.safetensors + config.json), or train one "
                    "first, e.g. `charclf train --model charnet_s --epochs 5 --out outputs/runs/mine` and then "
                    "`charclf predict IMAGE --model outputs/runs/mine`")


def format_entry(entry: dict) -> str:
    if not entry["ok"]:
        return f"{entry['file']}: error: {entry['error']}"
    ranked = "  ".join(f"{char} {prob:.3f}" for char, prob in entry["top"])
    return f"{entry['file']}: {ranked}"


# -- CLI ------------------------------------------------------------------------------------------------
def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="predict characters in image files",
                              description="Predict the character in each image file (PNG, JPEG, BMP, WebP; any "
                                          "colour mode; dark-on-light or light-on-dark). Exit code 0 when every "
                                          "file worked, 1 when some failed (the others are still printed).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one character each")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="model folder (default: model_hub/default when it exists)")
    p.add_argument("--top", type=COUNT, default=5, help="how many characters to list per image (default 5)")
    p.add_argument("--tta", action="store_true", help="average over small shifts (slower, often a bit better)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    from charclf.models.hub import load_model

    model = load_model(resolve_model_dir(args.model))
    entries = predict_files(args.images, model, top=args.top, tta=args.tta)
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            print(format_entry(entry), file=sys.stdout if entry["ok"] else sys.stderr)
    return 0 if all(e["ok"] for e in entries) else 1
