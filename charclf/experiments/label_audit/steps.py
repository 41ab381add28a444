"""The audit's steps, each resumable: the folds' out-of-fold scores, the full model and its val/test scores, and
the experiment (retrain without the likely errors). A finished step's file is loaded, not recomputed."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from charclf.data import DataBundle
from charclf.errors import ConfigError, DataError
from charclf.experiments.label_audit.data import AuditData, fold_path, stratified_folds
from charclf.experiments.label_audit.scoring import score_part
from charclf.experiments.label_audit.settings import (
    CLEAN_REMOVED_NAME,
    CLEAN_RUN,
    CONFIG_NAME,
    ERROR_KINDS,
    FULL_RUN,
    HELDOUT_NAME,
    ORIENTATIONS,
    AuditSettings,
    train_config,
    with_fold_method,
)


# -- files ------------------------------------------------------------------------------------------------
def _save_npz(path: Path, meta: dict, **arrays) -> None:
    """Atomic .npz (temp file + rename): a killed run never leaves a half-written fold behind."""
    from charclf.fileio import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)


def _load_npz(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot be read ({err})", "move the damaged file away and run again: that step "
                        "is recomputed") from err
    return json.loads(str(arrays.pop("meta"))), arrays


def _check_meta(path: Path, meta: dict, expected: dict) -> None:
    diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if diff:
        details = "; ".join(f"{k}: {a!r} in the file, {b!r} now" for k, (a, b) in diff.items())
        raise ConfigError(f"{path}: was made for other settings or data ({details}). Fix: run with the settings "
                          f"of {path.parent} or choose another --out folder")


def check_config(out: Path, record: dict) -> None:
    """Write ``audit-config.json`` in a new folder, or refuse a folder made with other settings."""
    path = out / CONFIG_NAME
    if path.is_file():
        from charclf.provenance import read_json

        saved = read_json(path, "move it away, or choose another folder")
        if not isinstance(saved, dict):
            raise DataError(path, "is not an audit config (not a JSON object)", "move it away, or choose another "
                            "folder")
        if isinstance(saved.get("settings"), dict):  # a folder from before fold_method: its folds are round-robin
            saved = {**saved, "settings": with_fold_method(saved["settings"])}
        if saved != record:
            keys = sorted(k for k in set(saved) | set(record) if saved.get(k) != record.get(k))
            raise ConfigError(f"{path}: this folder holds an audit made with other settings or data (differs in "
                              f"{', '.join(keys)}). Fix: rerun with the same settings to resume it, or choose "
                              "another --out folder")
        return
    from charclf.fileio import write_json

    write_json(path, record)


# -- training ---------------------------------------------------------------------------------------------
def _train_model(config, bundle: DataBundle, run_dir: Path | None = None):
    """Train a fresh ``config.model`` on ``bundle`` (in memory, or resumably into ``run_dir``); returns
    (model, mean, std, metrics). With a folder the model is reloaded from it: the one way its cached and its
    fresh state are scored alike."""
    from charclf.eval.inference import default_device
    from charclf.models import create_model
    from charclf.models.hub import load_model
    from charclf.train import fit
    from charclf.train.engine import seed_everything
    from charclf.train.run_folder import is_finished_run, prune_run

    if run_dir is None or not is_finished_run(run_dir):
        seed_everything(config.seed)  # initial weights depend on the config alone
        model = create_model(config.model, num_classes=bundle.num_classes, **config.model_kwargs)
        resume = run_dir is not None and run_dir.is_dir() and any(run_dir.iterdir())  # a killed run continues
        history = fit(model, bundle, config, run_dir, resume=resume, progress=False)
        if run_dir is None:
            metrics = history.attrs["metrics"]
            return model, metrics["mean"], metrics["std"], metrics
        prune_run(run_dir)  # finished: the resume state this call wrote is no longer needed
    from charclf.eval.record import RunRecord

    model = load_model(run_dir, device=default_device())
    record = RunRecord.load(run_dir)
    return model, record.mean, record.std, {**record.to_dict(), "test_acc": record.test_acc}


def _log_step(log, name: str, seconds: float, cached: bool) -> None:
    log(f"[label-audit] {name}: " + ("cached" if cached else f"done in {seconds:.0f} s"))


def run_folds(out: Path, data: AuditData, settings: AuditSettings, *, log=print) -> dict:
    """Step 1: the out-of-fold scores of the training part, one cached .npz per fold; returns them assembled
    in training-part order, with per-fold facts under ``"folds"``."""
    train = data.bundle.train
    labels = train.labels.numpy()
    folds = stratified_folds(labels, settings.folds, settings.seed, settings.fold_method)
    n = len(labels)
    merged = {"probs": np.zeros((n, data.bundle.num_classes), np.float32), "labels": labels,
              "orient_given": np.zeros((n, len(ORIENTATIONS)), np.float32),
              "orient_pred": np.zeros((n, len(ORIENTATIONS)), np.int16),
              "orient_pred_prob": np.zeros((n, len(ORIENTATIONS)), np.float32)}
    facts = []
    for k in range(settings.folds):
        path = fold_path(out, k, settings.folds)
        held = np.flatnonzero(folds == k)
        expected = {"fold": k, "folds": settings.folds, "n_heldout": int(len(held)),
                    "heldout_sha256": hashlib.sha256(data.index["train"][held].tobytes()).hexdigest()}
        start = time.perf_counter()
        cached = path.is_file()
        if cached:
            meta, arrays = _load_npz(path)
            _check_meta(path, meta, expected)
        else:
            config = train_config(settings, seed=settings.seed + k + 1)
            fold_bundle = dataclasses.replace(data.bundle, train=train.subset(np.flatnonzero(folds != k)))
            model, mean, std, metrics = _train_model(config, fold_bundle)
            arrays = score_part(model, train.subset(held), mean=mean, std=std)
            arrays["official_index"] = data.index["train"][held]
            arrays["positions"] = held
            meta = {**expected, "n_train": int(n - len(held)), "best_val_acc": metrics["best_val_acc"],
                    "best_epoch": metrics["best_epoch"], "train_time_s": metrics["train_time_s"],
                    "images_per_s": metrics["images_per_s"], "precision": metrics["precision"],
                    "seconds": round(time.perf_counter() - start, 1)}
            _save_npz(path, meta, **arrays)
        if not np.array_equal(arrays["positions"], held):
            raise ConfigError(f"{path}: holds another fold's images. Fix: use the settings it was made with, or "
                              "another --out folder")
        if not np.array_equal(arrays["labels"], labels[held]):
            raise ConfigError(f"{path}: its labels differ from the data's. Fix: use the data it was made with, or "
                              "another --out folder")
        for key in ("probs", "orient_given", "orient_pred", "orient_pred_prob"):
            merged[key][held] = arrays[key]
        oof_acc = float(np.mean(arrays["probs"].argmax(1) == labels[held]))
        facts.append({**meta, "oof_accuracy": oof_acc, "file": path.name})
        _log_step(log, f"fold {k + 1}/{settings.folds} ({len(held):,} held out, out-of-fold accuracy "
                       f"{oof_acc:.2%})", time.perf_counter() - start, cached)
    merged["folds"] = facts
    return merged


def run_full_model(out: Path, data: AuditData, settings: AuditSettings, *, log=print) -> tuple[dict, dict]:
    """Step 2: the full model (a resumable run folder) and its val/test scores (cached in heldout.npz)."""
    start = time.perf_counter()
    run_dir = out / FULL_RUN
    path = out / HELDOUT_NAME
    expected = {"index_sha256": hashlib.sha256(b"".join(data.index[p].tobytes() for p in ("val", "test")))
                .hexdigest()}
    cached = path.is_file()
    model, mean, std, metrics = _train_model(train_config(settings), data.bundle, run_dir)
    if cached:
        meta, arrays = _load_npz(path)
        _check_meta(path, meta, expected)
    else:
        arrays = {}
        for part in ("val", "test"):
            for key, value in score_part(model, getattr(data.bundle, part), mean=mean, std=std).items():
                arrays[f"{part}_{key}"] = value
            arrays[f"{part}_official_index"] = data.index[part]
        meta = expected
        _save_npz(path, meta, **arrays)
    parts = {part: {k[len(part) + 1:]: v for k, v in arrays.items() if k.startswith(part + "_")}
             for part in ("val", "test")}
    _log_step(log, f"full model (val acc {metrics['best_val_acc']:.2%}) and val/test scores",
              time.perf_counter() - start, cached)
    return parts, {"metrics": _run_facts(metrics), "model": model}


def _run_facts(metrics: dict) -> dict:
    keys = ("best_epoch", "best_val_acc", "test_acc", "epochs_run", "train_time_s", "images_per_s", "precision",
            "train_samples")
    return {k: metrics.get(k) for k in keys}


def run_experiment(out: Path, data: AuditData, settings: AuditSettings, issues: pd.DataFrame, baseline,
                   *, log=print) -> dict:
    """Step 5: retrain without the training part's likely errors; both models on test and on cleaned test."""
    from charclf.eval.evaluate import evaluate_model
    from charclf.fileio import write_json

    start = time.perf_counter()
    train, test = data.bundle.train, data.bundle.test
    errors = issues[issues["kind"].isin(ERROR_KINDS)]
    removed = np.sort(errors.loc[errors["part"] == "train", "official_index"].to_numpy(np.int64))
    record = {"n_removed": int(len(removed)), "removed_sha256": hashlib.sha256(removed.tobytes()).hexdigest()}
    marker = out / CLEAN_REMOVED_NAME
    if marker.is_file():
        from charclf.provenance import read_json

        _check_meta(marker, read_json(marker, f"move {out / CLEAN_RUN} and it away, then run again"), record)
    elif (out / CLEAN_RUN).exists():
        raise ConfigError(f"{out / CLEAN_RUN}: a clean-model folder without {CLEAN_REMOVED_NAME}: cannot tell which "
                          "images it was trained without. Fix: move that folder away and run again")
    else:
        write_json(marker, {**record, "official_index": removed})
    keep = ~np.isin(data.index["train"], removed)
    cached = (out / CLEAN_RUN / "metrics.json").is_file()
    cleaned, _, _, metrics = _train_model(train_config(settings),
                                          dataclasses.replace(data.bundle, train=train.subset(np.flatnonzero(keep))),
                                          out / CLEAN_RUN)
    test_errors = errors.loc[errors["part"] == "test", "official_index"].to_numpy(np.int64)
    clean_test = test.subset(np.flatnonzero(~np.isin(data.index["test"], test_errors)))
    scores = {}
    for name, model in (("baseline", baseline), ("cleaned", cleaned)):
        scores[name] = {}
        for part_name, ds in (("test", test), ("clean_test", clean_test)):
            m = evaluate_model(model, ds).metrics
            scores[name][part_name] = {"accuracy": m["accuracy"], "merged47_accuracy": m.get("merged47_accuracy")}
    _log_step(log, f"experiment: retrained without {len(removed):,} likely errors; test accuracy "
                   f"{scores['baseline']['test']['accuracy']:.2%} -> {scores['cleaned']['test']['accuracy']:.2%}",
              time.perf_counter() - start, cached)
    removed_kinds = errors.loc[errors["part"] == "train", "kind"].value_counts()
    return {"method": "remove",
            "why": "removing adds no new mistakes; relabelling would train on the auditing model's own guesses, "
                   "least reliable on exactly these look-alike images",
            "removed_train_images": int(len(removed)),
            "removed_by_kind": {k: int(removed_kinds.get(k, 0)) for k in ERROR_KINDS},
            "train_images": int(keep.sum()), "test_images": len(test), "clean_test_images": len(clean_test),
            "scores": scores, "cleaned_model": _run_facts(metrics),
            "caveat": "the cleaned test part was flagged with the baseline's own probabilities, which favours the "
                      "baseline on it; the two models compare fairly on the original test part"}

