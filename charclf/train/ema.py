"""Averages of a model's weights, validated and saved instead of the weights themselves: an exponential moving
average (EMA, every step) and stochastic weight averaging (SWA, an equal-weight mean taken once per epoch)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from charclf.models.registry import unwrap


class EMA:
    """``ema = decay * ema + (1 - decay) * weights`` after every optimizer step.

    Floating-point parameters *and* buffers are averaged (BatchNorm running statistics follow the averaged
    weights); integer buffers such as ``num_batches_tracked`` are copied. The effective decay warms up as
    ``min(decay, (1 + n) / (10 + n))`` (n = updates so far) so a short run is not dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        source = unwrap(model)
        self.module = copy.deepcopy(source).eval().requires_grad_(False)
        # Pair tensors once, so the hot loop is one fused foreach op instead of a Python loop over names.
        # Create the EMA *after* moving the model to its device: `.to()` replaces buffer tensors.
        ema_state, src_state = self.module.state_dict(keep_vars=True), source.state_dict(keep_vars=True)
        pairs = [(ema_state[k], src_state[k]) for k in ema_state]
        self._avg = [p for p in pairs if p[0].is_floating_point()]
        self._copy = [p for p in pairs if not p[0].is_floating_point()]

    @property
    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module | None = None) -> None:
        """Fold the current weights in (``model`` is accepted for symmetry; the tensors were paired at init)."""
        weight = 1.0 - self.current_decay
        self.updates += 1
        if self._avg:
            torch._foreach_lerp_([e for e, _ in self._avg], [s for _, s in self._avg], weight)
        for e, s in self._copy:
            e.copy_(s)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        self.module.load_state_dict(state["module"])


class SWA(EMA):
    """Stochastic weight averaging (Izmailov et al., 2018): the equal-weight mean of the weights at the end of
    each epoch from ``start_epoch`` on, trained meanwhile at a constant learning rate ``lr`` (None: the schedule
    goes on). The mean is the EMA's update with decay ``n / (n + 1)`` after n updates, so it shares the EMA's
    fused update, state and resume. BatchNorm's running statistics are averaged like the weights (as timm's
    weight averages do), not recomputed in an extra pass over the data.
    """

    def __init__(self, model: nn.Module, start_epoch: int, lr: float | None = None):
        super().__init__(model, decay=0.5)  # the decay EMA checks is unused: current_decay replaces it
        self.start_epoch, self.lr = int(start_epoch), lr

    @property
    def current_decay(self) -> float:
        return self.updates / (self.updates + 1)

    def active(self, epoch: int) -> bool:
        """Whether ``epoch`` trains in the averaging phase (its end is folded into the mean)."""
        return epoch >= self.start_epoch
