# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
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
# The ByClass study trained its final models in two stages: **pre-training** with the tuned SGD recipe on 90 %
# of the training data, then **fine-tuning** the pre-trained weights with Adam on 100 % of it (the held-back
# 10 % now included). `charclf.finetune.pretrain_finetune` runs both stages with the same training engine,
# each in its own run folder, evaluates both chosen models, and writes one `results.json` with the gain.
#
# Both stages pick their best epoch on the validation part; the test part is measured once per stage.

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
PROFILE = "quick"  # "quick": small honest subsets on a CPU (minutes) | "full": the complete protocol (GPU)
DATA_DIR = os.environ.get("CHARCLF_DATA_DIR")  # folder with emnist/, mnist/, protocols/; None: the repo's data/
PROTOCOL = "holdout"  # "holdout": the offline protocol (the ByClass test file re-split) | "official"
SEED = 0
RETRAIN = False  # True: train again instead of loading cached runs (CHARCLF_RETRAIN=1 in the environment wins)

# %%
from charclf.notebook_utils import setup
ctx = setup(SEED, profile=PROFILE, data_dir=DATA_DIR, protocol=PROTOCOL, retrain=RETRAIN)

# %%
from charclf.finetune import pretrain_finetune
from charclf.recipes import get_recipe
data = ctx.load_data("byclass")
MODEL = "resnet"
results = ctx.cached_json(f"06_pretrain_finetune/{MODEL}", lambda folder: pretrain_finetune(
    MODEL, data, pretrain_config=ctx.adapt(get_recipe("byclass_study")),
    finetune_config=ctx.adapt(get_recipe("byclass_finetune")), pretrain_fraction=0.9, out_dir=folder,
    seed=ctx.seed))

# %%
import pandas as pd
stages = pd.DataFrame({stage: results[stage] for stage in ("pretrain", "finetune")}).T
stages = stages[["optimizer", "lr", "train_samples", "epochs_run", "best_epoch", "val_acc", "test_acc",
                 "train_time_s"]]
ctx.show(stages, f"{MODEL}: SGD pre-training on 90 % vs Adam fine-tuning on 100 % of the training part")
print(f"gain from fine-tuning: val {results['gain']['val_acc']:+.2%}, test {results['gain']['test_acc']:+.2%} "
      f"({ctx.tag})")

# %%
from charclf import viz
from charclf.notebook_utils import load_run
runs = {stage: load_run(ctx.runs_dir / "06_pretrain_finetune" / MODEL / stage, name=stage)
        for stage in ("pretrain", "finetune")}
ctx.save(viz.training_curves({stage: run.history for stage, run in runs.items()},
                             title=f"{MODEL}: pre-training (SGD, 90 %) then fine-tuning (Adam, 100 %)",
                             subtitle=ctx.tag), "06_pretrain_finetune_curves")

# %% [markdown]
# ## What the two stages do
#
# * The fine-tuning stage starts from the pre-trained stage's best weights, so its curve starts where the
#   first one ended; it sees 10 % more data and uses Adam (lr 1e-3), as in the study.
# * The gain mixes three effects — more data, more epochs, a different optimizer — exactly as in the original
#   study; the table above says how much the combination buys on this protocol. Under the quick profile both
#   stages are capped at a couple of epochs, so the gain mostly reflects the extra epochs.
