"""EnsNet variant of the EMNIST ByClass six-CNN study (Hirata & Takahashi, "Ensemble learning in CNN
augmented with fully connected subnetworks").

Six 3x3 conv layers 64-128-256 | pool | 512-1024-2000 | pool, each BN + ReLU with dropout 0.35 between them
(28 -> 28 -> 26 -> 26 -> 13 -> 13 -> 11 -> 11 -> 5; convs 2 and 5 are unpadded), then
``AdaptiveAvgPool2d(3)``. The 2000 final channels are cut into 10 slices of 200; each slice (200*3*3 = 1800
features) feeds its own Linear sub-classifier, and a major classifier reads the features too. The 11 logit
vectors are combined with learnable weights (initialised to 1/11) — the study's replacement for EnsNet's
majority vote, which keeps the model trainable end to end. ``all_logits(x)`` returns the 11 vectors
(N, 11, classes) for losses that train every classifier.

``major_input``: ``"all"`` (default) — the major classifier reads all 2000 channels, as in the EnsNet paper.
``"first_slice"`` — the study's code exactly: the major classifier reads only channels 0-199 (the same input
as sub-classifier 0).
Init: PyTorch defaults, as the study's EnsNet defines no custom init.

Parameters at 62 classes: 26,944,101 (major_input="all"), 25,939,701 ("first_slice").
The heaviest model of the study: about 3.25 GMACs per 28x28 image.
"""
from __future__ import annotations

import torch
from torch import nn

from charclf.errors import ConfigError
from charclf.models.registry import register_model

N_SUBNETS = 10
SLICE_CHANNELS = 200


def _conv_bn(in_ch: int, out_ch: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=padding), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class EnsNet(nn.Module):
    def __init__(self, num_classes: int = 62, major_input: str = "all", dropout: float = 0.35):
        super().__init__()
        if major_input not in ("all", "first_slice"):
            raise ConfigError(f"ensnet major_input must be 'all' or 'first_slice', got {major_input!r}")
        p = dropout
        self.features = nn.Sequential(
            *_conv_bn(1, 64, 1), nn.Dropout(p), *_conv_bn(64, 128, 0), nn.Dropout(p), *_conv_bn(128, 256, 1),
            nn.MaxPool2d(2), nn.Dropout(p),
            *_conv_bn(256, 512, 1), nn.Dropout(p), *_conv_bn(512, 1024, 0), nn.Dropout(p),
            *_conv_bn(1024, N_SUBNETS * SLICE_CHANNELS, 1),
            nn.MaxPool2d(2), nn.Dropout(p),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(3)
        self.major_input = major_input
        slice_features = SLICE_CHANNELS * 3 * 3
        major_features = N_SUBNETS * slice_features if major_input == "all" else slice_features
        self.classifier_major = nn.Linear(major_features, num_classes)
        self.classifiers = nn.ModuleList([nn.Linear(slice_features, num_classes) for _ in range(N_SUBNETS)])
        self.weights = nn.Parameter(torch.full((N_SUBNETS + 1,), 1.0 / (N_SUBNETS + 1)))

    def all_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the major classifier then the 10 sub-classifiers: (N, 11, num_classes)."""
        feats = self.avgpool(self.features(x))                  # (N, 2000, 3, 3)
        slices = torch.flatten(feats, 2).split(SLICE_CHANNELS, dim=1)   # 10 x (N, 200, 9)
        slices = [torch.flatten(s, 1) for s in slices]          # channel-major, as torch.flatten(feats, 1)
        major_in = torch.flatten(feats, 1) if self.major_input == "all" else slices[0]
        logits = [self.classifier_major(major_in)] + [clf(s) for clf, s in zip(self.classifiers, slices)]
        return torch.stack(logits, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.all_logits(x) * self.weights.view(1, -1, 1)).sum(dim=1)


@register_model
def ensnet(num_classes: int = 62, major_input: str = "all", dropout: float = 0.35) -> nn.Module:
    """The ByClass study's EnsNet: six convs up to 2000 channels, major + 10 sub-classifiers."""
    return EnsNet(num_classes, major_input=major_input, dropout=dropout)
