"""charclf.train.build: the one place a TrainConfig becomes optimizer, schedule, loss, augmentation and EMA —
the same objects, in the same state, as the construction each call site did by hand before."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from charclf.models import create_model
from charclf.train.augment import BatchAugment
from charclf.train.build import build_augment, build_training
from charclf.train.ema import EMA
from charclf.train.losses import build_loss
from charclf.train.optim import build_optimizer, build_scheduler
from charclf.train.recipes import get_recipe

pytestmark = pytest.mark.usefixtures("one_thread")
PACKAGE = Path(__file__).resolve().parents[1] / "charclf"
COUNTS = torch.tensor([5, 1, 3, 7])
RECIPES = [("minivision_v3", {}),
           ("byclass_study", {"ema_decay": 0.99, "loss": "weighted_ce", "label_smoothing": 0.1}),
           ("charclf_best", {"scheduler__name": "onecycle"})]


def by_hand(model, config, steps):
    """What engine._build_training built before build.py (the reference the builder must reproduce)."""
    optimizer = build_optimizer(model, config.optimizer)
    scheduler = build_scheduler(optimizer, config.scheduler, epochs=config.epochs, steps_per_epoch=steps)
    loss_fn = build_loss(config.loss, num_classes=4, class_counts=COUNTS, label_smoothing=config.label_smoothing)
    augment = BatchAugment(config.augment, 4, fill=(0.0 - 0.2) / 0.3)
    ema = EMA(model, config.ema_decay) if config.ema_decay else None
    return optimizer, scheduler, loss_fn, augment if augment.enabled else None, ema


def assert_same_state(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif callable(a):  # a scheduler's lr lambdas: compared by what they give
        assert all(a(i) == b(i) for i in range(50))
    else:
        assert a == b


@pytest.mark.parametrize("name,overrides", RECIPES, ids=[r[0] for r in RECIPES])
def test_builder_gives_the_objects_fit_built_before(name, overrides):
    config = get_recipe(name, epochs=3, **overrides)
    torch.manual_seed(0)
    model = create_model("lenet5_keras", num_classes=4)
    rng = torch.get_rng_state()
    parts = build_training(model, config, num_classes=4, mean=0.2, std=0.3, class_counts=COUNTS, steps_per_epoch=7)
    assert torch.equal(torch.get_rng_state(), rng)  # building draws no random numbers: a seeded run is unchanged
    optimizer, scheduler, loss_fn, augment, ema = by_hand(model, config, 7)
    assert type(parts.optimizer) is type(optimizer) and type(parts.scheduler) is type(scheduler)
    assert_same_state(parts.optimizer.state_dict(), optimizer.state_dict())
    if scheduler is not None:  # scheduler "none" builds none
        assert_same_state(parts.scheduler.state_dict(), scheduler.state_dict())
    assert repr(parts.loss_fn) == repr(loss_fn)
    assert_same_state(parts.loss_fn.state_dict(), loss_fn.state_dict())
    assert repr(parts.augment) == repr(augment)
    assert (parts.ema is None) == (ema is None)
    if ema is not None:
        assert_same_state(parts.ema.state_dict(), ema.state_dict())
    # The same augmentation draws the same batch.
    if augment is not None:
        x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 4
        out = parts.augment(x, y, generator=torch.Generator().manual_seed(1))
        ref = augment(x, y, generator=torch.Generator().manual_seed(1))
        assert_same_state(out, ref)


def test_without_steps_there_is_no_schedule_and_an_idle_augmentation_is_none():
    config = get_recipe("lenet5_keras")
    parts = build_training(create_model("lenet5_keras", num_classes=4), config, num_classes=4, mean=0.0, std=1.0)
    assert parts.scheduler is None
    assert parts.augment is None or parts.augment.enabled
    assert build_training(create_model("lenet5_keras", num_classes=4), get_recipe("lenet5_keras", augment__degrees=0.0,
                          augment__translate=0.0, augment__scale=(1.0, 1.0), augment__shear=0.0, augment__rotation=0.0,
                          augment__crop_padding=0), num_classes=4, mean=0.0, std=1.0).augment is None
    assert build_augment(config, 4, mean=0.5, std=0.25).fill == -2.0  # black, normalised


MAKERS = {"build_optimizer", "build_scheduler", "build_loss", "BatchAugment", "EMA"}


def test_only_the_builder_constructs_what_trains():
    """fit, the plan's timing, the bench and the race all go through train/build.py: no other module calls the
    constructors, so a recipe cannot mean two different things in two places."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "build.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MAKERS:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls {node.func.id}")
    assert not offenders, offenders
