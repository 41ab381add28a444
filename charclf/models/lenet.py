"""LeNet variant of the EMNIST ByClass six-CNN study.

Classic LeNet-5 feature extractor (conv 6@5x5, conv 16@5x5, ReLU + 2x2 max-pool after each), then an
``AdaptiveAvgPool2d(3)`` (28 -> 24 -> 12 -> 8 -> 4 -> 3x3, so 16*3*3 = 144 features) and a BatchNorm1d head
144 -> 120 -> 84 -> classes with dropout 0.5 before the first two Linear layers. Init as the study: Kaiming
normal convs, N(0, 0.01) Linear layers.

Parameters: 35,814 at 62 classes; 0.27 MMACs.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.models.registry import register_model
from charclf.models.weight_init import init_study_weights


class LeNet(nn.Module):
    def __init__(self, num_classes: int = 62, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(3)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(16 * 3 * 3, 120), nn.BatchNorm1d(120), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )
        init_study_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def lenet(num_classes: int = 62, dropout: float = 0.5) -> nn.Module:
    """LeNet with a BatchNorm1d head (the ByClass study's variant)."""
    return LeNet(num_classes, dropout=dropout)
