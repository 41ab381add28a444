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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/00_setup_and_data.ipynb)
#
# # 00 · Setup and data
#
# **Question:** what did the study find, and what does a reader need — data, protocol, profiles —
# to reproduce it? The findings table below is the README's (one function builds both from the artifacts).
#
# This is the first notebook of **charclf**, an open study of handwritten character recognition on
# [EMNIST](https://www.nist.gov/itl/products-and-services/emnist-dataset). Every notebook is a chapter of the
# report; all the logic lives in the `charclf` package, so each cell is a call you can reuse in your own work.
#
# | notebook | what it shows |
# |---|---|
# | 00 setup and data | versions, seeds, which data files are here, the offline protocol, the two profiles |
# | 01 dataset exploration | class balance, samples, pixel statistics, the orientation fix, case-ambiguous classes |
# | 02 augmentation | what each transform does to a character; MixUp and CutMix |
# | 03 architectures | every model of the study: parameters and multiply-accumulates |
# | 04 training | the six CNNs of the ByClass study and the other earlier works' models, each under its recipe |
# | 05 random search | the ByClass study's hyperparameter search, with Optuna |
# | 06 pre-training → fine-tuning | SGD on 90 %, then Adam on 100 % |
# | 07 evaluation | confusion matrices, per-class F1, top confusions, calibration |
# | 08 MNIST transfer | an EMNIST model fine-tuned on MNIST vs trained from scratch |
# | 09 EfficientNet recipe | MixUp/CutMix, Lion, warm restarts, class-weighted KL loss |
# | 10 try it yourself | predict characters in your own image files; the draw-a-character demo |
# | 11 beyond the earlier works | the accuracy / parameters / CPU-seconds frontier, the goals met or not, the ablation, the time-to-accuracy race |
# | 12 label errors | cleanlab's audit of the ByClass labels: likely errors, their kinds, the test part's ceiling |
#
# **Profiles.** Each notebook has a `parameters` cell. `PROFILE = "quick"` trains on small, honest,
# stratified subsets for a couple of epochs, so the whole study runs in minutes on a laptop CPU;
# `PROFILE = "full"` uses the complete protocol and each recipe's own epochs (hours on 2 CPU cores; models too heavy for the machine are listed, not trained). Every table and figure
# names the profile and the protocol it came from. `charclf study` renders them all from the committed
# full-profile runs (minutes; it trains nothing), and `charclf study --profile quick --train` runs the smoke test.

# %%
# Colab only: install charclf from GitHub with the extras the notebooks use (Optuna, Lion, Gradio), keeping
# Colab's own torch: the package pins lower bounds only, so pip does not reinstall it.
# REPO_URL is a placeholder for the project's GitHub address — change it if you work from a fork.
# The data goes to a Colab folder, /content/charclf-data (downloaded on first use, ~535 MB; point
# CHARCLF_DATA_DIR at a mounted Google Drive folder instead to keep it between sessions).
REPO_URL = "https://github.com/charclf-study/charclf"
import os, subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"charclf[tune,lion,demo] @ git+{REPO_URL}"],
                   check=True)
    os.environ.setdefault("CHARCLF_DATA_DIR", "/content/charclf-data")

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
# ## What the study found
#
# Read from the committed full-profile artifacts, whichever profile runs this notebook; each row links its
# notebook and the files it was read from.

# %%
from IPython.display import Markdown
from charclf.study.headline import findings_markdown
Markdown(findings_markdown(prefix="../"))

# %% [markdown]
# On a fresh machine the data folder is empty: the next cell downloads NIST's archive (about 535 MB, with a
# progress bar; an interrupted download resumes) into it and checks every file before using it. Set
# `CHARCLF_NO_DOWNLOAD=1` to get a clear "file not found" error instead.

# %%
ctx.ensure_data("byclass")

# %% [markdown]
# ## Which data files are here?
#
# EMNIST is published by NIST as one archive, `gzip.zip` (about 535 MB), holding 24 idx files (images and
# labels of the train and test parts of six splits) and a class → character mapping per split. `charclf` reads
# the archive in place, the loose `.gz` members, raw un-gzipped idx files, torchvision's `EMNIST/raw/` folder,
# or the widespread CSV copies (`emnist-byclass-test.csv` ...), and checks every file against the official
# sha256 (classic MNIST against LeCun's md5).
#
# `verify_data_dir` is what `charclf data verify` prints: one row per official file. On the machines this study
# was built on, only part of EMNIST was available (the offline protocol, below, says which and why), so most
# rows read "missing": that is the machine, not an error.

# %%
from charclf.data import runnable_protocols, verify_data_dir
files = verify_data_dir(ctx.data_dir)
ctx.show(files[["dataset", "part", "kind", "status", "layout", "note"]], "Official files in the data directory")

# %%
ctx.show(runnable_protocols(files), "Which (dataset, protocol) pairs can run with these files")

# %% [markdown]
# ### Getting the data on your machine
#
# With internet access the notebooks and `charclf study` download what is missing on first use (as above);
# by hand, one command does the same — a progress bar, resuming a broken download, checking the archive's md5
# and every member's sha256 — and only then moves it into place:
#
# ```bash
# charclf data download --data-dir data/        # or: load_data("byclass", "holdout", "data/", download=True)
# charclf data verify --data-dir data/
# ```
#
# Without internet (like the machines this study was built on), put the official files yourself in
# `data/emnist/` (loose `.gz` files) or put `gzip.zip` in `data/`; set `CHARCLF_DATA_DIR` to use another
# folder. [data/README.md](../data/README.md) lists every accepted layout.

# %% [markdown]
# ## The offline protocol
#
# Only part of EMNIST was available offline: the official **ByClass test** file (116,323 images, 62 classes,
# byte-identical to NIST's), the EMNIST-MNIST test file, some label files, and classic MNIST. To train and
# test honestly anyway, the study re-splits the ByClass test file with a fixed, stratified index file
# (`byclass-test-holdout.npz`, shipped inside the package with its sha256 pinned, so anyone with NIST's ByClass
# test file gets the same split; a `protocols/` folder in the data folder overrides it): 80 % train,
# 10 % validation, 10 % test, every class in every part.
#
# * Model selection (best epoch, hyperparameters) uses **val** only; **test** is measured once at the end.
# * Numbers under this `holdout` protocol are *not* comparable with published numbers on the official ByClass
#   test set: our training set is 93k images instead of 698k. Every number in the study says which protocol
#   it was measured on.
# * With the full download, `PROTOCOL = "official"` trains on NIST's train file (minus a stratified 10 %
#   validation part) and tests on its test file.

# %%
import pandas as pd
from charclf.data import load_data
full = load_data("byclass", ctx.protocol, ctx.data_dir, seed=ctx.seed)
parts = {p: getattr(full, p) for p in ("train", "val", "test")}
ctx.show(pd.DataFrame({
    "images": {p: len(ds) for p, ds in parts.items()},
    "classes present": {p: int((ds.class_counts() > 0).sum()) for p, ds in parts.items()},
    "smallest class": {p: int(ds.class_counts().min()) for p, ds in parts.items()},
    "largest class": {p: int(ds.class_counts().max()) for p, ds in parts.items()},
}), f"ByClass under the {ctx.protocol} protocol (complete parts, before any profile subset)")

# %% [markdown]
# ## The two profiles
#
# The quick profile takes class-stratified subsets of these parts (so rare classes keep their share) and caps
# each recipe's epochs. It is small — accuracies are far below the full profile's — but it is real training
# on real data, and it is what continuous integration executes on every change.

# %%
from charclf.study.profiles import profiles_table
ctx.show(profiles_table(), "Sizes of the two profiles")

# %%
data = ctx.load_data("byclass")
ctx.show(pd.DataFrame({p: [len(getattr(data, p))] for p in ("train", "val", "test")}, index=["images"]),
         "The data this profile's notebooks train and test on")

# %% [markdown]
# ## Cached runs and retraining
#
# Training results live in run folders under `outputs/runs/<profile>/<name>/` (`metrics.json`, `history.csv`,
# `train_config.json`, the weights as `model.safetensors` + `config.json`). A notebook loads a finished run
# instead of training it again, so a reader regenerates every figure in minutes. To train again:
#
# * set `RETRAIN = True` in a notebook's parameters cell, or
# * run `charclf study --profile quick --train --retrain` (`charclf study` alone only renders finished runs), or
# * set the environment variable `CHARCLF_RETRAIN=1` (it overrides the parameter; continuous integration sets
#   it so the quick profile really trains on every change).
#
# Each `metrics.json` records the git commit, the machine, the seed, the protocol and the full training config.

# %% [markdown]
# ## What we found
#
# Computed from the data this notebook loaded:

# %%
from charclf.study.findings import data_found, print_found
print_found(data_found(parts, ctx.tag))
