"""VGG variant of the EMNIST ByClass six-CNN study (the study's best single model).

Eight 3x3 convs 16-32 | pool | 64-64-128-128 | pool | 128-128 (28 -> 14 -> 7), ``AdaptiveAvgPool2d(3)``
(7 -> 3), then a BatchNorm1d head 1152 -> 512 -> 512 -> classes with ReLU and dropout 0.5 after each hidden
layer. Init as the study: Kaiming-normal convs, N(0, 0.01) Linear layers.

``conv_bn``: the study's code has *no* BatchNorm after its convs (only in the FC head), and that is the
default here so the reproduction is faithful. ``conv_bn=True`` adds BatchNorm2d after every conv
(Conv-BN-ReLU, convs then without bias) — a common, easier-to-train modernisation.

Parameters: 1,463,678 at 62 classes (conv_bn=False); 1,464,366 with conv_bn=True. 73 MMACs.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.models.registry import register_model
from charclf.models.weight_init import init_study_weights

# Conv widths; "M" = 2x2 max-pool.
VGG_LAYOUT = (16, 32, "M", 64, 64, 128, 128, "M", 128, 128)


def _features(layout, conv_bn: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 1
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(in_ch, item, kernel_size=3, padding=1, bias=not conv_bn))
        if conv_bn:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_ch = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, num_classes: int = 62, conv_bn: bool = False, dropout: float = 0.5):
        super().__init__()
        self.features = _features(VGG_LAYOUT, conv_bn)
        self.avgpool = nn.AdaptiveAvgPool2d(3)
        self.classifier = nn.Sequential(
            nn.Linear(128 * 3 * 3, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )
        init_study_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def vgg(num_classes: int = 62, conv_bn: bool = False, dropout: float = 0.5) -> nn.Module:
    """The ByClass study's 8-conv VGG (convs 16-32-64-64-128-128-128-128)."""
    return VGG(num_classes, conv_bn=conv_bn, dropout=dropout)
