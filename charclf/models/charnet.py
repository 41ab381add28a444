"""CharNet: the project's own residual networks for 28x28 characters, small to large.

One recipe at three sizes, built only from Conv-BN-ReLU, residual additions, global average pooling and one
Linear layer (no exotic ops, so channels_last and bf16 autocast just work):

stem   conv3x3 1 -> w0, BN, ReLU                                     28x28
stage1 ``depths[0]`` blocks at width w0                              28x28
stage2 ``depths[1]`` blocks at width w1, the first with stride 2     14x14
stage3 ``depths[2]`` blocks at width w2, the first with stride 2      7x7
head   global average pool -> dropout -> Linear(w2, classes)

Blocks (post-activation, He et al. 2016; the last BN of every residual branch starts at zero so each block
starts as the identity — "zero-init residual", which trains deep nets faster and more stably):
- ``"basic"``: conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU (the WRN/ResNet block).
- ``"sep"``: the same with each conv3x3 replaced by a depthwise 3x3 + pointwise 1x1 (a "separable" conv,
  about 8x fewer parameters at these widths) — how charnet_s keeps wide late stages within 100k parameters.
Shortcuts are identity, or a strided 1x1 conv + BN where the shape changes.

Sizes (params at 62 classes; MACs per 28x28 image):
- ``charnet_xs``: widths 16/32/64, separable blocks 1/2/2, 16-wide full conv stem: **29,534** params. Aim:
  the most accurate ByClass model within 30k parameters (LeNet-5's 66k reach ~85%).
- ``charnet_s``: widths 24/64/128, separable blocks 1/2/2, 24-wide full conv stem: **98,734** params,
  about 8.2 MMACs. Aim: >= 86% on ByClass with <= 100k parameters (accuracy per parameter).
- ``charnet_m``: widths 64/128/256, basic blocks 2/2/2, a WRN-16-4 adapted to 28x28 (stages at 28/14/7
  instead of 32/16/8, post-activation, 32-wide stem): **2,773,278** params, about 0.31 GMACs.
- ``charnet_l``: widths 96/192/384, basic blocks 3/3/3 (WRN-22-6-like): **9,695,070** params, about 1.07 GMACs.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.errors import ConfigError
from charclf.models.registry import register_model


def conv_bn(in_ch: int, out_ch: int, kind: str, stride: int = 1) -> nn.Sequential:
    """A 3x3 conv (full or depthwise-separable) followed by BatchNorm; no activation."""
    if kind == "basic":
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(out_ch))
    if kind == "sep":
        # BN + ReLU between the depthwise and pointwise convs would add little for far more memory traffic.
        return nn.Sequential(nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=1, groups=in_ch, bias=False),
                             nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
    raise ConfigError(f"charnet block must be 'basic' or 'sep', got {kind!r}")


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kind: str, stride: int = 1):
        super().__init__()
        self.branch = nn.Sequential(conv_bn(in_ch, out_ch, kind, stride), nn.ReLU(inplace=True),
                                    conv_bn(out_ch, out_ch, kind))
        nn.init.zeros_(self.branch[-1][-1].weight)          # zero-init residual: the block starts as identity
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_ch))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class CharNet(nn.Module):
    def __init__(self, num_classes: int = 62, widths=(64, 128, 256), depths=(2, 2, 2), block: str = "basic",
                 stem_width: int | None = None, dropout: float = 0.0):
        super().__init__()
        if len(widths) != len(depths) or not all(d >= 1 for d in depths):
            raise ConfigError(f"charnet widths {widths} and depths {depths} must have equal lengths, depths >= 1")
        stem_width = stem_width or widths[0]
        self.stem = nn.Sequential(nn.Conv2d(1, stem_width, 3, padding=1, bias=False), nn.BatchNorm2d(stem_width),
                                  nn.ReLU(inplace=True))
        blocks, in_ch = [], stem_width
        for i, (width, depth) in enumerate(zip(widths, depths)):
            for j in range(depth):
                blocks.append(ResidualBlock(in_ch, width, block, stride=2 if (i > 0 and j == 0) else 1))
                in_ch = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(in_ch, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


@register_model
def charnet_xs(num_classes: int = 62, dropout: float = 0.0) -> nn.Module:
    """Extra small: charnet_s's separable design at widths 16/32/64, <= 30k parameters at 62 classes."""
    return CharNet(num_classes, widths=(16, 32, 64), depths=(1, 2, 2), block="sep", dropout=dropout)


@register_model
def charnet_s(num_classes: int = 62, dropout: float = 0.0) -> nn.Module:
    """Small: separable residual net, widths 24/64/128, <= 100k parameters at 62 classes."""
    return CharNet(num_classes, widths=(24, 64, 128), depths=(1, 2, 2), block="sep", dropout=dropout)


@register_model
def charnet_m(num_classes: int = 62, dropout: float = 0.2) -> nn.Module:
    """Medium: WRN-16-4-style residual net, widths 64/128/256, ~2.8M parameters."""
    return CharNet(num_classes, widths=(64, 128, 256), depths=(2, 2, 2), block="basic", stem_width=32,
                   dropout=dropout)


@register_model
def charnet_l(num_classes: int = 62, dropout: float = 0.2) -> nn.Module:
    """Large: WRN-22-6-style residual net, widths 96/192/384, three blocks per stage."""
    return CharNet(num_classes, widths=(96, 192, 384), depths=(3, 3, 3), block="basic", stem_width=32,
                   dropout=dropout)
