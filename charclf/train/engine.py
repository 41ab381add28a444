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

import random
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

from charclf.class_prior import COUNTS_KEY
from charclf.data.dataset import CharDataset, DataBundle, stratified_indices
from charclf.errors import ConfigError, TrainingError
from charclf.eval.inference import predict_logits
from charclf.eval.record import RunRecord
from charclf.models.registry import unwrap
from charclf.provenance import repo_relative, run_metadata
from charclf.tensorops import resolve_device
from charclf.train import checkpoint, distributed, run_folder
from charclf.train.build import build_training
from charclf.train.config import TrainConfig
from charclf.train.distill import distill_targets, load_teacher, teacher_path
from charclf.train.ema import SWA
from charclf.train.loop import steps_per_epoch, train_epoch
from charclf.train.precision import precision_name, resolve_amp
from charclf.train.run_folder import HISTORY_COLUMNS, write_csv


# -- small helpers -------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A distinct, reproducible seed per (seed, epoch, rank): data order and augmentation of an epoch depend on
    nothing else, so a resumed run sees exactly the batches an uninterrupted one would."""
    return (seed * 1_000_003 + epoch * 10_007 + rank * 101) % 2**63


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


def evaluate_logits(model: nn.Module, ds: CharDataset, *, mean: float, std: float,
                    config: TrainConfig) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` on ``ds`` through the same predict_logits (float32, no autocast) as the test
    evaluation: the epoch chosen on val is chosen by the numbers test is scored with, whatever precision trained."""
    device = next(model.parameters()).device
    logits = predict_logits(model, ds.images, mean=mean, std=std, batch_size=config.eval_batch_size,
                            device=device, tta=config.tta)
    # With TTA the "logits" are log-probabilities; cross_entropy of log-probs is the NLL of the averaged probs.
    loss = F.cross_entropy(logits, ds.labels).item()
    acc = (logits.argmax(1) == ds.labels).double().mean().item()
    return loss, acc


def config_for_model(model: nn.Module, config: TrainConfig) -> TrainConfig:
    """``config`` naming the architecture and kwargs ``model`` was built with (``create_model`` stamps them on
    it): an empty ``config.model`` is filled in, a disagreeing one refused, so config.json can only name the
    network that trained. A module built without the registry needs ``config.model`` to say what it is."""
    import dataclasses

    from charclf.models.registry import architecture_kwargs, built_as

    built = built_as(model)
    if built is None:
        if not config.model:
            raise ConfigError(f"fit got a {type(unwrap(model)).__name__} that was not built by "
                              "charclf.create_model, so its architecture is unknown and config.json could not "
                              "rebuild it. Fix: build it with create_model(NAME), or register its factory with "
                              "@register_model and pass TrainConfig(model=NAME)")
        return config
    if not config.model:
        return dataclasses.replace(config, model=built["architecture"],
                                   model_kwargs=dict(config.model_kwargs or built["model_kwargs"]))
    if config.model != built["architecture"]:
        raise ConfigError(f"TrainConfig.model={config.model!r} but the model given to fit was built as "
                          f"{built['architecture']!r}. Fix: pass TrainConfig(model={built['architecture']!r}) "
                          "(or leave model empty to take it from the model), or train the model the config names")
    if architecture_kwargs(config.model_kwargs) != architecture_kwargs(built["model_kwargs"]):
        raise ConfigError(f"TrainConfig.model_kwargs={config.model_kwargs!r} but the model given to fit was built "
                          f"with {built['model_kwargs']!r}. Fix: pass the kwargs the model was built with")
    return config


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

    def record(self, row: dict, weights: nn.Module) -> bool:
        """Add an epoch's history row and track the best epoch on val accuracy, keeping a CPU copy of ``weights``
        (the model validated) when the epoch improved on it. Returns whether it did."""
        self.history.append(row)
        self.epoch = row["epoch"]
        improved = row["val_acc"] > self.best_val_acc  # ties keep the earlier epoch
        if improved:
            self.best_val_acc, self.best_epoch, self.stale_epochs = row["val_acc"], row["epoch"], 0
            self.best_state = checkpoint.cpu_state(weights)
        else:
            self.stale_epochs += 1
        return improved


def fit(model: nn.Module, data: DataBundle, config: TrainConfig, out_dir: str | Path | None = None, *,
        resume: bool = False, overwrite: bool = False, progress: bool = True,
        callbacks: list[Callable[[dict], None]] | None = None,
        evaluate_parts: tuple[str, ...] = ("test",), allow_precision_change: bool = False) -> pd.DataFrame:
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

    A resume whose precision would differ from the epochs already trained (``amp="auto"`` resolves to bf16 on one
    CPU and float32 on another) is refused unless ``allow_precision_change``; history.csv records each epoch's.
    """
    config.check()  # a value no training can use is one ConfigError, not a NaN epoch after the folder is made
    unknown = set(evaluate_parts) - {"train", "val", "test"}
    if unknown or "test" not in evaluate_parts:
        raise ConfigError(f"evaluate_parts={evaluate_parts!r}: parts are train, val and test, and test is always "
                          "scored. Fix: e.g. evaluate_parts=('train', 'test')")
    config = config_for_model(model, config)
    if out_dir is None and (resume or overwrite):
        raise ConfigError("resume/overwrite need a run folder. Fix: pass out_dir (the folder of the run)")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        run_folder.check_out_dir(out, resume, overwrite)  # before any work: a refused folder costs nothing
    run_folder.check_before_work(out, config, data)
    info = distributed.setup(use_cuda=config.device.startswith("cuda")
                             or (config.device == "auto" and torch.cuda.is_available()))
    try:
        with run_folder.run_lock(out if info.is_main else None, resume, overwrite):  # one training per folder
            return _fit(model, data, config, out, resume, overwrite, progress, callbacks or [], info,
                        tuple(evaluate_parts), allow_precision_change)
    finally:
        distributed.teardown(info)


def _fit(model, data, config, out, resume, overwrite, progress, callbacks, info, evaluate_parts,
         allow_precision_change) -> pd.DataFrame:
    device = resolve_device(config.device, info.local_rank)
    amp_dtype = resolve_amp(config.amp, device, model)
    precision = precision_name(amp_dtype)
    channels_last = _switch(config.channels_last, "channels_last", True, ("auto", "on", "off"))
    show = progress and info.is_main
    # Notes (resuming, early stopping) go to stderr even without progress bars; rank 0 only.
    note = (lambda msg: tqdm.write(msg, file=sys.stderr)) if info.is_main else (lambda msg: None)
    seed_everything(config.seed)

    # Data: the whole train part as uint8 on the device, once.
    train, keep = data.train, None
    if config.max_train_samples is not None:
        keep = stratified_indices(train.labels.numpy(), config.max_train_samples, config.seed)
        train = train.subset(keep)
    images, labels = train.images.to(device), train.labels.to(device)
    soft_targets, teacher_facts = None, {}
    if config.distill_teacher:  # checked against the whole train part, then cut like it
        teacher = load_teacher(teacher_path(config.distill_teacher), data.train)
        probs = torch.from_numpy(teacher.probs)
        probs = probs[torch.as_tensor(keep)] if keep is not None else probs
        soft_targets = distill_targets(probs, train.labels, config.distill_alpha,
                                       config.distill_temperature).to(device)
        # The teacher's identity (its probabilities' hash): a resume under another teacher is refused, and the
        # record says which teacher the run learnt from.
        teacher_facts = {"distill_teacher_sha256": teacher.sha256}
    mean, std = input_normalization(model, images)
    if config.data_init_first_layer and not (resume and out is not None and (out / checkpoint.RESUME_NAME).exists()):
        from charclf.train.datainit import init_first_conv_from_data

        init_first_conv_from_data(model, images, mean=mean, std=std, seed=config.seed)

    # Model and everything that trains it — built (and so validated) before the folder is touched.
    net, optimizer, scheduler, loss_fn, augment, ema, steps = _build_training(
        model, config, train, data.num_classes, info, device, channels_last=channels_last, mean=mean, std=std)
    swa = ema if isinstance(ema, SWA) else None  # SWA folds in each epoch's end; an EMA every step
    # What a resume state holds and must match: model, config and data. Resuming on other data (another split
    # with as many classes, another protocol) would mix two runs.
    resumable = dict(model=model, optimizer=optimizer, scheduler=scheduler, ema=ema, config_dict=config.to_dict(),
                     fingerprint=checkpoint.fingerprint(model, config.model, data.num_classes, config.model_kwargs),
                     data_fingerprint={**data.describe(), "classes": list(data.classes), **teacher_facts})

    run = RunState()
    resume_path = out / checkpoint.RESUME_NAME if out is not None else None
    if resume and resume_path.exists():
        run = RunState(**checkpoint.restore(resume_path, **resumable, precision=precision,
                                            allow_precision_change=allow_precision_change))
        run_folder.refuse_finished(out)  # the same model, config and data, finished: nothing may change
        note(f"resuming {repo_relative(out)} after epoch {run.epoch} (best val acc {run.best_val_acc:.4f} at epoch {run.best_epoch})")
    elif resume:
        note(f"note: {repo_relative(resume_path)} not found — starting a fresh run in {repo_relative(out)}")
    writer = (run_folder.prepare(out, config, overwrite=overwrite, purge_step=run.epoch + 1, note=note)
              if out is not None and info.is_main else None)
    distributed.barrier()  # rank 0 has cleared/created the folder before anyone trains

    hub_kw = dict(architecture=config.model, num_classes=data.num_classes, labels=data.classes, mean=mean, std=std,
                  protocol=data.protocol, model_kwargs=config.model_kwargs,
                  extra={"split": data.split, "train_config": "train_config.json",
                         # what predict divides out for a user's handwriting (charclf.class_prior)
                         COUNTS_KEY: [int(c) for c in train.class_counts()]})
    t_start = time.perf_counter()
    epochs_bar = tqdm(range(run.epoch + 1, config.epochs + 1), desc="epochs", initial=run.epoch,
                      total=config.epochs, disable=not show)
    try:
        for epoch in epochs_bar:
            averaging = swa is not None and swa.active(epoch)
            if averaging and swa.lr is not None:  # SWA's constant learning rate replaces the schedule
                for group in optimizer.param_groups:
                    group["lr"] = swa.lr
            # Order and augmentation depend on (seed, epoch[, rank]) only: resuming replays them exactly.
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
            gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch, info.rank))
            with tqdm(total=steps, desc=f"epoch {epoch}", leave=False, disable=not show) as bar:
                try:
                    stats = train_epoch(net, optimizer, None if averaging and swa.lr is not None else scheduler,
                                        loss_fn, augment,
                                        images, labels, batch_size=config.batch_size, mean=mean, std=std,
                                        amp_dtype=amp_dtype, channels_last=channels_last, generator=gen,
                                        ema=ema if swa is None else None,
                                        grad_clip_norm=config.grad_clip_norm,
                                        progress=bar, indices=distributed.shard(order, info.rank, info.world_size),
                                        epoch=epoch, log_every=config.log_every, soft_targets=soft_targets)
                except TrainingError as err:
                    if resume_path is None or not resume_path.exists():
                        raise
                    # the same type (DivergenceError stays one), with where the last good state is
                    raise type(err)(f"{err}. The last good checkpoint ({resume_path}, epoch {run.epoch}) "
                                        f"is kept untouched") from err
            loss_sum, correct, samples, seconds = distributed.all_reduce_sum(
                [stats["loss"] * stats["samples"], stats["acc"] * stats["samples"], stats["samples"],
                 stats["seconds"]], device)
            seconds /= info.world_size
            if averaging:
                swa.update(model)
            eval_model = (ema.module if ema is not None and (swa is None or averaging) else model)
            val_loss, val_acc = evaluate_logits(eval_model, data.val, mean=mean, std=std, config=config)
            improved = run.record({"epoch": epoch, "train_loss": loss_sum / samples, "train_acc": correct / samples,
                                   "val_loss": val_loss, "val_acc": val_acc, "lr": optimizer.param_groups[0]["lr"],
                                   "epoch_time_s": seconds, "images_per_s": samples / seconds,
                                   "precision": precision}, eval_model)
            epochs_bar.set_postfix(val_acc=f"{val_acc:.4f}", best=f"{run.best_val_acc:.4f}")
            if out is not None and info.is_main:
                run_folder.save_epoch(out, run.history, improved, eval_model, model, hub_kw, writer,
                                      checkpoint.resume_state(run=vars(run), precision=precision, **resumable))
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
                                    "labels": list(data.classes), "model_kwargs": dict(config.model_kwargs),
                                    COUNTS_KEY: hub_kw["extra"][COUNTS_KEY]}
    history = pd.DataFrame(run.history, columns=HISTORY_COLUMNS)
    metrics = _summary(history, run, time.perf_counter() - t_start, mean, std)
    # What "auto" resolved to on this machine: the same config trains in bf16 on one machine, float32 on another.
    # A resume allowed to change precision trained epochs in both: the record says "mixed", history says which.
    precisions = {row.get("precision") or precision for row in run.history}
    metrics.update(precision=precisions.pop() if len(precisions) == 1 else "mixed", selection_precision="fp32",
                   channels_last=channels_last, device=str(device))
    if out is not None and info.is_main:
        # The one look at the test part: the weights chosen on val, evaluated once, by the same function (and
        # in the same float32) as `charclf evaluate`, so a run carries one test number, not two.
        evaluation = final_evaluation(model, data, out, mean=mean, std=std, tta=config.tta,
                                      batch_size=config.eval_batch_size, parts=evaluate_parts)
        record = RunRecord(**metrics, **model_record(model, config), data=data.describe(),
                           train_samples=len(train), recipe=config.name or None, config=config.to_dict(),
                           world_size=info.world_size, tta=bool(config.tta), evaluation=evaluation,
                           provenance=run_metadata(protocol=data.protocol, seed=config.seed, **teacher_facts))
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
    from charclf.eval.evaluate import confusion_frame, evaluate_model, evaluation_key

    evaluation = {}
    for part in parts:
        result = evaluate_model(model, getattr(data, part), mean=mean, std=std, tta=tta, batch_size=batch_size)
        key = evaluation_key(part, tta)
        evaluation[key] = result.to_dict()
        write_csv(confusion_frame(result.confusion, result.classes).reset_index(), out / f"confusion_{key}.csv")
    return evaluation


def model_record(model: nn.Module, config: TrainConfig) -> dict:
    """What the model is: registry name, parameters and MACs per 28x28 image (so no reader rebuilds it)."""
    from charclf.models.summary import model_summary

    size = model_summary(unwrap(model))
    return {"model": config.model, "params": int(size["params"]), "macs": int(size["macs"])}


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


def _build_training(model: nn.Module, config: TrainConfig, train: CharDataset, num_classes: int,
                    info: distributed.DistInfo, device: torch.device, *, channels_last: bool, mean: float,
                    std: float) -> tuple:
    """Put ``model`` on ``device`` and build what trains it: ``(net, optimizer, scheduler, loss_fn, augment, ema,
    steps)``. ``net`` is the model as it trains (DDP / torch.compile wrappers as configured), ``augment`` is None
    when the config augments nothing, ``steps`` the optimizer steps per epoch on each rank."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        net = torch.compile(net)
    steps = steps_per_epoch(-(-len(train) // info.world_size), config.batch_size)
    parts = build_training(model, config, num_classes=num_classes, mean=mean, std=std,
                           class_counts=train.class_counts(), steps_per_epoch=steps, device=device)
    return net, parts.optimizer, parts.scheduler, parts.loss_fn, parts.augment, parts.ema, steps
