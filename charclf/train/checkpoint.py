"""Resume state: everything needed to continue a killed run exactly, saved atomically each epoch, and
``restore``, which puts it back only after checking it was written for the same model, training config and data.

The file holds plain tensors, numbers, strings, lists and dicts only, so it loads with
``torch.load(weights_only=True)`` — opening a resume file never executes pickled code.
"""
from __future__ import annotations

import json
import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from charclf.errors import TrainingError, file_error
from charclf.train.config import config_differences, json_equivalent
from charclf.models.registry import unwrap

RESUME_NAME = "resume.pt"
FORMAT_VERSION = 1


def fingerprint(model: nn.Module, architecture: str, num_classes: int, model_kwargs: dict) -> dict:
    """What must match for a resume state to fit this model: registry name, classes, kwargs, parameter shapes."""
    shapes = {k: list(v.shape) for k, v in unwrap(model).state_dict().items()}
    return {"architecture": architecture, "num_classes": int(num_classes),
            "model_kwargs": json.dumps(model_kwargs, sort_keys=True, default=str), "shapes": shapes}


def check_fingerprint(saved: dict, current: dict, path: Path) -> None:
    """Refuse a resume folder written for a different model (a clear error instead of a shape mismatch)."""
    for key in ("architecture", "num_classes", "model_kwargs"):
        if saved.get(key) != current[key]:
            raise TrainingError(
                f"{path}: this resume state was written for {key}={saved.get(key)!r}, but the model to train has "
                f"{key}={current[key]!r}. Fix: resume with the same model, or train into another --out folder "
                f"(or pass --overwrite to discard the old run)")
    if saved.get("shapes") != current["shapes"]:
        diff = sorted(k for k in set(saved["shapes"]) | set(current["shapes"])
                      if saved["shapes"].get(k) != current["shapes"].get(k))
        raise TrainingError(f"{path}: the saved weights do not fit the model (tensors that differ: {diff[:5]}). "
                            f"Fix: resume with the same model definition, or use another --out folder")


def rng_state() -> dict:
    """Global RNG states (torch CPU + every CUDA device, numpy, python) as weights_only-safe values."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
             "python": json.dumps(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])


def save_resume(path: str | Path, state: dict) -> Path:
    """``torch.save`` to a temporary file, then rename: a kill mid-write leaves the previous state intact."""
    from charclf.fileio import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **state}, tmp)
    return Path(path)


def _one_line(err: BaseException) -> str:
    """``Type: message`` on one line, without ANSI colour codes (PyTorch bolds parts of its messages)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    return f"{type(err).__name__}: {' '.join(text.split())}"


def load_resume(path: str | Path) -> dict:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        if isinstance(err, (PermissionError, IsADirectoryError)):
            raise TrainingError(str(file_error(path, err))) from err
        raise TrainingError(f"{path}: cannot read the resume state ({_one_line(err)}). Fix: the file is damaged; "
                            "train into a new --out folder, or pass --overwrite to start this run again") from err
    except pickle.UnpicklingError as err:
        if not zipfile.is_zipfile(path):  # not what torch.save writes at all: damaged, not a safety refusal
            raise TrainingError(f"{path}: cannot read the resume state (not a PyTorch checkpoint file: "
                                f"{_one_line(err)}). Fix: the file is damaged; train into a new --out folder, or "
                                "pass --overwrite to start this run again") from err
        # PyTorch's own explanation is the safety story: keep all of it (one line, no terminal colours).
        raise TrainingError(f"{path}: PyTorch's safe loader refused the file (charclf loads resume states with "
                            f"weights_only=True, so opening one never runs code from it). PyTorch says: "
                            f"{_one_line(err)} Fix: do not load this file with weights_only=False unless you wrote "
                            "it; train into a new --out folder, or pass --overwrite to start this run again") from err
    except Exception as err:  # noqa: BLE001 - any other unreadable file gets the same clear message
        raise TrainingError(f"{path}: cannot read the resume state ({_one_line(err)}). Fix: the file is damaged "
                            "or not a resume state; train into a new --out folder, or pass --overwrite to start "
                            "this run again") from err
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise TrainingError(f"{path}: not a charclf resume state (format {state.get('format_version')!r} "
                            f"expected {FORMAT_VERSION}). Fix: pass --overwrite to start a fresh run")
    return state


def check_same_config(saved: dict, current: dict, path: Path) -> None:
    """Refuse a resume with another training config (``TrainConfig.to_dict``), but for ``RUN_PLACE_FIELDS``.
    A field newer than the resume state, nested ones included (``augment.interpolation``), counts as its default
    there (the run trained without it)."""
    details = config_differences(saved, current)
    if details:
        raise TrainingError(f"{path}: the run was started with a different training config ({details}). "
                            f"Fix: resume with the run's own train_config.json, or start a new --out folder")


def check_same_data(saved: dict | None, current: dict, path: Path) -> None:
    """Refuse a resume on other data than the run was trained on (split, protocol, part sizes, classes)."""
    if saved is None:  # a resume state from before data was recorded: nothing to compare
        return
    from charclf.data.protocols import with_recorded_index

    saved, current = json_equivalent(saved), json_equivalent(current)
    current = with_recorded_index(saved, current)  # a state from before the index file was recorded
    if saved != current:
        diff = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(saved) | set(current))
                         if saved.get(k) != current.get(k))
        raise TrainingError(f"{path}: the run was trained on other data ({diff}). Fix: resume with the run's "
                            f"split/protocol/data dir (see its config.json), or start a new --out folder")


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the plain module's state dict (whatever DDP/torch.compile wrap it)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def resume_state(*, model: nn.Module, optimizer, scheduler, ema, run: dict, fingerprint: dict, config_dict: dict,
                 data_fingerprint: dict, precision: str) -> dict:
    """Everything a resume needs after the epoch just finished (``run``: the run state, e.g. best epoch and
    history); ``save_resume`` writes it and :func:`restore` puts it back."""
    return {"fingerprint": fingerprint, "data": data_fingerprint, "config": config_dict, "run": dict(run),
            "precision": precision,
            "model": cpu_state(model), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "ema": ema.state_dict() if ema is not None else None, "rng": rng_state()}


def check_same_precision(saved: str | None, current: str, path: Path, allow_change: bool) -> None:
    """Refuse a resume that would train its next epochs in another precision than the epochs so far (the same
    ``amp="auto"`` resolves to bf16 on a CPU with AVX512-BF16/AMX and to float32 elsewhere), unless allowed."""
    if saved is None or saved == current or allow_change:  # None: a state from before precision was recorded
        return
    raise TrainingError(f"{path}: the run's epochs so far trained in {saved}, but here they would train in {current} "
                        f"(amp resolves per machine). Fix: resume on a machine that runs {saved}, or pass "
                        "--allow-precision-change (fit(..., allow_precision_change=True)) to mix them; history.csv "
                        "then records each epoch's precision")


def restore(path: Path, *, model: nn.Module, optimizer, scheduler, ema, fingerprint: dict, config_dict: dict,
            data_fingerprint: dict, precision: str, allow_precision_change: bool = False) -> dict:
    """Continue from the resume state at ``path``: refuse one written for another model, training config, data
    or precision (the file is left as it is), else load model/optimizer/scheduler/EMA in place and the global RNG states.
    Returns the saved run state (the dict :func:`resume_state` was given as ``run``)."""
    saved = load_resume(path)
    check_fingerprint(saved["fingerprint"], fingerprint, path)
    check_same_config(saved["config"], config_dict, path)
    check_same_data(saved.get("data"), data_fingerprint, path)
    check_same_precision(saved.get("precision"), precision, path, allow_precision_change)
    unwrap(model).load_state_dict(saved["model"])  # in place: DDP, EMA pairs and channels_last stay valid
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    if ema is not None:
        ema.load_state_dict(saved["ema"])
    set_rng_state(saved["rng"])
    return saved["run"]
