"""Named recipes: every earlier work's settings, retrievable by name, overridable, validated."""
from __future__ import annotations

import pytest

from charclf.errors import ConfigError, UnknownNameError
from charclf.train.config import TrainConfig
from charclf.train.recipes import RECIPES, describe_recipes, get_recipe, list_recipes, override_config

EXPECTED = {"byclass_study", "byclass_finetune", "minivision_v2", "minivision_v3", "lenet5_keras",
            "efficientnet_kaggle", "charclf_fast", "charclf_best", "charclf_small",
            "charclf_tiny"}


def test_every_named_recipe_exists_and_is_a_train_config():
    assert EXPECTED <= set(list_recipes())
    for name in list_recipes():
        cfg = get_recipe(name)
        assert isinstance(cfg, TrainConfig)
        assert cfg.name == name
        recipe = RECIPES[name]
        assert recipe.description and "\n" not in recipe.description
        assert recipe.source


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_round_trips_through_json_and_builds_its_model(name, tmp_path):
    """The saved train_config.json of a run must load back to the same recipe, and the model must exist."""
    from charclf.models import list_models

    cfg = get_recipe(name)
    path = cfg.to_json(tmp_path / "cfg.json")
    assert TrainConfig.from_json(path) == cfg
    assert cfg.model in list_models(), f"recipe {name} names model {cfg.model!r}, which is not registered"


def test_byclass_study_matches_the_source():
    cfg = get_recipe("byclass_study")
    assert cfg.model == "vgg" and cfg.batch_size == 64 and cfg.loss == "ce"
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.momentum) == ("sgd", 0.01, 0.9)
    a = cfg.augment
    assert (a.degrees, a.translate, tuple(a.scale), a.shear) == (15.0, 0.1, (0.9, 1.1), 3.0)
    ft = get_recipe("byclass_finetune")
    assert ft.optimizer.name == "adam" and ft.optimizer.lr <= 1e-3


def test_minivision_and_lenet_recipes_match_their_model_cards():
    v2, v3 = get_recipe("minivision_v2"), get_recipe("minivision_v3")
    for cfg, lr, step in ((v2, 0.01, 3), (v3, 0.05, 5)):
        assert (cfg.optimizer.name, cfg.optimizer.momentum, cfg.optimizer.lr) == ("sgd", 0.8, lr)
        assert (cfg.scheduler.name, cfg.scheduler.step_size, cfg.scheduler.gamma) == ("step", step, 0.5)
        assert cfg.batch_size == 256
        assert (cfg.augment.crop_padding, cfg.augment.rotation) == (2, 10.0)
    assert (v2.model, v3.model) == ("minivision_v2", "minivision_v3")
    lenet = get_recipe("lenet5_keras")
    assert lenet.optimizer.name == "adam" and lenet.batch_size == 128 and lenet.loss == "ce"


def test_efficientnet_recipe_has_every_ingredient():
    cfg = get_recipe("efficientnet_kaggle")
    assert cfg.model == "efficientnet_b2"
    assert cfg.augment.mixup_alpha > 0 and cfg.augment.cutmix_alpha > 0
    assert cfg.optimizer.name == "lion"
    assert cfg.scheduler.name == "warmup_cosine_restarts" and cfg.scheduler.warmup_epochs == 5
    assert cfg.loss == "weighted_kldiv"
    assert get_recipe("efficientnet_kaggle", model="efficientnet_b3").model == "efficientnet_b3"


def test_overrides_top_level_and_nested():
    cfg = get_recipe("byclass_study", epochs=3, model="resnet", optimizer__lr=0.1, max_train_samples=500)
    assert (cfg.epochs, cfg.model, cfg.optimizer.lr, cfg.max_train_samples) == (3, "resnet", 0.1, 500)
    assert cfg.optimizer.momentum == 0.9  # untouched siblings survive
    assert RECIPES["byclass_study"].config.epochs != 3  # the registry is not mutated
    dotted = override_config(cfg, {"scheduler.name": "cosine", "model_kwargs.dropout": 0.1})
    assert dotted.scheduler.name == "cosine" and dotted.model_kwargs == {"dropout": 0.1}


def test_bad_names_and_overrides_give_clear_errors():
    with pytest.raises(UnknownNameError, match="minivision_v3"):
        get_recipe("minivision_3")
    with pytest.raises(ConfigError, match="epoch"):
        get_recipe("byclass_study", epoch=3)  # typo of epochs
    with pytest.raises(ConfigError, match="optimizer.lrr"):
        get_recipe("byclass_study", optimizer__lrr=0.1)
    with pytest.raises(ConfigError, match="expected an integer"):
        get_recipe("byclass_study", batch_size="64")


def test_describe_recipes_table():
    df = describe_recipes()
    assert list(df.recipe) == list_recipes()
    row = df.set_index("recipe").loc["minivision_v3"]
    assert row.lr == 0.05 and row.batch_size == 256 and "rotation 10" in row.augmentation
    assert {"description", "source", "model", "optimizer", "epochs"} <= set(df.columns)


def test_config_differences_name_each_changed_path_and_skip_where_a_run_trains():
    from charclf.train.config import config_differences, dict_differences

    saved = TrainConfig().to_dict()
    changed = override_config(TrainConfig(), {"augment.rotation": 5.0, "epochs": 3, "device": "cuda"}).to_dict()
    assert config_differences(saved, saved) == ""
    details = config_differences(saved, changed)
    assert f"augment.rotation: {saved['augment']['rotation']!r} -> 5.0" in details
    assert f"epochs: {saved['epochs']!r} -> 3" in details
    assert "device" not in details  # where it runs, not what it computes
    # any JSON-like mapping: tuples equal lists, ignored keys are left out
    assert dict_differences({"a": (1, 2), "s": "random"}, {"a": [1, 2], "s": "tpe"}, ignore={"s"}) == ""
    assert dict_differences({"a": {"b": 1}}, {"a": {"b": 2}, "c": 0}) == "a.b: 1 -> 2; c: None -> 0"


def test_changed_fields_read_a_recipe_swap_as_every_field_it_changes():
    from charclf.train.config import changed_fields

    base = TrainConfig(seed=0, name="a").to_dict()
    one = override_config(TrainConfig(seed=1, name="b"), {"ema_decay": 0.999}).to_dict()
    assert changed_fields(base, one) == ["ema_decay"]  # the seed and the recipe's name are not changes
    swap = override_config(TrainConfig(), {"augment.rotation": 5.0, "optimizer.lr": 0.3, "tta": True}).to_dict()
    assert changed_fields(base, swap) == ["augment", "optimizer", "tta"]
    older = {k: v for k, v in base.items() if k != "swa_start_epoch"}  # a run from before the field: its default
    assert changed_fields(older, base) == []
