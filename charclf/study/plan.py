"""What the study trains, as data: one list that the notebooks render and a background runner trains.

Notebook 04 and ``charclf plan`` read the same :func:`training_runs`, so the runs a long
background job leaves under ``outputs/runs/<profile>/`` are exactly the ones the notebook loads (a run killed
by the end of a session resumes where it stopped; see :func:`charclf.study.notebook.cached_run`).

A model trains under a profile only when its full recipe fits the machine: before training, its training
step is timed on the real data (:func:`measure_images_per_s`) and the recipe's time is estimated; a model over
the profile's budget is listed as untrained with that measurement, never trained under a cut recipe.

    charclf plan --profile full --only 04          # train what is missing, cheapest first
    charclf plan --profile full --only 04 --dry-run
    charclf plan --profile full --only 09-efficientnet --dry-run   # time B2/B3 only

(the command line lives in :mod:`charclf.study.plan_cli`, above both this plan and notebook 11's
:mod:`charclf.study.beyond`, which reads it).
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass

from charclf.errors import NotTrainedYet
from charclf.provenance import read_json
from charclf.study.runid import RunId, notebook_of
from charclf.train.throughput import measure_images_per_s

# Notebook 04: every earlier work's model under its own recipe, and ours.
TRAINING_PLAN = {
    "lenet": "byclass_study", "alexnet": "byclass_study", "vgg": "byclass_study", "resnet": "byclass_study",
    "spinalnet": "byclass_study", "ensnet": "byclass_study", "minivision_v2": "minivision_v2",
    "minivision_v3": "minivision_v3", "lenet5_keras": "lenet5_keras", "charnet_s": "charclf_small",
    "charnet_m": "charclf_fast", "charnet_l": "charclf_best",
}
# The headline models get three seeds under the full profile (mean +- std); the others one.
MULTI_SEED_MODELS = ("vgg", "minivision_v3", "charnet_s")
FULL_SEEDS = (0, 1, 2)
# A full recipe that would take longer than this on the machine at hand is not trained there.
NOT_YET_TRAINED = "not yet trained"  # a plan row's reason while a run is missing and the notebook only renders
RUN_BUDGET_S = {"quick": None, "full": 3 * 3600.0}


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the study: a folder ``outputs/runs/<profile>/<name>`` (``run_id.name``), trained with
    ``seed``; ``overrides`` change the recipe (``get_recipe`` keywords, as ``(key, value)`` pairs) and ``label``
    says what the run tests."""

    run_id: RunId
    model: str
    recipe: str
    seed: int
    evaluate_parts: tuple[str, ...] = ("test",)
    overrides: tuple[tuple[str, object], ...] = ()
    label: str = ""

    @property
    def name(self) -> str:
        """The run's folder under the profile's runs folder (``04_training/vgg-seed0``)."""
        return self.run_id.name

    @property
    def entry(self) -> str:
        """The run's entry and variant, without group or seed (``vgg``, ``minivision_v3-charclf``, ``charnet_s-kd``)."""
        return self.run_id.stem

    def config(self, ctx):
        """The run's TrainConfig under ``ctx``'s profile (epochs capped by the quick profile)."""
        from charclf.train.recipes import get_recipe

        return ctx.adapt(get_recipe(self.recipe, model=self.model, **dict(self.overrides)), seed=self.seed)


# Notebook 02 and 09: ablations on one CPU-sized model and recipe, each arm changing one thing. Mini-Vision-V3
# under its own recipe, cut to 15 epochs: by then its step schedule has most of its gain (the committed
# bf16 runs reached 86.42% val at 15 epochs and 86.50% at 50), and four arms stay affordable on 2 cores.
ABLATION_MODEL, ABLATION_RECIPE, ABLATION_EPOCHS = "minivision_v3", "minivision_v3", 15


def lion_from_scratch():
    """Lion as the EfficientNet recipe sets it (betas, decay) but at lr 3e-4: its 1e-4 is for fine-tuning
    pre-trained weights, and the Lion paper's advice for training from scratch is 3-10x below AdamW's usual 1e-3."""
    from charclf.train.config import OptimizerConfig
    from charclf.train.recipes import RECIPES

    kaggle = RECIPES["efficientnet_kaggle"].config.optimizer
    return OptimizerConfig(name="lion", lr=3e-4, weight_decay=kaggle.weight_decay, betas=kaggle.betas, momentum=0.0)


def _arms() -> dict[str, dict]:
    from charclf.train.config import AugmentConfig
    from charclf.train.recipes import BYCLASS_AFFINE, MINIVISION_AUGMENT, MINIVISION_AUGMENT_NEAREST, RECIPES

    kaggle = RECIPES["efficientnet_kaggle"].config
    mix = dict(mixup_alpha=kaggle.augment.mixup_alpha, cutmix_alpha=kaggle.augment.cutmix_alpha,
               mix_prob=kaggle.augment.mix_prob)
    recipe_aug_mixed = AugmentConfig(crop_padding=MINIVISION_AUGMENT.crop_padding,
                                     rotation=MINIVISION_AUGMENT.rotation, **mix)
    from charclf.train.recipes import compress_schedule

    restarts = compress_schedule(kaggle.scheduler, ABLATION_EPOCHS / kaggle.epochs)
    lion = lion_from_scratch()
    return {
        "02_augmentation": {
            "recipe-crop-rotation": ({}, "the recipe's own augmentation: crop (pad 2) + rotation 10"),
            "none": ({"augment": AugmentConfig()}, "no augmentation"),
            "byclass-affine": ({"augment": BYCLASS_AFFINE}, "the ByClass study's RandomAffine instead"),
            "recipe-mixup-cutmix": ({"augment": recipe_aug_mixed}, "the recipe's augmentation + MixUp/CutMix"),
            "recipe-crop-rotation-nearest": ({"augment": MINIVISION_AUGMENT_NEAREST},
                                             "the recipe's own augmentation, resampled nearest (as torchvision does)"),
        },
        "09_efficientnet_ideas": {
            # The same runs as two arms of 02 (same config and seed): shared, not trained twice (SHARED_ARMS).
            "recipe-crop-rotation": ({}, "base: Mini-Vision-V3's recipe (SGD, StepLR, CE)"),
            "recipe-mixup-cutmix": ({"augment": recipe_aug_mixed}, "+ MixUp/CutMix"),
            "lion": ({"optimizer": lion}, f"Lion (lr {lion.lr:g}, weight decay {lion.weight_decay:g}) instead of "
                                          f"SGD (lr {RECIPES[ABLATION_RECIPE].config.optimizer.lr:g})"),
            "warmup-cosine-restarts": ({"scheduler": restarts},
                                       f"warmup {restarts.warmup_epochs} + cosine warm restarts every {restarts.t0} "
                                       f"epochs (the recipe's shape scaled to {ABLATION_EPOCHS}) instead of StepLR"),
            "weighted-kldiv": ({"loss": "weighted_kldiv"}, "class-weighted KLDiv instead of cross-entropy"),
            "all-four": ({"augment": recipe_aug_mixed, "optimizer": lion, "scheduler": restarts,
                          "loss": "weighted_kldiv"}, "all four ideas together"),
        },
    }


# Arms that are another group's run (same config and seed), by group: arm -> the group whose folder holds it.
SHARED_ARMS = {"09_efficientnet_ideas": {"recipe-crop-rotation": "02_augmentation",
                                         "recipe-mixup-cutmix": "02_augmentation"}}


def ablation_runs(group: str) -> list[PlannedRun]:
    """The arms of notebook 02's augmentation ablation or 09's EfficientNet-ideas ablation (one seed each, seed 0,
    which their folder names do not carry)."""
    arms, shared = _arms()[group], SHARED_ARMS.get(group, {})
    return [PlannedRun(RunId(group, arm, shared_with=shared.get(arm)), ABLATION_MODEL, ABLATION_RECIPE, 0,
                       ("test",), tuple({"epochs": ABLATION_EPOCHS, **overrides}.items()), label)
            for arm, (overrides, label) in arms.items()]


def select_arms(plan: list[PlannedRun], arms: list[str] | None) -> list[PlannedRun]:
    """The ablation runs named in ``arms`` (by :attr:`PlannedRun.entry`), in that order; all when None."""
    if arms is None:
        return plan
    return sorted((r for r in plan if r.entry in arms), key=lambda r: arms.index(r.entry))


# Notebook 09: the EfficientNet transfer study's own networks under its recipe. At 112 px neither fits a CPU, so
# the full profile times one step of each and lists them with that measurement (a GPU session trains them).
EFFICIENTNETS = ("efficientnet_b2", "efficientnet_b3")


def efficientnet_runs(models: list[str] | None = None) -> list[PlannedRun]:
    """Notebook 09's EfficientNet-B2 and B3 runs under ``efficientnet_kaggle`` (seed 0)."""
    return [PlannedRun(RunId("09_efficientnet", name, seed=0), name, "efficientnet_kaggle", 0)
            for name in EFFICIENTNETS if models is None or name in models]


# Notebook 09's CPU-scale EfficientNet-B2: from scratch (no ImageNet weights can be fetched here) under the
# recipe's MixUp/CutMix, Lion, warm-up + cosine restarts and class-weighted KLDiv, at a smaller internal resize.
# Each size's training step is timed; the largest whose full recipe fits RUN_BUDGET_S is the one trained.
# The recipe's 35 epochs (5 warm-up + 3 cosine cycles of 10) do not fit 3 h at any size on 2 cores (28 px: ~3.5 h
# at the 261 images/s measured on 7 Dec), so the schedule keeps its shape over 25 epochs: 4 warm-up + 3 cycles
# of 7, still ending at an lr minimum (recipes.compress_schedule).
EFFICIENTNET_CPU_MODEL, EFFICIENTNET_CPU_SIZES, EFFICIENTNET_CPU_EPOCHS = "efficientnet_b2", (28, 40, 56), 25


def efficientnet_cpu_runs(sizes=EFFICIENTNET_CPU_SIZES) -> list[PlannedRun]:
    """One planned CPU-scale B2 run per internal input size (variant ``<size>px``, seed 0), smallest first."""
    from charclf.train.recipes import RECIPES, compress_schedule

    kaggle = RECIPES["efficientnet_kaggle"].config
    schedule = compress_schedule(kaggle.scheduler, EFFICIENTNET_CPU_EPOCHS / kaggle.epochs)
    return [PlannedRun(RunId("09_efficientnet", EFFICIENTNET_CPU_MODEL, f"{size}px", seed=0), EFFICIENTNET_CPU_MODEL,
                       "efficientnet_kaggle", 0, ("test",),
                       (("model_kwargs", {"input_size": size}), ("optimizer", lion_from_scratch()),
                        ("epochs", EFFICIENTNET_CPU_EPOCHS), ("scheduler", schedule)),
                       f"CPU scale: from scratch, {size} px inside the model, Lion lr 3e-4, the schedule over "
                       f"{EFFICIENTNET_CPU_EPOCHS} epochs")
            for size in sorted(sizes)]


def efficientnet_cpu_plan(ctx, data, *, train: bool | None = None, measure: bool | None = None):
    """Time every size of :func:`efficientnet_cpu_runs` (cached feasibility; ``measure``, default ``train``, times
    the sizes not timed yet), then train (or load) the largest whose full recipe fits the profile's budget. Returns
    ``(run or None, status)``: the chosen run and one row per size with its images/s, estimated time, whether it
    was timed within the budget ("fits budget") and whether it is the one chosen."""
    import math

    train = ctx.train_missing if train is None else train
    plan = efficientnet_cpu_runs()
    finished, status = train_plan(ctx, data, plan, train=False, measure=train if measure is None else measure)
    timed = RUN_BUDGET_S.get(ctx.profile) is not None  # the quick profile times nothing: its MACs limit decides

    def fits(r: PlannedRun) -> bool:  # measured within the budget (feasibility said so), or not timed at all
        row = status.loc[r.name]
        return row["reason"] == NOT_YET_TRAINED and (not timed or not math.isnan(row["estimated_s"]))

    fitting = [r for r in plan if r.name in finished or fits(r)]
    # Timed here and within the budget (trained or not yet): what efficientnet_cpu_line says of the chosen size.
    status["fits budget"] = status["estimated_s"].notna() & (status["reason"].isna()
                                                             | (status["reason"] == NOT_YET_TRAINED))
    status["chosen"] = False
    if not fitting:
        return None, status
    # A finished size stays the chosen one (its result is what the notebook shows); else the largest that fits.
    chosen = next((r for r in reversed(plan) if r.name in finished), fitting[-1])
    status.loc[chosen.name, "chosen"] = True
    runs, after = train_plan(ctx, data, [chosen], train=train)
    status.loc[chosen.name, ["trained", "reason"]] = after.loc[chosen.name, ["trained", "reason"]].tolist()
    return runs.get(chosen.name), status


def training_runs(profile: str, models: list[str] | None = None) -> list[PlannedRun]:
    """Notebook 04's runs under ``profile``: one seed per model (three for MULTI_SEED_MODELS under full).

    Full-profile runs also score the train part, for the earlier study's generalisation table."""
    runs = []
    for model, recipe in TRAINING_PLAN.items():
        if models is not None and model not in models:
            continue
        seeds = FULL_SEEDS if profile == "full" and model in MULTI_SEED_MODELS else FULL_SEEDS[:1]
        parts = ("train", "test") if profile == "full" else ("test",)
        runs += [PlannedRun(RunId("04_training", model, seed=s), model, recipe, s, parts) for s in seeds]
    return runs


# Notebook 11: our models beyond the earlier works, three seeds each under the full profile (the <=100k
# charnet_s is notebook 04's). Their mean +- std goes to the model cards in model_hub/.
# Entry -> (model, recipe): our smallest model; two of the study's fast models under our best recipe
# (OneCycle, label smoothing, EMA, TTA), candidates for a single model of >= 87% within 2 h on 2 CPU cores; and
# Mini-Vision-V3's own recipe resampled nearest, paired seed by seed with notebook 04's bilinear runs; and two
# <= 100k-parameter narrowings of Mini-Vision-V3 under that recipe (plain convs, so bf16 applies, unlike
# charnet_s's depthwise ones), seed 0 of each compared on val before the better one gets seeds 1 and 2; and the
# race's space-to-depth Mini-Vision-V3 under both full recipes: what its cheaper stem costs in accuracy, and
# members from another architecture for the ensemble.
# (model, variant) -> recipe; a run's folder is <model>[-<variant>]-seed<N> (RunId).
BEYOND_PLAN = {("charnet_xs", ""): "charclf_tiny",
               ("minivision_v3", "charclf"): "charclf_best",
               ("resnet", "charclf"): "charclf_best",
               ("minivision_v3", "nearest"): "minivision_v3_nearest",
               # Notebook 04's Mini-Vision-V3 run again, on the machine (and so at the precision) of the runs it is
               # compared with here: the nearest arm above and the space-to-depth model trained in bf16, where
               # notebook 04's three seeds trained in float32.
               ("minivision_v3", "recipe"): "minivision_v3",
               ("minivision_s", ""): "minivision_v3_nearest",
               # The same again as the base of issue #38's one-change arms: its seeds chose their best epoch on bf16
               # val at 2 threads on another host, the arms on float32 val at 1 thread here, so the arms' one change
               # was not the only one. Trained beside the arms, it differs from them in the change alone.
               ("minivision_s", "fp32val"): "minivision_v3_nearest",
               ("minivision_s_gap", ""): "minivision_v3_nearest",
               ("minivision_xs", ""): "minivision_v3_nearest",  # <= 10k: the same design, narrower still
               # ... and under our small models' recipe (OneCycle, label smoothing, EMA, TTA): under Mini-Vision-V3's
               # step schedule its seed 0 peaked on val at epoch 17 of 50 (84.38% val, 83.69% test).
               ("minivision_xs", "charclf"): "charclf_tiny",
               ("minivision_v3_s2d", "nearest"): "minivision_v3_nearest",
               ("minivision_v3_s2d", "charclf"): "charclf_best",
               # The nearest arm again with capture augmentation (issue #39): for photographed and scanned
               # characters, paired seed by seed with the nearest arm.
               ("minivision_v3", "capture"): "minivision_v3_nearest_capture"}
BEYOND = "11_beyond"

# Issue #38's one-change experiments, each paired seed by seed with its base entry of BEYOND_PLAN: (model,
# variant) -> (overrides of the base's recipe, what changes). On minivision_s (97k parameters, the <= 100k
# candidate, ~11 min a seed in bf16 here), so three seeds of an arm cost about half an hour.
# Test-time translation averaging, an evaluation-only change: these entries' seeds are scored again with it
# (charclf evaluate --tta on val and test) and paired with themselves (beyond._tta_rows).
# minivision_s-onecycle, the best <= 100k entry on val, joined after its val rose with TTA on every seed (+0.17,
# +0.17, +0.18 points), before its test was scored with it.
TTA_SERIES = (RunId(BEYOND, "minivision_s"), RunId(BEYOND, "minivision_v3", "nearest"),
              RunId(BEYOND, "minivision_s", "onecycle"))
EXPERIMENT_BASE = ("minivision_s", "fp32val")
EXPERIMENTS = {
    ("minivision_s", "ema"): ({"ema_decay": 0.999}, "+ an EMA of the weights (decay 0.999), evaluated and saved"),
    ("minivision_s", "ls"): ({"label_smoothing": 0.1}, "+ label smoothing 0.1"),
    ("minivision_s", "datainit"): ({"data_init_first_layer": True},
                                   "+ the first convolution initialised from the data (patch whitening)"),
    ("minivision_s", "onecycle"): ({"scheduler": {"name": "onecycle", "warmup_epochs": 5}},
                                   "OneCycle (peak at the recipe's lr 0.05, 5 warm-up epochs) instead of the step "
                                   "schedule"),
    # One setting, not searched: the mean of the last 25 epochs' weights, at a constant rate of a fifth of the
    # recipe's peak (the step schedule has fallen to 0.003 by epoch 25).
    ("minivision_s", "swa"): ({"swa_start_epoch": 26, "swa_lr": 0.01},
                              "+ SWA from epoch 26 (constant lr 0.01): the running mean of the epochs' weights is "
                              "what is validated from then on; the best val epoch is kept, as in every arm"),
    # The <= 10k model under our small models' recipe still gained at its last epoch (30) on every seed: the same
    # OneCycle shape (warm-up scaled with it) over twice the epochs.
    ("minivision_xs", "charclf-long"): ({"epochs": 60, "scheduler": {"name": "onecycle", "warmup_epochs": 6}},
                                        "the same OneCycle over 60 epochs (6 warm-up) instead of 30 (3)"),
}
# Widths and depths at a fixed time budget: minivision_s's blocks changed, trained for as many epochs as fit in
# the base's time for its 50 epochs on the study's CPU (1 thread, bf16), the step schedule scaled with them.
# The epochs come from tools/time_budget_widths.py's artifact (outputs/bench/widths-time-budget.json: images/s
# of each variant's training step, median of rounds taken in turn); a test checks they match it.
# variant -> (blocks, epochs at the base's time).
WIDTH_BASE = (32, 64, 64)
WIDTH_ARMS = {"w075": ((24, 48, 48), 76),  # 63k parameters
              "w150": ((48, 96, 96), 34),  # 185k: beyond <= 100k, a single-model candidate
              "d4": ((32, 64, 64, 60), 50)}  # a fourth block (7 -> 3 -> 1 px), 99k
WIDTH_TIME_JSON = "outputs/bench/widths-time-budget.json"


def _width_experiment(widths: tuple[int, ...], epochs: int) -> tuple[dict, str]:
    from charclf.train.recipes import RECIPES, compress_schedule

    base = RECIPES[BEYOND_PLAN[EXPERIMENT_BASE]].config
    schedule = dataclasses.asdict(compress_schedule(base.scheduler, epochs / base.epochs))
    what = "/".join(map(str, widths))
    timing = {"epochs": epochs, "scheduler": schedule} if epochs != base.epochs else {}  # as the base: no change
    return ({"model_kwargs": {"widths": list(widths)}, **timing},
            f"blocks {what} instead of {'/'.join(map(str, WIDTH_BASE))}, {epochs} epochs in the base's time for "
            f"{base.epochs}")


EXPERIMENTS.update({("minivision_s", variant): _width_experiment(widths, epochs)
                    for variant, (widths, epochs) in WIDTH_ARMS.items() if epochs})

# An experiment's base when it is not EXPERIMENT_BASE.
EXPERIMENT_BASES = {("minivision_xs", "charclf-long"): ("minivision_xs", "charclf")}


def experiment_base(key: tuple[str, str]) -> tuple[str, str]:
    """The BEYOND_PLAN entry the experiment ``key`` changes one thing of (and pairs with, seed by seed)."""
    return EXPERIMENT_BASES.get(key, EXPERIMENT_BASE)


# ... and the small models again, distilled from the study's ensemble (the teacher notebook 11 writes once),
# under their own recipes: a recipe's label smoothing (charclf_small/tiny's 0.1) still applies, on top of the
# mixed targets.
DISTILLED = {"charnet_s": "charclf_small", "charnet_xs": "charclf_tiny", "minivision_s": "minivision_v3_nearest"}
DISTILL_ALPHA = 0.5
# Issue #38's distillation settings, each one change from the distilled minivision_s above (alpha 0.5, T 1) and
# paired with it seed by seed: more weight on the teacher, and a softened teacher.
# Their base: the alpha-0.5 student trained again beside them ("kd-fp32val": no change to its config), as
# minivision_s-fp32val is for the one-change arms: the first students chose their epochs on bf16 val at 2 threads.
# All three learn from DISTILL_TEACHER_RUN (the first teacher's members scored in float64), so each pair differs
# in its setting alone.
DISTILL_BASE = "kd-fp32val"
DISTILL_EXPERIMENTS = {("minivision_s", DISTILL_BASE): ({}, "the alpha 0.5 student again (its base)"),
                       ("minivision_s", "kd-a08"): ({"distill_alpha": 0.8}, "alpha 0.8 instead of 0.5"),
                       ("minivision_s", "kd-t3"): ({"distill_temperature": 3.0},
                                                   "the teacher softened at temperature 3 instead of 1")}
TEACHER_RUN = RunId(BEYOND, "teacher").name
# The teacher of every distilled run but FIRST_TEACHER_STUDENTS: TEACHER_RUN's members scored again in float64.
# The first teacher was scored in float32 and its probabilities are not committed; on another kind of CPU it
# cannot be rebuilt bit for bit, so no student could train there. This one rebuilds anywhere.
DISTILL_TEACHER_RUN = RunId(BEYOND, "teacher", "float64").name
TEACHERS = (TEACHER_RUN, DISTILL_TEACHER_RUN)
# The students that trained towards the first teacher before that was found (their 3 seeds are committed).
FIRST_TEACHER_STUDENTS = ("minivision_s",)
# Bases trained again beside their arms (the same config as an entry trained before): shown and paired, never a
# goal's candidate of their own (charclf.study.goals).
RERUN_ENTRIES = (RunId(BEYOND, *EXPERIMENT_BASE).stem, RunId(BEYOND, "minivision_s", DISTILL_BASE).stem)


def paired_comparisons() -> list[tuple[RunId, str, RunId, str]]:
    """Notebook 11's one-change comparisons over seeds, as ``(run, change, baseline run, baseline)``, each run a
    seedless RunId whose seeds pair with the baseline's: each distilled small model against the
    same model without a teacher, Mini-Vision-V3's recipe resampled nearest against notebook 04's bilinear, and
    the two <= 100k narrowings of Mini-Vision-V3 against each other (the seeds both have: seed 0 decided), and the
    space-to-depth Mini-Vision-V3 against Mini-Vision-V3 under each of the two recipes both trained."""
    pairs = [(RunId(BEYOND, model, "kd"), f"distilled from the ensemble (alpha {DISTILL_ALPHA})",
              RunId(BEYOND if (model, "") in BEYOND_PLAN else "04_training", model), f"{model} without a teacher")
             for model in DISTILLED]
    recipe = BEYOND_PLAN[("minivision_v3", "nearest")]
    pairs.append((RunId(BEYOND, "minivision_v3", "nearest"), f"{recipe}: Mini-Vision-V3's recipe resampled nearest",
                  RunId(BEYOND, "minivision_v3", "recipe"),
                  f"{TRAINING_PLAN['minivision_v3']}: the same recipe resampled bilinear"))
    pairs.append((RunId(BEYOND, "minivision_v3", "capture"), "+ capture augmentation (stroke width, blur, contrast, "
                  "elastic)", RunId(BEYOND, "minivision_v3", "nearest"), f"{recipe}: the same recipe without it"))
    pairs.append((RunId(BEYOND, "minivision_s_gap"), "<= 100k: blocks 32/64/120 + global-average-pool head",
                  RunId(BEYOND, "minivision_s"), "<= 100k: blocks 32/64/64 + Linear 576->64 head"))
    for recipe_run in ("nearest", "charclf"):
        pairs.append((RunId(BEYOND, "minivision_v3_s2d", recipe_run), "space-to-depth stem instead of the 28 px block",
                      RunId(BEYOND, "minivision_v3", recipe_run), "Mini-Vision-V3"))
    pairs.append((RunId(BEYOND, "minivision_xs", "charclf"), f"{BEYOND_PLAN[('minivision_xs', 'charclf')]}: OneCycle, "
                  "label smoothing, EMA, TTA", RunId(BEYOND, "minivision_xs"), f"{recipe}: Mini-Vision-V3's recipe"))
    pairs += [(RunId(BEYOND, model, variant), label, RunId(BEYOND, model, DISTILL_BASE),
               f"{model} distilled at alpha {DISTILL_ALPHA}, temperature 1, trained beside it")
              for (model, variant), (_, label) in DISTILL_EXPERIMENTS.items() if variant != DISTILL_BASE]
    # Each rerun base against its first training: the same config, so what differs is the precision of the val
    # that chose the epoch, the threads and the machine; the pair measures how much that moves the numbers.
    rerun = "the same config trained again: epoch chosen on float32 val, 1 thread, another session's machine"
    pairs.append((RunId(BEYOND, *EXPERIMENT_BASE), rerun, RunId(BEYOND, "minivision_s"),
                  "minivision_s as first trained (epoch chosen on bf16 val, 2 threads)"))
    pairs.append((RunId(BEYOND, "minivision_s", DISTILL_BASE), "the same student trained again: towards the "
                  "float64 teacher (the same members), epoch chosen on float32 val, 1 thread, another session's "
                  "machine", RunId(BEYOND, "minivision_s", "kd"),
                  "minivision_s-kd as first trained (epoch chosen on bf16 val, 2 threads)"))
    for key, (_, label) in EXPERIMENTS.items():
        base = RunId(BEYOND, *experiment_base(key))
        pairs.append((RunId(BEYOND, *key), label, base, f"{base.stem} under {BEYOND_PLAN[experiment_base(key)]}"))
    return pairs


def teacher_file(profile: str, teacher: str = TEACHER_RUN) -> str:
    """The file of ``profile``'s ``teacher`` (one of :data:`TEACHERS`), as ``TrainConfig.distill_teacher`` names
    it (relative to the outputs folder)."""
    from pathlib import PurePosixPath

    from charclf.train.distill import TEACHER_NPZ

    return str(PurePosixPath("runs", profile, teacher, TEACHER_NPZ))


def teacher_of(run: PlannedRun, profile: str) -> str | None:
    """Which of :data:`TEACHERS` ``run`` learns from (None: no teacher)."""
    named = dict(run.overrides).get("distill_teacher")
    return next((t for t in TEACHERS if named == teacher_file(profile, t)), None)


def beyond_runs(profile: str, models: list[str] | None = None, *, distilled: bool = False) -> list[PlannedRun]:
    """Notebook 11's runs under ``profile``: three seeds per entry under full, one under quick (``models``
    selects entries); with ``distilled``, the small models trained towards the ensemble teacher
    (``<model>-kd-seed<N>``)."""
    seeds = FULL_SEEDS if profile == "full" else FULL_SEEDS[:1]
    parts = ("train", "test") if profile == "full" else ("test",)
    if not distilled:
        plain = [PlannedRun(RunId(BEYOND, model, variant, s), model, recipe, s, parts)
                 for (model, variant), recipe in BEYOND_PLAN.items()
                 if models is None or RunId(BEYOND, model, variant).stem in models for s in seeds]
        return plain + [PlannedRun(RunId(BEYOND, model, variant, s), model,
                                   BEYOND_PLAN[experiment_base((model, variant))], s, parts,
                                   tuple(overrides.items()), label)
                        for (model, variant), (overrides, label) in EXPERIMENTS.items()
                        if models is None or RunId(BEYOND, model, variant).stem in models for s in seeds]
    def overrides(model: str) -> dict:
        teacher = TEACHER_RUN if model in FIRST_TEACHER_STUDENTS else DISTILL_TEACHER_RUN
        return {"distill_teacher": teacher_file(profile, teacher), "distill_alpha": DISTILL_ALPHA}

    students = [PlannedRun(RunId(BEYOND, model, "kd", s), model, recipe, s, parts, tuple(overrides(model).items()),
                           f"{model} distilled from the ensemble (alpha {DISTILL_ALPHA})")
                for model, recipe in DISTILLED.items() if models is None or model in models for s in seeds]
    experiments = {"distill_teacher": teacher_file(profile, DISTILL_TEACHER_RUN), "distill_alpha": DISTILL_ALPHA}
    return students + [
        PlannedRun(RunId(BEYOND, model, variant, s), model, DISTILLED[model], s, parts,
                   tuple({**experiments, **changed}.items()), f"{model} distilled: {label}")
        for (model, variant), (changed, label) in DISTILL_EXPERIMENTS.items()
        if models is None or model in models or RunId(BEYOND, model, variant).stem in models for s in seeds]


def rescaled_check(ctx, run: PlannedRun, config, check: dict) -> dict:
    """A cached feasibility ``check`` re-estimated for ``config``'s epochs from its measured images/s (the time of
    an epoch does not depend on how many there are), against the same budget."""
    estimate = check["estimated_s"] / check["epochs"] * config.epochs
    reason = over_budget(ctx, run, config.epochs, estimate, check["images_per_s"])
    return {**check, "epochs": config.epochs, "estimated_s": estimate, "trained": reason is None, "reason": reason}


def over_budget(ctx, run: PlannedRun, epochs: int, estimate: float, ips: float) -> str | None:
    """Why ``run`` is not trained when its estimated seconds are over the profile's budget (RUN_BUDGET_S), or None."""
    budget = RUN_BUDGET_S.get(ctx.profile)
    if budget is None or estimate <= budget:
        return None
    return (f"[{run.name}] not trained under the {ctx.profile} profile on this machine: its {epochs}-epoch recipe "
            f"would take ~{estimate / 3600:.1f} h at the measured {ips:,.0f} images/s (budget {budget / 3600:.0f} h "
            "per run); it needs a GPU")


def feasibility(ctx, run: PlannedRun, config, data) -> dict:
    """Measured images/s of ``run``'s recipe here, the estimated time of its full recipe, and whether the
    profile trains it (within RUN_BUDGET_S); ``reason`` says why not."""
    ips = measure_images_per_s(run.model, config, data)
    estimate = config.epochs * len(data.train) / ips
    skip = ctx.skip_reason(run.model, data.num_classes, config.model_kwargs) or over_budget(
        ctx, run, config.epochs, estimate, ips)
    return {"run": run.name, "model": run.model, "recipe": run.recipe, "seed": run.seed,
            "images_per_s": ips, "epochs": config.epochs, "estimated_s": estimate, "trained": skip is None,
            "reason": skip}


def train_plan(ctx, data, plan: list[PlannedRun], *, train: bool | None = None, measure: bool | None = None):
    """Load each planned run that has finished; train the others that fit this machine (unless ``train`` is
    false; default: unless ``ctx`` only renders). Returns ``(runs, status)``: ``{run name: Run}`` and a DataFrame
    with one row per planned run saying whether it trained, with the measured images/s and estimated time of
    those measured here (a run not trained yet is a row with reason "not yet trained"). ``measure`` (default:
    ``train``) times a missing run's step without training it (``--dry-run``), so a model too slow for the
    machine is listed with its measurement before anything trains.

    Measurements are cached as ``<runs>/<group>/feasibility/<model>-seed<N>.json``: the notebook shows what the
    background runner measured before deciding. The quick profile only applies its MACs limit (no timing)."""
    import pandas as pd

    from charclf.fileio import write_json
    from charclf.provenance import run_metadata
    from charclf.train.run_folder import is_finished_run

    train = ctx.train_missing if train is None else train
    measure = train if measure is None else measure
    runs, rows = {}, []
    for planned in plan:
        config = planned.config(ctx)
        run_dir = ctx.runs_dir / planned.name
        check_path = run_dir.parent / "feasibility" / f"{run_dir.name}.json"
        check = (read_json(check_path, "move it aside: the run is timed again") if check_path.is_file()
                 else None)
        if check is not None and check.get("epochs") not in (None, config.epochs) and check.get("images_per_s"):
            check = rescaled_check(ctx, planned, config, check)  # the plan's epochs changed since it was timed
        if not is_finished_run(run_dir) or ctx.retrain:
            skip = ctx.skip_reason(planned.model, data.num_classes, config.model_kwargs)
            if skip is not None:
                check = {"run": planned.name, "model": planned.model, "recipe": planned.recipe,
                         "seed": planned.seed, "trained": False, "reason": skip}
            elif ctx.profile != "quick" and (check is None or ctx.retrain) and measure:
                check = feasibility(ctx, planned, config, data)
                write_json(check_path, {**check, **run_metadata(profile=ctx.profile, protocol=ctx.protocol)})
            if skip is not None or (check is not None and not check["trained"]):
                print(check["reason"], flush=True)
                rows.append({**check, "label": planned.label})
                continue
            if not train:
                rows.append({**(check or {}), "run": planned.name, "model": planned.model, "recipe": planned.recipe,
                             "seed": planned.seed, "label": planned.label, "trained": False,
                             "reason": NOT_YET_TRAINED})
                continue
        run = ctx.train(planned.name, config, data, evaluate_parts=planned.evaluate_parts)
        runs[planned.name] = run
        rows.append({**(check or {}), "run": planned.name, "model": planned.model, "recipe": planned.recipe,
                     "seed": planned.seed, "label": planned.label, "trained": True, "reason": None})
    columns = ["run", "model", "recipe", "label", "seed", "trained", "images_per_s", "epochs", "estimated_s",
               "reason"]
    return runs, pd.DataFrame(rows).reindex(columns=columns).set_index("run")


def run_ablation(ctx, group: str):
    """Train (or load) the arms of ``group`` on the complete ByClass data of ``ctx``'s profile.

    Returns ``(table, histories)``: one row per arm (its label, size, accuracies, time) and ``{label: history}``
    for the curves."""
    from charclf.study.runs import runs_table

    runs, status = train_plan(ctx, ctx.load_data("byclass"), ablation_runs(group))
    pending = status.index[status["reason"] == NOT_YET_TRAINED].tolist()
    if pending:  # an ablation compares its arms: a table missing some would answer nothing
        raise NotTrainedYet(f"{group}: arm(s) {', '.join(pending)} not trained yet under the {ctx.profile} profile, "
                            "and this execution only renders finished runs. Fix: train them first "
                            f"(`charclf plan --profile {ctx.profile} --only {notebook_of(group)}`)")
    table = runs_table(runs).join(status["label"])
    # The mean of the per-class recalls (balanced accuracy): what a class-weighted loss aims at, where the
    # accuracy alone would show only its cost on an imbalanced test part. NaN for a run scored without it.
    table["test macro recall"] = [(runs[name].record.part("test") or {}).get("recall_macro", float("nan"))
                                  for name in table.index]
    columns = ["label", "epochs", "train images", "best val acc", "test acc", "test macro recall", "test TTA",
               "train time (s)"]
    return table[columns], {table.loc[name, "label"]: run.history for name, run in runs.items()}


if __name__ == "__main__":  # the former `python -m charclf.study.plan`, kept working: it is `charclf plan` now
    import runpy
    import sys

    sys.argv = ["charclf", "plan", *sys.argv[1:]]
    runpy.run_module("charclf", run_name="__main__")
