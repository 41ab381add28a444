# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/06_pretrain_finetune.ipynb)
#
# # 06 · Pre-training → fine-tuning
#
# **Question:** does the ByClass study's two-stage training (SGD pre-training, then Adam fine-tuning) beat one stage of
# the same length?
#
# The ByClass study trained its final models in two stages: **pre-training** with SGD on 90 % of the training
# data, then **fine-tuning** the pre-trained weights with Adam on 100 % of it (the held-back 10 % now
# included). The pre-training here uses the `byclass_study` recipe: SGD with the learning rate the original
# study's random search picked (0.01), not notebook 05's search result, so that this notebook reproduces the
# study's procedure on its own. `charclf.experiments.finetune.pretrain_finetune` runs both stages with the same training
# engine, each in its own run folder, and writes one `results.json`.
#
# The fine-tune changes three things at once: 10 % more data, more epochs and another optimizer. Two controls
# separate them: **SGD continued** from the same pre-trained weights on 100 % for as many epochs as the
# fine-tune ran, and **Adam from scratch** on 100 % for the epochs of both stages together.
#
# Every run picks its best epoch on the validation part; the test part is measured once per run.

# %%
# Colab only: install charclf from GitHub with the extras the notebooks use (Optuna, Lion, Gradio), keeping
# Colab's own torch: the package pins lower bounds only, so pip does not reinstall it.
# REPO_URL is a placeholder for the project's GitHub address — change it if you work from a fork.
REPO_URL = "https://github.com/charclf-study/charclf"
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"charclf[tune,lion,demo] @ git+{REPO_URL}"],
                   check=True)

# %% tags=["parameters"]
import os
PROFILE = "quick"  # "quick": small subsets, minutes | "full": the complete protocol; `charclf study` sets it
# and prints the value it used under this cell
DATA_DIR = os.environ.get("CHARCLF_DATA_DIR")  # folder with emnist/, mnist/, protocols/; None: the repo's data/
PROTOCOL = "holdout"  # "holdout": the offline protocol (the ByClass test file re-split) | "official"
SEED = 0
RETRAIN = False  # True: train again instead of loading cached runs (CHARCLF_RETRAIN=1 in the environment wins)

# %%
from charclf.study import setup
ctx = setup(SEED, profile=PROFILE, data_dir=DATA_DIR, protocol=PROTOCOL, retrain=RETRAIN)

# %%
from charclf.experiments.finetune import pretrain_finetune
from charclf.train.recipes import get_recipe
data = ctx.load_data("byclass")
MODEL = ctx.best_run("04_training").record.model  # notebook 04's best model, chosen on val
print(f"model: {MODEL} (notebook 04's best on validation accuracy, {ctx.tag})")
results = ctx.cached_json(f"06_pretrain_finetune/{MODEL}", lambda folder: pretrain_finetune(
    MODEL, data, pretrain_config=ctx.adapt(get_recipe("byclass_study")),
    finetune_config=ctx.adapt(get_recipe("byclass_finetune")), pretrain_fraction=0.9, out_dir=folder,
    seed=ctx.seed, with_controls=True, resume=True))

# %%
import pandas as pd
stages = pd.DataFrame({"pretrain (SGD, 90 %)": results["pretrain"], "finetune (Adam, 100 %)": results["finetune"],
                       "control: SGD continued (100 %)": results["controls"]["sgd_continued"],
                       "control: Adam from scratch (100 %)": results["controls"]["adam_scratch"]}).T
stages = stages[["optimizer", "lr", "train_samples", "epochs_run", "best_epoch", "val_acc", "test_acc",
                 "train_time_s"]]
from charclf.study.findings import with_precision
folder_of = {"pretrain (SGD, 90 %)": "pretrain", "finetune (Adam, 100 %)": "finetune",
             "control: SGD continued (100 %)": "sgd_continued", "control: Adam from scratch (100 %)": "adam_scratch"}
stages = with_precision(stages, {label: ctx.runs_dir / "06_pretrain_finetune" / MODEL / folder
                                 for label, folder in folder_of.items()})
ctx.show(stages, f"{MODEL}: pre-training, fine-tuning and the two controls")

# %%
from charclf.eval import figures as viz
from charclf.study import load_run
folders = {"pretrain": "pretrain (SGD, 90 %)", "finetune": "finetune (Adam, 100 %)",
           "sgd_continued": "SGD continued", "adam_scratch": "Adam from scratch"}
runs = {label: load_run(ctx.runs_dir / "06_pretrain_finetune" / MODEL / folder, name=label)
        for folder, label in folders.items()}
ctx.save(viz.training_curves({label: run.history for label, run in runs.items()},
                             title=f"{MODEL}: pre-training then fine-tuning, and the controls", subtitle=ctx.tag),
         "06_pretrain_finetune_curves")

# %% [markdown]
# ## How to read it
#
# * The fine-tune starts from the pre-trained stage's best weights, so its curve starts where the first one
#   ended. "SGD continued" starts from the same weights: the difference between the two is the optimizer
#   (with the same data and epochs). "Adam from scratch" has no pre-training: the difference is what the
#   two-stage procedure buys over one Adam run of the same total length.
# * Under the quick profile each stage is capped at two epochs (Adam from scratch runs both stages' four) on
#   3,000 images (the pre-training on 90 % of them), so the numbers mostly reflect
#   the extra epochs; the full profile's runs are the ones to draw a conclusion from.

# %% [markdown]
# ## What we found
#
# Computed from the stages table above (val decides; one seed each):

# %%
from charclf.study.findings import finetune_findings, print_found
print_found(finetune_findings(results, profile=ctx.profile))
