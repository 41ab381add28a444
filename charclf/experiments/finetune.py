"""Pre-training -> fine-tuning, as in the ByClass study: SGD on 90 % of the training part, then Adam on 100 %.

The study's reasoning: pre-train with the tuned SGD recipe on most of the data, then continue from those
weights with Adam on *all* of it, the held-back 10 % now included. ``pretrain_finetune`` runs both stages
with ``fit`` (each in its own run folder), evaluates both chosen models on val and test, and writes one
``results.json`` with both stages and the gain.

Both stages select their weights on val (``fit``); test accuracy is measured once per stage on the chosen
weights and never used for any choice.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from charclf.errors import ConfigError
from charclf.eval.record import RECORD_FILE, RunRecord
from charclf.provenance import repo_relative
from charclf.train.config import TrainConfig

RESULTS_NAME = "results.json"


def _stage_summary(record: RunRecord, run_dir: Path, train_samples: int, config: TrainConfig) -> dict:
    return {"val_acc": record.best_val_acc, "val_loss": record.best_val_loss, "test_acc": record.test_acc,
            "test_tta": record.tta, "best_epoch": record.best_epoch, "epochs_run": record.epochs_run,
            "train_time_s": record.train_time_s, "train_samples": int(train_samples), "optimizer": config.optimizer.name, "lr": config.optimizer.lr,
            "run_dir": repo_relative(run_dir)}


def pretrain_finetune(model_name: str, data, *, pretrain_config: TrainConfig | None = None,
                      finetune_config: TrainConfig | None = None, pretrain_fraction: float = 0.9,
                      out_dir: str | Path, seed: int = 0, resume: bool = False, overwrite: bool = False,
                      progress: bool = False, with_controls: bool = False) -> dict:
    """Pre-train ``model_name`` on a stratified ``pretrain_fraction`` of ``data.train`` with
    ``pretrain_config`` (default: recipe ``byclass_study``, SGD), then fine-tune the pre-trained weights on
    all of ``data.train`` with ``finetune_config`` (default: recipe ``byclass_finetune``, Adam).

    ``max_train_samples`` in the configs (the quick profile) is applied *before* the split: the fine-tune
    stage gets that many samples, the pre-training stage ``pretrain_fraction`` of them, so the 90 %/100 %
    relation holds at any size. Both configs run with ``model=model_name`` and ``seed``.

    Writes ``<out_dir>/pretrain/`` and ``<out_dir>/finetune/`` (fit run folders) and
    ``<out_dir>/results.json``; returns the results dict. ``resume=True`` continues a killed run: a finished
    stage is loaded from its folder rather than trained again.

    ``with_controls`` adds two runs that separate the fine-tune's effects: ``sgd_continued`` (the pre-trained
    weights, SGD on 100 % for as many epochs as the fine-tune ran) and ``adam_scratch`` (Adam on 100 % from
    random weights for the epochs of both stages); they appear under ``results["controls"]``.
    """
    from charclf.data.dataset import stratified_subset
    from charclf.fileio import write_json
    from charclf.models import create_model
    from charclf.models.hub import load_model
    from charclf.provenance import run_metadata
    from charclf.train import fit
    from charclf.train.recipes import get_recipe, override_config

    if not 0.0 < pretrain_fraction < 1.0:
        raise ConfigError(f"pretrain_fraction={pretrain_fraction}: must be strictly between 0 and 1 (the study "
                          "uses 0.9: pre-train on 90 %, fine-tune on 100 %)")
    out = Path(out_dir)
    fixed = {"model": model_name, "seed": seed, "max_train_samples": None}
    pre_cfg = pretrain_config if pretrain_config is not None else get_recipe("byclass_study")
    ft_cfg = finetune_config if finetune_config is not None else get_recipe("byclass_finetune")
    limit = ft_cfg.max_train_samples if ft_cfg.max_train_samples is not None else pre_cfg.max_train_samples
    pre_cfg = override_config(pre_cfg, fixed, source="pretrain config")
    ft_cfg = override_config(ft_cfg, fixed, source="finetune config")
    if ft_cfg.model_kwargs != pre_cfg.model_kwargs:
        raise ConfigError(f"pretrain and finetune configs build different networks (model_kwargs "
                          f"{pre_cfg.model_kwargs} vs {ft_cfg.model_kwargs}); fine-tuning continues the same "
                          "weights. Fix: give both configs the same model_kwargs")

    full_train = data.train
    if limit is not None and limit < len(full_train):
        full_train = stratified_subset(full_train, limit, seed=seed)
    n_pre = max(data.num_classes, round(pretrain_fraction * len(full_train)))
    pre_train = stratified_subset(full_train, n_pre, seed=seed)
    pre_data = dataclasses.replace(data, train=pre_train)
    ft_data = dataclasses.replace(data, train=full_train)

    import torch

    def stage(folder: Path, net, stage_data, cfg):
        """fit one stage, or, on resume, reuse it when it has finished (its run record written)."""
        if not (resume and (folder / RECORD_FILE).exists()):
            fit(net, stage_data, cfg, folder, resume=resume, overwrite=overwrite, progress=progress)
        # The saved best-on-val weights, loaded with the normalisation they were trained with: the next stage
        # keeps it, resumed or not.
        return load_model(folder), RunRecord.load(folder)

    def fresh_model():
        torch.manual_seed(seed)
        return create_model(model_name, num_classes=data.num_classes, **pre_cfg.model_kwargs)

    # Stage 1: pre-train. Stage 2: fine-tune from its best-on-val weights.
    pre_dir, ft_dir = out / "pretrain", out / "finetune"
    model, pre_metrics = stage(pre_dir, fresh_model(), pre_data, pre_cfg)
    model.train()
    _, ft_metrics = stage(ft_dir, model, ft_data, ft_cfg)
    pre = _stage_summary(pre_metrics, pre_dir, len(pre_train), pre_cfg)
    ft = _stage_summary(ft_metrics, ft_dir, len(full_train), ft_cfg)
    gain = {k: (ft[k] - pre[k]) if ft[k] is not None and pre[k] is not None else None
            for k in ("val_acc", "test_acc")}

    # Controls: the fine-tune changes three things at once (10 % more data, more epochs, Adam). Two controls
    # separate them: SGD continued from the same pre-trained weights on 100 % for as many epochs as the
    # fine-tune ran (no optimizer change), and Adam from scratch on 100 % for the epochs of both stages
    # together (no pre-training).
    controls = {}
    if with_controls:
        extra = ft_metrics.epochs_run
        sgd_cfg = override_config(pre_cfg, {"epochs": extra, "early_stopping_patience": None},
                                  source="sgd_continued config")
        net = load_model(pre_dir)
        net.train()
        _, sgd_metrics = stage(out / "sgd_continued", net, ft_data, sgd_cfg)
        controls["sgd_continued"] = _stage_summary(sgd_metrics, out / "sgd_continued", len(full_train), sgd_cfg)
        total = pre_metrics.epochs_run + extra
        # No early stopping: the control is one run of the two stages' whole epoch budget.
        adam_cfg = override_config(ft_cfg, {"epochs": total, "early_stopping_patience": None},
                                   source="adam_scratch config")
        _, adam_metrics = stage(out / "adam_scratch", fresh_model(), ft_data, adam_cfg)
        controls["adam_scratch"] = _stage_summary(adam_metrics, out / "adam_scratch", len(full_train), adam_cfg)

    results = {
        "experiment": "pretrain_finetune", "model": model_name, "pretrain_fraction": pretrain_fraction,
        "pretrain": pre, "finetune": ft, "gain": gain, "controls": controls,
        "note": "pre-train on a stratified subset of the training part, fine-tune from its best-on-val weights on "
                "the whole training part; both stages select on val, test measured once per stage",
        "data": data.describe(),
        **run_metadata(recipe=ft_cfg.name or None, protocol=data.protocol, seed=seed,
                       config={"pretrain": pre_cfg.to_dict(), "finetune": ft_cfg.to_dict()}),
    }
    write_json(out / RESULTS_NAME, results)
    return results
