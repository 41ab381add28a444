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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/05_random_search.ipynb)
#
# # 05 · Random search
#
# **Question:** does the ByClass study's random search find a better setting than its default recipe, and does TPE find
# it with fewer trials?
#
# The ByClass study tuned its CNNs with a **random search**: 28 points drawn from a grid of 144 (learning rate
# × batch size × momentum × weight decay), each scored by the validation loss after a short training. This
# notebook runs that search with `charclf.experiments.tune` (Optuna underneath: a seeded random sampler that draws the grid
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
# ## The search space

# %%
import pandas as pd
from charclf.experiments.tune import BYCLASS_GRID, CONTINUOUS_SPACE
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
from charclf.train.recipes import get_recipe
from charclf.experiments.tune import run_search
data = ctx.load_data("byclass")
s = ctx.settings
search = run_search("resnet", data, ctx.adapt(get_recipe("byclass_study")), BYCLASS_GRID, n_trials=s.tune_trials,
                    sampler="random", seed=ctx.seed, epochs_per_trial=s.tune_epochs,
                    max_train_samples=s.tune_train_samples, out_dir=ctx.workdir("05_random_search/resnet-grid"),
                    progress=True, train=ctx.train_missing)

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
# ## Random search vs TPE, same grid, same budget
#
# Optuna's TPE sampler proposes each trial from the finished ones; its first ten trials are the same seeded
# random draws as the random search's, so they are copied from it (`startup_from`, each marked `copied_from`)
# rather than trained again, and only its later trials can differ. Run over the
# same grid with the same number of trials, epochs and subset, it answers whether a smarter sampler buys
# anything at the ByClass study's budget. Both are scored by the validation loss.

# %%
tpe = run_search("resnet", data, ctx.adapt(get_recipe("byclass_study")), BYCLASS_GRID, n_trials=s.tune_trials,
                 sampler="tpe", seed=ctx.seed, epochs_per_trial=s.tune_epochs, max_train_samples=s.tune_train_samples,
                 out_dir=ctx.workdir("05_random_search/resnet-grid-tpe"), progress=True, train=ctx.train_missing,
                 startup_from=search)
import matplotlib.pyplot as plt
from charclf.study.findings import complete_trials, search_summary
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
comparison = {}
for name, result in {"random": search, "TPE": tpe}.items():
    done = complete_trials(result.trials_dataframe())  # a pruned trial's loss is a mid-training one
    ax.plot(done["number"] + 1, done["val_loss"].cummin(), marker="o", label=name)
    comparison[name] = search_summary(result)
ax.set_xlabel("trials finished")
ax.set_ylabel("best val loss so far (complete trials)")
ax.legend()
ax.set_title(ctx.title("Random search vs TPE over the ByClass grid (ResNet)"))
ctx.save(fig, "05_random_vs_tpe")
ctx.show(pd.DataFrame(comparison).T, "Random search vs TPE at the same budget")

# %% [markdown]
# ## The best setting on the complete protocol
#
# The lower validation loss of the two searches picks the setting. It is trained under the full recipe
# (the profile's epochs, the whole training part) and compared with the same model under the default recipe
# (notebook 04's run): val picks, test is read once for each.

# %%
from charclf.study import runs_table
from charclf.study.plan import train_plan, training_runs
winner = min((search, tpe), key=lambda r: r.best_value)
tuned = ctx.train("05_random_search/resnet-tuned-seed0", ctx.adapt(winner.best_config()), data)
default_runs, _ = train_plan(ctx, data, training_runs(ctx.profile, ["resnet"])[:1])
both = {"default recipe (04)": next(iter(default_runs.values())), f"tuned ({winner.best_params})": tuned}
from charclf.study.findings import precision_columns
ctx.show(precision_columns(runs_table(both), both), "ResNet: the searched setting vs the default recipe")

# %% [markdown]
# ## What we found
#
# The sentences below are computed from the two searches' trials and the two runs above, so they hold for
# whichever profile rendered this notebook. Each search picks by its lowest validation loss after the short
# trials; the tuned and default runs are compared on validation accuracy, with the test part beside it.

# %%
from charclf.experiments.tune import TPE_STARTUP_TRIALS
from charclf.study.findings import search_findings
lines = search_findings({"random search": search.trials_dataframe(), "TPE": tpe.trials_dataframe()},
                        default=both["default recipe (04)"].record, tuned=tuned.record, shared_first=TPE_STARTUP_TRIALS,
                        profile=ctx.profile)
print("\n".join(f"* {line}" for line in lines))
