"""Pixels to an ink map: any image mode to floats, transparency flattened, the page's background (flat, or a
smooth field when the page is unevenly lit) told apart from the ink, and the ink's strength normalised.

The ink map is float32 (H, W) in 0..1, 1 = full ink, whatever the polarity or colour of the original.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from charclf.apps.imageprep.cleanup import drop_border_fragments, remove_lines, remove_specks
from charclf.apps.imageprep.options import PrepOptions
from charclf.errors import BlankImageError, ImageError

MIN_CONTRAST = 0.1  # ink must differ from the background by at least 10% of the range (about 25 grey levels)
NOISE_FLOOR = 0.15  # fraction of the strongest ink below which a pixel counts as background
# Illumination: the background field is estimated on a copy this many px on its long side (it is smooth, and
# the closing stays cheap), with a closing this wide (a share of that side) so every stroke is filled in.
FIELD_SIDE = 96
FIELD_CLOSING = 0.3
UNEVEN_LIGHT = 0.08  # flatten only when the background field's luminance spans more than this (~20 levels)
INK_CORE_PERCENTILE = 30  # this percentile of the stroke pixels' contrast becomes full ink
WORK_SIDE = 1600  # larger images are shrunk to this long side first (the output is 28 px)
# A dim 16-bit scan is read by its own range when its span is this many times the page's median deviation.
STRETCH_SIGNAL = 20

BLANK_FIX = ("use an image with one dark character on a light background (or light on dark), leaving some "
             "plain background around the character")


# -- any image to float channels ------------------------------------------------------------------------
def to_float_channels(image: Image.Image | np.ndarray, *, name: str = "image"
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(colour, alpha)``: colour float32 (H, W, 1 or 3) in 0..1, alpha float32 (H, W) or None if opaque.

    Raises ``ImageError`` for pixels that are not numbers (NaN, inf: float TIFFs, arrays): no conversion of
    them would be right, and silently passing them on made every later step fail with an unrelated error.
    """
    if isinstance(image, np.ndarray):
        return _array_channels(image, name)
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = _finite(np.asarray(image).astype(np.float32), name)
        scale = 65535.0 if (mode.startswith("I;16") or arr.max(initial=0) > 255) else 255.0
        if mode == "F" and arr.max(initial=0) <= 1.0:
            scale = 1.0
        low, high = float(arr.min()), float(arr.max())  # (an image is at least MIN_SIDE px a side)
        if scale == 65535.0 and 255 <= high - low < MIN_CONTRAST * scale \
                and high - low >= STRETCH_SIGNAL * (_pixel_noise(arr) + 1):
            # A dim (dark or washed-out) 16-bit scan: its contrast is under a tenth of the range, yet it spans
            # more levels than an 8-bit image holds and stands far above the pixels' own noise, so it is signal,
            # not rounding or sensor noise. Read it by its own range instead of refusing it as blank.
            return ((arr - low) / (high - low))[..., None], None
        return np.clip(arr / scale, 0, 1)[..., None], None
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    if mode in ("1", "L", "LA", "La") or (mode == "P" and _grey_palette(image)):
        target = "LA" if has_alpha else "L"
    else:
        target = "RGBA" if has_alpha else "RGB"
    arr = np.asarray(image.convert(target) if image.mode != target else image, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    if has_alpha:
        colour, alpha = arr[..., :-1], arr[..., -1]
        return colour, (None if alpha.min() >= 1.0 else alpha)
    return arr, None


def _pixel_noise(arr: np.ndarray) -> float:
    """The sensor noise of a grey image, about its std: the median difference between neighbouring pixels (on
    every 4th row, for speed), which a smooth shading of the page or a large character hardly moves."""
    rows = arr[::4]
    return float(np.median(np.abs(np.diff(rows, axis=1)))) / 0.954 if rows.shape[1] > 1 else 0.0


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ImageError(f"{name}: {bad} pixel(s) are not numbers (NaN or infinite), so the image cannot be "
                         "read as ink on paper. Fix: re-export the image as an 8-bit PNG (or replace the bad "
                         "pixels) and try again")
    return arr


def _grey_palette(image: Image.Image) -> bool:
    """A palette image whose colours are all grey converts to L exactly (no RGB distance rounding)."""
    palette = image.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def _array_channels(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        raise ImageError(f"image array of shape {arr.shape}: expected (H, W), (H, W, 3) or (H, W, 4). "
                         "Fix: pass a greyscale, RGB or RGBA image")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    else:
        arr = _finite(arr.astype(np.float32), name)
        top = float(arr.max()) if arr.size else 0.0
        arr = arr / (255.0 if top > 1.0 else 1.0)
    arr = np.clip(arr, 0, 1)
    if arr.ndim == 2:
        return arr[..., None], None
    has_alpha = arr.shape[-1] in (2, 4)
    colour = arr[..., :-1] if has_alpha else arr
    alpha = arr[..., -1] if has_alpha else None
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    return colour, alpha


def luminance(colour: np.ndarray) -> np.ndarray:
    if colour.shape[-1] == 1:
        return colour[..., 0]
    return colour @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def composite_transparency(colour: np.ndarray, alpha: np.ndarray | None, *, name: str = "image") -> np.ndarray:
    """Flatten transparency onto the backdrop (white or black) that contrasts with the opaque content.

    The colour under fully transparent pixels is meaningless (often black), so it must never decide the
    background: black strokes on a transparent layer become black-on-white, white strokes white-on-black.
    """
    if alpha is None:
        return colour
    weight = float(alpha.sum())
    if weight < 1.0:
        raise BlankImageError(f"{name}: the image is fully transparent, there is no character in it. Fix: {BLANK_FIX}")
    opaque_luminance = float((luminance(colour) * alpha).sum()) / weight
    backdrop = 1.0 if opaque_luminance < 0.5 else 0.0
    a = alpha[..., None]
    return colour * a + backdrop * (1.0 - a)


# -- background ---------------------------------------------------------------------------------------------
def border_background(colour: np.ndarray) -> np.ndarray:
    """Median colour (C,) of a thin frame around the image: the page is what surrounds the character."""
    h, w, c = colour.shape
    t = max(1, round(0.02 * min(h, w)))
    border = np.concatenate([colour[:t].reshape(-1, c), colour[-t:].reshape(-1, c),
                             colour[t:-t, :t].reshape(-1, c), colour[t:-t, -t:].reshape(-1, c)])
    return np.median(border, axis=0).astype(np.float32)


def _resize_channels(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) float -> (size[1], size[0], C), bilinear (with Pillow's antialiasing when shrinking)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., i])).resize(size, Image.BILINEAR))
                     for i in range(arr.shape[-1])], axis=-1).astype(np.float32)


def background_field(colour: np.ndarray, dark_ink: bool) -> np.ndarray:
    """The page's colour at every pixel (H, W, C), the strokes filled in.

    A greyscale closing (dark ink) or opening (light ink) as wide as ``FIELD_CLOSING`` of the image fills in
    every stroke thinner than that, however much of a window the character covers (a median would follow a
    large character), while a smooth shadow or gradient passes through unchanged. Computed on a small copy:
    the field is smooth, and this keeps it a few milliseconds on a 12-megapixel photo.
    """
    from scipy import ndimage

    h, w = colour.shape[:2]
    s = min(1.0, FIELD_SIDE / max(h, w))
    small_size = (max(1, round(w * s)), max(1, round(h * s)))
    small = _resize_channels(colour, small_size) if s < 1.0 else colour
    k = max(3, round(FIELD_CLOSING * max(small.shape[:2])))
    morph = ndimage.grey_closing if dark_ink else ndimage.grey_opening
    # Near the border a closing sees only half a window: on a shadow's gradient it returns the brighter paper
    # further in, and the darker paper at the edge reads as a band of ink. Padding by linear extrapolation
    # (odd reflection) continues the gradient; capping it at the image's own range keeps ink that touches the
    # border from mirroring into a paper brighter than any on the page.
    lo, hi = float(small.min()), float(small.max())
    padded = np.clip(np.pad(small, ((k, k), (k, k), (0, 0)), mode="reflect", reflect_type="odd"), lo, hi)
    field = np.stack([morph(padded[..., i], size=(k, k)) for i in range(small.shape[-1])], axis=-1)[k:-k, k:-k]
    field = np.stack([ndimage.uniform_filter(field[..., i], size=max(1, k // 2), mode="nearest")
                      for i in range(field.shape[-1])], axis=-1)
    return _resize_channels(field, (w, h)) if s < 1.0 else field


def contrast_map(colour: np.ndarray, options: PrepOptions) -> np.ndarray:
    """float32 (H, W): how far each pixel is from the page's colour (grey or RGB distance, 0..1).

    With a flat page that colour is the border's median (polarity and colour ink come for free). When the
    page is unevenly lit (the estimated background field varies by more than ``UNEVEN_LIGHT``), the distance
    is taken from the field instead; for dark ink on light paper it is taken on the ratio colour / field
    (reflectance), since a shadow darkens ink and paper by the same factor.
    """
    background = border_background(colour)
    if options.flatten_illumination and min(colour.shape[:2]) >= 16:
        lum = luminance(colour)
        bg_lum = float(luminance(background[None, None])[0, 0])
        # Polarity from the extremes, not percentiles: a fine pen covers well under 1% of a large page.
        dark_ink = (bg_lum - float(lum.min())) >= (float(lum.max()) - bg_lum)
        field = background_field(colour, dark_ink)
        field_lum = luminance(field)
        if float(np.percentile(field_lum, 98) - np.percentile(field_lum, 2)) > UNEVEN_LIGHT:
            if dark_ink:
                flat = np.clip(colour / np.maximum(field, 1e-3), 0.0, 1.0)
                return np.sqrt(np.mean((flat - 1.0) ** 2, axis=-1, dtype=np.float32))
            return np.sqrt(np.mean((colour - field) ** 2, axis=-1, dtype=np.float32))
    # Root-mean-square over channels: for grey pixels (any mode) this is exactly |value - background|.
    return np.sqrt(np.mean((colour - background) ** 2, axis=-1, dtype=np.float32))


def shrink_to(colour: np.ndarray, side: int) -> np.ndarray:
    """A copy no longer than ``side`` px (antialiased), or ``colour`` itself when it is small enough.

    The output is 28 px: a 12-megapixel phone photo holds far more detail than any step needs, and working at
    full size made it take ~20 s. At ``WORK_SIDE`` even a character spanning a tenth of the photo keeps
    over 100 px, and pale thin strokes that the averaging greys are restored by the intensity step.
    """
    h, w = colour.shape[:2]
    if max(h, w) <= side:
        return colour
    s = side / max(h, w)
    return np.clip(_resize_channels(colour, (max(1, round(w * s)), max(1, round(h * s)))), 0.0, 1.0)


def ink_map(image: Image.Image | np.ndarray, *, name: str = "image", options: PrepOptions | None = None
            ) -> np.ndarray:
    """Float32 (H, W) in 0..1: how strongly each pixel is ink (1 = full ink), the page and its lines removed.

    Raises ``ImageError`` for a blank (or fully transparent) image.
    """
    options = options or PrepOptions()
    if isinstance(image, Image.Image) and image.mode in ("L", "RGB") and max(image.size) >= 2 * WORK_SIDE:
        # A box average in Pillow before any float copy: a 12-megapixel photo costs a fraction of a second.
        image = image.reduce(max(image.size) // WORK_SIDE)
    colour, alpha = to_float_channels(image, name=name)
    colour = composite_transparency(colour, alpha, name=name)
    colour = shrink_to(colour, WORK_SIDE)
    dist = contrast_map(colour, options)
    peak = float(dist.max())
    if peak < MIN_CONTRAST:
        raise BlankImageError(f"{name}: blank image, no ink found (nothing differs from the background by more than "
                         f"{peak * 255:.0f} of 255 grey levels). Fix: {BLANK_FIX}")
    floor = NOISE_FLOOR * peak
    if options.remove_lines:
        dist = np.where(remove_lines(dist > floor, faint=dist > 0.5 * floor), dist, 0.0).astype(np.float32)
    full = peak
    if options.normalize_intensity:
        # "Ink is ink": EMNIST strokes are saturated (61% of ink pixels above 200), photographed ones grey.
        # The strokes' cores (the pixels darkest across each stroke: 3x3 local maxima of the contrast) say
        # how dark the pen is; a low percentile of them becomes full ink, so a pale stroke counts as much as
        # a dark one, while the soft edges keep their profile. A drawing whose cores are already uniform
        # (a clean scan, EMNIST itself) is left as it was.
        from scipy import ndimage

        cores = dist[(dist > floor) & (dist >= ndimage.maximum_filter(dist, size=3))]
        if cores.size:
            full = max(float(np.percentile(cores, INK_CORE_PERCENTILE)), floor + 0.5 * MIN_CONTRAST)
    ink = np.clip((dist - floor) / (full - floor), 0.0, 1.0).astype(np.float32)
    if options.remove_specks:
        ink = remove_specks(ink)
    if options.drop_border_fragments:
        ink = drop_border_fragments(ink)
    if not ink.any():
        raise BlankImageError(f"{name}: no character left once the page's lines and marks were removed. Fix: "
                         f"{BLANK_FIX}")
    return ink
