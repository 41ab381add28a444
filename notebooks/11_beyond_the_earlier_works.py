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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/11_beyond_the_earlier_works.ipynb)
#
# # 11 · Beyond the earlier works
#
# **Question:** can an ordinary 2-core CPU beat the earlier works — a better single model, smaller models, an ensemble,
# a faster time to accuracy?
#
# Notebooks 04–09 reproduce the earlier works. This one asks what a reader with an ordinary CPU can do
# better, and measures it against goals (mean over 3 seeds, chosen on val, holdout-test accuracy): this
# round's goals, in `charclf.study.goals`, are the table under the setup cell. An earlier round of goals was
# replaced by this one before all of it was met (met goals are no longer goals).
#
# The races (`charclf race`) run on seeds that took no part in choosing the raced recipe. A goal is "met" when the
# three-seed mean clears it by at least one std, "met, within noise" when by less.
#
# Everything below is read from run records that `charclf` wrote (notebook 04's runs and this notebook's own);
# the ensemble scores their committed weights. Selection uses val only; each run's test number is read once (the ensemble's was read
# at each of its rebuilds: its goal row says how often).

# %%
# Colab only: install charclf from GitHub, keeping Colab's own torch: the package pins lower bounds only, so
# pip does not reinstall it. REPO_URL is a placeholder for the project's GitHub address — change it for a fork.
REPO_URL = "https://github.com/charclf-study/charclf"
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"charclf @ git+{REPO_URL}"], check=True)

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
from charclf.study.goals import goal_targets
ctx.show(goal_targets(), "This round's goals (charclf.study.goals)")

# %% [markdown]
# ## Our runs
#
# * `charnet_xs` is `charnet_s`'s design (a full 3×3 stem, then residual blocks of depthwise-separable
#   convolutions at 28, 14 and 7 px, global average pooling, one linear layer) at widths 16/32/64: 29,534
#   parameters. It trains under `charnet_s`'s recipe unchanged (`charclf_tiny` = `charclf_small` but for the
#   model: SGD + OneCycle, label smoothing 0.1, EMA, mild affine, translation TTA), so the two sizes compare at
#   one recipe. `charnet_s` itself is one of notebook 04's runs.
# * `minivision_v3-charclf` and `resnet-charclf` are two of the earlier works' fast models trained under our
#   best recipe (`charclf_best`: the same ingredients, weight decay 5e-4, 30 epochs) instead of their own:
#   candidates for the single-model goal (a model trained within 2 hours on 2 CPU cores).
# * `minivision_v3-nearest` is Mini-Vision-V3's own recipe with its crop and rotation resampled nearest, as the
#   card's torchvision transforms do, instead of charclf's bilinear. Its seeds trained in bf16 on an AVX512-BF16
#   CPU, while notebook 04's `minivision_v3` seeds trained in float32 on an AVX2-only one, so against those it
#   differs in precision too. The ablation below pairs it instead with `minivision_v3-recipe`, the bilinear
#   recipe trained in bf16 on the same kind of CPU, seed by seed; its `precision` and `also differs` columns say
#   whether anything but the resampling still differs (a pair whose baseline has not finished is absent).
# * `minivision_s` and `minivision_s_gap` are Mini-Vision-V3 narrowed to ≤ 100k parameters, for the ≤ 100k
#   goal, under the same nearest-resampled recipe: blocks 32/64/64 with a smaller flatten + Linear head (97,022
#   parameters), or blocks 32/64/120 with a global-average-pool head (95,990), the parameters moved from the head
#   to the last convolution. Plain convolutions train in bf16 on a CPU with native bf16, which `charnet_s`'s
#   depthwise ones do not gain from (they train in float32; the frontier table's seconds show the cost, across
#   machines and threads). Seed 0 of each was compared on val; only the better one trained seeds 1 and 2 (the other's
#   missing seeds are listed as not trained).
# * `minivision_v3_s2d` is the race's network (below): Mini-Vision-V3 whose 28 px block is replaced by a
#   lossless space-to-depth stem (each 2×2 patch of the image becomes 4 channels of a 14×14 one, then a 3×3
#   convolution to 32 channels), which makes its CPU training step cheaper. It trains under both full recipes,
#   Mini-Vision-V3's nearest-resampled one and `charclf_best`, so the ablation measures what the stem costs at
#   full length, and the ensemble gets members of another architecture.

# %%
from charclf.study.plan import beyond_runs, train_plan
data = ctx.load_data("byclass")
beyond, status = train_plan(ctx, data, beyond_runs(ctx.profile))
ctx.show(status, "This notebook's runs (images/s measured before training)")

# %% [markdown]
# ## An ensemble of the study's models
#
# Every finished run above whose weights were kept is a candidate member. The ensembles average the members'
# probabilities: **all** of them (no choice at all); a **greedy** one, built on val by forward selection with
# replacement (start from the best member on val, add whichever member raises val accuracy most, stop when none
# does); and **cv**, the one the goal reads. Greedy selection once fitted val noise (seven more candidates raised
# val and lowered test, a drop seen on test, which is why `cv` came in:
# [before](../outputs/runs/full/11_beyond/ensemble/results-2026-12-02T154903+0000.json),
# [after](../outputs/runs/full/11_beyond/ensemble/results-2026-12-02T191356+0000.json)), so `cv` chooses the selection *method* on held-out halves of val:
# greedy, or the k best members on val averaged uniformly, for every k; each method selects on one stratified
# half and is scored on the other, both ways, and the best held-out accuracy wins and is run on the whole of val.
# Each member's probabilities are cached, so new runs only add their own scoring. Test is read only for a chosen
# ensemble whose members changed: a rebuild (a new run finished) whose greedy and cv selections come out the same
# carries the earlier test numbers and names the build that read them; **all** changes with every run, so it is
# scored on val only.

# %%
from charclf.study.beyond import ensemble
from charclf.study.beyond_found import show_ensemble
ensembled = ensemble(ctx.runs_dir, data, profile=ctx.profile)
show_ensemble(ctx, ensembled)

# %% [markdown]
# ## Distilling the ensemble into the small models
#
# The ensemble is too slow to ship, but it can teach. The teacher is the greedy ensemble **of the day it was
# written**: its members score every image of the training part once (clean images, each member with its own
# TTA setting), and the small models train under their own recipes towards `0.5 × the teacher's probabilities
# + 0.5 × the true label` (Hinton et al.'s distillation at temperature 1: the soft targets carry which wrong
# classes are plausible, e.g. `O` for a `0`). The teacher is written once and never rewritten, because its
# students' configs name its file, so it can differ from the ensemble above, which is rebuilt as runs are added:
# the cell prints its members and whether they are the greedy ensemble's. It learns nothing from the val or
# test parts. The plan distils `charnet_s`, `charnet_xs` and `minivision_s`; the cell counts which have
# trained. Only `minivision_s`'s students learnt from that first teacher; every run trained since (the settings
# tried on `minivision_s`, α 0.8 and temperature 3, the α-0.5 student trained again as their base, and the other
# students) learns from a second one: the same members scored in float64. The first was scored in float32, whose
# sums come out in another order on another kind of CPU, so it could not be rebuilt bit for bit on the AMD EPYC
# these settings trained on; in float64 the difference is far below float16's steps, so it rebuilds anywhere.

# %%
from charclf.study.beyond import train_students
from charclf.study.beyond_found import students_line, teacher_lines
teachers, students, student_status = train_students(ctx, data, ensembled)
print("\n".join(teacher_lines(teachers, ensembled, train_missing=ctx.train_missing)))
if not student_status.empty:
    ctx.show(student_status, "The distilled runs")
    print(students_line(student_status))

# %% [markdown]
# ## The frontier: accuracy, parameters, CPU-seconds
#
# Every model trained in notebooks 04 and 11, one row per model and way of training it (`minivision_s-kd` is
# `minivision_s` distilled; mean and sample std over its seeds; `n` seeds). `train s mean` is the training time
# on the machine that trained it (see each record's provenance) with `threads` CPU threads: the runs come from
# several sessions' machines, some at 1 thread and some at 2 (`minivision_s` at 2 against its one-change arms at
# 1, in the table), so seconds compare only between rows of one thread count, and the figure below
# is a map, not a race (the race further down is one). `TTA` says whether the test number averages
# translated copies. An entry `<entry> +TTA` is that entry's runs scored again with TTA on val and on test: the
# same weights read another way, so a goal chooses between both on val; it fills no `model_hub` slot, which
# ships a run as its record says.

# %%
from charclf.study.beyond import frontier, model_rows
rows = model_rows(ctx.runs_dir)
front = frontier(rows)
# "precision (train / val)" counts every seed's (the first seed's alone is not shown); "distilled" is the goals'
ctx.show(front.drop(columns=["precision", "distilled"], errors="ignore").round(4),
         "Every model of the study: accuracy, size and training time")

# %%
from charclf.eval import figures as viz
points = front.reset_index().rename(columns={"test_mean": "holdout-test accuracy"})
# display() each figure: a cell shows only its last value, and both figures are part of the argument.
display(ctx.save(viz.params_vs_accuracy(points, y="holdout-test accuracy", label="entry",
                                        budgets=(10_000, 30_000, 100_000, 400_000, 1_500_000),
                                        title="Accuracy per parameter: the earlier works' models (04) and ours (11)",
                                        subtitle=ctx.tag), "11_params_vs_accuracy"))
display(ctx.save(viz.params_vs_accuracy(points, x="train s mean", y="holdout-test accuracy", label="entry",
                                        hue="precision (train / val)",
                                        title="Accuracy per CPU-second of training (on the machine and threads "
                                              "that trained each run; colour: its precision)", subtitle=ctx.tag),
                 "11_seconds_vs_accuracy"))

# %% [markdown]
# ## The goals
#
# For each goal, the candidate is the model with the highest **val** mean inside the goal's limits; then its
# test mean is compared with the target. A goal counts as met only with 3 seeds (`seeds`). The MNIST row reads
# notebook 08's runs on the official MNIST test: transfer from EMNIST, from scratch and Mini-Vision-V2 under the
# earlier study's recipe, and transfer and scratch again under `charclf_best`; notebook 08 shows both pairs.

# %%
import pandas as pd
from charclf.study.beyond import ENSEMBLE_RUN
from charclf.study.goals import ensemble_test_reads, goals_table, mnist_goal
from charclf.study.headline import mnist_table
# ensemble_reads: how many builds of the ensemble read its test (each rebuild is kept beside the last)
goals = pd.concat([goals_table(front, ensembled, ensemble_reads=ensemble_test_reads(ctx.runs_dir / ENSEMBLE_RUN)),
                   mnist_goal(mnist_table(ctx.runs_dir, ctx.runs_dir / "08_mnist_transfer"))])
ctx.show(goals.round(4), "The goals beyond the earlier works: met or not")

# %% [markdown]
# ## What helped and what did not
#
# One change at a time against a shared base (notebooks 02 and 09: Mini-Vision-V3's recipe at 15 epochs, one
# seed), each distilled model against the same model without a teacher, and the ensemble against its best
# member. Δ in accuracy points; val decides, test is beside it. Arms
# not trained yet under this profile are absent.
#
# The rows from notebook 11's own plan are paired seed by seed (the seeds both sides have), and *Δ test paired
# std* is the spread of the seed-by-seed test changes: a mean change smaller than it is within noise. They
# include the one-change experiments on `minivision_s` (an EMA of the weights, label smoothing, OneCycle, a
# first convolution initialised from the data, SWA over the last 25 epochs), each against `minivision_s-fp32val`:
# the base trained again beside them, on the same machine and threads, its best epoch chosen on float32 val as
# theirs (the older `minivision_s` seeds chose theirs on bf16 val), its widths and depths at a fixed time
# budget (blocks 24/48/48, 48/96/96 and 32/64/64/60, each trained for the epochs that fit in the base's time for
# 50, as `tools/time_budget_widths.py` measured), a longer OneCycle for the ≤ 10k model, two settings of
# distillation (α 0.8, temperature 3, each against the α 0.5 student trained again beside them,
# `minivision_s-kd-fp32val`), each rerun base against its first training (the same config: what moves is the
# precision of the val that chose the epoch, the threads and the machine), and test-time translation averaging (the
# same weights scored again, so nothing else differs). *config differs in* is read from the two sides' saved
# training configs, not from the label: a recipe swap (`minivision_xs-charclf`) lists every field it changes.
# *also differs* names what else differs between the sides (the precision of training, of the val score, or of
# the per-epoch val that chose the weights). An arm gets a verdict at 3 seeds, decided on val: it helps when the
# mean paired val change is above its paired std, hurts when it is below minus that std, and is within noise
# otherwise; the test change is printed beside it and decides nothing. The verdict lines below name any other
# difference beside it. The widths, depths and distillation settings above that have not finished yet are absent
# from the table (the plan table at the top lists them as not yet trained).

# %%
from charclf.study.beyond import ablation_table
ablation = ablation_table(ctx.runs_dir, ensembled, profile=ctx.profile)
if ablation.empty:
    print(f"No ablation arm has finished under the {ctx.profile} profile yet (notebooks 02 and 09 train them).")
else:
    ctx.show(ablation.round(4), "Ablation: each change against its base")

# %% [markdown]
# ## The time-to-accuracy race
#
# `charclf race` trains Mini-Vision-V3's recipe from the same initial weights through the earlier works'
# pipeline (`usual`: a `DataLoader` with per-image torchvision transforms, float32, nearest resampling, as they
# shipped it) and through `charclf`'s (the whole dataset in memory, augmentation in batches, channels_last). The
# `charclf` entrant also trains in bf16 where the hardware runs it natively and resamples its rotations bilinear,
# so `ratio` (usual over charclf) is the pipeline, the precision and the resampling together. The entrant
# `charclf_fp32_nearest` runs `charclf`'s pipeline at the usual side's float32 and nearest resampling: its
# `ratio_pipeline` is the pipeline alone (recorded in races run since it was added). `charclf_fast` trains a
# recipe of ours (`charclf_race`) through `charclf`'s pipeline: `ratio_fast` is what a reader gains from all of
# it. Each entrant stops at the first epoch whose float32 val accuracy reaches the target; the stopwatch counts
# training epochs only. The table below states each entrant's precision, resampling and epochs, and the race's
# seeds beside the seeds of the search that chose `charclf_race`: a race on those seeds is in-sample, and meets
# no goal.

# %%
import pandas as pd
from charclf.paths import bench_dir
from charclf.study.goals import race_facts, race_goals
from charclf.study.beyond_found import race_figure, read_race
race = read_race(bench_dir() / "bench-cpu-time-to-accuracy.json")
race_goal_table = race_goals(race) if race is not None else None
if race is not None:
    ctx.show(pd.DataFrame(race["summary"]).T, f"Seconds to {race['target']:.1%} val accuracy, per pipeline")
    print(race_facts(race))
    ctx.show(race_goal_table, "The race's goals (seconds and ratio; test mean at the stopping epoch)")
    display(ctx.save(race_figure(race), "11_time_to_accuracy"))

# %% [markdown]
# The same race on a CPU without native bf16: an AVX2-only machine, measured here by capping the kernels to AVX2
# (`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 charclf race --pipelines usual --fast-recipe charclf_race
# --out outputs/bench/bench-cpu-avx2-time-to-accuracy.json`), where every entrant trains in float32. Its goal
# counts only when the JSON's machine record says the kernels were AVX2 and every entrant float32.

# %%
from charclf.study.goals import avx2_race_goal
avx2_race = read_race(bench_dir() / "bench-cpu-avx2-time-to-accuracy.json")
avx2_goal_table = avx2_race_goal(avx2_race)
if avx2_race is not None:
    ctx.show(pd.DataFrame(avx2_race["summary"]).T, f"AVX2-only, float32: seconds to {avx2_race['target']:.1%} val")
ctx.show(avx2_goal_table, "The AVX2-only race's goal")

# %% [markdown]
# ## What we found
#
# The verdicts come from the goals tables above, computed from the records and the race's JSON. A goal is met
# when the three-seed test mean clears it by at least one standard deviation, "met, within noise" when by less:

# %%
from charclf.study.beyond_found import experiment_lines, goal_lines, race_goal_lines
print("\n".join(goal_lines(goals) + race_goal_lines(race_goal_table) + race_goal_lines(avx2_goal_table)))
print("\nThe paired comparisons, seed by seed:")
print("\n".join(f"- {line}" for line in experiment_lines(ablation)) or "- none has finished under this profile")

# %% [markdown]
# * Under the **quick** profile the runs above see a few thousand images for at most two epochs: the tables
#   show that every step runs end to end, not what the models can do, and no goal can be met there.
# * Under the **full** profile every run trains on the complete 93,055-image training part; the README and the
#   model cards in `model_hub/` quote those numbers.
