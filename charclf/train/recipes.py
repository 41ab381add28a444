"""Named training recipes: every earlier work's TrainConfig, and ours, so the study compares recipes by name.

``get_recipe("minivision_v3")`` returns the frozen ``TrainConfig`` of that recipe; keyword overrides replace
fields (``get_recipe("byclass_study", model="resnet", epochs=3)``), and nested fields are reached with a
double underscore (``optimizer__lr=1e-3``) or, through :func:`override_config`, a dotted key
(``{"optimizer.lr": 1e-3}``). Overrides go through ``TrainConfig.from_dict``, so a typo or a wrong type is a
``ConfigError`` rather than a silently different run.

Epoch counts are each recipe's *full* value; the quick profile overrides ``epochs`` (and
``max_train_samples``). Where a source does not state a value, the recipe says so in its ``notes`` and the
value is ours.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from charclf.errors import ConfigError, unknown_name
from charclf.train.config import AugmentConfig, OptimizerConfig, SchedulerConfig, TrainConfig

# The ByClass study's augmentation: torchvision RandomAffine(degrees=15, translate=(0.1, 0.1),
# scale=(0.9, 1.1), shear=3), applied to every training image.
BYCLASS_AFFINE = AugmentConfig(degrees=15.0, translate=0.1, scale=(0.9, 1.1), shear=3.0)
# Mini-Vision V2/V3: RandomCrop(28, padding=2) then RandomRotation(10).
MINIVISION_AUGMENT = AugmentConfig(crop_padding=2, rotation=10.0)
# The same, resampled as torchvision's RandomRotation does (charclf's default is bilinear): notebook 02's arm.
MINIVISION_AUGMENT_NEAREST = AugmentConfig(crop_padding=2, rotation=10.0, interpolation="nearest")
# Mini-Vision's crop alone, no rotation: our time-to-accuracy race's (a whole-pixel shift, no resampling).
# ... and with capture effects on half the images (issue #39: what a pen, a camera and a scanner do).
CAPTURE_AUGMENT_NEAREST = dataclasses.replace(MINIVISION_AUGMENT_NEAREST, capture_prob=0.5, stroke_width_prob=0.5,
                                              blur=0.5, contrast=(0.6, 1.0), elastic=1.0)
CROP_ONLY = AugmentConfig(crop_padding=2)
# Ours: milder than the ByClass affine. Characters change identity under large rotations or shears
# (e.g. 'N'/'Z', '6'/'9' at the extreme), and EMNIST is already centred and size-normalised.
MILD_AFFINE = AugmentConfig(degrees=8.0, translate=0.08, scale=(0.92, 1.08), shear=5.0)


@dataclass(frozen=True)
class Recipe:
    """A named TrainConfig with where it comes from."""

    name: str
    description: str  # one line
    source: str  # the earlier work (or "charclf") and where in it the values are stated
    config: TrainConfig
    notes: tuple[str, ...] = field(default_factory=tuple)  # deviations from the source, values the source omits
    # The search that chose it, when one did: a JSON under outputs/ with its "seeds" (timing or scoring the recipe
    # on those seeds would be in-sample; see search_seeds).
    search_artifact: str | None = None


def _recipe(name: str, description: str, source: str, notes: tuple[str, ...] = (), search_artifact=None,
            **config) -> Recipe:
    return Recipe(name, description, source, TrainConfig(name=name, **config), notes, search_artifact)


def search_seeds(name: str) -> tuple[int, ...]:
    """The seeds of the search that chose recipe ``name`` (read from its ``search_artifact``), () when no search
    chose it."""
    from charclf.provenance import REPO_ROOT, read_json

    recipe = RECIPES.get(name)
    if recipe is None or recipe.search_artifact is None:
        return ()
    path = REPO_ROOT / recipe.search_artifact
    return tuple(read_json(path, f"restore {recipe.search_artifact} from git")["seeds"])


# Our small nets' training (charclf_best's, with weight decay 1e-4 instead of 5e-4: a model of <= 100k
# parameters is capacity-bound, not overfitting); shared so the sizes compare at one recipe.
SMALL_NET_TRAINING = dict(
    epochs=30, batch_size=256, augment=MILD_AFFINE,
    optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    scheduler=SchedulerConfig(name="onecycle", warmup_epochs=3), loss="ce", label_smoothing=0.1,
    ema_decay=0.999, tta=True)

# Mini-Vision-V3's card recipe; shared by its reproduction and the nearest-resampling variant.
MINIVISION_V3_TRAINING = dict(
    model="minivision_v3", epochs=50, batch_size=256, augment=MINIVISION_AUGMENT,
    optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.8),
    scheduler=SchedulerConfig(name="step", step_size=5, gamma=0.5), loss="ce")

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    _recipe(
        "byclass_study",
        "Six-CNN ByClass study, pre-training stage: SGD (random-search tuned) + RandomAffine, CE, batch 64.",
        "XavierSpycy/EMNIST-Classifier (README sections 2, 4, 6; tools/train.py)",
        notes=("lr 0.01 / momentum 0.9 / batch 64 / weight decay 0 are the random search's pick for the "
               "study's main models; rerun charclf.experiments.tune with BYCLASS_GRID to re-tune per model",
               "20 epochs and early stopping patience 10 are the source's train() defaults; the source stops "
               "on val loss, charclf on val accuracy",
               "the source clips gradients to norm 1.0 (grad_clip_norm=1.0)",
               "RandomAffine is resampled bilinear here; torchvision's default, which the source used, is nearest "
               "(notebook 02 measures the difference on Mini-Vision-V3)",
               "model defaults to vgg (the study's best); override model= for lenet/alexnet/resnet/spinalnet/ensnet"),
        model="vgg", epochs=20, batch_size=64, early_stopping_patience=10, augment=BYCLASS_AFFINE,
        optimizer=OptimizerConfig(name="sgd", lr=0.01, momentum=0.9, weight_decay=0.0), loss="ce",
        grad_clip_norm=1.0),
    _recipe(
        "byclass_finetune",
        "ByClass study, fine-tuning stage: Adam (lr 1e-3) on 100% of the training part, from pre-trained weights.",
        "XavierSpycy/EMNIST-Classifier (README section 6; tools/fine_tune.py)",
        notes=("the source uses torch.optim.Adam's default lr 1e-3, 50 epochs, early stopping patience 5",
               "the source clips gradients to norm 1.0 (grad_clip_norm=1.0)"),
        model="vgg", epochs=50, batch_size=64, early_stopping_patience=5, augment=BYCLASS_AFFINE,
        optimizer=OptimizerConfig(name="adam", lr=1e-3, momentum=0.0), loss="ce", grad_clip_norm=1.0),
    _recipe(
        "minivision_v2",
        "Mini-Vision-V2 (MNIST): SGD momentum 0.8, lr 0.01, StepLR(3, 0.5), batch 256, crop pad 2 + rotation 10.",
        "LWWZH/Mini-Vision-V2 model card (Hugging Face), 'Training Strategy'",
        notes=("40 epochs as stated on the model card ('Epochs: 40 (Best model)')",),
        model="minivision_v2", epochs=40, batch_size=256, augment=MINIVISION_AUGMENT,
        optimizer=OptimizerConfig(name="sgd", lr=0.01, momentum=0.8),
        scheduler=SchedulerConfig(name="step", step_size=3, gamma=0.5), loss="ce"),
    _recipe(
        "minivision_v3",
        "Mini-Vision-V3 (EMNIST Balanced): SGD momentum 0.8, lr 0.05, StepLR(5, 0.5), batch 256, crop 2 + rot 10.",
        "LWWZH/Mini-Vision-V3 model card (Hugging Face), 'Training Strategy'",
        notes=("50 epochs as stated on the model card (best model at epoch 40)",
               "crop and rotation are resampled bilinear; the card's torchvision RandomRotation resamples nearest. "
               "minivision_v3_nearest is the recipe with nearest resampling (notebooks 02 and 11 measure both)"),
        **MINIVISION_V3_TRAINING),
    _recipe(
        "minivision_v3_nearest",
        "Mini-Vision-V3's recipe with its crop + rotation resampled nearest, as the card's torchvision transforms do.",
        "LWWZH/Mini-Vision-V3 model card (Hugging Face), 'Training Strategy'; torchvision's RandomRotation default",
        notes=("identical to minivision_v3 but for AugmentConfig.interpolation: nearest led bilinear by +0.32 val "
               "points at 15 epochs on one seed (notebook 02); three seeds of the full recipe test it (notebook 11)",),
        **{**MINIVISION_V3_TRAINING, "augment": MINIVISION_AUGMENT_NEAREST}),
    _recipe(
        "minivision_v3_nearest_capture",
        "minivision_v3_nearest + capture augmentation (stroke width, blur, contrast, elastic) on half the images.",
        "charclf (issue #39: train for real photos and scans)",
        notes=("one change from minivision_v3_nearest: AugmentConfig's capture fields. Values set once from the "
               "issue's measurements of real captures (fainter ink, thicker or thinner strokes, soft edges), not "
               "searched: half the images, stroke width on half of those, blur up to 0.5, ink x U(0.6, 1.0), "
               "elastic up to 1 px",
               "the elastic field is a second, bilinear resampling after the nearest crop + rotation"),
        **{**MINIVISION_V3_TRAINING, "augment": CAPTURE_AUGMENT_NEAREST}),
    _recipe(
        "lenet5_keras",
        "LeNet-5 in Keras (64,851 params, EMNIST Balanced): Adam lr 1e-3, batch 128, cross-entropy, no augmentation.",
        "Ghostraptor/lenet-5-emnist-balanced model card (Hugging Face)",
        notes=("lr 1e-3 and betas (0.9, 0.999) are Keras Adam's defaults (Keras' epsilon 1e-7 vs torch 1e-8)",
               "batch 128 and 20 epochs are not stated by the source; ours"),
        model="lenet5_keras", epochs=20, batch_size=128,
        optimizer=OptimizerConfig(name="adam", lr=1e-3, momentum=0.0), loss="ce"),
    _recipe(
        "efficientnet_kaggle",
        "EfficientNet study: B2 (b3 via model=), 112 px inside the model, MixUp + CutMix, Lion, "
        "5-epoch warmup + cosine warm restarts, class-weighted KLDiv.",
        "the EfficientNet-B2/B3 EMNIST transfer study (as summarised in the project brief)",
        notes=("Lion lr 1e-4 and weight decay 1e-2 follow the Lion paper's advice (3-10x smaller lr and 3-10x "
               "larger decay than AdamW); betas (0.9, 0.99) are Lion's defaults",
               "MixUp alpha 0.2 / CutMix alpha 1.0, one of them per batch with probability 0.5, are the usual "
               "timm values; the study's exact alphas are not stated",
               "35 epochs = 5 warmup + 3 cosine cycles of 10 epochs, so training ends at an lr minimum; "
               "batch 128 is ours"),
        model="efficientnet_b2", epochs=35, batch_size=128,
        augment=AugmentConfig(mixup_alpha=0.2, cutmix_alpha=1.0, mix_prob=0.5),
        optimizer=OptimizerConfig(name="lion", lr=1e-4, weight_decay=1e-2, betas=(0.9, 0.99), momentum=0.0),
        scheduler=SchedulerConfig(name="warmup_cosine_restarts", warmup_epochs=5, t0=10, t_mult=1, eta_min=1e-6),
        loss="weighted_kldiv"),
    _recipe(
        "charclf_fast",
        "Ours, fast: charnet_m, SGD nesterov + OneCycle, label smoothing 0.1, mild affine, 10 epochs, batch 256.",
        "charclf",
        notes=("OneCycle reaches a good solution within a fixed, short budget without tuning a decay schedule",
               "label smoothing 0.1: ByClass has inherently ambiguous pairs (o/O/0, l/I/1, s/S) whose labels a "
               "network cannot get right from the pixels; smoothing stops it from chasing them with huge logits",
               "no EMA: over 10 epochs the average lags the weights more than it smooths them"),
        model="charnet_m", epochs=10, batch_size=256, augment=MILD_AFFINE,
        optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
        scheduler=SchedulerConfig(name="onecycle", warmup_epochs=2), loss="ce", label_smoothing=0.1),
    _recipe(
        "charclf_race",
        "Ours, time to accuracy: Mini-Vision-V3 with a space-to-depth stem, crop-only augmentation, SGD nesterov + "
        "OneCycle over 3 epochs, label smoothing 0.1.",
        "charclf (tools/search_race_recipe.py; outputs/bench/race-recipe-search-cpu-3seeds-crop.json)",
        notes=("chosen on val over seeds 0, 1 and 2 on 2 CPU cores with native bf16, by the fewest mean training "
               "seconds to 86.0% val among the candidates that reached it on every seed: minivision_v3_s2d with "
               "crop-only augmentation over 3 epochs (35.8 s, 33.9 s and 34.5 s; the same on minivision_v3 took "
               "43-48 s, and the 4-epoch schedules reached it at epoch 3 or 4); the test part was not read",
               "crop only (RandomCrop(28, padding=2)), without Mini-Vision-V3's rotation: over three epochs the "
               "network has not fitted the unrotated data yet, and a whole-pixel shift is a gather, no resampling",
               "minivision_v3_s2d replaces Mini-Vision-V3's 28 px block with a lossless space-to-depth stem (bf16 "
               "step 1.14x faster on 2 CPU cores, outputs/bench/bench-cpu-s2d-stem.json); the rest of the network "
               "is Mini-Vision-V3's",
               "the earlier searches (race-recipe-search-cpu.json, -2seeds.json, -3seeds-bf16.json) kept "
               "Mini-Vision-V3's crop + rotation and needed 4, 5 and then 6 epochs: onecycle6 took 65-88 s"),
        search_artifact="outputs/bench/race-recipe-search-cpu-3seeds-crop.json",
        model="minivision_v3_s2d", epochs=3, batch_size=256, augment=CROP_ONLY,
        optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
        scheduler=SchedulerConfig(name="onecycle", warmup_epochs=1), loss="ce", label_smoothing=0.1),
    _recipe(
        "charclf_best",
        "Ours, best: charnet_m, SGD nesterov + OneCycle, label smoothing 0.1, EMA 0.999, mild affine, TTA, 30 epochs.",
        "charclf",
        notes=("as charclf_fast, three times longer, plus an EMA of the weights (0.999, warmed up) for a "
               "smoother selected model and translation TTA at evaluation",),
        model="charnet_m", epochs=30, batch_size=256, augment=MILD_AFFINE,
        optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
        scheduler=SchedulerConfig(name="onecycle", warmup_epochs=3), loss="ce", label_smoothing=0.1,
        ema_decay=0.999, tta=True),
    _recipe(
        "charclf_small",
        "Ours, <=100k parameters: charnet_s with the charclf_best recipe (less weight decay: a small net underfits).",
        "charclf",
        notes=("weight decay 1e-4 instead of 5e-4: a <=100k-parameter model is capacity-bound, not overfitting",),
        model="charnet_s", **SMALL_NET_TRAINING),
    _recipe(
        "charclf_tiny",
        "Ours, <=30k parameters: charnet_xs with the charclf_small recipe.",
        "charclf",
        notes=("charclf_small unchanged but for the model, so the two sizes compare at one recipe",),
        model="charnet_xs", **SMALL_NET_TRAINING),
)}


def list_recipes() -> list[str]:
    """Recipe names, in the order the study presents them (earlier works first, then ours)."""
    return list(RECIPES)


def get_recipe(name: str, **overrides) -> TrainConfig:
    """The recipe's TrainConfig with ``overrides`` applied (``epochs=3``, ``model="resnet"``, ``optimizer__lr=1e-3``).

    Unknown recipe -> ``UnknownNameError`` listing close matches; unknown field or wrong type -> ``ConfigError``.
    """
    if name not in RECIPES:
        raise unknown_name("recipe", name, list(RECIPES))
    config = RECIPES[name].config
    if not overrides:
        return config
    return override_config(config, overrides, source=f"recipe {name!r} overrides")


def override_config(config: TrainConfig, overrides: dict, *, source: str = "overrides") -> TrainConfig:
    """A copy of ``config`` with ``overrides`` applied; keys are fields (``"epochs"``) or nested paths
    (``"optimizer.lr"`` or ``"optimizer__lr"``); values may be plain values or whole sub-configs.

    The result is rebuilt with ``TrainConfig.from_dict``, which validates every key and type.
    """
    data = config.to_dict()
    for key, value in overrides.items():
        path = key.replace("__", ".").split(".")
        node = data
        for part in path[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: {key!r} does not name a nested config field ({part!r} is not a "
                                  f"section). Fix: use a field of TrainConfig, e.g. 'optimizer.lr' or 'epochs'")
            node = child
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if len(path) > 1 and path[0] != "model_kwargs" and path[-1] not in node:
            # from_dict only sees the nested dict's keys; name the full path in the error instead.
            raise ConfigError(f"{source}: unknown config field {'.'.join(path)!r}. Fix: valid keys under "
                              f"{'.'.join(path[:-1])!r} are {sorted(node)}")
        node[path[-1]] = value
    return TrainConfig.from_dict(data, source=source)


def describe_recipes():
    """A DataFrame with one row per recipe: name, model, optimizer, lr, scheduler, batch, epochs, augmentation,
    loss, description and source — the study's table of recipes."""
    import pandas as pd

    rows = []
    for r in RECIPES.values():
        c = r.config
        aug = c.augment
        parts = []
        if aug.degrees or aug.translate or aug.shear or tuple(aug.scale) != (1.0, 1.0):
            parts.append(f"affine({aug.degrees:g}, {aug.translate:g}, {aug.scale[0]:g}-{aug.scale[1]:g}, "
                         f"shear {aug.shear:g})")
        if aug.crop_padding:
            parts.append(f"crop pad {aug.crop_padding}")
        if aug.rotation:
            parts.append(f"rotation {aug.rotation:g}")
        if aug.mixup_alpha:
            parts.append(f"mixup {aug.mixup_alpha:g}")
        if aug.cutmix_alpha:
            parts.append(f"cutmix {aug.cutmix_alpha:g}")
        opt = c.optimizer
        opt_text = opt.name + (f" m={opt.momentum:g}" if opt.name == "sgd" else "") + \
            (" nesterov" if opt.nesterov else "") + (f" wd={opt.weight_decay:g}" if opt.weight_decay else "")
        rows.append({"recipe": r.name, "model": c.model, "optimizer": opt_text, "lr": opt.lr,
                     "scheduler": c.scheduler.name, "batch_size": c.batch_size, "epochs": c.epochs,
                     "augmentation": ", ".join(parts) or "none", "loss": c.loss,
                     "label_smoothing": c.label_smoothing, "ema": c.ema_decay, "tta": c.tta,
                     "description": r.description, "source": r.source})
    return pd.DataFrame(rows)


def compress_schedule(scheduler, factor: float):
    """The same learning-rate schedule shape over ``factor`` times the epochs: warm-up, cycle and step lengths
    scale with the run (a 5-epoch warm-up would otherwise fill a whole 2-epoch quick run)."""
    return dataclasses.replace(
        scheduler, warmup_epochs=int(round(scheduler.warmup_epochs * factor)),
        t0=max(1, int(round(scheduler.t0 * factor))), step_size=max(1, int(round(scheduler.step_size * factor))))
