"""Predicting characters in image files: ``predict_files`` and the ``charclf predict IMAGE... --model DIR`` command.

Each file is read and converted to an EMNIST-style 28x28 image by ``charclf.apps.imageprep``; a file that cannot
be used gets an error entry (which file, what is wrong, what to do) and the other files still run. When the
top two answers are look-alikes (O/0/o, l/1/I/i, S/s/5, Z/z/2, the case pairs EMNIST's ByMerge merges), the
answer says so; ``--merged`` reports the 47 ByMerge classes. torch is imported only once a model is needed, and
small batches run on one thread (much faster for one image).
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from charclf.apps.imageprep import STEPS, load_image, preprocess_image  # noqa: F401  (re-exported: the contract's home)
from charclf import class_prior
from charclf.argtypes import COUNT
from charclf.errors import CharclfError, DataError, printable

DEFAULT_MODEL = "default"  # the model_hub folder predict and demo use when no --model is given
# Up to this many images run on one torch thread: for a handful of 28x28 images the threads' start-up and
# hand-offs cost more than they save (measured: one image ~2 ms on 1 thread, 180-250 ms on torch's default
# 2; see tools/bench_predict_latency.py).
SMALL_BATCH = 64
# Characters that look alike once written by hand: when the top two answers share a group, the answer says
# so. The digit/letter groups, and the 15 letters whose cases EMNIST's ByMerge merges (their case pairs).
LOOKALIKE_GROUPS = ("0Oo", "1Iil", "5Ss", "2Zz", "Cc", "Jj", "Kk", "Ll", "Mm", "Pp", "Uu", "Vv", "Ww", "Xx", "Yy")
MIN_LOOKALIKE_PROB = 0.05  # a look-alike rival is named only when it has at least this probability


@contextmanager
def torch_threads(n_images: int):
    """Run small batches on one torch thread (restoring the previous setting afterwards)."""
    import torch

    before = torch.get_num_threads()
    if n_images <= SMALL_BATCH and before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def merged_probs(probs: np.ndarray, labels) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N, 62) ByClass probabilities -> (N, 47) ByMerge ones (merged lower/upper case summed), and the labels."""
    from charclf.data.merge import merge_map

    index, merged = merge_map(labels)
    out = np.zeros((probs.shape[0], len(merged)), dtype=probs.dtype)
    np.add.at(out, (slice(None), index), probs)
    return out, merged


def model_probs(model, images: np.ndarray, *, tta: bool = False, prior: str = "auto") -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, classes) probabilities, from a torch model or a ``NumpyMiniVision``, under
    ``prior`` (``charclf.class_prior``: by default every character equally likely, when the model records its
    training class counts)."""
    from charclf.apps.fastpredict import NumpyMiniVision

    if isinstance(model, NumpyMiniVision) and not tta:
        return class_prior.adjust(model.probs(images), model.charclf_config, prior)
    import torch

    from charclf.eval.inference import predict_logits

    cfg = model.charclf_config
    with torch_threads(len(images)), torch.inference_mode():
        logits = predict_logits(model, torch.as_tensor(np.asarray(images, dtype=np.uint8)), mean=cfg["mean"],
                                std=cfg["std"], tta=tta)
        probs = torch.softmax(logits.float(), dim=1).numpy()
    return class_prior.adjust(probs, cfg, prior)


def predict_arrays(model, images: np.ndarray, *, top: int = 5, tta: bool = False, merged: bool = False,
                   prior: str = "auto") -> list[list[tuple[str, float]]]:
    """uint8 (N, 28, 28) upright EMNIST-style images -> for each, the ``top`` (char, probability) pairs.

    ``merged``: report EMNIST's 47 ByMerge classes (the 15 case-alike letters' two probabilities summed,
    under the upper-case letter). ``prior``: see :func:`model_probs`.
    """
    if len(images) == 0:
        return []
    probs = model_probs(model, images, tta=tta, prior=prior)
    labels = model.charclf_config["labels"]
    if merged:
        probs, labels = merged_probs(probs, labels)
    k = max(1, min(int(top), probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(labels[i], float(row[i])) for i in idx] for row, idx in zip(probs, order)]


def lookalikes(ranked: list[tuple[str, float]]) -> list[str] | None:
    """The look-alike characters among the top answers, best first, when the top two are look-alikes (e.g.
    ``["O", "0", "o"]``); None when the top answer has no look-alike rival."""
    if len(ranked) < 2 or ranked[1][1] < MIN_LOOKALIKE_PROB:  # L 0.998, l 0.001 is no doubt worth telling
        return None
    first, second = ranked[0][0], ranked[1][0]
    group = next((g for g in LOOKALIKE_GROUPS if first in g and second in g and first != second), None)
    if group is None:
        return None
    return [first, second] + [c for c, p in ranked[2:] if c in group and p >= MIN_LOOKALIKE_PROB]


def answer(ranked: list[tuple[str, float]]) -> str:
    """What to tell a person: the top character, or ``"O or 0 or o (look-alikes)"``."""
    if not ranked:
        return ""
    alike = lookalikes(ranked)
    return f"{' or '.join(alike)} (look-alikes)" if alike else ranked[0][0]


def _unexpected(path, err: Exception) -> str:
    """One line for a failure no check foresaw: which file, what happened, and what to try."""
    return printable(f"{path}: could not be turned into a character image ({type(err).__name__}: "
                     f"{' '.join(str(err).split())[:200]}). Fix: save the image again as an 8-bit PNG and retry; "
                     "if it still fails, report it with the file")


def _prepare(path, disable=()) -> np.ndarray:
    return preprocess_image(Path(path), disable=disable)


def predict_files(model, paths, top: int = 5, *, tta: bool = False, merged: bool = False,
                  disable=(), prior: str = "auto") -> list[dict]:
    """One entry per path, in order: ``{"file", "ok", "error", "top": [(char, prob), ...], "answer",
    "lookalikes", "prior"}`` (``prior``: the one the probabilities assume, ``uniform`` or ``train``; see
    :func:`model_probs`). The model comes first, as in :func:`predict_arrays`; the former order
    ``predict_files(paths, model)`` still works, with a DeprecationWarning.

    Each file is isolated: whatever goes wrong with one (unreadable, no character, NaN pixels, or a failure
    nobody foresaw) gives it ``ok=False`` and a one-line ``error``, and never stops the others. The good files
    go through the model in one batch; should the batch fail, each is retried alone. ``disable`` names
    preprocessing steps to skip (``charclf.apps.imageprep.STEPS``), for an ablation.
    """
    model, paths = _model_first(model, paths)
    from charclf.apps.imageprep import resolve_options

    resolve_options(disable=disable)  # an unknown step name is refused once, before any file
    used_prior = class_prior.resolve_prior(model.charclf_config, prior)  # refused once, before any file
    if isinstance(paths, (str, Path)):
        paths = [paths]
    entries, images, good = [], [], []
    for path in paths:
        entry = {"file": str(path), "ok": False, "error": None, "top": [], "answer": "", "lookalikes": None,
                 "prior": used_prior}
        try:
            images.append(_prepare(path, disable))
            good.append(entry)
            entry["ok"] = True
        except CharclfError as err:
            entry["error"] = str(err)
        except Exception as err:  # noqa: BLE001  (isolation: one odd file must not cost the others theirs)
            entry["error"] = _unexpected(path, err)
        entries.append(entry)
    if not images:
        return entries
    try:
        results = predict_arrays(model, np.stack(images), top=top, tta=tta, merged=merged, prior=used_prior)
    except Exception:  # noqa: BLE001  (find which image it was: the others keep their answers)
        results = []
        for entry, image in zip(good, images):
            try:
                results.extend(predict_arrays(model, image[None], top=top, tta=tta, merged=merged,
                                              prior=used_prior))
            except Exception as err:  # noqa: BLE001
                entry.update(ok=False, error=_unexpected(entry["file"], err))
                results.append(None)
    for entry, ranked in zip(good, results):
        if ranked is not None:
            entry.update(top=ranked, answer=answer(ranked), lookalikes=lookalikes(ranked))
    return entries


def _is_model(obj) -> bool:
    """Whether ``obj`` is a model (what ``load_model`` returns: a torch module). torch is never imported here:
    a caller holding a model has imported it already."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_paths(obj) -> bool:
    """Whether ``obj`` is a path or a sequence of them (str / Path)."""
    if isinstance(obj, (str, Path)):
        return True
    return isinstance(obj, (list, tuple)) and all(isinstance(p, (str, Path)) for p in obj)


def _model_first(model, paths):
    """``(model, paths)`` from a call in either order: the former ``predict_files(paths, model)`` is recognised by
    its arguments' types and warned about once per call site."""
    import warnings

    if _is_paths(model) and _is_model(paths):
        warnings.warn("predict_files(paths, model) is deprecated: call predict_files(model, paths), the order of "
                      "predict_arrays(model, images)", DeprecationWarning, stacklevel=3)
        return paths, model
    return model, paths


def describe_model(folder: Path, label: str) -> str:
    """One line on the model saved in ``folder`` (``label``: how the reader knows it, e.g. ``model_hub/default``),
    read from its config.json and metrics.json: architecture, size, classes, protocol, test accuracies."""
    if not (folder / "config.json").is_file():
        return f"this checkout has no {label}"
    from charclf.provenance import read_json

    fix = "restore the folder with git, or publish the model again"
    config, metrics = read_json(folder / "config.json", fix), read_json(folder / "metrics.json", fix)
    test = metrics["evaluation"]["test"]
    return (f"{label}: {config['architecture']}, {metrics['params']:,} parameters, {config['num_classes']} classes "
            f"({config['split']}), trained under the {config['protocol']} protocol; test accuracy "
            f"{test['accuracy']:.2%}, merged-47 {test['merged47_accuracy']:.2%}")


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
    """``a.png: A 0.912  H 0.031 ...``, or with look-alikes on top ``o.png: O or 0 or o (look-alikes)  O ...``."""
    name = printable(entry["file"])  # one line per file, whatever its name holds (a newline, an ANSI escape)
    if not entry["ok"]:
        return f"{name}: error: {entry['error']}"
    ranked = "  ".join(f"{char} {prob:.3f}" for char, prob in entry["top"])
    note = f"{entry['answer']}  " if entry.get("lookalikes") else ""
    return f"{name}: {note}{ranked}"


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
    p.add_argument("--merged", action="store_true",
                   help="report EMNIST's 47 ByMerge classes: the 15 letters whose cases look alike (c i j k l m o "
                        "p s u v w x y z) count as one, their probabilities summed")
    p.add_argument("--engine", choices=("auto", "torch"), default="auto",
                   help="auto (default): run Mini-Vision models in numpy, without importing torch (seconds "
                        "faster for a few images; same probabilities); torch: always use torch")
    p.add_argument("--disable", action="append", default=[], metavar="STEP",
                   help="skip a preprocessing step (repeatable), for an ablation: " + ", ".join(STEPS))
    p.add_argument("--prior", choices=class_prior.PRIORS, default="auto", help=class_prior.PRIOR_HELP)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    p.set_defaults(func=run)


def load_for_predict(model_dir, *, tta: bool = False, engine: str = "auto"):
    """The model for ``predict``: the torch-free ``NumpyMiniVision`` when it can run this model (``auto``,
    no ``--tta``), else the torch model. Importing torch costs seconds, which one image should not pay."""
    if engine == "auto" and not tta:
        from charclf.apps.fastpredict import load

        model = load(model_dir)
        if model is not None:
            return model
    from charclf.models.hub import load_model

    return load_model(model_dir)


def run(args) -> int:
    model = load_for_predict(resolve_model_dir(args.model), tta=args.tta, engine=args.engine)
    entries = predict_files(model, args.images, top=args.top, tta=args.tta, merged=args.merged,
                            disable=args.disable, prior=args.prior)
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            print(format_entry(entry), file=sys.stdout if entry["ok"] else sys.stderr)
    return 0 if all(e["ok"] for e in entries) else 1
