"""LeNet-5 as the Keras model of the "predict a character from an image file" project (EMNIST Balanced).

Keras layout, translated layer by layer:
  Conv2D(6, 5x5, padding="same", relu)  28x28x6     156
  AveragePooling2D(2)                   14x14x6       0
  Conv2D(16, 5x5, padding="valid", relu) 10x10x16  2,416
  AveragePooling2D(2)                    5x5x16       0
  Flatten -> Dropout(0.2)                400          0
  Dense(120, relu) -> Dropout(0.2)       120      48,120
  Dense(84, relu)                         84      10,164
  Dense(classes)                          47       3,995   (softmax lives in the loss here)
  total                                           **64,851** at 47 classes — the published count.
Activations are ReLU (that model's summary lists ReLU; the 1998 original used scaled tanh — pass
``activation="tanh"`` for it). Init follows Keras' defaults (Glorot-uniform kernels, zero biases).
Keras flattens channels-last (H, W, C); PyTorch flattens (C, H, W) — irrelevant when training from scratch,
but Keras weights would need their Dense(120) rows permuted to load here.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.errors import ConfigError
from charclf.models.registry import register_model
from charclf.models.weight_init import init_keras_defaults

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class LeNet5Keras(nn.Module):
    def __init__(self, num_classes: int = 47, activation: str = "relu", dropout: float = 0.2):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"lenet5_keras activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        act = ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), act(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), act(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(16 * 5 * 5, 120), act(), nn.Dropout(dropout),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )
        init_keras_defaults(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def lenet5_keras(num_classes: int = 47, activation: str = "relu", dropout: float = 0.2) -> nn.Module:
    """LeNet-5 as the Keras model (64,851 params at 47 classes)."""
    return LeNet5Keras(num_classes, activation=activation, dropout=dropout)
