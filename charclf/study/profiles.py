"""The study's two profiles: ``quick`` (the CI smoke test) and ``full`` (the complete protocol)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileSettings:
    """The sizes of one profile. ``None`` means "all of it" (sizes) or "the recipe's own" (epochs)."""

    name: str
    train_samples: int | None  # stratified subset of the protocol's train part
    val_samples: int | None
    test_samples: int | None
    max_epochs: int | None  # caps every recipe's epochs
    tune_trials: int  # random-search trials (05)
    tune_train_samples: int | None
    tune_epochs: int
    transfer_train_samples: int | None  # MNIST training images (08)
    transfer_epochs: int  # the ByClass study fine-tunes 5 epochs on MNIST
    transfer_seeds: tuple[int, ...]  # each MNIST comparison is repeated per seed (mean +- std)
    efficientnet_train_samples: int | None  # EfficientNet at 112 px is slow on a CPU (09)
    efficientnet_epochs: int | None
    efficientnet_eval_samples: int | None  # val and test images for the EfficientNet runs
    max_mmacs: float | None  # models costing more per image are not trained under this profile (too slow)
    description: str

    def epochs(self, recipe_epochs: int) -> int:
        """The epochs a recipe gets under this profile."""
        return recipe_epochs if self.max_epochs is None else max(1, min(recipe_epochs, self.max_epochs))


PROFILES = {
    # Sized so that all notebooks together execute in about 15 minutes on 2 CPU cores, training for real.
    "quick": ProfileSettings(
        name="quick", train_samples=3000, val_samples=1500, test_samples=1500, max_epochs=2,
        tune_trials=4, tune_train_samples=1500, tune_epochs=1,
        transfer_train_samples=3000, transfer_epochs=2, transfer_seeds=(0,),
        efficientnet_train_samples=600, efficientnet_epochs=1, efficientnet_eval_samples=300,
        max_mmacs=100.0,
        description="a small honest subset on a CPU: stratified 3,000 train / 1,500 val / 1,500 test images, "
                    "at most 2 epochs per recipe, models up to 100 MMACs per image"),
    "full": ProfileSettings(
        name="full", train_samples=None, val_samples=None, test_samples=None, max_epochs=None,
        tune_trials=28, tune_train_samples=20000, tune_epochs=5,
        transfer_train_samples=None, transfer_epochs=5, transfer_seeds=(0, 1, 2),
        efficientnet_train_samples=None, efficientnet_epochs=None, efficientnet_eval_samples=None,
        max_mmacs=None,
        description="the complete protocol, every recipe's own epochs; every model whose recipe fits the machine "
                    "(hours on 2 CPU cores; the heaviest need a GPU)"),
}


def profiles_table():
    """The profiles side by side, one row per setting, as a reader reads them: ``None`` written out ("all" for a
    size, "the recipe's own" for epochs, "no limit" for the MACs cap) and counts as integers, not floats."""
    import dataclasses

    import pandas as pd

    def shown(field: str, value):
        if value is None:
            return "the recipe's own" if "epochs" in field else "no limit" if field == "max_mmacs" else "all"
        return ", ".join(map(str, value)) if isinstance(value, tuple) else value

    return pd.DataFrame({name: {f.name: shown(f.name, getattr(p, f.name)) for f in dataclasses.fields(p)
                                if f.name != "name"} for name, p in PROFILES.items()}, dtype=object)


def profile_settings(profile: str) -> ProfileSettings:
    """The quick or full profile's sizes (see :data:`PROFILES`)."""
    if profile not in PROFILES:
        from charclf.errors import unknown_name

        raise unknown_name("profile", profile, list(PROFILES))
    return PROFILES[profile]
