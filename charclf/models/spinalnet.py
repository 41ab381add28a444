"""SpinalNet variant of the EMNIST ByClass six-CNN study (Kabir et al., "SpinalNet: deep neural network with
gradual input").

Two conv blocks (5x5 pad 2, 1->32 and 32->64, each BN + ReLU + 2x2 max-pool: 28 -> 14 -> 7) give
64*7*7 = 3136 features. The "spinal" head splits them into two halves of 1568 and feeds them gradually, as in
the SpinalNet paper's MNIST code: layer 1 sees half A, layer 2 sees half B + layer 1's output, layer 3 half A
+ layer 2, layer 4 half B + layer 3; each is Linear -> ReLU -> dropout(0.5) with width 50, and the classifier
reads the concatenation of the four (200 features). Init as the study: Kaiming-normal convs, N(0, 0.01)
Linear layers.

Parameters: 386,050 at 62 classes; 11 MMACs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from charclf.models.registry import register_model
from charclf.models.weight_init import init_study_weights


class SpinalNet(nn.Module):
    def __init__(self, num_classes: int = 62, spinal_width: int = 50, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.half = 64 * 7 * 7 // 2
        self.dropout = dropout
        self.spinal = nn.ModuleList(
            [nn.Linear(self.half, spinal_width)]
            + [nn.Linear(self.half + spinal_width, spinal_width) for _ in range(3)]
        )
        self.classifier = nn.Linear(4 * spinal_width, num_classes)
        init_study_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        halves = (x[:, : self.half], x[:, self.half:])
        outs: list[torch.Tensor] = []
        for i, layer in enumerate(self.spinal):
            inp = halves[i % 2] if i == 0 else torch.cat([halves[i % 2], outs[-1]], dim=1)
            outs.append(F.dropout(F.relu(layer(inp)), p=self.dropout, training=self.training))
        return self.classifier(torch.cat(outs, dim=1))


@register_model
def spinalnet(num_classes: int = 62, spinal_width: int = 50, dropout: float = 0.5) -> nn.Module:
    """The ByClass study's SpinalNet: two 5x5 conv blocks + four spinal layers of width 50."""
    return SpinalNet(num_classes, spinal_width=spinal_width, dropout=dropout)
