"""Mini-Vision-V2 (MNIST) and Mini-Vision-V3 (EMNIST Balanced): two tiny CNNs published with safetensors
weights and a Gradio draw-a-character demo.

Both use blocks Conv3x3(pad 1) -> ReLU -> MaxPool(2) -> BatchNorm2d (BatchNorm *after* the pool, as their
model cards list; computed as Conv -> MaxPool -> ReLU -> BN, the same function, see ``_block``) and a head Linear -> ReLU -> Dropout(0.3) -> Linear. PyTorch default init.

Mini-Vision-V2: blocks 32, 64 (28 -> 14 -> 7), flatten 64*7*7 = 3136 -> 256 -> classes.
  conv1 1->32 (320) + BN (64) + conv2 32->64 (18,496) + BN (128) + fc1 3136->256 (803,072)
  + fc2 256->10 (2,570) = **824,650** parameters at 10 classes — the published count; the two BatchNorms
  account for the 192 parameters a conv/Linear-only layout (824,458) would miss.
Mini-Vision-V3: blocks 32, 64, 128 (28 -> 14 -> 7 -> 3, floor pooling), flatten 128*3*3 = 1152 -> 256 ->
  classes. 320 + 64 + 18,496 + 128 + 73,856 + 256 + 295,168 + 12,079 (256->47) = **400,367** parameters at
  47 classes — the published count.

Ours, the same design narrowed to <= 100k parameters at 62 classes (for notebook 11's <= 100k goal; bf16 and
channels_last apply to plain convs, unlike the depthwise convs of charnet_s, so they train several times faster
on a CPU with native bf16):
- ``minivision_s``: blocks 32, 64, 64, flatten 64*3*3 = 576 -> 64 -> classes, dropout 0.1: **97,022** params.
- ``minivision_s_gap``: blocks 32, 64, 120, global average pool -> dropout 0.1 -> Linear(120, classes): the
  parameters go to the last conv instead of the head: **95,990** params.
- ``minivision_xs``: blocks 14, 20, 28, global average pool -> dropout 0.1 -> Linear(28, classes), for the
  <= 10k goal: 140 + 28 + 2,540 + 40 + 5,068 + 56 + 1,798 = **9,670** params at 62 (a flatten head costs more than
  the convs here: 28*3*3 -> 62 alone would be 15,686).

Ours, for speed (notebook 11's time-to-accuracy race): ``minivision_v3_s2d`` is Mini-Vision-V3 whose first block
starts with a lossless space-to-depth (``PixelUnshuffle(2)``: each 2x2 patch of the 28x28 image becomes 4 channels
of a 14x14 one), then Conv3x3(4 -> 32) -> ReLU -> BN at 14x14, with no pool: it skips the 28 px stage (a
1-channel conv, which oneDNN runs badly, and a max pool over 32x28x28 with its backward). On a 2-core bf16 CPU its
training step runs 8,837 images/s against Mini-Vision-V3's 7,774 (outputs/bench/bench-cpu-s2d-stem.json, written
by ``charclf bench``); the rest of the network is unchanged. 1,184 + 64 + 18,496 + 128 + 73,856 +
256 + 295,168 + 15,934 = **405,086** params at 62 classes.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.models.registry import register_model


def _block(in_ch: int, out_ch: int) -> nn.Sequential:
    # The model cards list Conv -> ReLU -> MaxPool -> BN. MaxPool runs before ReLU here: max commutes with the
    # monotone ReLU, so the outputs are identical (and the gradients, up to exact ties at 0), while ReLU and its
    # backward touch 4x fewer values, which makes training steps faster on a CPU. Parameter-free layers swap
    # places only, so the state_dict keys (features.i.0 conv, features.i.3 BN) are those of the card's order.
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
                         nn.BatchNorm2d(out_ch))


class MiniVision(nn.Module):
    """Conv blocks of ``widths``, then a head: flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear, or with
    ``hidden=None`` global average pool -> Dropout -> Linear."""

    def __init__(self, widths: tuple[int, ...], num_classes: int, hidden: int | None = 256, dropout: float = 0.3):
        super().__init__()
        chans = (1, *widths)
        self.features = nn.Sequential(*[_block(a, b) for a, b in zip(chans[:-1], chans[1:])])
        side = 28
        for _ in widths:
            side //= 2
        if hidden is None:
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                            nn.Linear(widths[-1], num_classes))
            return
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(widths[-1] * side * side, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def minivision_v2(num_classes: int = 10, dropout: float = 0.3) -> nn.Module:
    """Mini-Vision-V2 (MNIST): conv blocks 32/64, Linear 3136 -> 256 -> classes; 824,650 params at 10."""
    return MiniVision((32, 64), num_classes, dropout=dropout)


@register_model
def minivision_v3(num_classes: int = 47, dropout: float = 0.3) -> nn.Module:
    """Mini-Vision-V3 (EMNIST Balanced): conv blocks 32/64/128, Linear 1152 -> 256 -> classes; 400,367 at 47."""
    return MiniVision((32, 64, 128), num_classes, dropout=dropout)


@register_model
def minivision_v3_s2d(num_classes: int = 62, dropout: float = 0.3) -> nn.Module:
    """Ours: Mini-Vision-V3 with a space-to-depth stem (PixelUnshuffle(2), Conv 4 -> 32 at 14x14) in place of its
    28 px block; 405,086 params at 62."""
    model = MiniVision((32, 64, 128), num_classes, dropout=dropout)
    # ReLU before BN, as in _block; the block's keys are features.0.1 (conv) and features.0.3 (BN).
    model.features[0] = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4, 32, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.BatchNorm2d(32))
    return model


@register_model
def minivision_s(num_classes: int = 62, dropout: float = 0.1, widths: tuple[int, ...] = (32, 64, 64),
                 hidden: int = 64) -> nn.Module:
    """Ours: Mini-Vision-V3 narrowed to blocks 32/64/64 and Linear 576 -> 64 -> classes; 97,022 params at 62.
    ``widths`` (one block per entry, each halving the side: at most 4) and ``hidden`` make it narrower, wider or
    deeper, for notebook 11's comparison of widths and depths at a fixed time budget."""
    widths = tuple(int(w) for w in widths)
    if not 1 <= len(widths) <= 4 or min(widths) < 1 or hidden < 1:
        from charclf.errors import ConfigError

        raise ConfigError(f"minivision_s(widths={list(widths)}, hidden={hidden}): 1 to 4 blocks (28 px halves to 1 "
                          "after 4) of width >= 1, and hidden >= 1. Fix: e.g. widths [24, 48, 48]")
    return MiniVision(widths, num_classes, hidden=hidden, dropout=dropout)


@register_model
def minivision_s_gap(num_classes: int = 62, dropout: float = 0.1) -> nn.Module:
    """Ours: Mini-Vision-V3's blocks 32/64/120 with a global-average-pool head; 95,990 params at 62."""
    return MiniVision((32, 64, 120), num_classes, hidden=None, dropout=dropout)


@register_model
def minivision_xs(num_classes: int = 62, dropout: float = 0.1) -> nn.Module:
    """Ours: Mini-Vision-V3's design at <= 10k: blocks 14/20/28 and a global-average-pool head; 9,670 params at 62."""
    return MiniVision((14, 20, 28), num_classes, hidden=None, dropout=dropout)
