"""Turning a user's image file (a photo, a scan, a drawing) into a 28x28 EMNIST-style character image.

The models only ever saw EMNIST, so an image is converted the way Cohen et al. (2017) converted the NIST
forms: light ink on a black background, the ink's bounding box centred in a square frame that keeps the
aspect ratio, a small border, a Gaussian blur (sigma 1 at NIST's 128-pixel scale), an antialiased resize to
28x28 and intensities stretched to 0..255. Measured on the real EMNIST ByClass test images, the ink's
bounding box is centred (median box centre 13.5 = the frame's centre, while the centre of mass wanders
from 11 to 16 px), and its long side spans 24-26 px of the 28: so we centre the *box* (as EMNIST did),
not the centre of mass (as MNIST did), and leave "2 px of a 32-px frame" around it.

Steps of ``preprocess_image`` and why (modules: ``ink`` pixels to an ink map, ``cleanup`` what is not the
character, ``glyph`` the ink map to 28x28, ``options`` the switches; each step can be turned off, see
``PrepOptions``, and ``PREPROCESS_VERSION`` names the whole):

1. Any Pillow mode becomes floats in 0..1 (16-bit and float modes scaled by their range, a dim 16-bit scan by
   its own; NaN/inf refused).
2. Transparency: sketch apps save opaque strokes on a transparent layer whose hidden colour is arbitrary
   (often black, i.e. the same as black ink). So transparent areas are composited onto the colour that
   contrasts with the image's *opaque* content: black strokes land on white, white strokes on black.
3. Ink = distance (in grey or RGB) from the background colour, the median of the image's border. This
   detects the polarity by itself (dark-on-light and light-on-dark give the same ink map) and also works
   for coloured ink or tinted paper. When the page is unevenly lit (a shadow), the background is a smooth
   field (a large greyscale closing) and divided out instead. A faint noise floor (paper texture, JPEG
   ringing) is cut away.
4. Page-wide ruled and grid lines are erased (keeping strokes that cross them); the typical stroke becomes
   full ink, so photographed (grey) strokes look like EMNIST's saturated ones; specks much smaller than the
   character and fragments of neighbouring writing at the border are removed so they cannot stretch the box.
5. Crop to the ink's bounding box; thicken strokes much thinner than EMNIST's (a fine pen on a large page
   would shrink to a hairline) and thin much thicker ones (a marker) to EMNIST's median; centre the box in a
   square 128-px frame (long side 112 px = 28/32 of it), blur with sigma 1, resize to 28x28 with
   antialiasing, stretch to 0..255.
6. With the whole cleanup on, ink that is no single character is refused (``cleanup.refuse_scattered_ink``:
   dozens of pieces or enclosed gaps, and a 28x28 in many pieces or a solid block): noise, a texture or a page
   of writing gets no answer rather than a confident guess.

``load_image`` refuses files that are not images, empty, truncated, absurdly large (decompression bombs) or
tiny, each with an ``ImageError`` that names the file, the problem and the fix.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps

from charclf.apps.imageprep.cleanup import refuse_scattered_ink
from charclf.apps.imageprep.glyph import (  # noqa: F401  (re-exported)
    OUTPUT_SIZE,
    crop_to_ink,
    ink_to_emnist,
    stroke_width,
    thicken_strokes,
    thin_strokes,
)
from charclf.apps.imageprep.ink import composite_transparency, ink_map, to_float_channels  # noqa: F401
from charclf.apps.imageprep.options import (  # noqa: F401  (re-exported)
    PREPROCESS_VERSION,
    STEPS,
    PrepOptions,
    resolve_options,
)
from charclf.errors import ImageError, file_error

# Size limits: beyond these an "image" is almost surely a mistake or an attack (decompression bomb).
MAX_PIXELS = 50_000_000
MAX_SIDE = 20_000
MIN_SIDE = 4
# The steps that remove what is not the character; the one-character check judges what they leave when all run.
CLEANUP_STEPS = ("flatten_illumination", "remove_lines", "remove_specks", "drop_border_fragments")
# Formats the tests exercise; anything else Pillow decodes (GIF, TIFF ...) is accepted too.
SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "WEBP")


# -- loading --------------------------------------------------------------------------------------------
def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, or raise ``ImageError`` saying what is wrong with it.

    Applies the EXIF orientation (phone photos), keeps the first frame of animated files, and refuses
    absurd sizes *before* decoding, so a small file that claims to be 100000x100000 costs nothing.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():  # "not found" would send the user looking for a file that is there, as a link
            raise ImageError(f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist or loops "
                             "back to itself. Fix: point the link at the image file, or pass the file itself")
        raise ImageError(f"{path}: file not found. Fix: check the path")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file. Fix: pass the image files inside it")
    if not path.is_file():  # a pipe, socket or device: reading it would block, or read something else
        raise ImageError(f"{path}: is not a regular file (a pipe, socket or device). Fix: pass the image file itself")
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
                frames = getattr(img, "n_frames", 1)
                if frames > 1:  # an animation or a multi-page scan: reading its first frame alone would be a
                    # silent partial answer (a blank first frame refused, later characters never read)
                    raise ImageError(f"{path}: holds {frames} frames (an animation or a multi-page file), and "
                                     "charclf reads one character per image. Fix: save the frame or page you "
                                     "want as its own PNG (one per character)")
                img.load()
                img = ImageOps.exif_transpose(img)  # returns a decoded copy, so the file can close
        except ImageError:
            raise
        except Image.UnidentifiedImageError:
            kind = _format_by_signature(path)
            if kind:  # an image file by its first bytes that Pillow cannot open: damaged, or sized 0 px
                raise ImageError(f"{path}: starts as a {kind} file, but Pillow cannot decode it (damaged, an "
                                 "image of 0 px on a side, or a variant this Pillow lacks). Fix: save or export the "
                                 "image again as PNG") from None
            raise ImageError(f"{path}: not an image file Pillow can read. Fix: pass a PNG, JPEG, BMP or WebP "
                             "image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ImageError(f"{path}: refused as a decompression bomb ({err}). Fix: pass an image of at most "
                             f"{MAX_PIXELS // 1_000_000} megapixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageError(f"{path}: the image data is truncated or corrupted ({err}). Fix: save or copy "
                             "the image again") from None
    return img


# The first bytes of the image formats people pass, to tell "not an image" from "an image Pillow cannot decode".
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"II*\x00": "TIFF",
               b"MM\x00*": "TIFF"}


def _format_by_signature(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":  # "BM", the file size, 4 reserved zero bytes
        return "BMP"
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def _check_size(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise ImageError(f"{path}: absurd image size {w}x{h} (limit {MAX_PIXELS // 1_000_000} megapixels and "
                         f"{MAX_SIDE} px a side). Fix: crop or shrink the image around the character")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{path}: image of {w}x{h} px is too small to hold a character (at least "
                         f"{MIN_SIDE} px a side). Fix: pass a larger image")


def preprocess_image(image: str | Path | Image.Image | np.ndarray, *, normalize_strokes: bool = True,
                     options: PrepOptions | None = None, disable: Iterable[str] = ()) -> np.ndarray:
    """A path, PIL image or array (grey, RGB, RGBA) -> uint8 (28, 28) upright, light ink on black, EMNIST-style.

    ``options`` / ``disable`` turn steps off (see ``PrepOptions``; ``disable=("remove_lines",)`` for an
    ablation). Raises ``ImageError`` (naming the file) for unreadable, absurd, non-numeric or blank images.
    """
    opts = resolve_options(options, disable, normalize_strokes)
    if isinstance(image, (str, Path)):
        name = str(image)
        image = load_image(image)
    else:
        name = "image"
        if isinstance(image, Image.Image):
            _check_size(Path(name), image.size)
        elif isinstance(image, np.ndarray) and image.ndim >= 2:
            _check_size(Path(name), (image.shape[1], image.shape[0]))
    ink = ink_map(image, name=name, options=opts)
    out = ink_to_emnist(ink, options=opts)
    if all(getattr(opts, step) for step in CLEANUP_STEPS):
        # Judged on what the whole cleanup leaves: with a step off (an ablation) its leftovers are the point.
        refuse_scattered_ink(name, ink, out)
    return out
