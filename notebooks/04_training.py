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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/04_training.ipynb)
#
# # 04 · Training the models of the earlier works (and ours)
#
# **Question:** how accurate is each earlier work's model on this protocol, trained under its own recipe with one
# engine, and how does that compare with what the works published?
#
# The heart of the reproduction: every earlier work's model, trained on the same data under its own recipe,
# with one training engine (`charclf.train.fit`): the six CNNs of the ByClass study (LeNet, AlexNet, VGG,
# ResNet, SpinalNet, EnsNet) with that study's SGD + RandomAffine recipe, Mini-Vision V2 and V3 with theirs,
# the Keras LeNet-5 with Adam, and this project's own `charnet` models with ours. A model whose recipe does not
# fit the machine is listed with its measured speed instead of being trained (the plan table below says which).
#
# Every run is a folder under `outputs/runs/<profile>/04_training/` with its metrics, history, config and
# weights; this notebook loads finished runs instead of retraining them (see notebook 00). The best epoch is
# chosen on the validation part; the test part is measured once, with the chosen weights.

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
# ## The recipes
#
# Each recipe is a named, frozen `TrainConfig` (`charclf.train.recipes.get_recipe(name)`); the table lists them
# with their sources. Under the quick profile, epochs are capped (and EMA/TTA are left to the full profile).

# %%
from charclf.train.recipes import describe_recipes, get_recipe
recipes = describe_recipes().set_index("recipe")
ctx.show(recipes[["model", "optimizer", "lr", "scheduler", "batch_size", "epochs", "augmentation", "loss",
                  "label_smoothing", "ema", "tta"]], "Training recipes (full epochs; the quick profile caps them)")

# %% [markdown]
# ## Training
#
# Model → recipe. The ByClass study's recipe is the same for its six CNNs; the Mini-Vision recipes were made
# for MNIST (V2) and EMNIST Balanced (V3) and are used here on ByClass's 62 classes with their own optimizer,
# schedule, epochs and augmentation ranges, with one difference: charclf's batched augmentation resamples their
# crop + rotation **bilinear**, where the works' torchvision transforms resample the nearest pixel (the
# `augmentation` column above; notebook 02 measures what that changes, notebook 11 trains the nearest version).

# %%
from charclf.study.plan import TRAINING_PLAN, train_plan, training_runs
data = ctx.load_data("byclass")
print(f"ByClass, {ctx.tag}: {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test images")
runs, status = train_plan(ctx, data, training_runs(ctx.profile))
ctx.show(status, "The plan: which runs this profile trains on this machine (images/s measured before training)")

# %% [markdown]
# ## Results

# %%
from charclf.study import generalisation_table, runs_table, seed_summary
from charclf.study.findings import precision_columns, summary_precision
table = runs_table(runs).assign(recipe=lambda t: t["model"].map(TRAINING_PLAN)).sort_values("best val acc",
                                                                                           ascending=False)
table = precision_columns(table, runs)  # + what the per-epoch val that chose the weights ran in
ctx.show(table, "Every run under its recipe (val picks the epoch, in the precision `epoch chosen on` names; test "
                "measured once, float32)")
summary = summary_precision(seed_summary(table), table)
ctx.show(summary, "Per model: mean and std over seeds (std is blank for a single seed)")

# %% [markdown]
# The earlier ByClass study reports each model's accuracy, precision, recall and F1 on its training data and
# on its test data. The same table, for the same chosen weights (weighted averages over the 62 classes):

# %%
general = generalisation_table(runs)
if general.empty:
    print(f"The {ctx.profile} profile does not score the train part (the full profile does).")
else:
    ctx.show(general.round(4), "Train part vs test part, same weights")

# %% [markdown]
# ## Next to the earlier study
#
# The earlier ByClass study reports VGG, AlexNet, ResNet and SpinalNet on the official test set. Our numbers come
# from another protocol (below), so the gap measures the protocols as much as the models. The sentences under the
# table are computed from this notebook's tables, so they hold for whichever runs have finished.

# %%
from charclf.study.earlier import earlier_study_table, findings
ctx.show(earlier_study_table(summary).round(4), "The earlier study's test accuracies next to ours")
print("\n".join(f"* {line}" for line in findings(summary, status)))

# %%
from charclf.eval import figures as viz
first_seed = {run.record.model: run for run in runs.values() if run.name.endswith("-seed0")}
ctx.save(viz.training_curves({name: run.history for name, run in first_seed.items()},
                             title="Training curves of every model (solid: train, dashed: val)", subtitle=ctx.tag),
         "04_training_curves")

# %%
points = summary.reset_index().rename(columns={"test acc mean": "holdout-test accuracy"})
ctx.save(viz.params_vs_accuracy(points, y="holdout-test accuracy", label="model",
                                title="Accuracy per parameter: which models are worth their size?",
                                subtitle=ctx.tag), "04_params_vs_accuracy")

# %% [markdown]
# ## Time per epoch
#
# These are the times recorded by the machines that trained each run, not by the machine that renders this
# notebook: the runs were made over several sessions on two kinds of 2-core CPU, an AVX2-only one (float32)
# and AVX512-BF16 ones (bf16), so the bars are coloured by the run's `precision` and only bars of one colour
# compare (the cell prints the counts; VGG's bf16 seed, for one, took a fraction of its float32 seeds' time).
# Each run trained in the precision `TrainConfig(amp="auto")` picked on its machine: bf16 where the hardware
# runs it natively — GPUs, and CPUs with AVX512-BF16/AMX, except for depthwise-convolution models such as
# `charnet_s`, which bf16 does not speed up on a CPU. `charclf bench` compares the training engine itself with
# the usual `DataLoader` pipeline on one machine.
#
# MACs per image are only a rough proxy for training time, and the parameter count a worse one. Compare, in
# the table above, the `MMACs` and `images / s` of the models that cost about the same 8 MMACs per image
# (`charnet_s`, `minivision_v3`, `resnet`). What MACs do not count:
#
# * **depthwise convolutions** (`charnet_s`): each output reads its inputs for only 9 multiply-adds, so the
#   layer waits on memory, not arithmetic — and on a CPU it also misses the bf16 speed-up (float32 above);
# * **memory-bound layers** with few or no MACs — BatchNorm, activations, pooling, residual additions, and the
#   optimizer's update of every weight — whose cost grows with the size of the activations and parameters;
# * **the recipe's batch size**: larger batches use the hardware better (the `recipe` column; batch sizes in the
#   recipes table).

# %%
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
timed = table.sort_values("s / epoch")
colours = {"fp32": "tab:green", "bf16": "tab:purple"}
ax.barh(timed.index, timed["s / epoch"], color=[colours.get(p, "tab:gray") for p in timed["precision"]])
for precision, colour in colours.items():
    ax.barh([], [], color=colour, label=f"{precision} ({int((timed['precision'] == precision).sum())} runs)")
ax.legend(title="trained in", loc="lower right")
print("runs per training precision:", timed["precision"].value_counts().to_dict())
ax.set_xlabel(f"seconds per epoch ({int(table['train images'].iloc[0]):,} training images)")
ax.set_title(ctx.title("Training time per epoch"))
ctx.save(fig, "04_time_per_epoch");

# %% [markdown]
# ## Reading these numbers
#
# * Under the **quick** profile, each model sees a few thousand images for at most two epochs: the ranking is
#   about how fast each model starts learning, not about how good it can get, and the absolute accuracies are
#   far below the full profile's. The heaviest models are not trained at all on a CPU.
# * Under the **full** profile, every model whose recipe fits the machine trains on the complete training part
#   (93,055 images under the holdout protocol) for its recipe's epochs; the plan table above lists the others,
#   with their measured images/s. Those are the numbers the README reports.
# * Either way the protocol is the offline one (the ByClass test file re-split), never the official test set.
#
# Notebook 07 evaluates the best of these runs (chosen on validation accuracy) in depth.

# %% [markdown]
# ## What we found
#
# Computed from the tables above (val chooses; test is read once):

# %%
from charclf.study.earlier import training_found
from charclf.study.findings import print_found
print_found(training_found(summary, table))
