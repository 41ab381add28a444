"""The first convolution initialised from the data (charclf.train.datainit): patch whitening, as airbench does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from charclf.errors import ConfigError
from charclf.models import create_model
from charclf.train.datainit import first_conv, init_first_conv_from_data, whitening_filters


def _correlated_images(n: int = 400) -> torch.Tensor:
    """uint8 (n, 28, 28) images whose neighbouring pixels correlate (blurred noise), as strokes do."""
    noise = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool2d(noise, 3, stride=1, padding=1)
    return (blurred * 255).round().to(torch.uint8).squeeze(1)


def test_the_filters_whiten_the_patches_they_were_computed_from():
    x = _correlated_images().float().div(255).unsqueeze(1)
    filters = whitening_filters(x, 3)
    assert filters.shape == (18, 1, 3, 3)
    assert torch.allclose(filters[9:], -filters[:9])
    out = F.conv2d(x, filters[:9]).permute(1, 0, 2, 3).reshape(9, -1)
    cov = out @ out.T / out.shape[1]
    # Decorrelated, with unit variance in every direction but the noise ones eps keeps small.
    assert torch.allclose(cov - torch.diag(cov.diag()), torch.zeros(9, 9), atol=1e-3)
    assert cov.diag()[:5].min() > 0.9


def test_init_sets_the_leading_channels_of_the_first_conv_and_leaves_the_rest():
    model = create_model("minivision_s", num_classes=62)
    conv = first_conv(model)
    before = conv.weight.detach().clone()
    later = [p.detach().clone() for p in model.parameters()][2:]
    set_ = init_first_conv_from_data(model, _correlated_images(), mean=0.17, std=0.33, samples=200)
    assert set_ == 18 and conv.out_channels == 32
    assert not torch.equal(conv.weight[:18], before[:18]) and torch.equal(conv.weight[18:], before[18:])
    assert torch.all(conv.bias[:18] == 0)
    assert all(torch.equal(a, b) for a, b in zip(later, list(model.parameters())[2:]))  # nothing else moved
    again = create_model("minivision_s", num_classes=62)
    init_first_conv_from_data(again, _correlated_images(), mean=0.17, std=0.33, samples=200)
    assert torch.equal(first_conv(again).weight[:18], conv.weight[:18])  # the same data and seed: the same filters


@pytest.mark.parametrize("model", [torch.nn.Linear(4, 2), torch.nn.Conv2d(1, 8, (3, 5)),
                                   torch.nn.Conv2d(2, 8, 3, groups=2), torch.nn.Conv2d(1, 8, 3, dilation=2),
                                   torch.nn.Conv2d(3, 8, 3)],
                         ids=["no conv", "not square", "grouped", "dilated", "three channels"])
def test_a_first_layer_patch_whitening_cannot_serve_is_one_clear_error(model):
    with pytest.raises(ConfigError, match="data_init_first_layer=False"):
        init_first_conv_from_data(model, _correlated_images(), mean=0.1, std=0.3)


def test_fit_applies_it_to_a_fresh_run(tmp_path, monkeypatch):
    from charclf.train import datainit
    from charclf.train.config import TrainConfig
    from charclf.train.engine import fit
    from synth import quadrant_bundle

    calls = []
    real = datainit.init_first_conv_from_data
    monkeypatch.setattr(datainit, "init_first_conv_from_data", lambda *a, **k: calls.append(k) or real(*a, **k))
    cfg = TrainConfig(model="minivision_s", epochs=1, batch_size=16, data_init_first_layer=True, device="cpu",
                      amp="off", log_every=10)
    fit(create_model("minivision_s", num_classes=4), quadrant_bundle(), cfg, tmp_path / "run", progress=False)
    assert len(calls) == 1 and calls[0]["seed"] == 0
