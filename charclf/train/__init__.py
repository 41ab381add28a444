"""Training: configs, batched on-device augmentation, optimizers/schedulers/losses, and ``fit``."""
from charclf.train.config import AugmentConfig, OptimizerConfig, SchedulerConfig, TrainConfig
from charclf.train.engine import fit

__all__ = ["AugmentConfig", "OptimizerConfig", "SchedulerConfig", "TrainConfig", "fit"]
