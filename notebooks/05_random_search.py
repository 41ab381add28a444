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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/05_random_search.ipynb)
#
# # 05 · Random search
#
# The ByClass study tuned its CNNs with a **random search**: 28 points drawn from a grid of 144 (learning rate
# × batch size × momentum × weight decay), each scored by the validation loss after a short training. This
# notebook runs that search with `charclf.tune` (Optuna underneath: a seeded random sampler that draws the grid
# without replacement, median pruning, and an SQLite study so that a killed search resumes with no trial lost
# or repeated, and several workers can share one search).
#
# From the command line: `charclf tune --model resnet --trials 28 --storage sqlite:///outputs/tune/resnet.db`.

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

# %% [markdown]
# ## The search space

# %%
import pandas as pd
from charclf.tune import BYCLASS_GRID, CONTINUOUS_SPACE
ctx.show(pd.DataFrame({name: [", ".join(f"{v:g}" for v in choices)] for name, choices in BYCLASS_GRID.params.items()},
                      index=["choices"]).T,
         f"The ByClass study's grid: {BYCLASS_GRID.grid_size} points, n_iter {BYCLASS_GRID.n_iter}")

# %% [markdown]
# ## The search
#
# Each trial trains the study's ResNet variant with the ByClass recipe and the trial's hyperparameters, on a
# stratified subset of the training part, and is scored by the **validation** loss — the test part is never
# used. Under the quick profile the search is tiny (a few trials of one epoch): it shows the machinery and the
# plots, not a trustworthy optimum.

# %%
from charclf.recipes import get_recipe
from charclf.tune import run_search
data = ctx.load_data("byclass")
s = ctx.settings
search = run_search("resnet", data, ctx.adapt(get_recipe("byclass_study")), BYCLASS_GRID, n_trials=s.tune_trials,
                    sampler="random", seed=ctx.seed, epochs_per_trial=s.tune_epochs,
                    max_train_samples=s.tune_train_samples, out_dir=ctx.workdir("05_random_search/resnet-grid"),
                    progress=True)

# %%
trials = search.trials_dataframe()
ctx.show(trials[["number", "state", "val_loss", *BYCLASS_GRID.names, "best_val_acc", "duration_s"]]
         .sort_values("val_loss"), f"Random search over the ByClass grid: {len(trials)} trials (ResNet)")

# %%
fig = search.plot()
fig.suptitle(ctx.title(f"Each hyperparameter against the validation loss ({len(trials)} trials, ResNet)"),
             fontsize=10)
fig.tight_layout()
ctx.save(fig, "05_random_search");

# %% [markdown]
# ## The chosen configuration
#
# The best trial's parameters, applied to the recipe, give the configuration a full training would use.

# %%
best = search.best_config()
print(f"best trial #{search.best_trial.number}: {search.best_params} (val loss {search.best_value:.4f})")
print("optimizer:", best.optimizer, "\nbatch size:", best.batch_size)

# %% [markdown]
# ## Beyond the grid
#
# A grid can only land on its 144 points. The same knobs as continuous distributions (log-uniform learning
# rate and weight decay) explore between them, and Optuna's TPE sampler uses the finished trials to propose
# better ones (`sampler="tpe"`; its first trials are random). Under the full profile this notebook runs it too.

# %%
ctx.show(pd.DataFrame({k: [str(v)] for k, v in CONTINUOUS_SPACE.params.items()}, index=["distribution"]).T,
         "The continuous search space")
if ctx.profile == "full":
    tpe = run_search("resnet", data, ctx.adapt(get_recipe("byclass_study")), CONTINUOUS_SPACE,
                     n_trials=s.tune_trials, sampler="tpe", seed=ctx.seed, epochs_per_trial=s.tune_epochs,
                     max_train_samples=s.tune_train_samples, out_dir=ctx.workdir("05_random_search/resnet-tpe"))
    ctx.show(tpe.trials_dataframe().sort_values("val_loss").head(10), "TPE over the continuous space: best trials")
else:
    print("TPE over the continuous space: run under the full profile (it needs more trials than the quick "
          "profile's few to beat random search).")
