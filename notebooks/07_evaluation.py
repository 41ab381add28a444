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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/07_evaluation.ipynb)
#
# # 07 · Evaluation
#
# Accuracy alone hides *which* characters a model confuses and how far its confidence can be trusted. This
# notebook takes the best run of notebook 04 — chosen on **validation** accuracy, never on test — and looks at
# its errors on the test part: confusion matrix, per-class F1, the most frequent confusions, the most
# confident mistakes, the accuracy once the 15 case-ambiguous letters are merged, and calibration.

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
best = ctx.best_run("04_training")
print(f"best run of notebook 04 by validation accuracy: {best.name} "
      f"(val {best.metrics['best_val_acc']:.2%}, {ctx.tag})")
model = best.load_model()
data = ctx.load_data("byclass")

# %%
import pandas as pd
from charclf.evaluate import evaluate_model
result = evaluate_model(model, data.test)
ctx.show(pd.Series(result.metrics, name=best.name).to_frame().round(4),
         f"{best.name} on the test part ({len(data.test):,} images)")

# %% [markdown]
# ## Confusion matrix
#
# Rows are the true class, columns the prediction, each row normalised to 1, on a log colour scale so that
# 1 % confusions are visible next to a 95 % diagonal. The blocks off the diagonal are the lower/upper case
# pairs of the same letter and the letter/digit look-alikes.

# %%
from charclf import viz
ctx.save(viz.confusion_heatmap(result.confusion, result.classes,
                               title=f"Confusion matrix of {best.name} (rows: true class, row-normalised)",
                               subtitle=ctx.tag), "07_confusion_matrix")

# %% [markdown]
# ## Per-class F1
#
# The worst classes (in red: more than one standard deviation below the mean) are almost all one side of a
# case-ambiguous pair or a letter that looks like a digit.

# %%
ctx.save(viz.per_class_f1(result.per_class, title=f"Per-class F1 of {best.name}, worst first", subtitle=ctx.tag),
         "07_per_class_f1")

# %%
ctx.show(result.top_confusions(15), f"The 15 most frequent confusions of {best.name} (test part)")

# %% [markdown]
# ## The most confident mistakes
#
# Predicted character and its probability above each image, the true label below. Many of these are
# genuinely ambiguous or mislabelled images; some are a model's real failures.

# %%
ctx.save(viz.misclassified_gallery(data.test.images, result.y_true, result.y_pred, result.classes, result.probs,
                                   k=40, subtitle=ctx.tag + f" · {best.name}"), "07_misclassified")

# %% [markdown]
# ## Merging the case-ambiguous letters
#
# NIST's ByMerge and Balanced splits merge `c i j k l m o p s u v w x y z` with their capitals (62 → 47
# classes). Scoring the same predictions after that merge shows how much of the error is case confusion that
# no classifier could resolve from a normalised 28×28 image.

# %%
merged = pd.DataFrame({"accuracy (62 classes)": [result.metrics["accuracy"]],
                       "accuracy after merging to 47": [result.metrics["merged47_accuracy"]]}, index=[best.name])
merged["errors removed by merging"] = 1 - (1 - merged.iloc[:, 1]) / (1 - merged.iloc[:, 0])
ctx.show(merged.round(4), "Case merging: same predictions, two ways of scoring")

# %% [markdown]
# ## Calibration
#
# A calibrated model that says 80 % is right 80 % of the time. The reliability diagram plots accuracy against
# confidence per bin; the expected calibration error (ECE) is the average gap, weighted by how many
# predictions fall in each bin.

# %%
ctx.save(viz.reliability_diagram(result.probs, result.y_true, title=f"Reliability diagram of {best.name}",
                                 subtitle=ctx.tag), "07_reliability")

# %% [markdown]
# ## Every model of notebook 04, scored the same way
#
# The same evaluation for every finished run of notebook 04: accuracy, macro F1, the merged-47 accuracy and
# the calibration error on the test part. The results are written to
# `outputs/runs/<profile>/07_evaluation/summary.json`.

# %%
from charclf.notebook_utils import is_finished_run, load_run
from charclf.provenance import run_metadata, write_json
scores = {}
for run_dir in sorted((ctx.runs_dir / "04_training").iterdir()):
    if not is_finished_run(run_dir):
        continue
    if not (run_dir / "model.safetensors").exists():  # large quick-profile weights are not committed
        print(f"{run_dir.name}: no weights here (not committed); RETRAIN = True rebuilds them")
        continue
    scores[run_dir.name] = evaluate_model(load_run(run_dir).load_model(), data.test).metrics
scores = pd.DataFrame(scores).T.sort_values("accuracy", ascending=False)
write_json(ctx.runs_dir / "07_evaluation" / "summary.json", {
    "best_by_val": best.name, "test_part": len(data.test), "scores": scores.to_dict(orient="index"),
    **run_metadata(profile=ctx.profile, protocol=ctx.protocol, seed=ctx.seed)})
ctx.show(scores[["accuracy", "f1_macro", "merged47_accuracy", "ece"]].round(4),
         "Every model of notebook 04 on the test part")
