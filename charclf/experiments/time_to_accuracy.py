"""Time to accuracy: the earlier works' training pipeline and charclf's, raced to the same val accuracy.

Both sides train the same architecture from the same initial weights with the same recipe — optimizer, LR
schedule, loss, batch size, augmentation ranges (default: Mini-Vision-V3's, ``recipes.minivision_v3``) — and
differ only in how the data reaches the model and in precision / memory format:

* ``usual`` — as the earlier works shipped it: torchvision transforms per sample in a ``Dataset``, a
  ``DataLoader(shuffle=True, num_workers=0)``, float32, NCHW (``charclf.train.usual``);
* ``charclf`` — ``fit``: the data on the device, ``BatchAugment`` per batch, amp "auto" (bf16 where the hardware
  runs it natively), channels_last.

``usual`` and ``charclf`` differ in more than the pipeline: precision (fp32 against bf16 where native) and the
rotation's resampling (torchvision's nearest against charclf's bilinear), and so, through the resampling, in how
many epochs reach the target. The entrant ``charclf_fp32_nearest`` isolates the pipeline: charclf's pipeline with
the usual side's precision (float32) and resampling (nearest), everything else the recipe's; ``ratio_pipeline``
is usual over it. ``ratio`` (usual over charclf) is the pipeline plus bf16 plus bilinear resampling.

Optionally a further entrant, ``charclf_fast``, runs charclf's pipeline with a recipe of its own (``fast_config``,
e.g. ``recipes.charclf_race``); the usual-vs-charclf_fast ``ratio_fast`` is what a reader gains from the
pipeline, the precision and our recipe together. Each entrant's precision, resampling and epochs are in the
summary. A race that chose a recipe must be timed on other seeds than the search that chose it
(``search_seeds`` are recorded and refused as race seeds).

The stopwatch runs during the training epochs only. After every epoch the val accuracy is measured off the clock
(``wall_s`` keeps the time with it) and the race ends at the first epoch whose val accuracy reaches ``target``.
The weights of that moment are then scored ONCE on the test part (``evaluate_model``, float32): the target is
detected on val, the test number is read once and chooses nothing.

    from charclf.data import load_data
    result = run_race(load_data("byclass", "holdout"), seeds=(0, 1, 2), target=0.86)

or ``charclf race``, which also prints the table and writes the JSON.
"""
from __future__ import annotations

import dataclasses
import statistics
import time

import torch

from charclf.data.dataset import DataBundle, stratified_subset
from charclf.errors import ConfigError, unknown_name
from charclf.eval.evaluate import evaluate_model
from charclf.train.config import TrainConfig
from charclf.train.usual import USUAL_RESAMPLING

PIPELINES = ("usual", "charclf")
ISOLATED = "charclf_fp32_nearest"  # charclf's pipeline at the usual side's precision and resampling
FAST = "charclf_fast"  # the entrant running charclf's pipeline with its own recipe (run_race's fast_config)
DEFAULT_RECIPE = "minivision_v3"
DEFAULT_TARGET = 0.86


class _TargetReached(Exception):
    """Raised in fit's epoch callback to stop training at the first epoch on target."""


class _Clock:
    """Per-epoch log of a race: training seconds on the stopwatch, wall seconds since the start, val accuracy."""

    def __init__(self, target: float, label: str, log):
        self.target, self.label, self.log = target, label, log
        self.start = time.perf_counter()
        self.epochs: list[dict] = []

    def epoch_done(self, epoch: int, train_s: float, samples: int, val_acc: float) -> bool:
        """Record an epoch; True when its val accuracy reaches the target."""
        row = {"epoch": epoch, "train_s": train_s, "samples": int(samples), "val_acc": val_acc,
               "wall_s": time.perf_counter() - self.start}
        self.epochs.append(row)
        seconds = sum(e["train_s"] for e in self.epochs)
        if self.log:
            self.log(f"  {self.label} epoch {epoch}: val acc {val_acc:.4f} after {seconds:.1f} s of training")
        return val_acc >= self.target


def race_config(config: TrainConfig | None, seed: int, max_epochs: int | None) -> TrainConfig:
    """The recipe a race trains: ``config`` (default Mini-Vision-V3's) with ``seed``, ``max_epochs`` epochs (schedules
    that depend on the run's length are laid out over them) and no early stopping (the race stops itself)."""
    from charclf.train.recipes import get_recipe

    config = config or get_recipe(DEFAULT_RECIPE)
    if config.ema_decay:
        raise ConfigError(f"TrainConfig.ema_decay={config.ema_decay}: with EMA, fit validates an average of the "
                          "weights that it hands back only at the end, so the race could not score the weights "
                          "that reached the target. Fix: race a recipe without EMA (ema_decay=None)")
    if config.swa_start_epoch:
        raise ConfigError(f"TrainConfig.swa_start_epoch={config.swa_start_epoch}: with SWA, fit validates a mean of "
                          "the weights, so the race could not score the weights that reached the target. Fix: race "
                          "a recipe without SWA (swa_start_epoch=None)")
    epochs = config.epochs if max_epochs is None else max_epochs
    if epochs < 1:
        raise ConfigError(f"max_epochs={max_epochs}: must be >= 1. Fix: e.g. max_epochs=50")
    return dataclasses.replace(config, seed=seed, epochs=epochs, early_stopping_patience=None)


def race(pipeline: str, data: DataBundle, *, target: float = DEFAULT_TARGET, seed: int = 0,
         max_epochs: int | None = None, config: TrainConfig | None = None, log=None, label: str | None = None,
         score_test: bool = True) -> dict:
    """Train ``pipeline`` ("usual" or "charclf") on ``data.train`` until the val accuracy first reaches ``target``
    (checked after every epoch, at most ``max_epochs``), then score those weights once on ``data.test``.

    Returns {pipeline, seed, reached, epochs, seconds_to_target (training seconds; None when not reached),
    val_acc, test_acc (None when not reached: no weights to score), images_per_s, precision, memory_format,
    train_s, wall_s (with setup and the val evaluations), curve: [(training seconds, epoch, val acc), ...]}.
    ``config.max_train_samples`` trains both pipelines on the same stratified subset. ``label`` names the race in
    the log (default: the pipeline). ``score_test=False`` leaves the test part unread (``test_acc`` None): for
    choosing a recipe, which must look at val only.
    """
    from charclf.models import create_model
    from charclf.tensorops import resolve_device
    from charclf.train.engine import pixel_stats
    from charclf.train.precision import precision_name, resolve_amp

    if pipeline not in PIPELINES:
        raise unknown_name("pipeline", pipeline, PIPELINES)
    config = race_config(config, seed, max_epochs)
    if config.max_train_samples is not None:  # as fit would, but once, for both pipelines
        data = dataclasses.replace(data, train=stratified_subset(data.train, config.max_train_samples, seed=seed))
        config = dataclasses.replace(config, max_train_samples=None)
    torch.manual_seed(seed)  # the same initial weights for both pipelines
    model = create_model(config.model, num_classes=data.num_classes, **config.model_kwargs)
    mean, std = pixel_stats(data.train.images)  # what fit normalises with
    device = resolve_device(config.device)
    if pipeline == "charclf":
        precision = precision_name(resolve_amp(config.amp, device, model))
        memory_format = "NCHW" if config.channels_last == "off" else "channels_last"
        resampling = config.augment.interpolation
    else:
        precision, memory_format, resampling = "fp32", "NCHW", "nearest"  # torchvision's (USUAL_RESAMPLING)

    clock = _Clock(target, f"{label or pipeline} seed {seed}", log)
    (_train_charclf if pipeline == "charclf" else _train_usual)(model, data, config, clock, mean, std, device)
    epochs = clock.epochs
    reached = epochs[-1]["val_acc"] >= target
    train_s = sum(e["train_s"] for e in epochs)
    test_acc = None
    if reached and score_test:  # the one look at the test part
        result = evaluate_model(model, data.test, mean=mean, std=std, tta=config.tta,
                                batch_size=config.eval_batch_size)
        test_acc = result.metrics["accuracy"]
    curve, seconds = [], 0.0
    for e in epochs:
        seconds += e["train_s"]
        curve.append((seconds, e["epoch"], e["val_acc"]))
    return {"pipeline": pipeline, "seed": seed, "reached": reached, "epochs": len(epochs),
            "seconds_to_target": train_s if reached else None, "val_acc": epochs[-1]["val_acc"],
            "test_acc": test_acc, "images_per_s": sum(e["samples"] for e in epochs) / train_s,
            "precision": precision, "memory_format": memory_format, "resampling": resampling,
            "train_samples": len(data.train),
            "train_s": train_s, "wall_s": epochs[-1]["wall_s"], "curve": curve}


def _train_charclf(model, data, config, clock, mean, std, device) -> None:
    """charclf's pipeline: ``fit`` in memory, stopped by its epoch callback at the first epoch on target."""
    from charclf.train.engine import fit

    def on_epoch(row: dict) -> None:
        samples = round(row["images_per_s"] * row["epoch_time_s"])
        if clock.epoch_done(row["epoch"], row["epoch_time_s"], samples, row["val_acc"]):
            raise _TargetReached

    try:
        fit(model, data, config, progress=False, callbacks=[on_epoch])
    except _TargetReached:
        # Stopped inside the epoch loop, so fit did not swap in its best-on-val copy: the model holds the weights
        # trained up to this epoch, which (no EMA, see race_config) are the weights val just scored. They are also
        # the best on val: every earlier epoch was below the target.
        pass
    # Run to max_epochs without reaching the target, fit hands back its best-on-val weights; the race then scores
    # nothing on test.


def _train_usual(model, data, config, clock, mean, std, device) -> None:
    """The earlier works' loop: DataLoader over per-sample torchvision transforms, float32, NCHW."""
    from charclf.train.build import build_training
    from charclf.train.usual import UsualDataset, train_epoch_usual

    train = data.train
    model.to(device)
    dataset = UsualDataset(train.images, train.labels, config.augment, mean, std)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=0,
                                         pin_memory=device.type == "cuda",
                                         generator=torch.Generator().manual_seed(config.seed))
    # The recipe's optimizer, schedule and loss as fit builds them; its augmentation runs in UsualDataset instead.
    parts = build_training(model, config, num_classes=data.num_classes, mean=mean, std=std,
                           class_counts=train.class_counts(), steps_per_epoch=len(loader), device=device)
    optimizer, scheduler, loss_fn = parts.optimizer, parts.scheduler, parts.loss_fn
    torch.manual_seed(config.seed)  # the transforms draw from torch's global generator (num_workers=0)
    for epoch in range(1, config.epochs + 1):
        stats = train_epoch_usual(model, loader, optimizer, scheduler, loss_fn, device=device,
                                  grad_clip_norm=config.grad_clip_norm)
        val_acc = _val_accuracy(model, data.val, mean, std, config)
        if clock.epoch_done(epoch, stats["seconds"], stats["samples"], val_acc):
            return


def _val_accuracy(model, val, mean: float, std: float, config: TrainConfig) -> float:
    """The usual pipeline's val accuracy after an epoch: a plain float32 pass, as the earlier works evaluate."""
    from charclf.eval.inference import predict_logits

    logits = predict_logits(model, val.images, mean=mean, std=std, batch_size=config.eval_batch_size, tta=config.tta)
    return (logits.argmax(1) == val.labels).double().mean().item()


def summarize(races: list[dict], pipelines: tuple[str, ...]) -> dict:
    """Per pipeline: seeds, how many reached the target, seconds_to_target mean ± sample std over those that did,
    epochs and test accuracy of each."""
    out = {}
    for name in pipelines:
        mine = [r for r in races if r["pipeline"] == name]
        seconds = [r["seconds_to_target"] for r in mine if r["reached"]]
        tests = [r["test_acc"] for r in mine if r["reached"] and r["test_acc"] is not None]
        out[name] = {"seeds": [r["seed"] for r in mine], "reached": len(seconds),
                     "seconds_to_target_mean": statistics.mean(seconds) if seconds else None,
                     "seconds_to_target_std": statistics.stdev(seconds) if len(seconds) > 1 else None,
                     "seconds_to_target": seconds, "epochs": [r["epochs"] for r in mine],
                     "test_acc_mean": statistics.mean(tests) if tests else None,
                     "images_per_s_mean": statistics.mean(r["images_per_s"] for r in mine),
                     "precision": mine[0]["precision"] if mine else None,
                     "memory_format": mine[0]["memory_format"] if mine else None,
                     "resampling": mine[0].get("resampling") if mine else None,
                     "recipe": mine[0].get("recipe") if mine else None}
    return out


def _ratio(summary: dict, slow: str, fast: str, n_seeds: int) -> float | None:
    """Mean seconds_to_target of ``slow`` over ``fast``, only when every seed reached the target on both."""
    if slow not in summary or fast not in summary:
        return None
    if summary[slow]["reached"] != n_seeds or summary[fast]["reached"] != n_seeds:
        return None
    return summary[slow]["seconds_to_target_mean"] / summary[fast]["seconds_to_target_mean"]


def run_race(data: DataBundle, *, seeds=(0, 1, 2), target: float = DEFAULT_TARGET, max_epochs: int | None = None,
             pipelines=PIPELINES, config: TrainConfig | None = None, fast_config: TrainConfig | None = None,
             log=print, score_test: bool = True, isolate: bool = True, search_seeds=()) -> dict:
    """:func:`race` every pipeline for every seed (pipelines alternate within a seed, so a busy spell on a shared
    machine hits both alike), then summarise: per-pipeline seconds_to_target mean ± std and
    ``ratio = mean usual / mean charclf`` — only when every seed reached the target on both sides, so both means
    are over the same seeds (else None). With ``fast_config``, a third entrant ``charclf_fast`` trains that
    recipe through charclf's pipeline (its own epochs unless ``max_epochs``), and ``ratio_fast`` is usual over it.
    ``score_test=False``: no race reads the test part (a recipe search). With ``isolate`` (and both pipelines
    racing) the entrant ``charclf_fp32_nearest`` runs too, and ``ratio_pipeline`` is usual over it.
    ``search_seeds``: the seeds of the search that chose ``fast_config``'s recipe; a race on any of them is refused
    (a recipe timed on the seeds that chose it is timed in-sample). Returns the result, provenance included, ready
    for JSON."""
    from charclf.provenance import run_metadata

    pipelines = tuple(pipelines)
    for name in pipelines:
        if name not in PIPELINES:
            raise unknown_name("pipeline", name, PIPELINES)
    if not 0.0 <= target <= 1.0:  # 0 stops every race after its first epoch (a smoke run)
        raise ConfigError(f"target={target}: a val accuracy in [0, 1]. Fix: e.g. target=0.86")
    if not seeds:
        raise ConfigError("seeds is empty. Fix: e.g. seeds=(0, 1, 2)")
    overlap = sorted(set(seeds) & set(search_seeds))
    if overlap:
        raise ConfigError(f"seeds {overlap} also chose the raced recipe (search seeds {sorted(search_seeds)}): "
                          "timing a recipe on them is in-sample. Fix: race on other seeds, e.g. 3,4,5")
    config = race_config(config, seeds[0], max_epochs)  # validated before any training
    entrants = {name: ("usual" if name == "usual" else "charclf", config) for name in pipelines}
    isolated = isolate and set(PIPELINES) <= set(pipelines)
    if isolated:
        entrants[ISOLATED] = ("charclf", dataclasses.replace(
            config, amp="off", augment=dataclasses.replace(config.augment, interpolation="nearest")))
    if fast_config is not None:
        entrants[FAST] = ("charclf", race_config(fast_config, seeds[0], max_epochs))
    races = []
    for seed in seeds:
        for name, (pipeline, cfg) in entrants.items():
            r = race(pipeline, data, target=target, seed=seed, max_epochs=cfg.epochs, config=cfg, log=log, label=name,
                     score_test=score_test)
            races.append({**r, "pipeline": name, "engine": pipeline, "recipe": cfg.name or None})
    summary = summarize(races, tuple(entrants))
    ratio = _ratio(summary, "usual", "charclf", len(seeds))
    result = run_metadata(profile="bench-time-to-accuracy", protocol=data.protocol, seeds=list(seeds),
                          search_seeds=sorted(search_seeds))
    if isolated:
        result.update({"ratio_pipeline": _ratio(summary, "usual", ISOLATED, len(seeds)),
                       "ratio_pipeline_definition": "mean seconds_to_target of usual over charclf_fp32_nearest: "
                                                    "the same recipe, precision (fp32) and resampling (nearest), "
                                                    "only the pipeline differs (data on the device, batched "
                                                    "augmentation, channels_last)"})
    if fast_config is not None:
        fast = entrants[FAST][1]
        result.update({"ratio_fast": _ratio(summary, "usual", FAST, len(seeds)), "fast_recipe": fast.name or None,
                       "fast_config": dataclasses.replace(fast, seed=seeds[0]).to_dict(),
                       "ratio_fast_definition": "mean seconds_to_target of usual (its recipe, the earlier works' "
                                                "pipeline) over charclf_fast (our recipe, charclf's pipeline), "
                                                "when every seed reached the target on both"})
    result.update({
        "target": target, "target_on": "val", "max_epochs": config.epochs, "recipe": config.name or None,
        "config": dataclasses.replace(config, seed=seeds[0]).to_dict(), "data": data.describe(),
        "usual_resampling": USUAL_RESAMPLING,  # config.augment.interpolation is charclf's side only
        "stopwatch": "training epochs only (data loading, augmentation, forward, backward, optimizer steps); "
                     "val evaluation and setup are off the clock (wall_s includes them)",
        "test": ("the weights of the first epoch on target, scored once on the test part (evaluate_model, fp32)"
                 if score_test else "not read (score_test=False)"),
        "summary": summary, "ratio": ratio,
        "ratio_definition": "mean seconds_to_target of usual over charclf, when every seed reached the target "
                            "on both: the pipeline, bf16 where native and bilinear resampling together (see the "
                            "summary's precision and resampling per entrant)",
        "races": races})
    return result
