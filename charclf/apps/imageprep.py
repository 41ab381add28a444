"""Turning a user's image file (a photo, a scan, a drawing) into a 28x28 EMNIST-style character image.

The models only ever saw EMNIST, so an image is converted the way Cohen et al. (2017) converted the NIST
forms: light ink on a black background, the ink's bounding box centred in a square frame that keeps the
aspect ratio, a small border, a Gaussian blur (sigma 1 at NIST's 128-pixel scale), an antialiased resize to
28x28 and intensities stretched to 0..255. Measured on the real EMNIST ByClass test images, the ink's
bounding box is centred (median box centre 13.5 = the frame's centre, while the centre of mass wanders
from 11 to 16 px), and its long side spans 24-26 px of the 28: so we centre the *box* (as EMNIST did),
not the centre of mass (as MNIST did), and leave "2 px of a 32-px frame" around it.

Steps of ``preprocess_image`` and why:

1. Any Pillow mode becomes floats in 0..1 (16-bit and float modes scaled by their range).
2. Transparency: sketch apps save opaque strokes on a transparent layer whose hidden colour is arbitrary
   (often black, i.e. the same as black ink). So transparent areas are composited onto the colour that
   contrasts with the image's *opaque* content: black strokes land on white, white strokes on black.
3. Ink = distance (in grey or RGB) from the background colour, the median of the image's border. This
   detects the polarity by itself (dark-on-light and light-on-dark give the same ink map) and also works
   for coloured ink or tinted paper. A faint noise floor (paper texture, JPEG ringing) is cut away, and
   specks much smaller than the character (dust, stray dots) are removed so they cannot stretch the box.
4. Crop to the ink's bounding box, centre it in a square 128-px frame (long side 112 px = 28/32 of it),
   thicken strokes that are much thinner than EMNIST's (a fine pen on a large page would otherwise shrink
   to a faint hairline at 28 px), blur with sigma 1, resize to 28x28 with antialiasing, stretch to 0..255.

``load_image`` refuses files that are not images, empty, truncated, absurdly large (decompression bombs) or
tiny, each with an ``ImageError`` that names the file, the problem and the fix.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from charclf.errors import ImageError, file_error

# Size limits: beyond these an "image" is almost surely a mistake or an attack (decompression bomb).
MAX_PIXELS = 50_000_000
MAX_SIDE = 20_000
MIN_SIDE = 4
# Formats the tests exercise; anything else Pillow decodes (GIF, TIFF ...) is accepted too.
SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "WEBP")

OUTPUT_SIZE = 28
FRAME = 128  # NIST's native 128x128 scale, where EMNIST applied its sigma=1 blur
CONTENT = 112  # long side of the character in the frame: 28/32 of it, as EMNIST's 2-px border in 32 px
BLUR_SIGMA = 1.0
MIN_CONTRAST = 0.1  # ink must differ from the background by at least 10% of the range (about 25 grey levels)
NOISE_FLOOR = 0.15  # fraction of the strongest ink below which a pixel counts as background
SPECK_FRACTION = 0.02  # components smaller than this share of the largest one are dust, not strokes
MIN_STROKE = 0.12  # thinnest stroke kept as is, as a fraction of the long side (EMNIST: median ~0.16, 25% ~0.10)
TARGET_STROKE = 0.14  # thin strokes are thickened to about this width
WORK_SIDE = 1024  # crops larger than this are shrunk before stroke measurement (the output is 28 px)

_BLANK_FIX = ("use an image with one dark character on a light background (or light on dark), leaving some "
              "plain background around the character")


# -- loading --------------------------------------------------------------------------------------------
def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, or raise ``ImageError`` saying what is wrong with it.

    Applies the EXIF orientation (phone photos), keeps the first frame of animated files, and refuses
    absurd sizes *before* decoding, so a small file that claims to be 100000x100000 costs nothing.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found. Fix: check the path")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file. Fix: pass the image files inside it")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes). Fix: save or copy the image again")
    with warnings.catch_warnings():
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; make every bomb warning an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            fh = open(path, "rb")
        except OSError as err:  # permission denied, ...: say so, not "truncated or corrupted"
            raise ImageError(str(file_error(path, err))) from None
        try:
            with fh, Image.open(fh) as img:
                _check_size(path, img.size)
                img.load()
                img = ImageOps.exif_transpose(img)  # returns a decoded copy, so the file can close
        except ImageError:
            raise
        except Image.UnidentifiedImageError:
            raise ImageError(f"{path}: not an image file Pillow can read. Fix: pass a PNG, JPEG, BMP or WebP "
                             "image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ImageError(f"{path}: refused as a decompression bomb ({err}). Fix: pass an image of at most "
                             f"{MAX_PIXELS // 1_000_000} megapixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageError(f"{path}: the image data is truncated or corrupted ({err}). Fix: save or copy "
                             "the image again") from None
    return img


def _check_size(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise ImageError(f"{path}: absurd image size {w}x{h} (limit {MAX_PIXELS // 1_000_000} megapixels and "
                         f"{MAX_SIDE} px a side). Fix: crop or shrink the image around the character")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{path}: image of {w}x{h} px is too small to hold a character (at least "
                         f"{MIN_SIDE} px a side). Fix: pass a larger image")


# -- pixels to an ink map -------------------------------------------------------------------------------
def to_float_channels(image: Image.Image | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(colour, alpha)``: colour float32 (H, W, 1 or 3) in 0..1, alpha float32 (H, W) or None if opaque."""
    if isinstance(image, np.ndarray):
        return _array_channels(image)
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(image).astype(np.float32)
        scale = 65535.0 if (mode.startswith("I;16") or arr.max(initial=0) > 255) else 255.0
        if mode == "F" and arr.max(initial=0) <= 1.0:
            scale = 1.0
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


def _grey_palette(image: Image.Image) -> bool:
    """A palette image whose colours are all grey converts to L exactly (no RGB distance rounding)."""
    palette = image.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def _array_channels(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
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
        arr = arr.astype(np.float32)
        top = float(np.nanmax(arr)) if arr.size else 0.0
        arr = arr / (255.0 if top > 1.0 else 1.0)
    arr = np.clip(np.nan_to_num(arr), 0, 1)
    if arr.ndim == 2:
        return arr[..., None], None
    has_alpha = arr.shape[-1] in (2, 4)
    colour = arr[..., :-1] if has_alpha else arr
    alpha = arr[..., -1] if has_alpha else None
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    return colour, alpha


def _luminance(colour: np.ndarray) -> np.ndarray:
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
        raise ImageError(f"{name}: the image is fully transparent, there is no character in it. Fix: {_BLANK_FIX}")
    opaque_luminance = float((_luminance(colour) * alpha).sum()) / weight
    backdrop = 1.0 if opaque_luminance < 0.5 else 0.0
    a = alpha[..., None]
    return colour * a + backdrop * (1.0 - a)


def ink_map(image: Image.Image | np.ndarray, *, name: str = "image") -> np.ndarray:
    """Float32 (H, W) in 0..1: how strongly each pixel differs from the background (1 = strongest ink).

    Raises ``ImageError`` for a blank (or fully transparent) image.
    """
    colour, alpha = to_float_channels(image)
    colour = composite_transparency(colour, alpha, name=name)
    h, w = colour.shape[:2]
    # Background = median colour of a thin frame around the image: the page is what surrounds the character.
    t = max(1, round(0.02 * min(h, w)))
    border = np.concatenate([colour[:t].reshape(-1, colour.shape[-1]), colour[-t:].reshape(-1, colour.shape[-1]),
                             colour[t:-t, :t].reshape(-1, colour.shape[-1]),
                             colour[t:-t, -t:].reshape(-1, colour.shape[-1])])
    background = np.median(border, axis=0).astype(np.float32)
    # Root-mean-square over channels: for grey pixels (any mode) this is exactly |value - background|.
    dist = np.sqrt(np.mean((colour - background) ** 2, axis=-1, dtype=np.float32))
    peak = float(dist.max())
    if peak < MIN_CONTRAST:
        raise ImageError(f"{name}: blank image, no ink found (nothing differs from the background by more than "
                         f"{peak * 255:.0f} of 255 grey levels). Fix: {_BLANK_FIX}")
    floor = NOISE_FLOOR * peak
    ink = np.clip((dist - floor) / (peak - floor), 0.0, 1.0)
    return _remove_specks(ink)


def _remove_specks(ink: np.ndarray) -> np.ndarray:
    """Zero the connected ink components far smaller than the largest (dust, stray dots, JPEG blips).

    An 'i' or 'j' dot survives: it is a sizeable fraction of its stem, well above ``SPECK_FRACTION``.
    """
    from scipy import ndimage

    mask = ink > 0
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return ink
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.concatenate([[False], sizes >= SPECK_FRACTION * sizes.max()])
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


# -- ink map to a 28x28 EMNIST image --------------------------------------------------------------------
def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of a float map to ``size`` = (width, height); Pillow widens the kernel
    when shrinking, so large photos are averaged rather than aliased."""
    out = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32)).resize(size, Image.BICUBIC)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width (px) of a float ink map: twice the median distance-to-edge on the strokes' ridges."""
    from scipy import ndimage

    mask = ink > 0.5
    if not mask.any():
        return 0.0
    dist = ndimage.distance_transform_edt(mask)
    ridge = mask & (dist >= ndimage.maximum_filter(dist, size=3))
    return 2.0 * float(np.median(dist[ridge]))


def thicken_strokes(crop: np.ndarray) -> np.ndarray:
    """Grow strokes thinner than ``MIN_STROKE`` of the character's long side to about ``TARGET_STROKE``.

    EMNIST strokes are thick (median ~4 px of 28); a fine pen on a large page would otherwise shrink to a
    faint hairline, unlike anything the model has seen. Strokes are never thinned. Growing uses the distance
    to the nearest stroke (linear time, any radius) with a one-pixel soft edge, and the result is re-cropped
    so the thicker character still fills the frame.
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
    return _crop_to_ink(grown)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def ink_to_emnist(ink: np.ndarray, *, normalize_strokes: bool = True) -> np.ndarray:
    """Crop a float ink map to its bounding box and render it as an upright uint8 (28, 28) EMNIST image."""
    from scipy import ndimage

    crop = _crop_to_ink(ink)
    if max(crop.shape) > WORK_SIDE:
        # Shrink huge crops first (the output is 28 px anyway) so stroke measurement stays cheap; rescale so
        # strokes thinned below a pixel by the averaging regain full intensity.
        s = WORK_SIDE / max(crop.shape)
        crop = _resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))))
        crop = crop / max(float(crop.max()), 1e-6)
    if normalize_strokes:
        crop = thicken_strokes(crop)
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


def preprocess_image(image: str | Path | Image.Image | np.ndarray, *, normalize_strokes: bool = True) -> np.ndarray:
    """A path, PIL image or array (grey, RGB, RGBA) -> uint8 (28, 28) upright, light ink on black, EMNIST-style.

    Raises ``ImageError`` (naming the file) for unreadable, absurd or blank images.
    """
    if isinstance(image, (str, Path)):
        name = str(image)
        image = load_image(image)
    else:
        name = "image"
        if isinstance(image, Image.Image):
            _check_size(Path(name), image.size)
        elif isinstance(image, np.ndarray) and image.ndim >= 2:
            _check_size(Path(name), (image.shape[1], image.shape[0]))
    return ink_to_emnist(ink_map(image, name=name), normalize_strokes=normalize_strokes)
