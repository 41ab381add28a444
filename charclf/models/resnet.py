"""ResNet variant of the EMNIST ByClass six-CNN study: a small ResNet-18 layout.

Stem conv 3x3 1->16 + BN + ReLU + 3x3/stride-2 max-pool (28 -> 14), four stages of two BasicBlocks at
16/32/64/128 channels (strides 1, 2, 2, 2: 14 -> 14 -> 7 -> 4 -> 2), global average pool, Linear 128 ->
classes. Bias-free convs; 1x1 conv + BN shortcut where the shape changes. Init as the study: Kaiming-normal
(fan_out) for convs *and* the Linear head.

Parameters: 707,886 at 62 classes; 7.7 MMACs.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.models.registry import register_model
from charclf.models.weight_init import init_study_weights


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU (He et al. 2016)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, num_classes: int = 62, widths=(16, 32, 64, 128), blocks_per_stage: int = 2):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, in_ch = [], widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1
                stages.append(BasicBlock(in_ch, width, stride))
                in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        init_study_weights(self, linear="kaiming")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stages(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


@register_model
def resnet(num_classes: int = 62) -> nn.Module:
    """The ByClass study's ResNet: BasicBlocks at 16/32/64/128 channels, two per stage."""
    return ResNet(num_classes)
