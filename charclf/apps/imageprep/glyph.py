"""An ink map to a 28x28 EMNIST image: crop to the character, bring its strokes to EMNIST's width, centre the
box in a 128-px frame, blur as NIST did, resize and stretch."""
from __future__ import annotations

import numpy as np
from PIL import Image

from charclf.apps.imageprep.options import PrepOptions
from charclf.errors import ImageError

OUTPUT_SIZE = 28
FRAME = 128  # NIST's native 128x128 scale, where EMNIST applied its sigma=1 blur
CONTENT = 112  # long side of the character in the frame: 28/32 of it, as EMNIST's 2-px border in 32 px
BLUR_SIGMA = 1.0
# Stroke width as a fraction of the character's long side, measured the way ``stroke_width`` measures it on
# the crop: on 600 EMNIST holdout-val images rendered as 128-px scans, percentiles 10/25/50/75/90/95 are
# 0.076/0.091/0.110/0.138/0.166/0.186. (On 28x28 images, blur included, the median reads ~0.16.) On 1,000 such
# scans, model_hub/default scored 86.9% with the earlier 0.12 -> 0.14 thickening and 87.9% with 0.08 -> 0.11;
# thinning cost 0.5-0.8 points even from 0.20, so it starts well above EMNIST's range.
MIN_STROKE = 0.08  # thinner than this (below EMNIST's lower quartile) is thickened ...
TARGET_STROKE = 0.11  # ... to about EMNIST's median
MAX_STROKE = 0.24  # thicker than this (a marker on a small letter; well above EMNIST's 95th percentile) is thinned
TARGET_THIN = 0.14  # ... to EMNIST's upper quartile
WORK_SIDE = 1024  # crops larger than this are shrunk before stroke measurement (the output is 28 px)


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of a float map to ``size`` = (width, height); Pillow widens the kernel
    when shrinking, so large photos are averaged rather than aliased."""
    out = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32)).resize(size, Image.BICUBIC)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _ridge(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest background pixel, ridge mask): the ridge is where that distance is a local
    maximum, i.e. the strokes' centre lines. Outside the array counts as background: a crop is cut at the ink's
    edges, and a stroke filling it (a '1') must not measure as infinitely wide."""
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return dist, mask & (dist >= ndimage.maximum_filter(dist, size=3))


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width (px) of a float ink map: twice the median distance-to-edge on the strokes' ridges."""
    mask = ink > 0.5
    if not mask.any():
        return 0.0
    dist, ridge = _ridge(mask)
    return 2.0 * float(np.median(dist[ridge]))


def thicken_strokes(crop: np.ndarray) -> np.ndarray:
    """Grow strokes thinner than ``MIN_STROKE`` of the character's long side to about ``TARGET_STROKE``.

    EMNIST strokes are thick (median ~4 px of 28); a fine pen on a large page would otherwise shrink to a
    faint hairline, unlike anything the model has seen. Growing uses the distance to the nearest stroke
    (linear time, any radius) with a one-pixel soft edge, and the result is re-cropped so the thicker
    character still fills the frame.
    """
    from scipy import ndimage

    long_side = max(crop.shape)
    width = stroke_width(crop)
    if width >= MIN_STROKE * long_side:
        return crop
    radius = (TARGET_STROKE * long_side - width) / 2.0
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(crop, pad)
    outside = ndimage.distance_transform_edt(~(padded > 0.5))
    grown = np.maximum(padded, np.clip(radius + 1.0 - outside, 0.0, 1.0)).astype(np.float32)
    return crop_to_ink(grown)


def thin_strokes(crop: np.ndarray) -> np.ndarray:
    """Slim strokes thicker than ``MAX_STROKE`` of the long side to ``TARGET_THIN`` (EMNIST's median).

    A thick marker on a small letter makes a blob once scaled to 28 px (a 'c' that fills its own bowl). The
    strokes are redrawn around their centre lines (the distance transform's ridge) with the target radius,
    inside the original ink: unlike an erosion this never cuts a thin part away, and the character's shape
    is kept.
    """
    from scipy import ndimage

    long_side = max(crop.shape)
    width = stroke_width(crop)
    if width <= MAX_STROKE * long_side:
        return crop
    _, ridge = _ridge(crop > 0.5)
    to_ridge = ndimage.distance_transform_edt(~ridge)
    radius = TARGET_THIN * long_side / 2.0
    thinned = (crop * np.clip(radius + 0.5 - to_ridge, 0.0, 1.0)).astype(np.float32)
    return crop_to_ink(thinned)


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def ink_to_emnist(ink: np.ndarray, *, options: PrepOptions | None = None) -> np.ndarray:
    """Crop a float ink map to its bounding box and render it as an upright uint8 (28, 28) EMNIST image."""
    from scipy import ndimage

    options = options or PrepOptions()
    crop = crop_to_ink(ink)
    if max(crop.shape) > WORK_SIDE:
        # Shrink huge crops first (the output is 28 px anyway) so stroke measurement stays cheap; rescale so
        # strokes thinned below a pixel by the averaging regain full intensity.
        s = WORK_SIDE / max(crop.shape)
        crop = _resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))))
        crop = crop / max(float(crop.max()), 1e-6)
    if options.thicken:
        crop = thicken_strokes(crop)
    if options.thin:
        crop = thin_strokes(crop)
    h, w = crop.shape
    scale = CONTENT / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    top, left = (FRAME - new_h) // 2, (FRAME - new_w) // 2  # centre the bounding box, as EMNIST did
    frame[top:top + new_h, left:left + new_w] = _resize(crop, (new_w, new_h))
    frame = ndimage.gaussian_filter(frame, sigma=BLUR_SIGMA)
    small = _resize(frame, (OUTPUT_SIZE, OUTPUT_SIZE))
    peak = float(small.max())
    if peak <= 0:  # unreachable for a non-empty crop; kept so a bug cannot divide by zero
        raise ImageError("image: the character vanished when resized to 28x28. Fix: pass a larger image")
    return np.round(small / peak * 255.0).astype(np.uint8)
