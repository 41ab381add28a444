# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/09_efficientnet_recipe.ipynb)
#
# # 09 · The EfficientNet recipe
#
# **Question:** what are the ideas of the EfficientNet study's recipe worth on a model a CPU can train?
#
# The EfficientNet study fine-tuned ImageNet EfficientNet-B2/B3 on EMNIST with a modern recipe: a 1-channel
# stem, inputs upscaled to 112 px, MixUp and CutMix, the Lion optimizer, a linear warm-up followed by cosine
# warm restarts, and a class-weighted KL-divergence loss against the (soft) MixUp/CutMix targets. Here that
# recipe is one named config, `efficientnet_kaggle`, trained with the same engine as every other model.
#
# Offline, ImageNet weights cannot be downloaded: the networks start from random initialisation unless a local
# weights file is given (`create_model("efficientnet_b2", pretrained=True, weights_path=...)`; without one,
# a clear warning says so). EfficientNet at 112 px is costly on a CPU: the quick profile does not train B2 or B3
# at all (over its MACs-per-image limit); the full profile times them and trains what fits the machine.

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

# %% [markdown]
# ## The recipe

# %%
import pandas as pd
from charclf.train.recipes import RECIPES, get_recipe
recipe = RECIPES["efficientnet_kaggle"]
print(recipe.description, "\nsource:", recipe.source, "\nnotes:\n  - " + "\n  - ".join(recipe.notes))
cfg = recipe.config
ctx.show(pd.DataFrame({"value": [cfg.model, f"{cfg.optimizer.name} lr={cfg.optimizer.lr:g} "
                                 f"wd={cfg.optimizer.weight_decay:g} betas={cfg.optimizer.betas}",
                                 f"{cfg.scheduler.name}: warm-up {cfg.scheduler.warmup_epochs} epochs, cycles of "
                                 f"{cfg.scheduler.t0} epochs", f"MixUp α={cfg.augment.mixup_alpha:g}, CutMix "
                                 f"α={cfg.augment.cutmix_alpha:g}, one per batch with p={cfg.augment.mix_prob:g}",
                                 cfg.loss, cfg.epochs, cfg.batch_size]},
                   index=["model", "optimizer", "schedule", "mixing", "loss", "epochs", "batch size"]),
         "The EfficientNet recipe (full epochs)")

# %% [markdown]
# ### Warm-up, then cosine warm restarts
#
# The learning rate rises linearly for 5 epochs, then follows cosine cycles of 10 epochs, each restarting at
# the peak; 35 epochs end at a minimum. The schedule is stepped once per optimizer step.

# %%
import matplotlib.pyplot as plt
import torch
from charclf.train.optim import build_scheduler
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.optimizer.lr)
sched = build_scheduler(opt, cfg.scheduler, epochs=cfg.epochs, steps_per_epoch=100)
lrs = []
for _ in range(cfg.epochs * 100):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.plot([i / 100 for i in range(len(lrs))], lrs)
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.set_title(ctx.title("efficientnet_kaggle: learning rate per step (full recipe, 35 epochs)"))
ctx.save(fig, "09_lr_schedule");

# %% [markdown]
# ### Class weights
#
# ByClass is imbalanced (notebook 01). The loss weighs each sample by the inverse frequency of its class
# (normalised to mean 1), so rare letters count as much in total as frequent digits.

# %%
from charclf.train.losses import class_weights
data = ctx.load_data("byclass", train=ctx.settings.efficientnet_train_samples,
                     val=ctx.settings.efficientnet_eval_samples, test=ctx.settings.efficientnet_eval_samples)
weights = pd.Series(class_weights(data.train.class_counts()).numpy(), index=data.classes)
fig, ax = plt.subplots(figsize=(13, 3), layout="constrained")
weights.plot.bar(ax=ax, color="tab:purple", width=0.8)
ax.set_ylabel("class weight")
ax.set_title(ctx.title(f"Inverse-frequency class weights of the training part ({len(data.train):,} images)"))
ctx.save(fig, "09_class_weights");

# %% [markdown]
# ## EfficientNet-B2 and B3 themselves
#
# The study fine-tunes ImageNet weights at 112 px. Neither fits this project's CPU machines: the weights cannot
# be downloaded there, and a 112 px EfficientNet trains at only tens of images per second on 2 cores (the plan
# below prints each one's measured rate and the time its recipe would take). Under the quick
# profile the plan below lists both as over its MACs-per-image limit, untimed; under the full profile it times
# one training step of each on this machine and estimates the full recipe, and a model whose estimate does not
# fit the machine is listed, not trained (a GPU session trains it).

# %%
from charclf.study.plan import efficientnet_runs, train_plan
effnet_runs, effnet_status = train_plan(ctx, data, efficientnet_runs())
ctx.show(effnet_status, "EfficientNet under its recipe: measured images/s and the estimated time of the full recipe")

# %% [markdown]
# ## EfficientNet-B2 at CPU scale
#
# B2 itself, trained here: from scratch (no ImageNet weights reach this machine), under the recipe above
# (MixUp/CutMix, Lion, warm-up + cosine restarts, the class-weighted KLDiv loss; Lion at lr 3e-4, the Lion
# paper's advice for training from scratch), but with a smaller image inside the model, and the schedule's shape
# kept over 25 epochs instead of 35 (4 warm-up + 3 cosine cycles of 7), since the recipe's 35 epochs fit 3 hours
# at no size (the sizes' timings are in the table below, re-estimated for 25 epochs). Each size's training step is timed on this machine; the largest size whose 25 epochs fit 3 hours is
# the one trained (one seed).
# It is a CPU-scale variant, not the earlier work's model: no pre-trained weights, a smaller input, our protocol.

# %%
from charclf.study.efficientnet_cpu import efficientnet_cpu_line, efficientnet_cpu_table
from charclf.study.plan import efficientnet_cpu_plan
effnet_cpu_run, effnet_cpu_status = efficientnet_cpu_plan(ctx, data)
ctx.show(effnet_cpu_status, "CPU-scale EfficientNet-B2: each size timed here, the largest that fits is chosen")
ctx.show(efficientnet_cpu_table(effnet_cpu_run).round(4), "EfficientNet-B2: the earlier work and ours at CPU scale")
print(efficientnet_cpu_line(effnet_cpu_run, effnet_cpu_status))

# %% [markdown]
# ## The recipe's ideas on a CPU-sized model
#
# What each idea is worth can still be measured here: one CPU-sized model and recipe (Mini-Vision-V3's, cut to
# 15 epochs), and one arm per idea — MixUp/CutMix, Lion, warm-up + cosine warm restarts, the class-weighted
# KLDiv loss — then all four together. Each arm changes only what its label says; the model is chosen on val
# and the test part is read once.

# %%
from charclf.study.plan import run_ablation
from charclf.study.findings import with_precision
ablation, histories = run_ablation(ctx, "09_efficientnet_ideas")
ablation = with_precision(ablation, {name: ctx.runs_dir / name for name in ablation.index})
ctx.show(ablation, "The EfficientNet recipe's ideas, one at a time, on Mini-Vision-V3")
# The conclusions, computed from the table above (each arm against the first; val decides; one seed each).
from charclf.study.findings import ablation_findings
print("\n".join(f"* {line}" for line in ablation_findings(ablation, profile=ctx.profile)))

# %%
from charclf.eval import figures as viz
ctx.save(viz.training_curves(histories, title="Mini-Vision-V3 with each idea of the EfficientNet recipe",
                             subtitle=ctx.tag),
         "09_ideas_curves")

# %% [markdown]
# ## How to read the ablation
#
# * Read each arm against `base`: the difference is what that one idea is worth for this model and budget.
# * With MixUp/CutMix the train loss is measured against the *mixed* soft targets, so it stays higher than an
#   unmixed run's; compare arms on the validation and test columns.
# * Under the quick profile each arm trains for two epochs on 3,000 images: the table shows that every piece
#   works end to end, not what it is worth. The full profile trains each arm on the complete training part.

# %% [markdown]
# ## What we found
#
# Computed from the ablation table above (one seed per arm; val decides):

# %%
from charclf.study.findings import ablation_summary, print_found
print_found(ablation_summary(ablation, profile=ctx.profile))
