"""Removing what is on the page but not part of the character: ruled and grid lines, dust, and pieces of
neighbouring writing cut by the image's border."""
from __future__ import annotations

import numpy as np

SPECK_FRACTION = 0.02  # components smaller than this share of the largest one are dust, not strokes
# Ruled lines: ink runs at least LINE_RUN of the page long (after a small across-tolerance for slant and
# ragged edges), joined into a band that spans LINE_SPAN of the page and, where it runs alone, is at most
# LINE_THICK of the page thick. A character's own bar never spans the whole page unless the image is
# cropped to the bar itself.
LINE_RUN = 0.5
LINE_SPAN = 0.9
LINE_THICK = 0.08
LINE_BAND = 0.1  # a (slanted) line's band is at most this share of the page high
_EIGHT = np.ones((3, 3), dtype=bool)


def _run_lengths(mask: np.ndarray, axis: int) -> np.ndarray:
    """For each True pixel, the length of the run of True pixels along ``axis`` it belongs to (0 elsewhere)."""
    from scipy import ndimage

    structure = np.zeros((3, 3), dtype=bool)
    if axis == 1:
        structure[1, :] = True
    else:
        structure[:, 1] = True
    labels, _ = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return sizes[labels]


def _horizontal_lines(mask: np.ndarray) -> np.ndarray:
    """Bool (H, W): pixels of page-wide horizontal lines, less the strokes that cross or rest on them."""
    from scipy import ndimage

    h, w = mask.shape
    # Tolerance: a few pixels across (slant, ragged edges) and along (gaps where JPEG noise or a pale stretch
    # dropped below the noise floor), so a photographed line is still one long band.
    k, gap = max(1, round(0.005 * h)), max(2, round(0.01 * w))
    # A rectangular dilation as a (separable) maximum filter: binary_dilation's brute force took 1.5 s here.
    tolerant = ndimage.maximum_filter(mask.view(np.uint8), size=(2 * k + 1, 2 * gap + 1)).astype(bool)
    candidate = _run_lengths(tolerant, axis=1) >= LINE_RUN * w
    if not candidate.any():
        return np.zeros_like(mask)
    labels, _ = ndimage.label(candidate, structure=_EIGHT)
    across = _run_lengths(mask, axis=0)  # each pixel's vertical run: a line's thickness, or a stroke's length
    lines = np.zeros_like(mask)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = sl
        if cols.stop - cols.start < LINE_SPAN * w or rows.stop - rows.start > max(3, LINE_BAND * h):
            continue  # not across the page, or a wide band (noise merged by the tolerance, a big shape)
        part = (labels[sl] == i) & mask[sl]
        if not part.any():
            continue
        # The line's own thickness: where it runs alone (not under a stroke), its vertical runs are short;
        # take a low percentile over its columns of the thinnest run in each column.
        thinnest = np.where(part, across[sl], np.iinfo(np.int64).max).min(axis=0)
        thinnest = thinnest[thinnest < np.iinfo(np.int64).max]
        thickness = float(np.percentile(thinnest, 10))
        if thickness > LINE_THICK * h:
            continue
        # A stroke crossing (or resting on) the line makes a vertical run well beyond the line's thickness.
        lines[sl] |= part & (across[sl] <= 2 * thickness + 2)
    return lines


def remove_lines(mask: np.ndarray, faint: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (bool ink) less ruled and grid lines, horizontal and vertical: light-blue notebook lines, a
    margin line, squared paper. Where a stroke crosses a line, the stroke is kept. If nothing but "lines"
    is there (a long thin '1' or 'l' filling a tight crop), nothing is removed.

    ``faint`` (a lower-threshold ink mask, a superset of ``mask``) is where lines are looked for: a pale
    line in a photo dips in and out of ``mask``, and its pieces would survive as strokes.
    """
    where = mask if faint is None else (faint | mask)
    lines = _horizontal_lines(where) | _horizontal_lines(where.T).T
    kept = mask & ~lines
    return kept if kept.any() else mask


def remove_specks(ink: np.ndarray) -> np.ndarray:
    """Zero the connected ink components far smaller than the largest (dust, stray dots, JPEG blips).

    An 'i' or 'j' dot survives: it is a sizeable fraction of its stem, well above ``SPECK_FRACTION``.
    """
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=_EIGHT)
    if n <= 1:
        return ink
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.concatenate([[False], sizes >= SPECK_FRACTION * sizes.max()])
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


def drop_border_fragments(ink: np.ndarray) -> np.ndarray:
    """Zero the components that touch the image's border, when the main (largest) component does not.

    A photo of one character from a page of writing often catches a piece of the next letter at its edge; it
    is not part of the character, and it stretches the crop. If the main component itself touches the
    border, the image is cropped tight around the character, and border pieces (an 'i' dot) are kept.
    """
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=_EIGHT)
    if n <= 1:
        return ink
    main = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    if main in edge:
        return ink
    drop = np.zeros(n + 1, dtype=bool)
    drop[edge] = True
    drop[0] = False
    return np.where(drop[labels], 0.0, ink).astype(np.float32)


def pieces_and_gaps(mask: np.ndarray) -> tuple[int, int]:
    """``(pieces, gaps)`` of a boolean ink mask: its 8-connected components, and the background regions it encloses
    (4-connected, not reaching the border)."""
    from scipy import ndimage

    _, pieces = ndimage.label(mask, structure=_EIGHT)
    _, regions = ndimage.label(np.pad(~mask, 1, constant_values=True))  # the pad joins the outside
    return int(pieces), int(regions - 1 if regions else 0)


# Ink that is not one character (noise, a texture, a page) is told by two things together, so that no real
# character is refused for one of them alone:
# - the ink map breaks into more than SCATTERED pieces or encloses more than SCATTERED gaps. One handwritten
#   character, cleaned, has at most 3 and 8 (the 964 real-world images). Uniform noise has 74 gaps at 28 px
#   and over 100,000 at 1000 px, salt-and-pepper 1,559 pieces. But crayon grain (4,000 gaps), stippled or
#   dashed pens (40 pieces) and tilted squared paper (300 gaps) have many too;
# - and the 28x28 the model would read is no glyph either: more than MAX_PIECES_28 pieces (small noise) or ink
#   over more of the frame than any EMNIST image has. Resized and blurred, noise of 96 px or more becomes a
#   solid block (52-72% of the frame); EMNIST's 104,689 train+val images cover at most 46% (99.99% of them under
#   40%). Stipple and dashes make one piece. Grainy strokes (crayon, chalk, pencil on rough paper) scatter the
#   ink too, and their pores make the stroke-width measure read thin, so thickening bloats them: a 45-px "M"
#   with 35% grain covers 48%, hence the limit above EMNIST's maximum rather than at its tail. (Uniform noise of
#   64 px, 45%, is then answered; smaller noise stays in pieces and is refused.)
SCATTERED = 30
MAX_PIECES_28 = 3
MAX_FILL_28 = 0.5


def refuse_scattered_ink(name: str, ink: np.ndarray, image28: np.ndarray) -> None:
    """Raise ``ImageError`` when ``ink`` (the cleaned ink map) and ``image28`` (the uint8 28x28 made from it)
    together say the image holds no single character (see ``SCATTERED``)."""
    pieces, gaps = pieces_and_gaps(ink > 0)
    if pieces <= SCATTERED and gaps <= SCATTERED:
        return
    seen = image28 > 127
    pieces_28, _ = pieces_and_gaps(seen)
    fill = float(seen.mean())
    if pieces_28 <= MAX_PIECES_28 and fill <= MAX_FILL_28:
        return
    from charclf.errors import ImageError

    looks = f"{pieces_28} pieces at 28x28" if pieces_28 > MAX_PIECES_28 else f"ink over {fill:.0%} of the 28x28"
    raise ImageError(f"{name}: does not look like one character: its ink falls into {pieces} "
                     f"piece{'s' * (pieces != 1)} with {gaps} enclosed gap{'s' * (gaps != 1)}, and {looks} (a "
                     "handwritten character has a few pieces and gaps), as noise, a texture or a page of writing "
                     "does. Fix: crop the image to one character on a plain background (photograph ruled or "
                     "squared paper straight, so its lines can be removed)")
