"""EfficientNet-B2 / B3 (torchvision) for 28x28 grayscale characters, as in the EfficientNet transfer study.

Changes to torchvision's network:
- 1-channel stem. With ImageNet weights, the RGB stem kernel is *summed* over its 3 input channels, so a gray
  image gives exactly the response the pretrained stem gives to the same gray image replicated as RGB.
  Without weights, a fresh 1-channel conv (torchvision's Kaiming-normal fan_out init).
- A new head: Dropout(0.3) -> Linear(features, num_classes) (torchvision's head init).
- The input is resized to ``input_size`` (112 px) inside ``forward`` with bilinear ``F.interpolate``, so the
  model takes the usual (N, 1, 28, 28) batches: 28 px would shrink to 1x1 after EfficientNet's 32x downsampling.

Pretrained weights (``pretrained=True``), in this order:
1. a local file: ``weights_path`` if given (it must exist), else torchvision's file name (e.g.
   ``efficientnet_b2_rwightman-c35c1473.pth``) in ``$CHARCLF_WEIGHTS_DIR`` or in the torch hub cache
   (``torch.hub.get_dir()/checkpoints``); ``.pth``/``.pt`` (torch.load) or ``.safetensors``;
2. torchvision's download.
If the download fails (no internet, proxy, truncated file ...), a ``PretrainedWeightsWarning`` says what failed,
that the model is randomly initialised, and where to put the file — never a crash, never a silent fallback.
``model.pretrained_from`` records what happened: the file path, the URL, or None (random init).

Parameters at 62 classes: efficientnet_b2 7,787,776; efficientnet_b3 10,790,806 (about 0.18 / 0.27 GMACs
per image at 112 px).
"""
from __future__ import annotations

import http.client
import math
import os
import pickle
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from charclf.errors import DataError
from charclf.models.registry import register_model

INPUT_SIZE = 112


class PretrainedWeightsWarning(UserWarning):
    """ImageNet weights could not be obtained; the model was randomly initialised."""


class EfficientNetGray(nn.Module):
    """A torchvision EfficientNet with a 1-channel stem, a new head and an internal resize."""

    def __init__(self, net: nn.Module, input_size: int = INPUT_SIZE, pretrained_from: str | None = None):
        super().__init__()
        self.net = net
        self.input_size = int(input_size)
        self.pretrained_from = pretrained_from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.net(x)


def _weights_enum(arch: str):
    from torchvision.models import get_model_weights

    return get_model_weights(arch).IMAGENET1K_V1


def local_weight_candidates(file_name: str) -> list[Path]:
    """Where a pretrained file is looked for before downloading: $CHARCLF_WEIGHTS_DIR, then the hub cache."""
    dirs = []
    if os.environ.get("CHARCLF_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["CHARCLF_WEIGHTS_DIR"]))
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return [d / file_name for d in dirs]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (weights only: no code is unpickled)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise DataError(path, f"cannot be read as a weights file ({type(err).__name__}: {str(err)[:200]})",
                        "the file is damaged or not a state dict; delete it and download it again") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(path, f"holds a {type(state).__name__}, not a state dict",
                        "save the weights with torch.save(model.state_dict(), path)")
    return state


def _download_state_dict(weights) -> dict[str, torch.Tensor]:
    """torchvision's download (a separate function so tests can replace it; tests never touch the network)."""
    return weights.get_state_dict(progress=False, check_hash=True)


def imagenet_state_dict(arch: str, weights_path: str | Path | None = None) -> tuple[dict | None, str | None]:
    """ImageNet weights of ``arch`` and where they came from; ``(None, None)`` with a warning on failure."""
    weights = _weights_enum(arch)
    file_name = weights.url.rsplit("/", 1)[-1]
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise DataError(path, f"does not exist (weights_path for {arch})",
                            f"pass the path of {file_name} (download it from {weights.url}), "
                            "or weights_path=None to use $CHARCLF_WEIGHTS_DIR / the torch hub cache / download")
        return read_state_dict(path), str(path)
    for path in local_weight_candidates(file_name):
        if path.is_file():
            return read_state_dict(path), str(path)
    try:
        return _download_state_dict(weights), weights.url
    except (OSError, RuntimeError, http.client.HTTPException, EOFError, pickle.UnpicklingError) as err:
        places = " or ".join(str(p.parent) for p in local_weight_candidates(file_name))
        warnings.warn(
            f"{arch}: could not download the ImageNet weights from {weights.url} "
            f"({type(err).__name__}: {str(err)[:200]}). The model is RANDOMLY INITIALISED instead. "
            f"To use pretrained weights offline, download {file_name} on a machine with internet and pass "
            f"weights_path=<file>, or put it in {places}.",
            PretrainedWeightsWarning, stacklevel=3)
        return None, None


def _gray_stem(net: nn.Module, pretrained: bool) -> None:
    old: nn.Conv2d = net.features[0][0]
    new = nn.Conv2d(1, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding, bias=False)
    with torch.no_grad():
        if pretrained:
            new.weight.copy_(old.weight.sum(dim=1, keepdim=True))
        else:
            nn.init.kaiming_normal_(new.weight, mode="fan_out")
    net.features[0][0] = new


def _new_head(net: nn.Module, num_classes: int, dropout: float) -> None:
    linear = nn.Linear(net.classifier[-1].in_features, num_classes)
    init_range = 1.0 / math.sqrt(num_classes)       # torchvision's EfficientNet head init
    nn.init.uniform_(linear.weight, -init_range, init_range)
    nn.init.zeros_(linear.bias)
    net.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), linear)


def build_efficientnet(arch: str, num_classes: int, *, pretrained: bool = False,
                       weights_path: str | Path | None = None, input_size: int = INPUT_SIZE,
                       dropout: float = 0.3) -> EfficientNetGray:
    import torchvision.models as tvm

    net = getattr(tvm, arch)(weights=None)
    source = None
    if pretrained:
        state, source = imagenet_state_dict(arch, weights_path)
        if state is not None:
            try:
                net.load_state_dict(state)
            except RuntimeError as err:
                raise DataError(source, f"does not hold {arch} ImageNet weights: {str(err)[:300]}",
                                f"use torchvision's {arch} file ({_weights_enum(arch).url})") from err
    _gray_stem(net, pretrained=source is not None)
    _new_head(net, num_classes, dropout)
    return EfficientNetGray(net, input_size=input_size, pretrained_from=source)


@register_model
def efficientnet_b2(num_classes: int = 62, pretrained: bool = False, weights_path: str | None = None,
                    input_size: int = INPUT_SIZE, dropout: float = 0.3) -> nn.Module:
    """torchvision EfficientNet-B2, 1-channel stem, new head, 112 px internal resize."""
    return build_efficientnet("efficientnet_b2", num_classes, pretrained=pretrained, weights_path=weights_path,
                              input_size=input_size, dropout=dropout)


@register_model
def efficientnet_b3(num_classes: int = 62, pretrained: bool = False, weights_path: str | None = None,
                    input_size: int = INPUT_SIZE, dropout: float = 0.3) -> nn.Module:
    """torchvision EfficientNet-B3, 1-channel stem, new head, 112 px internal resize."""
    return build_efficientnet("efficientnet_b3", num_classes, pretrained=pretrained, weights_path=weights_path,
                              input_size=input_size, dropout=dropout)
