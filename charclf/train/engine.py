"""``fit``: train a model on a DataBundle, select it on validation, and write a self-contained run folder.

Run folder (``out_dir``)::

    model.safetensors + config.json   best epoch on val (EMA weights when enabled) — charclf.load_model(dir)
    train_config.json                 the TrainConfig, loadable with TrainConfig.from_json
    history.csv                       one row per epoch (also returned as a DataFrame)
    last.safetensors                  the latest training weights
    resume.pt                         full state to continue after a kill (weights_only-loadable)
    metrics.json                      best epoch, val metrics, test accuracy of the best model, provenance
    tb/                               TensorBoard events (when tensorboard is installed)

Model selection uses the val part only; the test part is evaluated once, at the end, with the chosen weights.
"""
from __future__ import annotations

import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from charclf.data.dataset import CharDataset, DataBundle, stratified_subset
from charclf.errors import ConfigError, TrainingError
from charclf.models.hub import save_pretrained, save_weights
from charclf.eval.inference import predict_logits
from charclf.provenance import repo_relative, run_metadata
from charclf.train import checkpoint, distributed
from charclf.train.augment import BatchAugment
from charclf.train.config import TrainConfig
from charclf.train.ema import EMA, unwrap
from charclf.train.losses import build_loss
from charclf.train.loop import steps_per_epoch, train_epoch
from charclf.train.optim import build_optimizer, build_scheduler
from charclf.train.precision import precision_name, resolve_amp
from charclf.eval.record import RunRecord

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s"]
# Settings that may change between a run and its resume without changing the numbers it computes.
RESUME_MAY_DIFFER = {"device", "compile", "eval_batch_size", "log_every", "name"}


# -- small helpers -------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A distinct, reproducible seed per (seed, epoch, rank): data order and augmentation of an epoch depend on
    nothing else, so a resumed run sees exactly the batches an uninterrupted one would."""
    return (seed * 1_000_003 + epoch * 10_007 + rank * 101) % 2**63


def resolve_device(name: str, rank_local: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{rank_local}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"TrainConfig.device={name!r} is not a device. Fix: use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig.device={name!r} but CUDA is not available here. Fix: use device 'auto' or 'cpu'")
    return device


def _switch(value: str, name: str, auto: bool, choices: tuple[str, ...]) -> bool:
    """An auto/on/off style setting: "auto" means ``auto``."""
    if value not in choices:
        raise ConfigError(f"TrainConfig.{name}={value!r}. Fix: use one of {list(choices)}")
    return auto if value == "auto" else value == "on"


@torch.no_grad()
def pixel_stats(images: torch.Tensor, chunk: int = 16384) -> tuple[float, float]:
    """Mean and std of the pixels on the 0..1 scale, in float64 chunks (no full float copy of the data)."""
    total = sq = 0.0
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].double() / 255.0
        total += x.sum().item()
        sq += (x * x).sum().item()
    n = images.numel()
    mean = total / n
    return mean, max(sq / n - mean * mean, 1e-12) ** 0.5


def input_normalization(model: nn.Module, images: torch.Tensor) -> tuple[float, float]:
    """The (mean, std) a model's inputs are normalised with: those it carries when it was loaded trained
    (``charclf.load_model`` sets ``charclf_config``: fine-tuning or transfer keeps the statistics its weights
    learnt with), else the training images' own."""
    carried = getattr(unwrap(model), "charclf_config", None) or {}
    if carried.get("mean") is not None and carried.get("std") is not None:
        return float(carried["mean"]), float(carried["std"])
    return pixel_stats(images)


def evaluate_logits(model: nn.Module, ds: CharDataset, *, mean: float, std: float, config: TrainConfig,
                    amp_dtype: torch.dtype | None) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` on ``ds`` through the same predict_logits the rest of the package uses."""
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
        logits = predict_logits(model, ds.images, mean=mean, std=std, batch_size=config.eval_batch_size,
                                device=device, tta=config.tta)
    # With TTA the "logits" are log-probabilities; cross_entropy of log-probs is the NLL of the averaged probs.
    loss = F.cross_entropy(logits, ds.labels).item()
    acc = (logits.argmax(1) == ds.labels).double().mean().item()
    return loss, acc


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def check_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse any output folder whose contents training could destroy (read-only check, before any work).

    - a new or empty folder is always fine;
    - ``resume`` needs the run's resume.pt; without it, only a run killed before its first epoch (nothing but
      train_config.json / tb/) may start afresh — a folder holding results is refused, never retrained over;
    - ``overwrite`` removes only the files ``fit`` writes (``RUN_FILES``), and refuses a folder holding
      anything else (a model card, notes, another tool's files), naming it;
    - anything else non-empty is refused.
    """
    out = Path(out)
    if resume and overwrite:
        raise ConfigError("resume=True and overwrite=True contradict each other. Fix: pass only one of them")
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a folder. Fix: choose another output folder")
    entries = sorted(out.iterdir()) if out.exists() else []
    if not entries:
        return
    foreign = [p.name for p in entries if not is_run_entry(p)]
    if resume:
        if (out / checkpoint.RESUME_NAME).is_file():
            return
        results = [p.name for p in entries if p.name in RESULT_FILES]
        if results:
            raise TrainingError(f"{out}: holds a trained run ({', '.join(results)}) but no "
                                f"{checkpoint.RESUME_NAME}, so there is nothing to resume and --resume would "
                                f"train from scratch over it. Fix: train into a new --out folder (or, to replace "
                                f"this run, pass --overwrite instead of --resume)")
        if foreign:
            raise TrainingError(f"{out}: has no {checkpoint.RESUME_NAME} to resume and holds files charclf did not "
                                f"write ({', '.join(foreign[:5])}). Fix: choose an empty or new --out folder")
        return  # killed before its first epoch: nothing to lose, fit starts afresh (with a note)
    if not overwrite:
        raise TrainingError(f"{out}: the output folder exists and is not empty. Fix: pass --resume to continue "
                            f"that run, --overwrite to replace it, or choose another --out folder")
    if foreign:
        raise TrainingError(f"{out}: --overwrite deletes only the files charclf train writes, and this folder also "
                            f"holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}. Fix: move "
                            f"those elsewhere first, or choose an empty or new --out folder")
    if "train_config.json" not in {p.name for p in entries}:
        raise TrainingError(f"{out}: --overwrite would delete a folder that does not look like a charclf run "
                            f"(no train_config.json inside). Fix: choose an empty or new --out folder")


# What fit writes into a run folder, and nothing else (see the module docstring): --overwrite removes only these.
RUN_FILES = ("model.safetensors", "config.json", "train_config.json", "history.csv", "last.safetensors",
             checkpoint.RESUME_NAME, "metrics.json",
             *(f"confusion_{part}{tta}.csv" for part in ("train", "val", "test") for tta in ("", "_tta")))
RESULT_FILES = ("model.safetensors", "config.json", "metrics.json", "history.csv", "last.safetensors")
TB_DIR = "tb"


def is_run_entry(path: Path) -> bool:
    """Whether ``path`` (an entry of a run folder) is something ``fit`` writes: a run file, the temporary file
    of one (left by a kill mid-write), or tb/ holding only TensorBoard event files."""
    name = path.name
    if path.is_dir() and not path.is_symlink():
        return name == TB_DIR and all(p.is_file() and p.name.startswith("events.out.tfevents.")
                                      for p in path.iterdir())
    if not path.is_file() or path.is_symlink():
        return False
    return name in RUN_FILES or (name.endswith(".tmp") and any(name.startswith(f + ".") for f in RUN_FILES))


def clear_run_dir(out: Path, note: Callable[[str], None]) -> list[str]:
    """Remove the run files of ``out`` for --overwrite, saying what goes; re-checks first (the folder may have
    changed since check_out_dir), so nothing charclf did not write is ever deleted. Returns the names removed."""
    check_out_dir(out, resume=False, overwrite=True)
    entries = sorted(out.iterdir()) if out.exists() else []
    if entries:
        note(f"--overwrite: removing {', '.join(p.name + ('/' if p.is_dir() else '') for p in entries)} from {out}")
    for path in entries:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [p.name for p in entries]


def _open_tensorboard(out: Path, purge_step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: the CSV history is the record of truth
        return None
    return SummaryWriter(str(out / "tb"), purge_step=purge_step)


# -- fit ----------------------------------------------------------------------------------------------------
@dataclass
class RunState:
    """What changes from epoch to epoch besides the model/optimizer/scheduler/EMA tensors."""

    epoch: int = 0  # last completed epoch
    best_val_acc: float = -1.0
    best_epoch: int = 0
    stale_epochs: int = 0  # epochs since the last val improvement (early stopping)
    best_state: dict | None = None  # CPU copy of the best weights (EMA when enabled)
    history: list = field(default_factory=list)  # one dict per epoch, HISTORY_COLUMNS


def fit(model: nn.Module, data: DataBundle, config: TrainConfig, out_dir: str | Path | None = None, *,
        resume: bool = False, overwrite: bool = False, progress: bool = True,
        callbacks: list[Callable[[dict], None]] | None = None,
        evaluate_parts: tuple[str, ...] = ("test",)) -> pd.DataFrame:
    """Train ``model`` on ``data.train``, pick the best epoch on ``data.val``, and return the history.

    With ``out_dir`` the run folder described in this module's docstring is written (only by rank 0 under
    torchrun) and ``metrics.json`` gets the test accuracy of the chosen weights, measured once at the end.
    Without it, training happens in memory and the test part is not touched. Either way the model ends up
    holding the best-on-val weights (the EMA average when ``ema_decay`` is set); the returned DataFrame's
    ``attrs["metrics"]`` holds the summary. Under ``torchrun`` the same call trains with DDP.

    ``callbacks`` are called with each epoch's history row once that epoch is saved (e.g. Optuna pruning);
    an exception they raise stops training and propagates, leaving the run folder resumable.

    ``evaluate_parts`` are the parts scored at the end (with ``out_dir``) by :func:`final_evaluation`; "test"
    is always among them. Add "train" for a generalisation table (train vs test metrics of the same weights).
    """
    unknown = set(evaluate_parts) - {"train", "val", "test"}
    if unknown or "test" not in evaluate_parts:
        raise ConfigError(f"evaluate_parts={evaluate_parts!r}: parts are train, val and test, and test is always "
                          "scored. Fix: e.g. evaluate_parts=('train', 'test')")
    for name in ("epochs", "batch_size", "eval_batch_size", "log_every"):
        if getattr(config, name) < 1:
            raise ConfigError(f"TrainConfig.{name}={getattr(config, name)}: must be >= 1. Fix: correct the config")
    if config.max_train_samples is not None and not config.max_train_samples >= 1:
        raise ConfigError(f"TrainConfig.max_train_samples={config.max_train_samples}: must be >= 1, or null to "
                          "train on the whole train part. Fix: correct the config")
    if config.grad_clip_norm is not None and not config.grad_clip_norm > 0:
        raise ConfigError(f"TrainConfig.grad_clip_norm={config.grad_clip_norm}: must be > 0, or null for no "
                          "clipping. Fix: e.g. 1.0")
    if out_dir is None and (resume or overwrite):
        raise ConfigError("resume/overwrite need a run folder. Fix: pass out_dir (the folder of the run)")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_out_dir(out, resume, overwrite)  # before any work: a refused folder costs nothing
    info = distributed.setup(use_cuda=config.device.startswith("cuda")
                             or (config.device == "auto" and torch.cuda.is_available()))
    try:
        return _fit(model, data, config, out, resume, overwrite, progress, callbacks or [], info,
                    tuple(evaluate_parts))
    finally:
        distributed.teardown(info)


def _fit(model, data, config, out, resume, overwrite, progress, callbacks, info, evaluate_parts) -> pd.DataFrame:
    device = resolve_device(config.device, info.local_rank)
    on_cuda = device.type == "cuda"
    amp_dtype = resolve_amp(config.amp, device, model)
    channels_last = _switch(config.channels_last, "channels_last", True, ("auto", "on", "off"))
    show = progress and info.is_main
    # Notes (resuming, early stopping) go to stderr even without progress bars; rank 0 only.
    note = (lambda msg: tqdm.write(msg, file=sys.stderr)) if info.is_main else (lambda msg: None)
    seed_everything(config.seed)

    # Data: the whole train part as uint8 on the device, once.
    train = data.train
    if config.max_train_samples is not None:
        train = stratified_subset(train, config.max_train_samples, seed=config.seed)
    images, labels = train.images.to(device), train.labels.to(device)
    mean, std = input_normalization(model, images)

    # Model and everything that trains it — built (and so validated) before the folder is touched.
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if on_cuda else None)
    if config.compile:
        net = torch.compile(net)
    steps = steps_per_epoch(-(-len(train) // info.world_size), config.batch_size)
    optimizer = build_optimizer(model, config.optimizer)
    scheduler = build_scheduler(optimizer, config.scheduler, epochs=config.epochs, steps_per_epoch=steps)
    loss_fn = build_loss(config.loss, num_classes=data.num_classes, class_counts=train.class_counts(),
                         label_smoothing=config.label_smoothing).to(device)
    augment = BatchAugment(config.augment, data.num_classes, fill=(0.0 - mean) / std)  # fill = black
    ema = EMA(model, config.ema_decay) if config.ema_decay else None
    fp = checkpoint.fingerprint(model, config.model, data.num_classes, config.model_kwargs)
    # Resuming on other data (another split with as many classes, another protocol) would mix two runs.
    data_fp = {**data.describe(), "classes": list(data.classes)}

    run = RunState()
    resume_path = out / checkpoint.RESUME_NAME if out is not None else None
    if resume and resume_path.exists():
        state = checkpoint.load_resume(resume_path)
        checkpoint.check_fingerprint(state["fingerprint"], fp, resume_path)
        _check_same_config(state["config"], config.to_dict(), resume_path)
        _check_same_data(state.get("data"), data_fp, resume_path)
        unwrap(model).load_state_dict(state["model"])  # in place: DDP, EMA pairs and channels_last stay valid
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        checkpoint.set_rng_state(state["rng"])
        run = RunState(**state["run"])
        note(f"resuming {repo_relative(out)} after epoch {run.epoch} (best val acc {run.best_val_acc:.4f} at epoch {run.best_epoch})")
    elif resume:
        note(f"note: {repo_relative(resume_path)} not found — starting a fresh run in {repo_relative(out)}")

    writer = None
    if out is not None and info.is_main:
        if overwrite:
            clear_run_dir(out, note)
        out.mkdir(parents=True, exist_ok=True)
        config.to_json(out / "train_config.json")
        writer = _open_tensorboard(out, purge_step=run.epoch + 1)
    distributed.barrier()  # rank 0 has cleared/created the folder before anyone trains

    eval_model = ema.module if ema is not None else model
    hub_kw = dict(architecture=config.model, num_classes=data.num_classes, labels=data.classes, mean=mean, std=std,
                  protocol=data.protocol, model_kwargs=config.model_kwargs,
                  extra={"split": data.split, "train_config": "train_config.json"})
    t_start = time.perf_counter()
    epochs_bar = tqdm(range(run.epoch + 1, config.epochs + 1), desc="epochs", initial=run.epoch,
                      total=config.epochs, disable=not show)
    try:
        for epoch in epochs_bar:
            # Order and augmentation depend on (seed, epoch[, rank]) only: resuming replays them exactly.
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
            gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch, info.rank))
            with tqdm(total=steps, desc=f"epoch {epoch}", leave=False, disable=not show) as bar:
                try:
                    stats = train_epoch(net, optimizer, scheduler, loss_fn, augment if augment.enabled else None,
                                        images, labels, batch_size=config.batch_size, mean=mean, std=std,
                                        amp_dtype=amp_dtype, channels_last=channels_last, generator=gen, ema=ema,
                                        grad_clip_norm=config.grad_clip_norm,
                                        progress=bar, indices=distributed.shard(order, info.rank, info.world_size),
                                        epoch=epoch, log_every=config.log_every)
                except TrainingError as err:
                    if resume_path is None or not resume_path.exists():
                        raise
                    raise TrainingError(f"{err}. The last good checkpoint ({resume_path}, epoch {run.epoch}) "
                                        f"is kept untouched") from err
            loss_sum, correct, samples, seconds = distributed.all_reduce_sum(
                [stats["loss"] * stats["samples"], stats["acc"] * stats["samples"], stats["samples"],
                 stats["seconds"]], device)
            seconds /= info.world_size
            val_loss, val_acc = evaluate_logits(eval_model, data.val, mean=mean, std=std, config=config,
                                                amp_dtype=amp_dtype)
            run.history.append({"epoch": epoch, "train_loss": loss_sum / samples, "train_acc": correct / samples,
                                "val_loss": val_loss, "val_acc": val_acc, "lr": optimizer.param_groups[0]["lr"],
                                "epoch_time_s": seconds, "images_per_s": samples / seconds})
            improved = val_acc > run.best_val_acc  # ties keep the earlier epoch
            run.epoch = epoch
            if improved:
                run.best_val_acc, run.best_epoch, run.stale_epochs = val_acc, epoch, 0
                run.best_state = _cpu_state(eval_model)
            else:
                run.stale_epochs += 1
            epochs_bar.set_postfix(val_acc=f"{val_acc:.4f}", best=f"{run.best_val_acc:.4f}")
            if out is not None and info.is_main:
                _save_epoch(out, run.history, improved, eval_model, model, hub_kw, writer, {
                    "fingerprint": fp, "data": data_fp, "config": config.to_dict(), "run": dict(vars(run)),
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "ema": ema.state_dict() if ema is not None else None, "rng": checkpoint.rng_state()})
            _test_hook(epoch)
            for callback in callbacks:
                callback(dict(run.history[-1]))
            if config.early_stopping_patience is not None and run.stale_epochs >= config.early_stopping_patience:
                note(f"early stopping after epoch {epoch}: no val improvement for {run.stale_epochs} epochs")
                break
    finally:
        epochs_bar.close()
        if writer is not None:
            writer.close()

    # The model ends with the chosen (best-on-val) weights, carrying the normalisation they expect, as a
    # model loaded with charclf.load_model does: evaluate/predict/fine-tune then need no mean/std passed along.
    if run.best_state is not None:
        unwrap(model).load_state_dict(run.best_state)
    unwrap(model).charclf_config = {**(getattr(unwrap(model), "charclf_config", None) or {}), "mean": mean,
                                    "std": std, "architecture": config.model, "num_classes": data.num_classes,
                                    "labels": list(data.classes), "model_kwargs": dict(config.model_kwargs)}
    history = pd.DataFrame(run.history, columns=HISTORY_COLUMNS)
    metrics = _summary(history, run, time.perf_counter() - t_start, mean, std)
    # What "auto" resolved to on this machine: the same config trains in bf16 on one machine, float32 on another.
    metrics.update(precision=precision_name(amp_dtype), channels_last=channels_last, device=str(device))
    if out is not None and info.is_main:
        # The one look at the test part: the weights chosen on val, evaluated once, by the same function (and
        # in the same float32) as `charclf evaluate`, so a run carries one test number, not two.
        evaluation = final_evaluation(model, data, out, mean=mean, std=std, tta=config.tta,
                                      batch_size=config.eval_batch_size, parts=evaluate_parts)
        record = RunRecord(**metrics, **model_record(model, config), data=data.describe(),
                           train_samples=len(train), recipe=config.name or None, config=config.to_dict(),
                           world_size=info.world_size, tta=bool(config.tta), evaluation=evaluation,
                           provenance=run_metadata(protocol=data.protocol, seed=config.seed))
        record.save(out)
        history.attrs["record"] = record
        metrics = record.to_dict()
    history.attrs["metrics"] = metrics
    distributed.barrier()
    return history


def final_evaluation(model: nn.Module, data: DataBundle, out: Path, *, mean: float, std: float, tta: bool,
                     batch_size: int, parts: tuple[str, ...] = ("test",)) -> dict:
    """Score the chosen weights on ``parts`` with :func:`charclf.eval.evaluate.evaluate_model` (float32, TTA as the
    config says), write each part's confusion matrix as ``confusion_<key>.csv`` and return the record's
    ``evaluation`` (keyed like ``charclf evaluate``: "test", or "test_tta" with TTA)."""
    from charclf.eval.evaluate import confusion_frame, evaluation_key, evaluate_model

    evaluation = {}
    for part in parts:
        result = evaluate_model(model, getattr(data, part), mean=mean, std=std, tta=tta, batch_size=batch_size)
        key = evaluation_key(part, tta)
        evaluation[key] = result.to_dict()
        _write_csv(confusion_frame(result.confusion, result.classes).reset_index(), out / f"confusion_{key}.csv")
    return evaluation


def model_record(model: nn.Module, config: TrainConfig) -> dict:
    """What the model is: registry name, parameters and MACs per 28x28 image (so no reader rebuilds it)."""
    from charclf.models.summary import model_summary

    size = model_summary(unwrap(model))
    return {"model": config.model, "params": int(size["params"]), "macs": int(size["macs"])}


def _save_epoch(out: Path, rows: list[dict], improved: bool, eval_model: nn.Module, model: nn.Module,
                pretrained_kw: dict, writer, resume_state: dict) -> None:
    """Write one epoch's files; resume.pt goes last, so it only ever points at a fully written epoch."""
    if improved:
        save_pretrained(eval_model, out, **pretrained_kw)
    save_weights(model, out / "last.safetensors")
    _write_csv(pd.DataFrame(rows, columns=HISTORY_COLUMNS), out / "history.csv")
    if writer is not None:
        row = rows[-1]
        for key in HISTORY_COLUMNS[1:]:
            writer.add_scalar(key, row[key], row["epoch"])
        writer.flush()
    checkpoint.save_resume(out / checkpoint.RESUME_NAME, resume_state)


def _summary(history: pd.DataFrame, run: RunState, wall_s: float, mean: float, std: float) -> dict:
    """The training half of the run record (RunRecord's field names)."""
    best = history[history.epoch == run.best_epoch]
    train_s = float(history.epoch_time_s.sum())  # training steps only, every epoch (also those before a resume)
    images = float((history.images_per_s * history.epoch_time_s).sum())
    return {"best_epoch": run.best_epoch, "best_val_acc": run.best_val_acc,
            "best_val_loss": float(best.val_loss.iloc[0]) if len(best) else None,
            "final_val_acc": float(history.val_acc.iloc[-1]) if len(history) else None,
            "final_val_loss": float(history.val_loss.iloc[-1]) if len(history) else None,
            "epochs_run": int(len(history)), "train_time_s": train_s, "wall_time_s": float(wall_s),
            "images_per_s": images / train_s if train_s > 0 else None, "mean": mean, "std": std}


def _check_same_config(saved: dict, current: dict, path: Path) -> None:
    diff = sorted(k for k in set(saved) | set(current)
                  if k not in RESUME_MAY_DIFFER and _jsonish(saved.get(k)) != _jsonish(current.get(k)))
    if diff:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff)
        raise TrainingError(f"{path}: the run was started with a different training config ({details}). "
                            f"Fix: resume with the run's own train_config.json, or start a new --out folder")


def _check_same_data(saved: dict | None, current: dict, path: Path) -> None:
    if saved is None:  # a resume state from before data was recorded: nothing to compare
        return
    saved, current = _jsonish(saved), _jsonish(current)
    if saved != current:
        diff = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(saved) | set(current))
                         if saved.get(k) != current.get(k))
        raise TrainingError(f"{path}: the run was trained on other data ({diff}). Fix: resume with the run's "
                            f"split/protocol/data dir (see its config.json), or start a new --out folder")


def _jsonish(value):
    """Tuples and lists compare equal (the resume file stores what to_dict gave; JSON turns tuples into lists)."""
    if isinstance(value, dict):
        return {k: _jsonish(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonish(v) for v in value]
    return value


def _test_hook(epoch: int) -> None:
    """Tests simulate a kill right after an epoch's checkpoint: CHARCLF_TEST_EXIT_AFTER_EPOCH=N -> os._exit(3)."""
    stop = os.environ.get("CHARCLF_TEST_EXIT_AFTER_EPOCH")
    if stop is not None and int(stop) == epoch:
        os._exit(3)
