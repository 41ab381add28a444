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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/08_mnist_transfer.ipynb)
#
# # 08 · Transfer to MNIST
#
# Does what a network learnt on 62 handwritten characters help on the ten MNIST digits? The ByClass study took
# its EMNIST-trained model, replaced the classifier head with a 10-way one and fine-tuned it for 5 epochs on
# MNIST. `charclf.transfer.transfer_to_mnist` repeats that and adds the two comparisons that answer the
# question: the same architecture trained **from scratch** with the same budget, and **Mini-Vision-V2** — a
# small CNN built for MNIST — with its own recipe.
#
# Orientation: EMNIST's official files store images transposed and `charclf` makes them upright at load
# time; classic MNIST is upright as published. Both models and data agree, and every model folder records
# `"orientation": "upright"`.
#
# MNIST uses the **official** protocol (all of MNIST is here: 60,000 train — 10 % held out for validation —
# and 10,000 test). All three models are also scored on the **EMNIST-MNIST** test file: the same ten digits
# from NIST's forms, processed EMNIST's way.

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
source = ctx.best_run("04_training")
print(f"source model: {source.name}, trained on ByClass ({ctx.tag}), val acc {source.metrics['best_val_acc']:.2%}")
mnist = ctx.load_data("classic-mnist", protocol="official", train=None)
print(f"classic MNIST, official protocol: {len(mnist.train):,} train / {len(mnist.val):,} val / "
      f"{len(mnist.test):,} test images (the profile trains on {ctx.settings.transfer_train_samples or 'all'} "
      f"of the train part)")

# %%
from charclf.recipes import get_recipe
from charclf.transfer import transfer_to_mnist
epochs = ctx.settings.transfer_epochs
config = ctx.adapt(get_recipe("byclass_finetune"), epochs=epochs,
                   max_train_samples=ctx.settings.transfer_train_samples)
results = ctx.cached_json("08_mnist_transfer", lambda folder: transfer_to_mnist(
    source.dir, mnist, epochs=epochs, config=config, out_dir=folder, seed=ctx.seed, data_dir=ctx.data_dir))

# %%
import pandas as pd
table = pd.DataFrame(results["runs"]).set_index("run")
ctx.show(table[["model", "what", "params", "optimizer", "lr", "epochs", "train_samples", "best_val_acc", "test_acc",
                "emnist_mnist_test_acc", "train_time_s"]],
         f"MNIST: transfer from EMNIST vs from scratch vs Mini-Vision-V2 ({epochs} epoch(s) each)")
print(results["emnist_mnist_test"])

# %%
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
table[["test_acc", "emnist_mnist_test_acc"]].rename(columns={
    "test_acc": "MNIST test", "emnist_mnist_test_acc": "EMNIST-MNIST test"}).plot.barh(ax=ax)
ax.set_xlim(max(0.0, float(table[["test_acc", "emnist_mnist_test_acc"]].min().min()) - 0.05), 1.0)
ax.set_xlabel("accuracy")
ax.set_title(ctx.title(f"MNIST after {epochs} epoch(s): does EMNIST pre-training help?"))
ctx.save(fig, "08_mnist_transfer");

# %%
from charclf import viz
from charclf.notebook_utils import load_run
histories = {name: load_run(ctx.runs_dir / "08_mnist_transfer" / name).history for name in table.index}
ctx.save(viz.training_curves(histories, title="MNIST training curves: transfer, scratch, Mini-Vision-V2",
                             subtitle=ctx.tag.replace(ctx.protocol, "official MNIST")), "08_mnist_curves")

# %% [markdown]
# ## Reading the result
#
# The transferred model starts from features that already separate handwritten strokes, so after the same
# short budget it is usually ahead of the same network from scratch; the gap closes with longer training.
# The EMNIST-MNIST column shows how well each MNIST model carries over to digits from other writers and a
# different preprocessing pipeline. Under the quick profile each model trains for one epoch on a few thousand
# images: compare the three rows with each other, not with published MNIST numbers.
