"""``charclf bench``: images/s of a training step, the usual pipeline vs charclf's, side by side.

(a) **usual** — what the earlier EMNIST works do: a ``Dataset`` that turns each uint8 image into a PIL image,
    applies ``RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=3)`` + ``ToTensor`` +
    ``Normalize`` per sample, a ``DataLoader`` that collates batches (``--workers``), a copy to the device and
    a plain SGD step.
(b) **charclf** — ``charclf.train.loop.train_epoch(..., max_steps=K)``: the whole dataset as uint8 on the
    device, batches indexed, normalised and augmented there by ``BatchAugment`` with the same affine ranges,
    the same model, optimizer, batch size and device — once as the usual pipeline's fp32 NCHW step
    (``fp32``: only the data path differs) and once with channels_last (``fp32_cl``: on a CPU this picks
    oneDNN's convolutions). On a GPU also bf16 autocast + channels_last (``bf16_cl``) and ``torch.compile``
    on top (``bf16_cl_compile``).

Each run trains a fresh model (same seed) for ``--warmup`` untimed steps and then ``--steps`` timed steps,
so every pipeline is timed on exactly ``steps * batch_size`` images (rows "(data only)" time the two data
paths without any model: the most a faster data path can save); ``--repeats`` rounds go over all
pipelines in turn (a shared machine's busy spells then hit all of them) and the median is reported. The
table's ratio is a row's images/s over the best usual pipeline of the same model. Nothing here is a unit test: it prints and writes
``outputs/bench/bench-<device>.json`` with the machine, git SHA, threads and settings.

    charclf bench --device cpu --steps 20 --workers 0,2
    python -m charclf.apps.bench --models vgg --batch-size 512

The time-to-accuracy race, once ``--time-to-accuracy`` here, is ``charclf race`` (:mod:`charclf.apps.race`).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from charclf.argtypes import BATCH_SIZE, COUNT, MAX_THREADS, NON_NEGATIVE, SEED, THREADS
from charclf.errors import CharclfError, ConfigError, printable
from charclf.train.config import AugmentConfig, OptimizerConfig, TrainConfig
from charclf.train.precision import cpu_has_fast_bf16
from charclf.train.throughput import sync
from charclf.train.usual import UsualDataset

DEFAULT_MODELS = ("vgg", "minivision_v3")
DATA_ONLY = "(data only)"  # the model column of the rows that time the data paths alone
NUM_CLASSES = 62  # ByClass
# The earlier works' augmentation: torchvision RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=3).
AFFINE = {"degrees": 15.0, "translate": 0.1, "scale": (0.9, 1.1), "shear": 3.0}
SGD = {"lr": 0.01, "momentum": 0.9}
# Both as a recipe (plain cross-entropy, no schedule or EMA): charclf's rows build them as fit builds any recipe.
BENCH_CONFIG = TrainConfig(optimizer=OptimizerConfig(name="sgd", **SGD), augment=AugmentConfig(**AFFINE), loss="ce")


@dataclass(frozen=True)
class BenchSettings:
    models: tuple[str, ...] = DEFAULT_MODELS
    batch_size: int = 128
    steps: int = 30  # timed steps per pipeline
    warmup: int = 5  # untimed steps first (allocator, cuDNN autotune, torch.compile)
    device: str = "cpu"
    workers: tuple[int, ...] = (0,)  # DataLoader num_workers values for the usual pipeline
    variants: tuple[str, ...] = ("fp32", "fp32_cl")  # charclf variants, see VARIANTS
    repeats: int = 1  # rounds over all pipelines; the median images/s is reported
    data_only: bool = True  # also time both data paths without a model
    seed: int = 0
    torch_threads: int = field(default_factory=torch.get_num_threads)
    model_kwargs: dict = field(default_factory=dict)  # passed to every model's builder, e.g. {"input_size": 56}


# ----------------------------------------------------------------------------------------------------------
# (a) the usual pipeline
# ----------------------------------------------------------------------------------------------------------
class AffineDataset(UsualDataset):
    """The earlier works' training set: uint8 image -> PIL -> RandomAffine (``AFFINE``) -> ToTensor -> Normalize,
    per sample (``charclf.train.usual``)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: float, std: float):
        super().__init__(images, labels, AugmentConfig(**AFFINE), mean, std)


def time_usual(model: nn.Module | None, dataset: AffineDataset, *, batch_size: int, steps: int, warmup: int,
               device: torch.device, num_workers: int, seed: int) -> dict:
    """Images/s of ``steps`` SGD steps fed by a DataLoader over ``dataset`` (after ``warmup`` untimed ones).
    With ``model=None`` only the data path is timed: loading, augmenting, collating and the copy to the device."""
    n_needed = (steps + warmup) * batch_size
    # A sampler of exactly the needed length: a small dataset is walked through several permutations.
    sampler = torch.utils.data.RandomSampler(dataset, num_samples=n_needed,
                                             generator=torch.Generator().manual_seed(seed))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                                         num_workers=num_workers, pin_memory=device.type == "cuda",
                                         persistent_workers=False)
    if model is not None:
        optimizer = torch.optim.SGD(model.parameters(), **SGD)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
    images = 0
    start = None
    loss = None
    for step, (x, y) in enumerate(loader):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if model is not None:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if step >= warmup:
            images += len(y)
    sync(device)
    seconds = time.perf_counter() - start
    return {"images": images, "seconds": seconds, "images_per_s": images / seconds,
            "final_loss": None if loss is None else float(loss.detach())}


# ----------------------------------------------------------------------------------------------------------
# (b) charclf's path
# ----------------------------------------------------------------------------------------------------------
VARIANTS = {  # name -> (amp dtype, channels_last, torch.compile)
    "fp32": (None, False, False),
    "fp32_cl": (None, True, False),  # channels_last alone: on CPU it selects oneDNN's faster convolutions
    "bf16_cl": (torch.bfloat16, True, False),
    "bf16_cl_compile": (torch.bfloat16, True, True),
}


def time_charclf(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, steps: int,
                 warmup: int, mean: float, std: float, variant: str, seed: int) -> dict:
    """Images/s of ``steps`` steps of ``charclf.train.loop.train_epoch`` (after ``warmup`` untimed ones)."""
    from charclf.train.build import build_training
    from charclf.train.throughput import time_train_steps

    amp_dtype, channels_last, compiled = VARIANTS[variant]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    parts = build_training(model, BENCH_CONFIG, num_classes=NUM_CLASSES, mean=mean, std=std, device=images.device)
    net = torch.compile(model) if compiled else model
    return time_train_steps(net, parts.optimizer, parts.loss_fn, parts.augment, images, labels,
                            batch_size=batch_size, steps=steps, warmup=warmup, mean=mean, std=std,
                            amp_dtype=amp_dtype, channels_last=channels_last, seed=seed)


def time_charclf_data(images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, steps: int, warmup: int,
                      mean: float, std: float, seed: int) -> dict:
    """Images/s of the data half of ``train_epoch`` alone — index a batch on the device, normalise, BatchAugment —
    to show how much of a step the data path costs (the training rows call ``train_epoch`` itself)."""
    from charclf.eval.inference import normalize
    from charclf.train.build import build_augment

    device = images.device
    augment = build_augment(BENCH_CONFIG, NUM_CLASSES, mean=mean, std=std)
    generator = torch.Generator().manual_seed(seed)
    n = (steps + warmup) * batch_size
    order = torch.cat([torch.randperm(len(images), generator=generator)
                       for _ in range(math.ceil(n / len(images)))]).to(device)
    for step in range(steps + warmup):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        idx = order[step * batch_size:(step + 1) * batch_size]
        x, _ = augment(normalize(images[idx], mean, std), labels[idx], generator=generator)
    sync(device)
    seconds = time.perf_counter() - start
    return {"images": steps * batch_size, "seconds": seconds, "images_per_s": steps * batch_size / seconds,
            "final_loss": None}


# ----------------------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------------------
def load_bench_images(data_dir: str | Path | None, min_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """ByClass holdout-train images (the offline protocol) when present, else random ones (speed does not
    depend on pixel values). Returns (uint8 (N, 28, 28), int64 (N,), a note on the source for the JSON)."""
    try:
        from charclf.data import load_data

        train = load_data("byclass", "holdout", data_dir).train
        return (train.images.numpy(), train.labels.numpy(),
                {"source": "emnist-byclass", "protocol": "holdout", "part": "train", "images": len(train),
                 "note": "offline protocol: the official ByClass test file re-split; train part"})
    except (CharclfError, OSError, ImportError) as err:
        rng = np.random.default_rng(seed)
        n = max(min_images, 1)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)
        return images, labels, {"source": "synthetic", "protocol": "synthetic", "images": n,
                                "note": "random uint8 images: the EMNIST files were not found "
                                        f"({type(err).__name__}: {err}); pixel values do not change the speed"}


def run_bench(settings: BenchSettings, images: np.ndarray, labels: np.ndarray,
              factories: dict[str, Callable[[], nn.Module]] | None = None, *, log=print) -> list[dict]:
    """Time every model on the usual pipeline (each ``workers`` value) and on charclf's (each variant), and
    (``settings.data_only``) both data paths without a model, as rows whose model is ``"(data only)"``.

    ``factories`` maps a model name to a function building a fresh model (default: ``create_model(name, 62)``).
    Returns one row per (model, pipeline) with images, seconds, images_per_s (median of the repeats) and ratio.
    """
    from charclf.errors import unknown_name

    for variant in settings.variants:
        if variant not in VARIANTS:
            raise unknown_name("bench variant", variant, tuple(VARIANTS))
    device = torch.device(settings.device)
    if factories is None:
        from charclf.models import create_model

        factories = {model_label(name, settings.model_kwargs):
                     (lambda name=name: create_model(name, num_classes=NUM_CLASSES, **settings.model_kwargs))
                     for name in settings.models}
    mean = float(images[: 20000].mean() / 255.0)
    std = float(images[: 20000].std() / 255.0)
    dataset = AffineDataset(images, labels, mean, std)
    images_dev = torch.from_numpy(images).to(device)
    labels_dev = torch.from_numpy(labels).to(device)
    common = dict(batch_size=settings.batch_size, steps=settings.steps, warmup=settings.warmup, seed=settings.seed)

    groups = {}
    if settings.data_only:
        # No model: what the data path alone costs per image, the upper bound on what it can save.
        groups[DATA_ONLY] = (
            [({"pipeline": f"usual data only ({w} workers)", "kind": "usual", "workers": w, "variant": "-"},
              lambda w=w: time_usual(None, dataset, device=device, num_workers=w, **common))
             for w in settings.workers]
            + [({"pipeline": "charclf data only (index+normalize+BatchAugment)", "kind": "charclf", "workers": None,
                 "variant": "-"},
                lambda: time_charclf_data(images_dev, labels_dev, mean=mean, std=std, **common))])
    for name, factory in factories.items():
        def fresh(factory=factory) -> nn.Module:
            torch.manual_seed(settings.seed)  # every pipeline starts from the same weights
            return factory().to(device)

        groups[name] = (
            [({"pipeline": f"usual (DataLoader, {w} workers)", "kind": "usual", "workers": w, "variant": "fp32"},
              lambda w=w, fresh=fresh: time_usual(fresh(), dataset, device=device, num_workers=w, **common))
             for w in settings.workers]
            + [({"pipeline": f"charclf train_epoch ({v})", "kind": "charclf", "workers": None, "variant": v},
                lambda v=v, fresh=fresh: time_charclf(fresh(), images_dev, labels_dev, mean=mean, std=std, variant=v,
                                                      **common))
               for v in settings.variants])

    rows = []
    for name, jobs in groups.items():
        runs: list[list[dict]] = [[] for _ in jobs]
        # Repeats go round all pipelines in turn, so a busy spell on a shared machine hits each of them alike;
        # the median of the repeats is reported.
        for rep in range(settings.repeats):
            for (info, job), done in zip(jobs, runs):
                done.append(job())
                log(_row_line({"model": name, **info, **done[-1]}, settings.batch_size, rep, settings.repeats))
        model_rows = []
        for (info, _), done in zip(jobs, runs):
            speeds = [r["images_per_s"] for r in done]
            model_rows.append({"model": name, **info, "batch_size": settings.batch_size,
                               "images": sum(r["images"] for r in done), "seconds": sum(r["seconds"] for r in done),
                               "images_per_s": float(np.median(speeds)), "images_per_s_runs": speeds,
                               "final_loss": done[-1]["final_loss"]})
        best_usual = max(r["images_per_s"] for r in model_rows if r["kind"] == "usual")
        for r in model_rows:
            r["ratio"] = r["images_per_s"] / best_usual
        rows.extend(model_rows)
    return rows


def model_label(name: str, model_kwargs: dict) -> str:
    """The rows' model name: ``efficientnet_b2`` or, built with keywords, ``efficientnet_b2(input_size=56)``, so a
    table of several sizes says which row is which."""
    if not model_kwargs:
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(model_kwargs.items()))})"


def parse_model_kwargs(text: str | None) -> dict:
    """``--model-kwargs '{"input_size": 56}'``: a JSON object, or one clear line saying what is wrong."""
    import json

    if not text:
        return {}
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--model-kwargs {text!r}: not JSON ({err.msg}). "
                          "Fix: a JSON object, e.g. --model-kwargs '{\"input_size\": 56}'") from err
    if not isinstance(kwargs, dict):
        raise ConfigError(f"--model-kwargs {text!r}: a JSON object is needed, not {type(kwargs).__name__}. "
                          "Fix: e.g. --model-kwargs '{\"input_size\": 56}'")
    if "num_classes" in kwargs:  # the bench's own: ByClass's 62, as its data
        raise ConfigError(f"--model-kwargs {text!r}: num_classes is the bench's own ({NUM_CLASSES}, ByClass). "
                          "Fix: drop it from --model-kwargs")
    return kwargs


def format_table(rows: list[dict]) -> str:
    """Plain-text table: model, pipeline, batch, images/s, ratio (vs the best usual pipeline of that model)."""
    head = ("model", "pipeline", "batch", "images/s", "ratio")
    body = [(r["model"], r["pipeline"], str(r["batch_size"]), f"{r['images_per_s']:,.0f}", f"{r['ratio']:.2f}x")
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]

    def fmt(cells) -> str:  # text columns left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [fmt(head), fmt(tuple("-" * w for w in widths))] + [fmt(b) for b in body]
    return "\n".join(lines)


def device_tag(device: torch.device) -> str:
    """'cpu', or 'cuda-<gpu name>' so results from different GPUs do not overwrite each other."""
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device)
    return "cuda-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _row_line(r: dict, batch: int, rep: int, repeats: int) -> str:
    return (f"  [{rep + 1}/{repeats}] {r['model']:<14} {r['pipeline']:<36} batch {batch:<5} "
            f"{r['images_per_s']:>9,.0f} images/s ({r['images']} images in {r['seconds']:.2f} s)")


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on Windows
        return None


# ----------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="training-throughput benchmark: usual pipeline vs charclf",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated registry names")
    p.add_argument("--batch-size", type=BATCH_SIZE, default=128)
    p.add_argument("--steps", type=COUNT, default=None, help="timed steps per pipeline (default 30 on CPU, 300 on GPU)")
    p.add_argument("--warmup", type=NON_NEGATIVE, default=None, help="untimed steps first (default 5 on CPU, 30 on GPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", default="0", help="DataLoader num_workers for the usual pipeline, comma-separated "
                                                   "(e.g. 0,2)")
    p.add_argument("--no-compile", action="store_true", help="on a GPU, skip the torch.compile variant")
    p.add_argument("--no-data-only", action="store_true", help="skip the rows timing the data paths without a model")
    p.add_argument("--data-dir", default=None, help="folder with emnist/ and protocols/ (default: the usual search)")
    p.add_argument("--out", default=None, help="JSON path (default outputs/bench/bench-<device>.json)")
    p.add_argument("--threads", type=THREADS, default=None,
                   help="torch intra-op threads for training (default: torch's choice, usually the core count)")
    p.add_argument("--repeats", type=COUNT, default=None,
                   help="rounds over all pipelines, median reported (default 3 on CPU, 1 on GPU)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file (default: refuse)")
    p.add_argument("--model-kwargs", default=None,
                   help='JSON keywords for every model\'s builder, e.g. \'{"input_size": 56}\' (EfficientNet\'s '
                        "internal resize); the rows name them")
    p.set_defaults(func=run)
    return p


def int_list(text: str, what: str, high: int) -> tuple[int, ...]:
    """``--what 0,2``: integers in [0, high] (seeds: MAX_SEED; DataLoader workers: MAX_THREADS)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise ConfigError(f"--{what} {text!r}: expected comma-separated integers. Fix: e.g. --{what} 0,2") from err
    if not values or min(values) < 0 or max(values) > high:
        raise ConfigError(f"--{what} {text!r}: expected integers >= 0 and <= {high}. Fix: e.g. --{what} 0,2")
    return values


def settings_from_args(args) -> BenchSettings:
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads}: must be >= 1. Fix: e.g. --threads 2")
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device}: CUDA is not available on this machine. Fix: --device cpu")
    on_gpu = device.type == "cuda"
    steps = args.steps if args.steps is not None else (300 if on_gpu else 30)
    warmup = args.warmup if args.warmup is not None else (30 if on_gpu else 5)
    repeats = args.repeats if args.repeats is not None else (1 if on_gpu else 3)
    if steps < 1 or warmup < 0 or args.batch_size < 1 or repeats < 1:
        raise ConfigError(f"--steps {steps}, --warmup {warmup}, --batch-size {args.batch_size}, --repeats {repeats}: "
                          "need steps, batch size, repeats >= 1 and warmup >= 0. "
                          "Fix: e.g. --steps 30 --warmup 5 --batch-size 128 --repeats 3")
    variants = ("fp32", "fp32_cl")
    if not on_gpu and cpu_has_fast_bf16():
        # CPUs with AVX512-BF16/AMX run bf16 autocast through oneDNN about twice as fast (measured here); the
        # fp32 rows stay, so the equal-precision comparison is always in the table too.
        variants += ("bf16_cl",)
    if on_gpu:
        variants = ("fp32", "bf16_cl") + (() if args.no_compile else ("bf16_cl_compile",))
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if not models:
        raise ConfigError("--models is empty. Fix: e.g. --models vgg,minivision_v3")
    return BenchSettings(models=models, batch_size=args.batch_size, steps=steps, warmup=warmup, device=str(device),
                         workers=int_list(args.workers, "workers", MAX_THREADS), variants=variants, repeats=repeats,
                         data_only=not args.no_data_only, seed=args.seed,
                         model_kwargs=parse_model_kwargs(getattr(args, "model_kwargs", None)))


def run(args) -> int:
    from charclf.fileio import refuse_to_replace, write_json
    from charclf.models import create_model
    from charclf.paths import bench_dir
    from charclf.provenance import run_metadata

    settings = settings_from_args(args)
    device = torch.device(settings.device)
    out = Path(args.out) if args.out else bench_dir() / f"bench-{device_tag(device)}.json"
    refuse_to_replace(out, overwrite=getattr(args, "overwrite", False))
    for name in settings.models:  # fail on a typo (a name or a keyword) before loading data
        create_model(name, num_classes=NUM_CLASSES, **settings.model_kwargs)
    needed = (settings.steps + settings.warmup) * settings.batch_size
    images, labels, data_note = load_bench_images(args.data_dir, needed, settings.seed)
    print(f"charclf bench on {device_tag(device)}: batch {settings.batch_size}, {settings.steps} timed steps "
          f"(+{settings.warmup} warm-up) per pipeline x {settings.repeats} rounds, {torch.get_num_threads()} torch "
          "threads, "
          f"data: {data_note['source']} ({data_note['images']} images)", flush=True)
    load_before = load_average()
    rows = run_bench(settings, images, labels, log=lambda line: print(line, flush=True))
    print()
    print(format_table(rows))
    result = run_metadata(profile="bench", protocol=data_note["protocol"], seed=settings.seed,
                          config=asdict(settings), device_tag=device_tag(device))
    result.update({"data": data_note, "affine": AFFINE, "optimizer": {"name": "sgd", **SGD},
                   "ratio_definition": "images/s over the best usual pipeline of the same model",
                   # a shared machine slows every row; the load says how busy it was around the run
                   "load_average_1min": {"before": load_before, "after": load_average()},
                   "results": rows})
    write_json(out, result)
    print(f"\nwrote {printable(out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m charclf.apps.bench [options]`` — the same as ``charclf bench [options]``."""
    from charclf.apps.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
