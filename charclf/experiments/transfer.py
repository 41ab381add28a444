"""Transfer to MNIST: an EMNIST-trained network with a new 10-way head, fine-tuned on LeCun's MNIST.

The ByClass study fine-tuned its VGG on MNIST for 5 epochs. ``transfer_to_mnist`` repeats that and adds the
two comparisons that say whether the EMNIST pre-training helped:

* ``scratch``: the same architecture, randomly initialised, trained with the same config for the same epochs;
* ``minivision_v2``: Mini-Vision-V2, a small CNN built for MNIST, with its own recipe (SGD momentum 0.8,
  lr 0.01, StepLR(3, 0.5), batch 256, crop pad 2 + rotation 10) for the same number of epochs.

All three are scored on MNIST's own test set and, when the file is present, on the EMNIST-MNIST test set
(the digits of NIST SD19 in EMNIST's processing: same task, different writers and preprocessing).

The EMNIST-MNIST test file shares scans with EMNIST's other files: 1,440 of its 10,000 images are byte-identical
to images of the ByClass test file, 1,275 of them in the holdout protocol's train and val parts. Scored on the
whole file, the transfer run is partly scored on images its source model trained on (and chose its weights on),
the scratch and baseline runs are not. So each run is also scored on the file less every image byte-identical to
one of the source's train or val part (:func:`emnist_mnist_disjoint_test`, ``emnist_mnist_disjoint_test_acc``);
the whole-file number (``emnist_mnist_test_acc``) is kept, and overlaps.

Orientation: EMNIST's official files store images transposed; ``charclf.data`` returns them upright, and
classic MNIST is upright as published. Every model folder records ``orientation: upright``; a source model
saved otherwise is refused rather than silently fine-tuned on transposed digits.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from charclf.class_prior import COUNTS_KEY
from charclf.errors import ConfigError, DataError
from charclf.train.config import TrainConfig

RESULTS_NAME = "results.json"
DIGITS = tuple("0123456789")
# The EMNIST-MNIST test set less the source model's training images: the row field and the results' facts.
DISJOINT_COLUMN = "emnist_mnist_disjoint_test_acc"
DISJOINT_KEY = "emnist_mnist_disjoint_test"
SOURCE_TRAINED_PARTS = ("train", "val")  # trained on, and chose its weights on
DISJOINT_RULE = ("an EMNIST-MNIST test image is dropped when it is byte-identical to an image of the source model's "
                 "train or val part (the whole parts of its split under its protocol, as its metrics.json records "
                 "them, even where it trained on a subset): it trained on the first and chose its weights on the "
                 "second")


def _num_outputs(model: nn.Module) -> int:
    """How many class logits the model produces: from its charclf config (a loaded model folder), else the
    ``out_features`` of its last ``nn.Linear``."""
    config = getattr(model, "charclf_config", None)
    if isinstance(config, dict) and "num_classes" in config:
        return int(config["num_classes"])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear layer, so its head cannot be replaced "
                          "generically. Fix: replace the classifier by hand")
    return int(linears[-1].out_features)


def find_heads(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` layers that produce the class logits.

    Generic rule: the number of classes is the model's ``charclf_config["num_classes"]`` (a loaded model
    folder) or else the ``out_features`` of its last ``nn.Linear``; the heads are every ``nn.Linear`` with that
    many outputs. For a plain classifier that is exactly the last ``nn.Linear`` (VGG, ResNet, LeNet,
    Mini-Vision, CharNet, EfficientNet); for EnsNet it is the major classifier *and* its ten sub-classifiers,
    which must all change together (replacing only "the last Linear" would break EnsNet's stacking of the
    eleven outputs). A hidden layer that happened to be exactly as wide as the class count would be caught
    too — none of the registered models has one (tested over the whole registry).
    """
    n = _num_outputs(model)
    heads = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == n]
    if not heads:
        raise ConfigError(f"{type(model).__name__}: no nn.Linear layer produces its {n} class logits, so the head "
                          "cannot be replaced generically. Fix: replace the classifier by hand "
                          "(e.g. model.classifier = nn.Linear(in_features, num_classes))")
    return heads


def replace_head(model: nn.Module, num_classes: int, *, seed: int | None = None) -> nn.Module:
    """Swap the class-logit layer(s) (see :func:`find_heads`) for fresh ``num_classes``-way ``nn.Linear``
    layers with the same inputs; every other weight is kept. Modifies ``model`` in place and returns it.

    The new layers use PyTorch's default initialisation (seeded by ``seed`` when given). ``charclf_config``,
    if the model has one, is updated (num_classes; labels dropped, since they no longer apply).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    heads = find_heads(model)
    generator_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        for name in heads:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            old = getattr(parent, attr)
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
            new.to(device=old.weight.device, dtype=old.weight.dtype)
            setattr(parent, attr, new)  # also works for nn.Sequential/ModuleList children named "0", "1", ...
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)
    config = getattr(model, "charclf_config", None)
    if isinstance(config, dict):
        config = dict(config, num_classes=num_classes)
        config.pop("labels", None)
        config.pop(COUNTS_KEY, None)  # the old classes' counts: fit records the new ones
        model.charclf_config = config
    return model


def _check_mnist(data) -> None:
    if tuple(data.classes) != DIGITS:
        raise DataError(None, f"transfer_to_mnist expects a 10-class digits dataset (classes 0-9), got split "
                              f"{data.split!r} with {len(data.classes)} classes",
                        "load it with charclf.data.load_data('classic-mnist', 'official')")


def _emnist_mnist_test(data_dir):
    """The EMNIST-MNIST test set (upright) as a CharDataset, or the reason it cannot be used."""
    try:
        from charclf.data import CharDataset, load_official

        images, labels = load_official("mnist", "test", data_dir)
    except (DataError, FileNotFoundError) as err:
        return f"EMNIST-MNIST test set not evaluated: {err}"
    return CharDataset(torch.as_tensor(images), torch.as_tensor(labels, dtype=torch.int64), DIGITS, "mnist", "test",
                       "official")


def source_data_facts(source_model_dir: str | Path) -> dict:
    """The data the model in ``source_model_dir`` was trained on: the ``data`` facts of its run record
    (``metrics.json``: split, protocol, sizes, and the holdout index file's sha256 or the val draw where
    recorded), else the ``split`` and ``protocol`` of its ``config.json`` (a bare model folder)."""
    from charclf.eval.record import RECORD_FILE
    from charclf.models.hub import read_model_config
    from charclf.provenance import read_json

    folder = Path(source_model_dir)
    if (folder / RECORD_FILE).is_file():
        record = read_json(folder / RECORD_FILE, "restore it with git, or retrain the source run")
        data = record.get("data") if isinstance(record, dict) else None
        if isinstance(data, dict) and data.get("split") and data.get("protocol"):
            return dict(data)
    config = read_model_config(folder)
    if config.get("split") and config.get("protocol"):
        return {"split": config["split"], "protocol": config["protocol"]}
    raise DataError(folder, "records neither the data it was trained on (metrics.json's data) nor its split and "
                            "protocol (config.json), so its training images cannot be told apart",
                    "use a source model folder that charclf's fit wrote (it records both)")


def emnist_mnist_disjoint_test(source_model_dir: str | Path, data_dir=None, test=None):
    """The EMNIST-MNIST test set less every image byte-identical to an image of the source model's train or val
    part (:data:`DISJOINT_RULE`), and the facts of the cut: ``(dataset or None, facts)``.

    ``test``: the whole EMNIST-MNIST test set when already loaded (:func:`_emnist_mnist_test`; a string is the
    reason it could not be). The source's data are loaded as its record says (split, protocol, index file, val
    draw) and refused when this data dir's holdout index file is not the one it trained with. ``facts``: the
    rule, the source's data, ``n_total``, ``n_dropped`` (and per part), how many kept images also occur in the
    source's test part (it never trained on them), and ``n`` scored; when the set cannot be made, ``n`` is None
    and ``note`` says why.
    """
    from charclf.data import load_data
    from charclf.data.overlap import parts_also_in
    from charclf.data.protocols import check_same_index

    facts = {"rule": DISJOINT_RULE, "n": None}
    test = _emnist_mnist_test(data_dir) if test is None else test
    if isinstance(test, str):
        return None, {**facts, "note": test}
    facts["n_total"] = len(test)
    try:
        source = source_data_facts(source_model_dir)
        draw = source.get("val_draw") or {}
        bundle = load_data(source["split"], source["protocol"], data_dir,
                           **({"seed": draw["seed"], "val_fraction": draw["fraction"]} if draw else {}))
        check_same_index(source, bundle, source_model_dir,
                         "score with the data dir the source model was trained with")
    except (DataError, FileNotFoundError) as err:
        return None, {**facts, "note": "EMNIST-MNIST test set less the source's training images not evaluated "
                                       f"(its training data cannot be loaded): {err}"}
    masks = parts_also_in(test.images, bundle)
    dropped = np.logical_or.reduce([masks[p] for p in SOURCE_TRAINED_PARTS])
    kept = test.subset(np.flatnonzero(~dropped))
    facts.update({
        "source_data": {**{k: v for k, v in bundle.describe().items() if k != "sizes"},
                        "parts": list(SOURCE_TRAINED_PARTS)},
        "n_dropped": int(dropped.sum()),
        "dropped_by_part": {p: int(masks[p].sum()) for p in SOURCE_TRAINED_PARTS},
        "kept_also_in_source_test_part": int((masks["test"] & ~dropped).sum()),
        "n": len(kept),
        "note": (f"EMNIST-MNIST test set less the source's training images: {len(kept):,} of {len(test):,} images "
                 f"scored; {int(dropped.sum()):,} dropped as byte-identical to images of the source's "
                 f"{bundle.split} {bundle.protocol} train or val part"),
    })
    return kept, facts


def score_emnist_mnist(net: nn.Module, dataset, record, tta: bool) -> float:
    """Accuracy of ``net`` (a run's model) on an EMNIST-MNIST set, with its run ``record``'s normalisation and
    the run's TTA setting: the evaluation (and precision) of the MNIST test."""
    from charclf.eval.evaluate import evaluate_model

    return evaluate_model(net, dataset, mean=record.mean, std=record.std, tta=tta).metrics["accuracy"]


def transfer_to_mnist(source_model_dir: str | Path, mnist_data, *, epochs: int = 5, config: TrainConfig | None = None,
                      out_dir: str | Path, seed: int = 0, baseline_recipe: str | None = "minivision_v2",
                      baseline_epochs: int | None = None, data_dir=None, evaluate_emnist_mnist: bool = True,
                      overwrite: bool = False, resume: bool = False, progress: bool = False):
    """Fine-tune the EMNIST model in ``source_model_dir`` on ``mnist_data`` (classic MNIST, a DataBundle) and
    compare it with the same architecture from scratch and with Mini-Vision-V2's recipe.

    ``config``: the training config of the transfer and scratch runs (default: recipe ``byclass_finetune``,
    Adam lr 1e-3, the ByClass study's fine-tuning optimizer) with ``epochs``; its ``max_train_samples``
    applies to all three runs (quick profile). The baseline runs ``baseline_recipe`` for ``baseline_epochs``
    (default: ``epochs``, the same budget); ``baseline_recipe=None`` leaves that run out. Each run is a ``fit`` folder under ``out_dir``; the comparison is
    written to ``<out_dir>/results.json`` and returned as a DataFrame (one row per run). ``resume=True``
    continues a killed comparison: a finished run is reused (its weights and record), an unfinished one resumes.
    Each row holds ``emnist_mnist_test_acc`` (the whole EMNIST-MNIST test file, which overlaps the source's
    training images) and ``emnist_mnist_disjoint_test_acc`` (the file less them); ``results.json``'s
    ``emnist_mnist_disjoint_test`` says how many images were dropped, why, and how many were scored.
    """
    import pandas as pd

    from charclf.eval.record import RECORD_FILE, RunRecord
    from charclf.fileio import write_json
    from charclf.models import create_model
    from charclf.models.hub import load_model, read_model_config
    from charclf.provenance import repo_relative, run_metadata
    from charclf.train import fit
    from charclf.train.recipes import get_recipe, override_config

    _check_mnist(mnist_data)
    source_cfg = read_model_config(source_model_dir)
    if source_cfg.get("orientation", "upright") != "upright":
        raise DataError(Path(source_model_dir) / "config.json",
                        f"the model was trained on {source_cfg['orientation']!r} images, but charclf's MNIST "
                        "and EMNIST data are upright", "retrain the source model with charclf's loaders")
    arch, model_kwargs = source_cfg["architecture"], dict(source_cfg.get("model_kwargs", {}))
    out = Path(out_dir)
    base = config if config is not None else get_recipe("byclass_finetune")
    base = override_config(base, {"model": arch, "model_kwargs": model_kwargs, "epochs": epochs, "seed": seed,
                                  "early_stopping_patience": None}, source="transfer config")
    baseline = None if baseline_recipe is None else override_config(get_recipe(baseline_recipe), {
        "epochs": baseline_epochs or epochs, "seed": seed, "max_train_samples": base.max_train_samples,
        "device": base.device}, source=f"baseline recipe {baseline_recipe!r}")

    runs = []
    # (1) transfer: EMNIST weights, new 10-way head.
    model = load_model(source_model_dir)
    replace_head(model, len(mnist_data.classes), seed=seed)
    runs.append(("transfer", model, base, f"{arch} pre-trained on {source_cfg.get('protocol', '?')} EMNIST "
                                          f"({source_cfg['num_classes']} classes), new head"))
    # (2) the same architecture from scratch, same config and budget.
    torch.manual_seed(seed)
    runs.append(("scratch", create_model(arch, num_classes=len(mnist_data.classes), **model_kwargs), base,
                 f"{arch} from random initialisation"))
    # (3) the MNIST-specific baseline with its own recipe.
    if baseline is not None:
        torch.manual_seed(seed)
        runs.append((baseline_recipe, create_model(baseline.model, num_classes=len(mnist_data.classes),
                                                   **baseline.model_kwargs), baseline,
                     f"{baseline.model} with the {baseline_recipe} recipe"))

    extra_test = _emnist_mnist_test(data_dir) if evaluate_emnist_mnist else "EMNIST-MNIST test not requested"
    disjoint, disjoint_facts = emnist_mnist_disjoint_test(source_model_dir, data_dir, extra_test)
    rows = []
    for name, net, cfg, what in runs:
        if resume and (out / name / RECORD_FILE).is_file():
            net = load_model(out / name)
        else:
            fit(net, mnist_data, cfg, out / name, overwrite=overwrite, resume=resume, progress=progress)
        record = RunRecord.load(out / name)
        row = {"run": name, "model": cfg.model, "what": what, "epochs": record.epochs_run, "params": record.params,
               "optimizer": cfg.optimizer.name, "lr": cfg.optimizer.lr, "train_samples": record.train_samples,
               "best_val_acc": record.best_val_acc, "test_acc": record.test_acc,
               "test_images": record.test["n"], "test_tta": record.tta,
               "emnist_mnist_test_acc": math.nan, DISJOINT_COLUMN: math.nan, "train_time_s": record.train_time_s,
               "run_dir": repo_relative(out / name)}
        if not isinstance(extra_test, str):  # the same evaluation function (and precision) as the MNIST test
            row["emnist_mnist_test_acc"] = score_emnist_mnist(net, extra_test, record, cfg.tta)
        if disjoint is not None:
            row[DISJOINT_COLUMN] = score_emnist_mnist(net, disjoint, record, cfg.tta)
        rows.append(row)
    df = pd.DataFrame(rows)
    note = extra_test if isinstance(extra_test, str) else \
        f"EMNIST-MNIST test set evaluated ({len(extra_test)} images)" + (
            "" if disjoint is None else f"; {disjoint_facts['n_dropped']:,} of them are byte-identical to the "
                                        f"source's training images (see {DISJOINT_KEY})")
    write_json(out / RESULTS_NAME, {
        "experiment": "transfer_to_mnist", "source_model_dir": repo_relative(source_model_dir),
        "source_architecture": arch, "source_protocol": source_cfg.get("protocol"),
        "orientation": "upright (EMNIST made upright by the loader; MNIST upright as published)",
        "runs": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows],
        "emnist_mnist_test": note, DISJOINT_KEY: disjoint_facts, "data": mnist_data.describe(),
        **run_metadata(recipe=base.name or None, protocol=mnist_data.protocol, seed=seed,
                       config={"transfer": base.to_dict(),
                               "baseline": baseline.to_dict() if baseline is not None else None}),
    })
    df.attrs["emnist_mnist_test"] = note
    df.attrs[DISJOINT_KEY] = disjoint_facts
    return df
