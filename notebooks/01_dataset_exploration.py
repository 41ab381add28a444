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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/01_dataset_exploration.ipynb)
#
# # 01 · Dataset exploration
#
# **Question:** what does EMNIST ByClass look like before any model sees it — how unbalanced, how oriented, and how
# much of it can its shape alone not tell apart?
#
# What does EMNIST look like before any model sees it? This notebook looks at the class balance of every split
# whose label files are present, samples of each class, pixel statistics, the orientation of the official
# files, and the classes that cannot be told apart by their shape alone.
#
# Most of this notebook reads whole files, not the profile's subset: it is fast either way.

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
# ## Class balance of each split
#
# EMNIST's splits differ sharply in balance. *ByClass* keeps NIST's natural frequencies (digits and a few
# letters dominate), *Balanced* draws the same number of images for each of its 47 classes, and *EMNIST-MNIST*
# is nearly uniform over the ten digits. Counting only needs the label files, so we count every labels file
# that is here.

# %%
import pandas as pd
from charclf.eval import figures as viz
from charclf.data.official import official_label_counts
counts, missing = official_label_counts(ctx.data_dir)
if missing:
    print(f"{len(missing)} official labels files are not in {ctx.data_dir_label}, so their splits are not counted "
          f"here (offline, only part of EMNIST is available — see notebook 00):\n  " + "\n  ".join(missing))
totals = counts.groupby(["split", "part"])["count"].agg(images="sum", classes="size",
                                                       smallest="min", largest="max")
totals["largest / smallest"] = (totals["largest"] / totals["smallest"]).round(1)
ctx.show(totals, "Official labels files present: images and balance per split")

# %%
for (split, part), group in counts.groupby(["split", "part"], sort=False):
    if split == "byclass" or part != "train":
        continue  # ByClass is plotted below with its holdout parts; one train/test figure per other split
    parts = {p: g["count"].to_numpy() for p, g in counts[counts.split == split].groupby("part")}
    display(ctx.save(viz.class_distribution(parts, tuple(group["char"]), title=f"EMNIST {split}: class shares",
                                            subtitle=ctx.tag + " (official label files)"), f"01_balance_{split}"))

# %% [markdown]
# ### ByClass and the offline protocol's parts
#
# The holdout protocol re-splits the official ByClass test file, stratified by class: train, val and test
# have the same class shares, and every one of the 62 classes is in every part. The imbalance is large: the
# cells below print how many times more images the most frequent class has than the rarest, and which they are.

# %%
from charclf.data import load_data
full = load_data("byclass", ctx.protocol, ctx.data_dir, seed=ctx.seed)
ctx.save(viz.class_distribution(full, title=f"ByClass under the {ctx.protocol} protocol: class shares per part",
                                subtitle=ctx.tag), "01_balance_byclass_parts")

# %%
train_counts = pd.Series(full.train.class_counts(), index=full.classes)
print(f"training part: the most frequent class ({train_counts.idxmax()!r}, {train_counts.max():,} images) has "
      f"{train_counts.max() / train_counts.min():.1f}x the images of the rarest ({train_counts.idxmin()!r}, "
      f"{train_counts.min():,})")
byclass = counts[(counts.split == "byclass") & (counts.part == "test")].set_index("char")["count"]
ctx.show(pd.DataFrame({"most frequent": byclass.nlargest(8).index, "images": byclass.nlargest(8).values,
                       "least frequent": byclass.nsmallest(8).index, "images ": byclass.nsmallest(8).values}),
         "ByClass official test file: the most and least frequent classes")

# %% [markdown]
# ## Samples of each class
#
# Eight random training images per class (upright, as `charclf` loads them). Note how similar some rows are:
# `o`, `O` and `0`; `l`, `I` and `1`; and lower/upper case pairs such as `c`/`C`, `s`/`S`, `x`/`X`.

# %%
ctx.save(viz.sample_grid(full.train, per_class=8, seed=ctx.seed, subtitle=ctx.tag), "01_samples_per_class")

# %% [markdown]
# ## Pixel statistics
#
# EMNIST images are centred and size-normalised, on a black background: most pixels are exactly 0, the ink is
# concentrated in the middle, and the amount of ink varies between classes (the right panel; the cell after
# the figure prints the classes with the least and the most ink). The training code normalises with the mean
# and standard deviation of the training part, computed by `fit` on the device.

# %%
ctx.save(viz.pixel_statistics(full.train, subtitle=ctx.tag), "01_pixel_statistics")

# %%
ink = viz.ink_per_class(full.train).sort_values()
print("least ink:", ", ".join(f"{c} {v:.0f}" for c, v in ink.head(4).items()))
print("most ink: ", ", ".join(f"{c} {v:.0f}" for c, v in ink.tail(4)[::-1].items()))
print(f"the most inked class carries {ink.iloc[-1] / ink.iloc[0]:.1f}x the ink of the least (mean pixel sum / 255)")

# %%
import numpy as np
x = full.train.images.float() / 255
ctx.show(pd.DataFrame({"mean": [float(x.mean())], "std": [float(x.std())], "share of zero pixels":
                       [float((full.train.images == 0).float().mean())]}, index=["train part"]).round(4),
         "Pixel statistics of the ByClass training part (0..1 scale)")

# %% [markdown]
# ## The orientation fix
#
# The official idx files store every image **transposed** (a left-over of the MATLAB conversion). Models do
# not care, but people do: a transposed character is hard to read, predictions on your own upright
# handwriting would be wrong, and a figure of samples would be nonsense. `charclf` transposes once, at load
# time (`images.transpose(0, 2, 1)`), and every `config.json` of a trained model says `"orientation": "upright"`.
#
# Below, the bytes of the official file as stored, next to what `load_official` returns.

# %%
from charclf.data import load_official, official_file
from charclf.data.official import find_file
raw = find_file(official_file("byclass", "test", "images"), ctx.data_dir).read_array(expect_ndim=3)
upright, labels = load_official("byclass", "test", ctx.data_dir)
print("upright == raw transposed for every one of", len(raw), "images:",
      bool(np.array_equal(upright, raw.transpose(0, 2, 1))))
pick = np.random.default_rng(ctx.seed).choice(len(raw), 10, replace=False)
ctx.save(viz.augmentation_grid(raw[pick], lambda t: t.transpose(-1, -2), n_aug=1,
                               title="Left: as stored in the official file; right: upright, as charclf loads it",
                               subtitle=ctx.tag + " · characters: " + " ".join(full.classes[i] for i in labels[pick])),
         "01_orientation")

# %% [markdown]
# ## Case-ambiguous classes
#
# For 15 letters — `c i j k l m o p s u v w x y z` — the lower and upper case differ mostly in size, and size
# is exactly what EMNIST's normalisation removes. NIST's *ByMerge* and *Balanced* splits therefore merge them
# into one class each (62 → 47 classes). A ByClass model cannot do better than guess on many of these images,
# which caps its accuracy; the study reports, next to the 62-class accuracy, the accuracy after merging these
# pairs (`merged47_accuracy`).

# %%
from charclf.data import MERGED_LETTERS, merge_classes
pairs = [c for ch in MERGED_LETTERS for c in (ch, ch.upper())]
ctx.save(viz.sample_grid(full.train, per_class=10, classes=pairs, seed=ctx.seed,
                         title="The 15 case-ambiguous letters: lower case row, then upper case row",
                         subtitle=ctx.tag), "01_case_ambiguous")

# %%
share = pd.DataFrame({"lower": [train_counts[c] for c in MERGED_LETTERS],
                      "upper": [train_counts[c.upper()] for c in MERGED_LETTERS]}, index=list(MERGED_LETTERS))
share["lower share"] = (share["lower"] / (share["lower"] + share["upper"])).round(3)
ctx.show(share.T, "Case-ambiguous letters in the training part: images of each case")

# %%
merged_labels, merged_classes = merge_classes(full.train.labels.numpy(), full.classes)
print(f"merging the 15 pairs maps {len(full.classes)} classes to {len(merged_classes)}: "
      + "".join(merged_classes))
print("a classifier that always picks the more frequent case of these letters would still be wrong on "
      f"{int(share[['lower', 'upper']].min(axis=1).sum()):,} of the {int(share[['lower', 'upper']].sum().sum()):,} "
      "training images of these letters")

# %% [markdown]
# ## What we found
#
# Computed from the counts above:

# %%
from charclf.study.findings import dataset_found, print_found
print_found(dataset_found(train_counts, share))
