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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/02_augmentation.ipynb)
#
# # 02 · Augmentation
#
# **Question:** what does each augmentation do to a character, and what is it worth to Mini-Vision-V3 over 15 epochs?
#
# Augmentation shows a model more variations of each character than the data holds. The earlier works used
# torchvision transforms applied one image at a time in a `DataLoader`; `charclf` applies the same random
# transforms (same parameter ranges and conventions as torchvision's `RandomAffine`, `RandomRotation`,
# `RandomCrop`) to a whole batch at once on the training device with `BatchAugment` — one resampling per
# batch. This notebook shows what each transform does to a character, then MixUp and CutMix.

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
import torch
from charclf.eval import figures as viz
from charclf.train import AugmentConfig
from charclf.train.augment import BatchAugment
data = ctx.load_data("byclass")
pick = torch.tensor([int(torch.nonzero(data.train.labels == data.classes.index(c))[0]) for c in "A4gkR7eQ"])
images, labels = data.train.images[pick], data.train.labels[pick]
print("rows:", " ".join(data.classes[i] for i in labels), f"(from the {ctx.profile} profile's training part)")

# %% [markdown]
# ## One transform at a time
#
# Each figure: the original in the first column, then six random draws. The images are 0..1 floats with a
# black (0) background, which is also the fill value for pixels moved in from outside the image.

# %%
transforms = {
    "rotation ±15° (affine)": AugmentConfig(degrees=15),
    "translation ±10%": AugmentConfig(translate=0.1),
    "scale 0.9–1.1": AugmentConfig(scale=(0.9, 1.1)),
    "shear ±15° (x)": AugmentConfig(shear=15),
    "random crop, padding 2": AugmentConfig(crop_padding=2),
    "RandomRotation ±10°": AugmentConfig(rotation=10),
    "RandomRotation ±10°, nearest": AugmentConfig(rotation=10, interpolation="nearest"),
}
for name, cfg in transforms.items():
    aug = BatchAugment(cfg, data.num_classes, fill=0.0)
    display(ctx.save(viz.augmentation_grid(images, lambda x: aug(x, labels), n_aug=6, seed=ctx.seed,
                                           title=f"Augmentation: {name}", subtitle=ctx.tag),
                     "02_aug_" + name))

# %% [markdown]
# ## The recipes' augmentations
#
# * **ByClass study**: `RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=3)`.
# * **Mini-Vision V2/V3**: `RandomCrop(28, padding=2)` then `RandomRotation(10)`.
# * **Ours (mild affine)**: smaller rotations and translations — large rotations or shears can turn one
#   character into another (`N`/`Z`, `6`/`9` at the extremes), and EMNIST is already centred and
#   size-normalised.
#
# torchvision resamples `RandomAffine` and `RandomRotation` with the nearest pixel by default, which is what
# the earlier works trained on; `BatchAugment` resamples bilinear unless `AugmentConfig(interpolation="nearest")`.

# %%
from charclf.train.recipes import BYCLASS_AFFINE, MILD_AFFINE, MINIVISION_AUGMENT
for name, cfg in {"ByClass study": BYCLASS_AFFINE, "Mini-Vision": MINIVISION_AUGMENT,
                  "charclf mild affine": MILD_AFFINE}.items():
    aug = BatchAugment(cfg, data.num_classes, fill=0.0)
    display(ctx.save(viz.augmentation_grid(images, lambda x: aug(x, labels), n_aug=6, seed=ctx.seed,
                                           title=f"Recipe augmentation: {name}", subtitle=ctx.tag),
                     "02_recipe_" + name))

# %% [markdown]
# ## Never mirror a character
#
# Horizontal flips, a default in natural-image pipelines, change what a character *is*: `b` becomes `d`, `p`
# becomes `q`, and digits become non-characters. `BatchAugment` has no flip, and test-time augmentation uses
# small translations only.

# %%
mirror = torch.tensor([int(torch.nonzero(data.train.labels == data.classes.index(c))[0]) for c in "bpqd2S"])
ctx.save(viz.augmentation_grid(data.train.images[mirror], lambda x: x.flip(-1), n_aug=1,
                               title="Left: original (b p q d 2 S); right: mirrored", subtitle=ctx.tag),
         "02_mirror")

# %% [markdown]
# ## MixUp and CutMix
#
# Both mix two images of a batch and their labels. **MixUp** blends the pixels, `λ·x₁ + (1−λ)·x₂` with
# `λ ~ Beta(α, α)`; **CutMix** pastes a box of one image into the other, with `λ` the share of the area kept.
# The target becomes soft — `λ` of one class, `1−λ` of the other — so the loss must accept soft targets
# (`charclf`'s losses do). The EfficientNet study's recipe (notebook 09) uses both, one of them per batch.

# %%
batch = data.train.subset(torch.arange(16))
x = batch.images[:, None].float() / 255
mixes = {"MixUp (alpha 0.2)": AugmentConfig(mixup_alpha=0.2), "MixUp (alpha 1.0)": AugmentConfig(mixup_alpha=1.0),
         "CutMix (alpha 1.0)": AugmentConfig(cutmix_alpha=1.0)}
for name, cfg in mixes.items():
    aug = BatchAugment(cfg, data.num_classes)
    display(ctx.save(viz.augmentation_grid(x[:8], lambda t: aug(t, batch.labels[:8]), n_aug=5, seed=ctx.seed,
                                           title=f"{name}: each draw mixes the batch with a shuffled copy",
                                           subtitle=ctx.tag), "02_" + name))

# %%
import pandas as pd
aug = BatchAugment(AugmentConfig(cutmix_alpha=1.0), data.num_classes)
mixed, soft = aug(x, batch.labels, torch.Generator().manual_seed(ctx.seed))
top = soft.topk(2, dim=1)
ctx.show(pd.DataFrame({
    "original label": [data.classes[i] for i in batch.labels],
    "target 1": [f"{data.classes[int(c)]} {float(w):.2f}" for c, w in zip(top.indices[:, 0], top.values[:, 0])],
    "target 2": [f"{data.classes[int(c)]} {float(w):.2f}" if w > 0 else "-" for c, w in
                 zip(top.indices[:, 1], top.values[:, 1])],
    "target sums to": soft.sum(1).numpy().round(6),
}).head(8), "CutMix soft targets of one batch (first 8 images)")

# %% [markdown]
# ## What augmentation is worth
#
# One model and recipe — Mini-Vision-V3's, cut to 15 epochs at the full profile (the quick profile caps it at 2
# epochs on 3,000 images, see the title) — trained five times, changing only the
# augmentation: none, the recipe's own crop + rotation, the ByClass study's RandomAffine instead, the
# recipe's augmentation plus MixUp/CutMix, and the recipe's own augmentation resampled nearest, as torchvision
# does, instead of bilinear. Val picks each run's epoch; the test part is read once.

# %%
from charclf.study.plan import run_ablation
from charclf.study.findings import with_precision
ablation, histories = run_ablation(ctx, "02_augmentation")
ablation = with_precision(ablation, {name: ctx.runs_dir / name for name in ablation.index})
ctx.show(ablation, "Augmentation ablation on Mini-Vision-V3")
# The conclusions, computed from the table above (each arm against the first; val decides; one seed each).
from charclf.study.findings import ablation_findings
print("\n".join(f"* {line}" for line in ablation_findings(ablation, profile=ctx.profile)))
ctx.save(viz.training_curves(histories, title=f"Mini-Vision-V3 under {len(histories)} augmentations",
                             subtitle=ctx.tag),
         "02_augmentation_ablation_curves")

# %% [markdown]
# ## What we found
#
# Computed from the ablation table above (one seed per arm; val decides):

# %%
from charclf.study.findings import ablation_summary, print_found
print_found(ablation_summary(ablation, profile=ctx.profile))
