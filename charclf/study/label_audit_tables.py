"""Notebook 12's side of the label audit (:mod:`charclf.experiments.label_audit`): the audit for the notebook's
profile, and the tables and examples it shows, read from the audit's results JSON and CSV."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from charclf.errors import ConfigError
from charclf.experiments.label_audit import (
    NOTEBOOK_RUN,
    PARTS,
    RESULTS_NAME,
    AuditSettings,
    issue_images,
    orient,
    run_audit,
)


def notebook_audit(ctx) -> tuple[dict, Path]:
    """Notebook 12's audit for its profile: quick = 2 folds x 1 epoch on the profile's stratified subsets
    (a smoke test, cached under outputs/runs/quick/); full = the command's artifacts in outputs/label_audit,
    with the settings it ran with, resumed (or computed with the defaults) by the same code.
    Returns (results, folder)."""
    from charclf.paths import outputs_dir

    if ctx.protocol != "holdout":
        raise ConfigError(f"PROTOCOL={ctx.protocol!r}: the label audit cites images by their index in the official "
                          "ByClass test file, which only the holdout protocol re-splits. Fix: PROTOCOL = \"holdout\"")
    if ctx.profile == "full":
        out = outputs_dir() / "label_audit"
        settings = AuditSettings.from_folder(out) or AuditSettings(seed=ctx.seed)  # what the command ran with
        return run_audit(out, ctx.data_dir, settings), out
    s = ctx.settings
    settings = AuditSettings(folds=2, epochs=1, seed=ctx.seed, max_train_samples=s.train_samples,
                             max_eval_samples=s.test_samples)
    results = ctx.cached_json(NOTEBOOK_RUN, lambda folder: run_audit(folder, ctx.data_dir, settings),
                              filename=RESULTS_NAME)
    return results, ctx.runs_dir / NOTEBOOK_RUN


def orientation_examples(issues: pd.DataFrame, data_dir=None, k: int = 24, split: str = "byclass"):
    """The first ``k`` rows of kind orientation: (images as stored, the same under the orientation their
    label fits, given labels, orientation names), for ``viz.orientation_gallery``."""
    rows = issues[issues["kind"] == "orientation"].head(k)
    images = issue_images(rows, data_dir, split)
    fixed = np.stack([orient(torch.from_numpy(img[None]), name)[0].numpy()
                      for img, name in zip(images, rows["orientation"])]) if len(rows) else images
    return images, fixed, rows["given_label"].to_numpy(), rows["orientation"].to_numpy()


def rates_table(results: dict) -> pd.DataFrame:
    """Flagged images and rates per part and overall, with the count of each kind."""
    rows = {p: results["by_part"][p] for p in PARTS} | {"all": results["overall"]}
    health = results["health_summary"]
    return pd.DataFrame.from_dict(
        {name: {"images": r["images"], "flagged": r["flagged"], **r["by_kind"], "likely errors": r["likely_errors"],
                "likely-error rate": r["label_error_rate"],
                "cleanlab noise estimate": health[name]["estimated_noise_rate"] if name in health else None}
         for name, r in rows.items()}, orient="index")


def per_class_table(results: dict) -> pd.DataFrame:
    """One row per class (by the given label): images, flagged images of each kind, the likely-error rate."""
    return pd.DataFrame(results["per_class"]).set_index("char")


def models_table(results: dict) -> pd.DataFrame:
    """The models behind the probabilities: each fold's (out-of-fold accuracy) and the full model."""
    rows = {f"fold {f['fold'] + 1}": {"train images": f["n_train"], "scored images": f["n_heldout"],
                                      "best val acc": f["best_val_acc"], "out-of-fold acc": f["oof_accuracy"],
                                      "precision": f["precision"], "train time (s)": round(f["train_time_s"], 1)}
            for f in results["models"]["folds"]}
    full = results["models"]["full"]
    rows["full model"] = {"train images": full["train_samples"], "scored images": results["sizes"]["val"]
                          + results["sizes"]["test"], "best val acc": full["best_val_acc"],
                          "out-of-fold acc": None, "precision": full["precision"],
                          "train time (s)": round(full["train_time_s"], 1)}
    return pd.DataFrame.from_dict(rows, orient="index")


def ceiling_table(results: dict) -> pd.DataFrame:
    """The test part's model errors, how many land on flagged images, and the accuracy ceiling."""
    t = results["test"]
    return pd.Series({"test images": t["images"], "model accuracy": t["model_accuracy"],
                      "model errors": t["model_errors"],
                      "errors on likely label errors": t["errors_on_likely_label_errors"],
                      "errors on case-ambiguous images": t["errors_on_case_ambiguity"],
                      "likely label errors in the test part": t["likely_label_errors"],
                      "ceiling: accuracy of a perfect model against these labels": t["ceiling_accuracy"]},
                     name="test part", dtype=object).to_frame()  # object: counts stay integers


def experiment_table(results: dict) -> pd.DataFrame:
    """Accuracy of the baseline and the cleaned model on the original and the cleaned test part."""
    ex = results["experiment"]
    return pd.DataFrame({f"{model} model": {f"{part.replace('_', ' ')} ({ex[part + '_images']:,})": s["accuracy"]
                                            for part, s in scores.items()}
                         for model, scores in ex["scores"].items()})


