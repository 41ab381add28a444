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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/03_architectures.ipynb)
#
# # 03 · Architectures
#
# **Question:** which models does the study compare, how large and how costly is each, and are they the networks their
# works published?
#
# Every architecture of the study is built by name from one registry, timm style:
# `create_model("vgg", num_classes=62)`. This notebook lists them all with their size (parameters) and cost
# (multiply-accumulates per 28×28 image, counted by hooks on every convolution and linear layer), and checks
# the parameter counts the earlier works published.

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
import pandas as pd
from charclf.models import create_model, describe_models, list_models
print(len(list_models()), "registered models:", ", ".join(list_models()))

# %% [markdown]
# ## Where each model comes from
#
# | model | origin |
# |---|---|
# | `lenet`, `alexnet`, `vgg`, `resnet`, `spinalnet`, `ensnet` | the six CNNs of the ByClass study (their variants for 28×28 inputs, with the original initialisation) |
# | `minivision_v2`, `minivision_v3` | the two tiny CNNs (MNIST; EMNIST Balanced) |
# | `lenet5_keras` | the Keras LeNet-5 (64,851 parameters at 47 classes) |
# | `efficientnet_b2`, `efficientnet_b3` | the EfficientNet transfer study: torchvision's networks with a 1-channel stem, run at 112 px |
# | `charnet_xs`, `charnet_s`, `charnet_m`, `charnet_l` | this project's own residual networks: ≤ 30k parameters, ≤ 100k parameters, a WRN-16-4, a WRN-22-6-like |

# %%
table = describe_models(num_classes=62)
table["MMACs"] = (table["macs"] / 1e6).round(2)
table = table.sort_values("params").set_index("name")
ctx.show(table[["params", "MMACs", "output_shape"]], "Every registered model at 62 classes (ByClass)")

# %% [markdown]
# Parameters and compute do not go together: EnsNet is the largest by far in both, EfficientNets have many
# parameters but are computed at 112 px, and the tiny LeNets cost well under one MMAC per image.

# %%
import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
table["params"].plot.barh(ax=axes[0], logx=True, color="tab:blue", title="parameters (log scale)")
table["MMACs"].plot.barh(ax=axes[1], logx=True, color="tab:orange", title="MMACs per 28×28 image (log scale)")
fig.suptitle(ctx.title("Size and cost of every model (62 classes)"))
ctx.save(fig, "03_params_macs");

# %% [markdown]
# ## Published parameter counts
#
# The earlier works state their model sizes; building the same networks here gives exactly the same numbers.

# %%
published = [("minivision_v2", 10, 824_650), ("minivision_v3", 47, 400_367), ("lenet5_keras", 47, 64_851)]
check = pd.DataFrame([{"model": n, "classes": k, "published": p,
                       "charclf": describe_models(num_classes=k, names=[n])["params"].iloc[0]} for n, k, p in published])
check["equal"] = check["published"] == check["charclf"]
ctx.show(check, "Published vs built parameter counts")

# %% [markdown]
# ## What a model looks like inside
#
# Models are small readable `nn.Module`s. Mini-Vision-V3, for example: three convolution blocks and a
# two-layer classifier; and our `charnet_s`, which keeps wide late stages within 100k parameters by using
# depthwise-separable residual blocks.
#
# Mini-Vision's model card lists each block as Conv → ReLU → MaxPool → BatchNorm. The printout below shows
# Conv → MaxPool → ReLU → BatchNorm: `charclf` pools before the ReLU. Both orders compute the same function,
# because max-pooling commutes with any non-decreasing function applied elementwise:
# max(ReLU(a), ReLU(b)) = ReLU(max(a, b)). So the outputs are equal, exactly (and so are the gradients, except
# at exact ties at 0); only the cost differs: after the 2×2 pool, ReLU touches a quarter of the values. The
# parameters are the same layers with the same names, so weights trained in either order load into the other.
# The cell after the printout checks the equality on a random batch.

# %%
print(create_model("minivision_v3", num_classes=47))

# %%
import torch
block = create_model("minivision_v3", num_classes=47).features[0].eval()  # Conv, MaxPool, ReLU, BatchNorm
conv, pool, relu, bn = block
x = torch.randn(16, 1, 28, 28)
with torch.no_grad():
    as_card = bn(pool(torch.relu(conv(x))))  # the card's order: Conv -> ReLU -> MaxPool -> BN
    as_here = block(x)  # charclf's order: Conv -> MaxPool -> ReLU -> BN
print("card order == charclf order, bit for bit:", torch.equal(as_card, as_here))

# %%
print(create_model("charnet_s", num_classes=62))

# %% [markdown]
# Every model takes a normalised float batch `(N, 1, 28, 28)` and returns logits `(N, classes)`; the
# EfficientNets resize to 112 px inside the model, so all models share one data pipeline. Notebook 04
# trains them.

# %% [markdown]
# ## What we found
#
# Computed from the tables and the check above:

# %%
from charclf.study.findings import architectures_found, print_found
print_found(architectures_found(table, check, torch.equal(as_card, as_here)))
