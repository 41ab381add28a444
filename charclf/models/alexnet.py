"""AlexNet variant of the EMNIST ByClass six-CNN study, shrunk for 28x28 inputs.

Five 3x3 convs 16-48-96-64-64 (the first two with padding 2), ReLU, three 3x3/stride-2 max-pools
(28 -> 30 -> 14 -> 16 -> 7 -> 7 -> 3), ``AdaptiveAvgPool2d(3)``, then a BatchNorm1d head
576 -> 1024 -> 1024 -> classes with dropout 0.5 before the first two Linear layers. Init as the study:
Kaiming-normal convs, N(0, 0.01) Linear layers.

Parameters: 1,849,070 at 62 classes (the FC head holds 92% of them); 10.1 MMACs.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.models.registry import register_model
from charclf.models.weight_init import init_study_weights


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 62, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(16, 48, kernel_size=3, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(48, 96, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(96, 64, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(3)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(64 * 3 * 3, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(1024, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
            nn.Linear(1024, num_classes),
        )
        init_study_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def alexnet(num_classes: int = 62, dropout: float = 0.5) -> nn.Module:
    """AlexNet shrunk for 28x28 (the ByClass study's variant)."""
    return AlexNet(num_classes, dropout=dropout)
