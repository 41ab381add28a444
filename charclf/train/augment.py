"""Batched, on-device augmentation: one ``grid_sample`` per batch instead of one PIL call per image.

The usual pipeline of earlier EMNIST works applies ``torchvision.transforms.RandomAffine`` to each image in a
``Dataset`` and lets a ``DataLoader`` collate them: per-sample Python, PIL, and (on a GPU) a host-to-device copy of
every batch. Here the whole batch is already a float tensor on the training device, so we

* sample each image's parameters exactly like torchvision does (``RandomAffine.get_params``,
  ``RandomRotation``, ``RandomCrop(padding=p)``),
* turn them into per-sample inverse matrices with torchvision's own convention
  (``_get_inverse_affine_matrix``: centre of the image, clockwise angle, x-shear),
* compose rotation -> affine -> crop into ONE matrix per image and resample the batch with a single
  ``F.affine_grid`` + ``F.grid_sample`` (one bilinear resampling also blurs less than three in a row;
  ``AugmentConfig.interpolation="nearest"`` resamples like torchvision's default for ``RandomAffine`` and
  ``RandomRotation`` instead),
* or, when only whole-pixel shifts are asked for (translate and/or crop), shift exactly with a gather.

Capture effects (``AugmentConfig.capture_prob`` and the fields after it: stroke width, blur, contrast, elastic
distortion) follow the geometry, per image and batched, to mimic a pen, a camera and a scanner.
MixUp and CutMix follow on the same batch and return soft targets (B, C).
Characters are never mirrored: a flip turns b into d and a 2 into something else.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from charclf.tensorops import shift_integer  # the one whole-pixel shift (also test-time augmentation's)
from charclf.train.config import AugmentConfig

__all__ = ["BatchAugment", "capture_effects", "inverse_pixel_matrices", "affine_matrices", "apply_affine",
           "shift_integer"]


# ----------------------------------------------------------------------------------------------------------
# Geometry with explicit per-sample parameters (what a test compares with torchvision)
# ----------------------------------------------------------------------------------------------------------
def _as_shear2(shear: Tensor) -> Tensor:
    """(B,) x-shear or (B, 2) (x, y) shear in degrees -> (B, 2)."""
    if shear.dim() == 1:
        return torch.stack([shear, torch.zeros_like(shear)], dim=1)
    return shear


def inverse_pixel_matrices(angle: Tensor, translate: Tensor, scale: Tensor, shear: Tensor) -> Tensor:
    """Per-sample (B, 3, 3) matrices mapping OUTPUT pixel coordinates to INPUT pixel coordinates.

    A vectorised copy of ``torchvision.transforms.functional._get_inverse_affine_matrix`` with the centre at
    the origin: coordinates are pixel centres measured from the image centre (x right, y down).
    ``angle`` (B,) degrees clockwise, ``translate`` (B, 2) pixels (tx, ty), ``scale`` (B,),
    ``shear`` (B,) x-shear or (B, 2) (x, y) shear in degrees — all the same meaning as ``F.affine``.
    """
    dtype = torch.float64  # the matrices are tiny; double keeps whole-pixel shifts exact after composition
    angle, translate, scale = angle.to(dtype), translate.to(dtype), scale.to(dtype)
    shear = _as_shear2(shear.to(dtype))
    rot = torch.deg2rad(angle)
    sx, sy = torch.deg2rad(shear[:, 0]), torch.deg2rad(shear[:, 1])
    # Rotation * shear (determinant 1), as in torchvision.
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m = torch.zeros(angle.shape[0], 3, 3, dtype=dtype, device=angle.device)
    m[:, 0, 0], m[:, 0, 1] = d / scale, -b / scale
    m[:, 1, 0], m[:, 1, 1] = -c / scale, a / scale
    # Undo the translation first (T^-1), then the rotation-scale-shear: RSS^-1 * T^-1.
    tx, ty = translate[:, 0], translate[:, 1]
    m[:, 0, 2] = -(m[:, 0, 0] * tx + m[:, 0, 1] * ty)
    m[:, 1, 2] = -(m[:, 1, 0] * tx + m[:, 1, 1] * ty)
    m[:, 2, 2] = 1.0
    return m


def _pixel_to_theta(m: Tensor, size: tuple[int, int]) -> Tensor:
    """Centred-pixel inverse matrices (B, 3, 3) -> ``F.affine_grid`` thetas (B, 2, 3), ``align_corners=False``.

    affine_grid works in normalised coordinates u = x / (W/2), v = y / (H/2) (pixel centres of the centred
    frame), so theta = N M N^-1 with N = diag(2/W, 2/H, 1). Written with Python scalars: building a small
    tensor from a list would be a synchronising host-to-device copy on a GPU.
    """
    h, w = size
    theta = m[:, :2, :].clone()
    theta[:, 0, 1] *= h / w
    theta[:, 0, 2] *= 2.0 / w
    theta[:, 1, 0] *= w / h
    theta[:, 1, 2] *= 2.0 / h
    return theta


def affine_matrices(angle: Tensor, translate: Tensor, scale: Tensor, shear: Tensor,
                    size: tuple[int, int]) -> Tensor:
    """Per-sample ``F.affine_grid`` thetas (B, 2, 3) for torchvision-style affine parameters on (H, W) images."""
    return _pixel_to_theta(inverse_pixel_matrices(angle, translate, scale, shear), size)


INTERPOLATIONS = ("bilinear", "nearest")  # F.grid_sample modes, named as torchvision's InterpolationMode


def _resample(x: Tensor, m: Tensor, fill: float, mode: str = "bilinear") -> Tensor:
    """Resample a batch with per-sample inverse pixel matrices (``mode``: one of INTERPOLATIONS); outside the
    image the value is ``fill``."""
    theta = _pixel_to_theta(m, (x.shape[-2], x.shape[-1]))
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    theta = theta.to(device=x.device, dtype=work.dtype)
    grid = F.affine_grid(theta, list(work.shape), align_corners=False)
    # Sampling (x - fill) with zero padding and adding fill back gives 'fill outside' in one pass
    # (torchvision samples an extra mask channel instead; the interiors are identical).
    out = F.grid_sample(work - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    return out.to(x.dtype)


def apply_affine(x: Tensor, angle: Tensor, translate: Tensor, scale: Tensor, shear: Tensor,
                 fill: float = 0.0, interpolation: str = "bilinear") -> Tensor:
    """Affine-transform a batch (B, C, H, W) with per-sample parameters, ``fill`` outside.

    Same parameters and result as ``torchvision.transforms.functional.affine(img, angle, translate, scale,
    shear, interpolation=BILINEAR or NEAREST, fill=fill)`` applied image by image.
    """
    return _resample(x, inverse_pixel_matrices(angle, translate, scale, shear), fill, interpolation)


# ----------------------------------------------------------------------------------------------------------
# Random batched augmentation
# ----------------------------------------------------------------------------------------------------------
class BatchAugment:
    """Random affine / rotation / padded crop, then MixUp or CutMix, on a whole batch on its device.

    ``x``: float (B, 1, H, W), already normalised; ``fill`` is the normalised background value (what a zero
    pixel became). Returns ``(x_aug, targets)``: targets are ``y`` (int64, (B,)) when the batch was not mixed,
    else float soft targets (B, num_classes) that sum to 1.

    Parameter sampling matches torchvision: affine angle ~ U(-degrees, degrees), translations
    round(U(-t W, t W)) / round(U(-t H, t H)) pixels, scale ~ U(a, b), x-shear ~ U(-shear, shear);
    rotation ~ U(-rotation, rotation) (counter-clockwise, like ``RandomRotation``); crop offsets uniform in
    [0, 2 p] (``RandomCrop(H, padding=p)``). Order: rotation, then affine, then crop — composed into one
    resampling. With a ``generator`` every random number comes from it, so a fixed seed reproduces a run.
    """

    def __init__(self, cfg: AugmentConfig, num_classes: int, *, fill: float = 0.0):
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self.fill = float(fill)
        lo, hi = cfg.scale
        if not (0 < lo <= hi):
            from charclf.errors import ConfigError

            raise ConfigError(f"AugmentConfig.scale={cfg.scale!r}: needs 0 < low <= high. Fix: e.g. (0.9, 1.1)")
        if cfg.interpolation not in INTERPOLATIONS:
            from charclf.errors import ConfigError

            raise ConfigError(f"AugmentConfig.interpolation={cfg.interpolation!r}: unknown. Fix: one of "
                              f"{', '.join(INTERPOLATIONS)}")
        if not (0.0 <= cfg.mix_prob <= 1.0) or cfg.mixup_alpha < 0 or cfg.cutmix_alpha < 0:
            from charclf.errors import ConfigError

            raise ConfigError(f"AugmentConfig: mix_prob={cfg.mix_prob} must be in [0, 1] and mixup_alpha="
                              f"{cfg.mixup_alpha}, cutmix_alpha={cfg.cutmix_alpha} must be >= 0. Fix: correct them")
        lo, hi = cfg.contrast
        if not (0.0 <= cfg.capture_prob <= 1.0 and 0.0 <= cfg.stroke_width_prob <= 1.0 and 0.0 <= cfg.blur <= 1.0
                and 0 < lo <= hi and 0.0 <= cfg.elastic <= MAX_ELASTIC_PX):
            from charclf.errors import ConfigError

            raise ConfigError(f"AugmentConfig: capture_prob={cfg.capture_prob}, stroke_width_prob="
                              f"{cfg.stroke_width_prob} and blur={cfg.blur} must be in [0, 1], contrast="
                              f"{cfg.contrast!r} needs 0 < low <= high, elastic={cfg.elastic} must be in "
                              f"[0, {MAX_ELASTIC_PX}] pixels. Fix: e.g. 0.5, 0.5, 0.5, (0.6, 1.0), 1.0")
        # Which geometric parts are on; whole-pixel shifts alone take the exact gather path.
        self._resamples = cfg.degrees > 0 or cfg.rotation > 0 or cfg.shear > 0 or cfg.scale != (1.0, 1.0)
        self._shifts = cfg.translate > 0 or cfg.crop_padding > 0
        self._mixes = cfg.mixes and cfg.mix_prob > 0
        self._captures = cfg.captures

    @property
    def enabled(self) -> bool:
        """False when the config does nothing (the training loop then skips the call)."""
        return self._resamples or self._shifts or self._mixes or self._captures

    def __repr__(self) -> str:
        return f"BatchAugment({self.cfg}, num_classes={self.num_classes}, fill={self.fill})"

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        y = y.to(x.device)
        if x.shape[0] == 0:
            return x, y
        if self._resamples or self._shifts:
            x = self._geometry(x, generator)
        if self._captures:  # draws nothing when off, so the other recipes' random streams are unchanged
            x = capture_effects(x, self.cfg, self.fill, generator)
        if self._mixes:
            return self._mix(x, y, generator)
        return x, y

    # -- geometry --------------------------------------------------------------------------------------
    def _geometry(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        cfg = self.cfg
        b, _, h, w = x.shape
        # One draw of all uniforms per batch (one small host->device copy when the generator is on the CPU).
        u = _rand((b, 7), generator, x.device).double()
        tx = torch.round((2 * u[:, 0] - 1) * cfg.translate * w)
        ty = torch.round((2 * u[:, 1] - 1) * cfg.translate * h)
        p = cfg.crop_padding
        # RandomCrop's top-left corner (i, j) in [0, 2p] of the padded image = a shift of (p - i, p - j).
        ci = torch.clamp(torch.floor(u[:, 2] * (2 * p + 1)), max=2 * p)
        cj = torch.clamp(torch.floor(u[:, 3] * (2 * p + 1)), max=2 * p)
        if not self._resamples:
            bound = math.ceil(cfg.translate * max(h, w)) + p
            return shift_integer(x, (ty + p - ci).long(), (tx + p - cj).long(), self.fill, max_shift=bound)

        angle = (2 * u[:, 4] - 1) * cfg.degrees
        lo, hi = cfg.scale
        scale = lo + u[:, 5] * (hi - lo)
        shear = (2 * u[:, 6] - 1) * cfg.shear
        m = inverse_pixel_matrices(angle, torch.stack([tx, ty], 1), scale, shear)
        if cfg.rotation > 0:
            rot = (2 * _rand((b,), generator, x.device).double() - 1) * cfg.rotation
            zeros = torch.zeros_like(rot)
            # F.rotate is counter-clockwise: its inverse matrix is the affine one at -angle.
            m = inverse_pixel_matrices(-rot, torch.stack([zeros, zeros], 1), torch.ones_like(rot), zeros) @ m
        if p > 0:
            crop = torch.eye(3, dtype=m.dtype, device=m.device).repeat(b, 1, 1)
            crop[:, 0, 2], crop[:, 1, 2] = cj - p, ci - p  # output pixel -> pixel of the un-cropped image
            m = m @ crop
        return _resample(x, m, self.fill, cfg.interpolation)

    # -- MixUp / CutMix --------------------------------------------------------------------------------
    def _mix(self, x: Tensor, y: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        draws = _rand((2,), generator, torch.device("cpu")).tolist()
        if draws[0] >= cfg.mix_prob:
            return x, y
        use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or draws[1] < 0.5)
        # Beta draws come from numpy seeded by the torch generator: torch's Beta/Gamma take no generator.
        gdev = _gen_device(generator)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gdev).item())
        rng = np.random.default_rng(seed)
        b = x.shape[0]
        perm = torch.randperm(b, generator=generator, device=gdev, pin_memory=_pin(gdev, x.device))
        perm = perm.to(x.device, non_blocking=True)
        # Hard labels become one-hot; soft targets (a distillation teacher's) are mixed as they are.
        one_hot = y.to(torch.float32) if y.is_floating_point() else F.one_hot(y, self.num_classes).to(torch.float32)
        if use_cutmix:
            lam = float(rng.beta(cfg.cutmix_alpha, cfg.cutmix_alpha))
            (y0, y1, x0, x1), lam = cutmix_box(x.shape[-2], x.shape[-1], lam, rng)
            x = x.clone()
            x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        else:
            lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
            x = x * lam + x[perm] * (1.0 - lam)
        targets = one_hot * lam + one_hot[perm] * (1.0 - lam)
        return x, targets


MAX_ELASTIC_PX = 4.0  # beyond a few pixels a 28 px character stops being the same character


def _gaussian3(device: torch.device, dtype: torch.dtype) -> Tensor:
    g = torch.exp(-torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64) / (2 * 0.8 ** 2))
    k = torch.outer(g, g)
    return (k / k.sum()).to(device=device, dtype=dtype).view(1, 1, 3, 3)


def capture_effects(x: Tensor, cfg: AugmentConfig, fill: float, generator: torch.Generator | None = None) -> Tensor:
    """Stroke width, blur, contrast and elastic distortion, each drawn per image, on a batch (B, 1, H, W) whose
    background is ``fill``; a share ``cfg.capture_prob`` of the images gets them, the rest pass unchanged.

    * stroke width: with probability ``stroke_width_prob`` an image is thickened (a blend of up to 1 towards a 3x3
      grey dilation) or thinned (up to 0.5 towards a 3x3 grey erosion: a full erosion deletes 2 px strokes);
    * blur: a blend of U(0, ``blur``) towards a 3x3 Gaussian (sigma 0.8);
    * contrast: ink scaled about the background by U(``contrast``), fainter below 1;
    * elastic: a displacement field drawn on a 4x4 grid of U(-1, 1) x ``elastic`` pixels and upsampled bicubic,
      so it is smooth (a character bends, it does not tear), resampled bilinear with ``fill`` outside.

    All random numbers come from ``generator`` (one draw per batch), so a seed reproduces a run."""
    b, c, h, w = x.shape
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    u = _rand((b, 6), generator, x.device).to(work.dtype)
    per = lambda col: col.view(b, 1, 1, 1)  # noqa: E731 - a per-image scalar broadcast over the image
    chosen = per((u[:, 0] < cfg.capture_prob).to(work.dtype))
    out = work
    if cfg.elastic > 0:
        field = (2 * _rand((b, 2, 4, 4), generator, x.device).to(work.dtype) - 1) * cfg.elastic
        field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
        base = F.affine_grid(torch.eye(2, 3, dtype=work.dtype, device=x.device).expand(b, 2, 3), [b, c, h, w],
                             align_corners=False)
        # Pixels to grid_sample's [-1, 1] coordinates: one pixel is 2 / size.
        grid = base + torch.stack([field[:, 0] * 2 / w, field[:, 1] * 2 / h], dim=-1)
        out = F.grid_sample(out - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    if cfg.stroke_width_prob > 0:
        padded = F.pad(out, (1, 1, 1, 1), value=fill)
        thicker, thinner = F.max_pool2d(padded, 3, stride=1), -F.max_pool2d(-padded, 3, stride=1)
        on = per((u[:, 1] < cfg.stroke_width_prob).to(work.dtype))
        thicken = per((u[:, 2] < 0.5).to(work.dtype))
        strength = per(u[:, 3]) * on
        out = out + strength * (thicken * (thicker - out) + (1 - thicken) * 0.5 * (thinner - out))
    if cfg.blur > 0:
        blurred = F.conv2d(F.pad(out, (1, 1, 1, 1), value=fill), _gaussian3(x.device, work.dtype))
        out = out + per(u[:, 4]) * cfg.blur * (blurred - out)
    lo, hi = cfg.contrast
    if (lo, hi) != (1.0, 1.0):
        out = fill + (lo + per(u[:, 5]) * (hi - lo)) * (out - fill)
    return (chosen * out + (1 - chosen) * work).to(x.dtype)


def cutmix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[tuple[int, int, int, int], float]:
    """A CutMix box (y0, y1, x0, x1) of area about (1 - lam) H W centred at a uniform pixel, clipped to the
    image, and lam corrected to the area actually pasted (clipping makes boxes at the border smaller)."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return (y0, y1, x0, x1), lam


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform [0, 1) numbers from ``generator`` (on its own device) moved to ``device``; without a generator
    they are drawn directly on ``device`` from the global RNG."""
    if generator is None:
        return torch.rand(shape, device=device)
    # Pinned + non_blocking: a pageable CPU->GPU copy would wait for every queued kernel each batch.
    u = torch.rand(shape, generator=generator, device=generator.device, pin_memory=_pin(generator.device, device))
    return u.to(device, non_blocking=True)


def _pin(src: torch.device, dst: torch.device) -> bool:
    return src.type == "cpu" and dst.type == "cuda"


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device
