"""Weight initialisations shared by several model families (each says which original it follows)."""
from __future__ import annotations

from torch import nn


def init_study_weights(model: nn.Module, linear: str = "normal") -> None:
    """The ByClass study's ``_initialize_weights``.

    Convs: Kaiming-normal (fan_out, ReLU), bias 0. BatchNorm: weight 1, bias 0. Linear: ``"normal"`` =
    N(0, 0.01) as in torchvision's VGG/AlexNet (used by the study's LeNet, AlexNet, VGG, SpinalNet) or
    ``"kaiming"`` = Kaiming-normal fan_out (the study's ResNet). Biases 0.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "normal":
                nn.init.normal_(m.weight, 0.0, 0.01)
            elif linear == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                raise ValueError(f"unknown linear init {linear!r}; use 'normal' or 'kaiming'")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_keras_defaults(model: nn.Module) -> None:
    """Keras' defaults for Conv2D/Dense: Glorot-uniform kernels, zero biases (for the Keras LeNet-5)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
