"""Each preprocessing step on a synthetic case of real capture: with the step on, the 28x28 image matches the
clean drawing (or EMNIST's statistics); with that one step turned off, the same check fails, so every test
proves its step is needed. Plus the step switches themselves."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from charclf.apps.imageprep import PREPROCESS_VERSION, STEPS, PrepOptions, preprocess_image, stroke_width
from charclf.errors import ConfigError, ImageError

PAPER, INK = 235, 25


def page(size=(240, 240), fill=PAPER) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", size, (fill, fill, fill))
    return img, ImageDraw.Draw(img)


def draw_h(d: ImageDraw.ImageDraw, vertical=INK, bar=INK, width=16, box=(60, 50, 180, 190)):
    x0, y0, x1, y1 = box
    d.line([(x0, y0), (x0, y1)], fill=(vertical,) * 3, width=width)
    d.line([(x1, y0), (x1, y1)], fill=(vertical,) * 3, width=width)
    d.line([(x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2)], fill=(bar,) * 3, width=width)


def draw_l(d: ImageDraw.ImageDraw, width=16):
    d.line([(80, 40), (80, 200), (170, 200)], fill=(INK,) * 3, width=width, joint="curve")


def draw_b(d: ImageDraw.ImageDraw, offset=(0, 0), width=14):
    ox, oy = offset
    d.line([(ox + 90, oy + 40), (ox + 90, oy + 200)], fill=(INK,) * 3, width=width)
    d.ellipse([ox + 90, oy + 120, ox + 170, oy + 200], outline=(INK,) * 3, width=width)


def gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two 28x28 images, in grey levels."""
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_steps_switch_and_version():
    assert PrepOptions().describe() == PREPROCESS_VERSION
    assert PrepOptions().without("remove_lines").describe() == f"{PREPROCESS_VERSION} -remove_lines"
    assert set(STEPS) == {"flatten_illumination", "remove_lines", "normalize_intensity", "remove_specks",
                          "drop_border_fragments", "thicken", "thin"}
    with pytest.raises(ConfigError, match="remove_lines"):
        PrepOptions().without("remove_line")
    img, d = page()
    draw_l(d)
    np.testing.assert_array_equal(preprocess_image(img, normalize_strokes=False),
                                  preprocess_image(img, disable=("thicken", "thin")))


def test_shadowed_h_is_flattened():
    """A left-to-right shadow (paper from 25% to 100% brightness) must not count as ink."""
    clean, d = page()
    draw_h(d)
    ref = preprocess_image(clean)
    shade = np.linspace(0.25, 1.0, clean.width, dtype=np.float32)[None, :, None]
    shadowed = Image.fromarray((np.asarray(clean) * shade).astype(np.uint8))
    assert gap(preprocess_image(shadowed), ref) < 12
    assert gap(preprocess_image(shadowed, disable=("flatten_illumination",)), ref) > 15
    # An evenly lit page is left exactly as it was: the step turns itself on only for uneven light.
    np.testing.assert_array_equal(ref, preprocess_image(clean, disable=("flatten_illumination",)))


def test_shadowed_light_on_dark_chalk_is_flattened():
    clean, d = page(fill=20)
    draw_h(d, vertical=230, bar=230)
    ref = preprocess_image(clean)
    glow = np.linspace(0, 90, clean.width, dtype=np.float32)[None, :, None]  # a lamp at the right
    lit = Image.fromarray(np.clip(np.asarray(clean) + glow, 0, 255).astype(np.uint8))
    assert gap(preprocess_image(lit), ref) < 12
    assert gap(preprocess_image(lit, disable=("flatten_illumination",)), ref) > 30


@pytest.mark.parametrize("grid", [False, True])
def test_l_on_ruled_paper_loses_the_lines(grid):
    """Light-blue notebook lines (and squared paper) across the page are not part of the character; the L's
    own strokes, which cross and rest on the lines, are kept."""
    clean, d = page()
    draw_l(d)
    ref = preprocess_image(clean)
    ruled, d = page()
    for y in range(8, 240, 32):  # y=200 puts a line right under the L's foot
        d.line([(0, y), (239, y + 1)], fill=(150, 185, 235), width=2)  # a slight slant, as photographed
    if grid:
        for x in range(12, 240, 32):
            d.line([(x, 0), (x, 239)], fill=(150, 185, 235), width=2)
    draw_l(d)
    assert gap(preprocess_image(ruled), ref) < 8
    assert gap(preprocess_image(ruled, disable=("remove_lines",)), ref) > 20


def test_bars_of_a_character_are_not_lines():
    """A T's bar and an H's crossbar are long and thin, but they do not cross the page: they stay."""
    img, d = page()
    d.line([(20, 40), (220, 40)], fill=(INK,) * 3, width=16)
    d.line([(120, 40), (120, 210)], fill=(INK,) * 3, width=16)
    np.testing.assert_array_equal(preprocess_image(img), preprocess_image(img, disable=("remove_lines",)))


def test_b_with_a_neighbours_fragment_at_the_border():
    """A piece of the neighbouring letter, cut by the photo's edge, is dropped (it is far over the dust
    filter's 2% of the glyph, so the speck filter alone keeps it)."""
    clean, d = page()
    draw_b(d)
    ref = preprocess_image(clean)
    cut, d = page()
    draw_b(d)
    d.arc([-60, 120, 40, 220], start=-100, end=100, fill=(INK,) * 3, width=14)  # the end of an 'o' or 'a'
    assert gap(preprocess_image(cut), ref) < 3
    assert gap(preprocess_image(cut, disable=("drop_border_fragments",)), ref) > 15


def test_i_cropped_tight_keeps_its_dot():
    """When the character itself touches the border (a tight crop), border pieces are its own: the i's dot."""
    img = Image.new("L", (30, 120), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([8, 40, 22, 119], fill=0)
    d.ellipse([8, 0, 22, 14], fill=0)
    np.testing.assert_array_equal(preprocess_image(img), preprocess_image(img, disable=("drop_border_fragments",)))


def _relative_width(arr: np.ndarray) -> float:
    rows, cols = np.flatnonzero(arr.max(1) > 0), np.flatnonzero(arr.max(0) > 0)
    return stroke_width(arr / 255.0) / max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)


def test_thick_marker_c_is_thinned_towards_emnist():
    """A small c in thick marker fills its own bowl at 28 px; EMNIST's median stroke is ~16% of the long side."""
    img, d = page()
    d.arc([50, 50, 190, 190], start=40, end=320, fill=(INK,) * 3, width=44)  # stroke ~31% of the glyph
    thinned, kept = preprocess_image(img), preprocess_image(img, disable=("thin",))
    assert _relative_width(kept) > 0.24
    assert _relative_width(thinned) < 0.21
    assert (thinned > 127).mean() < 0.8 * (kept > 127).mean()
    # Strokes of EMNIST's own width are left alone.
    plain, d = page()
    d.arc([50, 50, 190, 190], start=40, end=320, fill=(INK,) * 3, width=22)
    np.testing.assert_array_equal(preprocess_image(plain), preprocess_image(plain, disable=("thin",)))


def test_faint_photographed_strokes_become_full_ink():
    """An H whose verticals are pale grey (a photographed pen) and crossbar dark: every stroke must reach the
    model as ink, as in EMNIST where most ink pixels are above 200."""
    img, d = page()
    draw_h(d, vertical=175, bar=40)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(img, dtype=np.float32) + rng.normal(0, 4, (240, 240, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(noisy)

    def pale_vertical(arr):  # the verticals' upper halves (no crossbar there) against the crossbar
        return arr[2:9].max() / max(1, arr[12:16].max())

    def bright_share(arr):
        ink = arr[arr > 25]
        return (ink > 200).mean()

    new, old = preprocess_image(img), preprocess_image(img, disable=("normalize_intensity",))
    assert pale_vertical(new) > 0.9 and bright_share(new) > 0.45
    assert pale_vertical(old) < 0.6 and bright_share(old) < 0.3


def _phone_photo(width: int, lines=True, shadow=True) -> Image.Image:
    """A phone photo of a ruled page: a small blue-ink H off-centre, pale blue lines with a slight slant, a
    shadow across (paper from 35% to full brightness) and JPEG at quality 70."""
    import io

    f, height = width / 4000, width * 3 // 4
    img = Image.new("RGB", (width, height), (228, 226, 220))
    d = ImageDraw.Draw(img)
    if lines:
        for y in range(int(40 * f), height, int(110 * f)):
            d.line([(0, y), (width - 1, y + int(12 * f))], fill=(150, 185, 235), width=max(1, int(5 * f)))
    for (x0, y0), (x1, y1) in (((2600, 900), (2600, 1400)), ((2950, 900), (2950, 1400)), ((2600, 1150), (2950, 1150))):
        d.line([(x0 * f, y0 * f), (x1 * f, y1 * f)], fill=(30, 40, 120), width=int(40 * f))
    arr = np.asarray(img, dtype=np.float32)
    if shadow:
        arr = arr * np.linspace(0.35, 1.0, width, dtype=np.float32)[None, :, None]
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, "JPEG", quality=70)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("width", [800, pytest.param(3000, marks=pytest.mark.slow)])
def test_phone_photo_of_a_ruled_page_in_shadow(width):
    """Every step together on what a phone gives (the 3000-px photo is also shrunk before the work): the
    same 28x28 as the H alone on plain paper; without the light or the line step it is not."""
    photo = _phone_photo(width)
    ref = preprocess_image(_phone_photo(width, lines=False, shadow=False))
    assert gap(preprocess_image(photo), ref) < 3
    for step in ("flatten_illumination", "remove_lines"):
        assert gap(preprocess_image(photo, disable=(step,)), ref) > 20, step


def _page(size=(400, 400)):
    img = Image.new("L", size, 255)
    return img, ImageDraw.Draw(img)


def _crayon_b(grain: float) -> Image.Image:
    """A bold B whose strokes are broken by paper grain (crayon, chalk, dry brush): thousands of tiny gaps."""
    img, d = _page((900, 900))
    d.line([(250, 100), (250, 800)], fill=0, width=60)
    d.ellipse([250, 100, 650, 450], outline=0, width=60)
    d.ellipse([250, 450, 700, 800], outline=0, width=60)
    a = np.asarray(img).copy()
    from scipy import ndimage

    texture = ndimage.uniform_filter(np.random.default_rng(0).random(a.shape), 3)
    a[(a < 128) & (texture > np.quantile(texture, 1 - grain))] = 255
    return Image.fromarray(a)


def _grainy_m(width: int, grain: float) -> Image.Image:
    """An M of normal stroke width whose strokes lose ``grain`` of their 3-px cells to paper pores."""
    img, d = _page((360, 360))
    d.line([(50, 320), (70, 50), (180, 250), (290, 50), (310, 320)], fill=0, width=width, joint="curve")
    a = np.asarray(img).copy()
    pores = np.kron(np.random.default_rng(0).random((121, 121)) < grain, np.ones((3, 3), bool))[:360, :360]
    a[(a < 128) & pores] = 255
    return Image.fromarray(a)


def _stippled_o() -> Image.Image:
    img, d = _page()
    for t in np.linspace(0, 2 * np.pi, 40, endpoint=False):  # 40 dots, 40 pieces
        x, y = 200 + 140 * np.cos(t), 200 + 160 * np.sin(t)
        d.ellipse([x - 8, y - 8, x + 8, y + 8], fill=0)
    return img


def _dashed_w() -> Image.Image:
    img, d = _page((500, 400))
    points = [(50, 50), (150, 350), (250, 120), (350, 350), (450, 50)]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for t in np.linspace(0, 1, 10, endpoint=False):
            d.line([(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t), (x0 + (x1 - x0) * (t + 0.06), y0 + (y1 - y0) * (t + 0.06))],
                   fill=0, width=12)
    return img


def test_broken_or_textured_strokes_are_read_and_noise_is_refused():
    """The one-character check needs both signs: scattered ink, and a 28x28 that is no glyph. Crayon grain,
    stipple and dashes scatter the ink but still make one glyph; noise of any size makes scattered ink and a
    28x28 in pieces (small) or a solid block (large)."""
    for name, image in {"crayon B, 10% grain": _crayon_b(0.10), "crayon B, 35% grain": _crayon_b(0.35),
                        "M, 35 px, 15% pores": _grainy_m(35, 0.15), "M, 45 px, 35% pores": _grainy_m(45, 0.35),
                        "stippled O": _stippled_o(), "dashed W": _dashed_w()}.items():
        assert preprocess_image(image).max() == 255, name
    rng = np.random.default_rng(1)
    for side in (28, 96, 1000):  # in pieces at 28x28, or a solid block
        with pytest.raises(ImageError, match="does not look like one character"):
            preprocess_image(Image.fromarray(rng.integers(0, 256, (side, side)).astype(np.uint8)))
    with pytest.raises(ImageError, match="does not look like one character"):  # salt and pepper: 1,500 pieces
        preprocess_image(Image.fromarray(np.where(rng.random((200, 200)) < 0.05, 0, 255).astype(np.uint8)))
    noise = Image.fromarray(rng.integers(0, 256, (96, 96)).astype(np.uint8))
    assert preprocess_image(noise, disable=("remove_specks",)).shape == (28, 28)  # an ablation row reads it all
