"""A first convolution initialised from the data: airbench's patch whitening, for a 1-channel image.

The first convolution's filters become the whitening transform of the training images' k x k patches: the
eigenvectors of the patch covariance, each scaled by 1 / sqrt(its eigenvalue + eps), and each also negated (a
ReLU keeps one sign), so its outputs start decorrelated with unit variance instead of random. A 3 x 3 kernel on
one channel has 9 such directions, 18 filters with their negatives; a wider layer keeps its default init in the
other channels. The filters stay trainable. ``TrainConfig.data_init_first_layer`` turns it on; ``fit`` applies it
to a fresh run only (a resumed run restores its trained weights).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from charclf.errors import ConfigError

DEFAULT_SAMPLES = 5000  # images whose patches estimate the covariance (plenty for a 9 x 9 matrix)
DEFAULT_EPS = 5e-4  # airbench's: keeps the noise directions (tiny eigenvalues) from blowing up


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first ``Conv2d`` in module order (the one that sees the image)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ConfigError(f"{type(model).__name__} has no Conv2d, so there is no first convolution to initialise from "
                      "the data. Fix: data_init_first_layer=False for this model")


def whitening_filters(x: torch.Tensor, kernel_size: int, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """``(2 d, C, k, k)`` filters that whiten the ``k x k`` patches of ``x`` (``(N, C, H, W)``, normalised as the
    model sees it; ``d = C k k``): eigenvectors of the patch covariance over sqrt(eigenvalue + eps), largest
    eigenvalue first, then the same negated."""
    n, c = x.shape[:2]
    patches = F.unfold(x.float(), kernel_size).transpose(1, 2).reshape(-1, c * kernel_size * kernel_size)
    # In float64: a float32 sum over ~10^5 patches errs by ~1e-4 (and differently on each CPU's kernels), as much
    # as the smallest eigenvalues, which the whitening divides by.
    patches = patches.double()
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    order = eigenvalues.argsort(descending=True)
    filters = (eigenvectors[:, order].T / (eigenvalues[order].clamp_min(0) + eps).sqrt()[:, None]).float()
    filters = filters.reshape(-1, c, kernel_size, kernel_size)
    return torch.cat([filters, -filters])


@torch.no_grad()
def init_first_conv_from_data(model: nn.Module, images: torch.Tensor, *, mean: float, std: float,
                              samples: int = DEFAULT_SAMPLES, seed: int = 0, eps: float = DEFAULT_EPS) -> int:
    """Set the first convolution's leading output channels to :func:`whitening_filters` of ``samples`` train
    images (uint8 ``(N, H, W)`` or ``(N, 1, H, W)``, normalised with ``mean``/``std`` as training does), their bias
    to 0. Returns how many channels were set (at most the layer's width)."""
    conv = first_conv(model)
    if conv.kernel_size[0] != conv.kernel_size[1] or conv.groups != 1 or conv.dilation != (1, 1):
        raise ConfigError(f"the first convolution {conv} is not a square, ungrouped, undilated kernel, which patch "
                          "whitening needs. Fix: data_init_first_layer=False for this model")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:samples]
    x = images[pick.to(images.device)].float().div(255.0)
    x = (x if x.dim() == 4 else x.unsqueeze(1)).sub(mean).div(std)
    if x.shape[1] != conv.in_channels:
        raise ConfigError(f"the first convolution takes {conv.in_channels} channels, the images have {x.shape[1]}. "
                          "Fix: data_init_first_layer=False for this model")
    filters = whitening_filters(x, conv.kernel_size[0], eps).to(conv.weight.device, conv.weight.dtype)
    k = min(len(filters), conv.out_channels)
    conv.weight[:k] = filters[:k]
    if conv.bias is not None:
        conv.bias[:k] = 0.0
    return k
