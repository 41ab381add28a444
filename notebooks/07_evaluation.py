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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/07_evaluation.ipynb)
#
# # 07 · Evaluation
#
# **Question:** where does the best model of notebook 04 go wrong, how much of that is a confusion of case, and can its
# confidence be trusted?
#
# Accuracy alone hides *which* characters a model confuses and how far its confidence can be trusted. This
# notebook takes the best run of notebook 04 — chosen on **validation** accuracy, never on test — and looks at
# its errors on the test part and on the train part: confusion matrices (62 classes, and merged to 47), per-class
# F1, the most frequent confusions, the most confident mistakes, the accuracy once the 15 case-ambiguous letters
# are merged, and calibration. At the end, every run of notebook 04, scored the same way.

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
best = ctx.best_run("04_training")
print(f"best run of notebook 04 by validation accuracy: {best.name} "
      f"(val {best.record.val_acc:.2%}, {ctx.tag})")
tta = best.record.tta
recorded = best.record.evaluation
print(f"scored with test-time augmentation: {'yes' if tta else 'no'} (as the run was); "
      f"evaluations recorded in its metrics.json: {', '.join(recorded) or 'none'}")
has_weights = (best.dir / "model.safetensors").is_file()
model = best.load_model() if has_weights else None
data = ctx.load_data("byclass")
classes = tuple(data.classes)

# %% [markdown]
# ## One evaluation, read from the run
#
# `fit` scored the chosen weights once, with `charclf.eval.evaluate.evaluate_model`, on the test part (and, under
# the full profile, on the train part), and recorded the metrics in the run's `metrics.json` and the confusion
# matrices as `confusion_<part>.csv`. This notebook reads those numbers instead of producing new ones. A run does
# not store per-image probabilities, which the gallery of mistakes and the calibration need, so the test part is
# run through the same function once more — and the cell checks that it gives the recorded accuracy. A part the
# run did not score (the train part under the quick profile) is scored here, the same way.

# %%
import pandas as pd
from charclf.eval.evaluate import evaluate_model
from charclf.study.evaluation import check_against_record, recorded_parts
batch = best.config.get("eval_batch_size", 1024)
result = evaluate_model(model, data.test, tta=tta, batch_size=batch) if has_weights else None
parts = recorded_parts(best, data, model, result, tta=tta, batch_size=batch)
for part, p in parts.items():
    print(f"{part} part: {p['entry']['n']:,} images, {p['source']}")

test = parts["test"]
# Same weights, data and float32 arithmetic: the recorded accuracy again, to 0.1% of the images (another CPU's
# kernels may round differently and flip a near-tie); asserted, not only printed.
check_against_record(result, test, len(data.test))

# %%
rows = ["n", "accuracy", "merged47_accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
        "precision_macro", "recall_macro", "f1_macro", "ece"]
scores = pd.DataFrame({f"{part} part": [p["entry"].get(r) for r in rows] for part, p in parts.items()}, index=rows)
ctx.show(scores.round(4), f"{best.name}: one evaluation per part, TTA {'on' if tta else 'off'} (train part: "
                          "the training images without augmentation)")

# %% [markdown]
# ## Confusion matrices: 62 classes, and merged to 47
#
# Rows are the true class, columns the prediction, each row normalised to 1, on a log colour scale so that
# confusions of a few images stay visible next to a large diagonal. The second pair of matrices folds the 15
# case-ambiguous letters into their capitals (as NIST's ByMerge and Balanced splits do), adding their rows and
# their columns: what remains off the diagonal are the confusions that are not a question of case.

# %%
from charclf.eval import figures as viz
from charclf.eval.evaluate import merge_confusion
for part, p in parts.items():
    display(ctx.save(viz.confusion_heatmap(p["confusion"], classes, subtitle=ctx.tag,
                                           title=f"Confusion matrix of {best.name}, {part} part, 62 classes "
                                                 "(rows: true class, row-normalised)"), f"07_confusion62_{part}"))
for part, p in parts.items():
    merged_cm, merged_classes = merge_confusion(p["confusion"], classes)
    display(ctx.save(viz.confusion_heatmap(merged_cm, merged_classes, subtitle=ctx.tag,
                                           title=f"Confusion matrix of {best.name}, {part} part, merged to 47 "
                                                 "classes"), f"07_confusion47_{part}"))

# %% [markdown]
# ## Per-class F1
#
# The bars are the test part's F1 of every class, worst first; the `WORST` lowest are in red (bar and label),
# listed in the table below with their F1 on the train part, the class each is most often mistaken for, and whether it
# is one side of a case-ambiguous pair. A class that is weak on the train part as well is hard to tell apart
# from its look-alike at all; one that is good on train and weak on test is overfitted.

# %%
from charclf.data import MERGED_LETTERS
from charclf.eval.evaluate import top_confusions
WORST = 10
per_class = pd.DataFrame(test["entry"]["per_class"]).set_index("char")
if "train" in parts:
    per_class["train f1"] = pd.DataFrame(parts["train"]["entry"]["per_class"]).set_index("char")["f1"]
mistaken = top_confusions(test["confusion"], classes, k=len(classes) ** 2).drop_duplicates("true").set_index("true")
per_class["most often predicted instead"] = mistaken["pred"]
per_class["share of its images"] = mistaken["share"]
per_class["case-ambiguous"] = [c.lower() in MERGED_LETTERS for c in per_class.index]
ctx.save(viz.per_class_f1(per_class.reset_index(), worst=WORST, subtitle=ctx.tag,
                          title=f"Per-class F1 of {best.name} on the test part, worst first"), "07_per_class_f1")

# %%
worst = per_class.sort_values("f1", kind="stable").head(WORST)
ctx.show(worst.round(3), f"The {WORST} classes with the lowest test F1 ({best.name})")
other_case = worst["most often predicted instead"] == worst.index.to_series().str.swapcase()
tied = int((per_class["f1"] == worst["f1"].iloc[-1]).sum())
if tied > int((worst["f1"] == worst["f1"].iloc[-1]).sum()):
    print(f"{tied} classes share the F1 of the {WORST}th worst ({worst['f1'].iloc[-1]:.3f}); the table shows the first "
          "of them in class order")
print(f"of these {WORST} classes, {int(worst['case-ambiguous'].sum())} are one side of a case-ambiguous pair "
      f"({' '.join(MERGED_LETTERS)}), and {int(other_case.sum())} are most often mistaken for their other case")
if "train f1" in worst:
    print(f"their mean F1: {worst['train f1'].mean():.3f} on the train part, {worst['f1'].mean():.3f} on the test "
          f"part (all classes: {per_class['train f1'].mean():.3f} and {per_class['f1'].mean():.3f})")

# %% [markdown]
# ## The most frequent confusions
#
# Counted on the test part (as the run recorded them), with the share of the true class's images that went to
# the wrong prediction, and whether the pair is only a question of case.

# %%
top = pd.DataFrame(test["entry"]["top_confusions"]).head(15)
top["case only"] = top["true"] == top["pred"].str.swapcase()
ctx.show(top.round(3), f"The 15 most frequent confusions of {best.name} (test part)")
print(f"{int(top['case only'].sum())} of these 15 pairs differ only by case")

# %% [markdown]
# ## The most confident mistakes
#
# Predicted character and its probability above each image, the true label below (test part). Judge for
# yourself how many are ambiguous or mislabelled images and how many are the model's own failures.

# %%
if result is None:
    print("no weights for this run here, so no per-image probabilities: RETRAIN = True rebuilds them")
else:
    display(ctx.save(viz.misclassified_gallery(data.test.images, result.y_true, result.y_pred, classes, result.probs,
                                               k=40, subtitle=ctx.tag + f" · {best.name}"), "07_misclassified"))

# %% [markdown]
# ## Merging the case-ambiguous letters
#
# NIST's ByMerge and Balanced splits merge `c i j k l m o p s u v w x y z` with their capitals (62 → 47
# classes). Scoring the same predictions after that merge shows how much of the error is a confusion between
# the two cases of one of these letters — the pairs EMNIST's own merged splits treat as one class, because
# after size normalisation many of their images differ in nothing but the label (notebook 01 counts how many of
# them a shape-only classifier must get wrong).

# %%
merged = pd.DataFrame({part: {"accuracy (62 classes)": p["entry"]["accuracy"],
                              "accuracy after merging to 47": p["entry"]["merged47_accuracy"]}
                       for part, p in parts.items()}).T
merged["errors removed by merging"] = 1 - (1 - merged.iloc[:, 1]) / (1 - merged.iloc[:, 0])
ctx.show(merged.round(4), f"Case merging for {best.name}: the same predictions, scored two ways")

# %% [markdown]
# ## Calibration
#
# A calibrated model that says 80 % is right 80 % of the time. The reliability diagram plots accuracy against
# confidence per bin on the test part; the expected calibration error (ECE) is the average gap, weighted by how
# many predictions fall in each bin.

# %%
title = f"Reliability diagram of {best.name} (test part)"
if result is None:
    print(f"no weights for this run here, so no per-image probabilities; recorded test ECE: {test['entry']['ece']:.4f}")
else:
    print(f"ECE: {result.metrics['ece']:.4f} (recorded by fit: {test['entry']['ece']:.4f})")
    display(ctx.save(viz.reliability_diagram(result.probs, result.y_true, subtitle=ctx.tag, title=title),
                     "07_reliability"))

# %% [markdown]
# ## Every model of notebook 04, scored the same way
#
# Every finished run of notebook 04, from the test evaluation its `metrics.json` records (nothing is evaluated
# again): accuracy, macro F1, the merged-47 accuracy and the calibration error, as the mean ± standard deviation
# over the seeds of each model (a single seed has no ± part). Sorted by validation accuracy, the number models
# are chosen by. The table is written to `outputs/runs/<profile>/07_evaluation/summary.json`.

# %%
from charclf.study import is_finished_run, load_run
from charclf.study.evaluation import every_model
from charclf.fileio import write_json
from charclf.provenance import run_metadata
runs = [load_run(d) for d in sorted((ctx.runs_dir / "04_training").iterdir()) if is_finished_run(d)]
records, stats, every = every_model(runs)
ctx.show(every, f"Every model of notebook 04 on the test part ({int(records['test n'].iloc[0]):,} images): "
                "mean ± std over seeds, from each run's recorded evaluation")
_ = write_json(ctx.runs_dir / "07_evaluation" / "summary.json", {
        "best_by_val": best.name, "tta": tta, "runs": records.to_dict(orient="records"),
        **{f"per_model_{s}": stats.xs(s, axis=1, level=1).to_dict(orient="index") for s in ("mean", "std")},
        **run_metadata(profile=ctx.profile, protocol=ctx.protocol, seed=ctx.seed)})

# %% [markdown]
# ## What we found
#
# Computed from the best run's recorded evaluation and its confusions above:

# %%
from charclf.study.findings import evaluation_found, print_found
print_found(evaluation_found(best.name, test["entry"], top))
