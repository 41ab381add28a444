"""How long the audit will take here: this machine's training and inference rates, measured on a few steps of
the audit's own recipe (no machine's rates written into the code), and the work of each step."""
from __future__ import annotations

import time

from charclf.data import DataBundle
from charclf.experiments.label_audit.settings import ORIENTATIONS, PARTS, AuditSettings, train_config


def measure_rates(settings: AuditSettings, bundle: DataBundle, *, steps: int = 6, warmup: int = 2,
                  infer_images: int = 2048) -> dict:
    """Images/s of this machine for the audit's recipe: ``train`` — its own training step (batch size,
    precision, augmentation: ``charclf.train.throughput.measure_images_per_s``), ``infer`` — float32 scoring,
    as every probability of the audit is computed. Both on a fresh model, thrown away afterwards."""
    import torch

    from charclf.eval.inference import predict_logits
    from charclf.models import create_model
    from charclf.train.engine import resolve_device
    from charclf.train.throughput import measure_images_per_s, sync

    config = train_config(settings)
    train = measure_images_per_s(config.model, config, bundle, steps=steps, warmup=warmup)
    device = resolve_device(config.device)
    model = create_model(config.model, num_classes=bundle.num_classes, **config.model_kwargs).to(device)
    images = bundle.train.images[:infer_images]
    with torch.no_grad():
        predict_logits(model, images[:256], mean=0.0, std=1.0)  # warm-up: first-call allocations
        sync(device)
        start = time.perf_counter()
        predict_logits(model, images, mean=0.0, std=1.0)
        sync(device)
    return {"train": train, "infer": len(images) / (time.perf_counter() - start)}


def estimate_seconds(settings: AuditSettings, sizes: dict, rates: dict) -> dict:
    """Seconds each step should take at ``rates`` (images/s, :func:`measure_rates`): each model's training
    epochs with their float32 val scoring, and the scoring of the held-out images under every orientation."""
    train, infer = rates["train"], rates["infer"]
    n_tr, n_va, n_te = (sizes[p] for p in PARTS)
    k, e, views = settings.folds, settings.epochs, len(ORIENTATIONS)

    def fit_s(n_images):  # training + the per-epoch val evaluation fit does (in float32)
        return e * (n_images / train + n_va / infer)

    est = {"folds": k * fit_s(n_tr * (k - 1) / k) + views * n_tr / infer,
           "full_model": fit_s(n_tr) + views * (n_va + n_te) / infer,
           "experiment": fit_s(n_tr) + 4 * n_te / infer}
    est["total"] = sum(est.values())
    return est
