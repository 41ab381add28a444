"""Batched augmentation: same geometry as torchvision, identity when off, never a mirror, honest soft targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageDraw
from torchvision.transforms import InterpolationMode

from charclf.train.augment import (
    BatchAugment,
    capture_effects,
    affine_matrices,
    apply_affine,
    cutmix_box,
    inverse_pixel_matrices,
    shift_integer,
)
from charclf.train.config import AugmentConfig

RANDOM_AFFINE = AugmentConfig(degrees=15, translate=0.1, scale=(0.9, 1.1), shear=3)


def stroke_glyph(seed: int, size: int = 28) -> Image.Image:
    """A handwriting-like image: a few thick strokes on a black canvas (like EMNIST, ink is bright)."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        pts = [tuple(float(v) for v in rng.uniform(5, size - 5, 2)) for _ in range(3)]
        draw.line(pts, fill=255, width=3)
    return img


def glyph_batch(n: int, seed: int = 0) -> tuple[list[Image.Image], torch.Tensor]:
    imgs = [stroke_glyph(seed + i) for i in range(n)]
    return imgs, torch.stack([TF.to_tensor(im) for im in imgs])


def asymmetric_glyph() -> torch.Tensor:
    """An 'F'-like glyph: strongly different from its left-right mirror."""
    img = Image.new("L", (28, 28), 0)
    d = ImageDraw.Draw(img)
    d.line([(9, 5), (9, 23)], fill=255, width=3)
    d.line([(9, 5), (20, 5)], fill=255, width=3)
    d.line([(9, 13), (17, 13)], fill=255, width=3)
    return TF.to_tensor(img)


def random_params(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    angle = (torch.rand(n, generator=g) * 2 - 1) * 30
    translate = torch.round((torch.rand(n, 2, generator=g) * 2 - 1) * 4)
    scale = 0.8 + 0.4 * torch.rand(n, generator=g)
    shear = (torch.rand(n, 2, generator=g) * 2 - 1) * 10
    return angle, translate, scale, shear


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrices_equal_torchvision_inverse_matrix(seed):
    from torchvision.transforms.functional import _get_inverse_affine_matrix

    angle, translate, scale, shear = random_params(6, seed)
    ours = inverse_pixel_matrices(angle, translate, scale, shear)
    for i in range(6):
        ref = _get_inverse_affine_matrix([0.0, 0.0], angle[i].item(), translate[i].tolist(), scale[i].item(),
                                         shear[i].tolist())
        np.testing.assert_allclose(ours[i, :2].reshape(-1).numpy(), ref, rtol=1e-6, atol=1e-6)
    theta = affine_matrices(angle, translate, scale, shear, (28, 28))
    assert theta.shape == (6, 2, 3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batched_affine_matches_torchvision_functional_affine(seed):
    imgs, x = glyph_batch(8, seed=10 * seed)
    angle, translate, scale, shear = random_params(8, seed)
    ours = apply_affine(x, angle, translate, scale, shear, fill=0.0)
    for i in range(8):
        args = (angle[i].item(), [int(v) for v in translate[i].tolist()], scale[i].item(), shear[i].tolist())
        # Tensor path: same resampling, so equal up to float rounding.
        ref_t = TF.affine(x[i], *args, interpolation=InterpolationMode.BILINEAR, fill=0.0)
        assert (ours[i] - ref_t).abs().max() < 1e-4
        # PIL path (what a Dataset of PIL images uses): uint8 rounding only; < 2 % of the range on average.
        ref_p = TF.to_tensor(TF.affine(imgs[i], *args, interpolation=InterpolationMode.BILINEAR, fill=0))
        assert (ours[i] - ref_p).abs().mean() < 0.02
        assert (ours[i] - ref_p)[:, 1:-1, 1:-1].abs().max() < 0.05
    # and the transform really did something
    assert (ours - x).abs().mean() > 0.01


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_resampling_matches_torchvision_and_keeps_the_original_pixel_values(seed):
    _, x = glyph_batch(6, seed=10 * seed)
    angle, translate, scale, shear = random_params(6, seed)
    ours = apply_affine(x, angle, translate, scale, shear, fill=0.0, interpolation="nearest")
    for i in range(6):
        args = (angle[i].item(), [int(v) for v in translate[i].tolist()], scale[i].item(), shear[i].tolist())
        ref = TF.affine(x[i], *args, interpolation=InterpolationMode.NEAREST, fill=0.0)
        # Same sampling grid; a pixel whose source lies on a rounding tie may pick the other neighbour.
        assert (ours[i] != ref).float().mean() < 0.01
    # nearest copies pixels, bilinear blends them: only nearest keeps the image's set of values
    values = set(x.unique().tolist()) | {0.0}
    assert set(ours.unique().tolist()) <= values
    assert not set(apply_affine(x, angle, translate, scale, shear).unique().tolist()) <= values


def test_batch_augment_uses_the_configured_interpolation():
    _, x = glyph_batch(8)
    y = torch.zeros(8, dtype=torch.long)
    cfg = AugmentConfig(crop_padding=2, rotation=10, interpolation="nearest")
    out, _ = BatchAugment(cfg, 4)(x, y, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    blended, _ = BatchAugment(AugmentConfig(crop_padding=2, rotation=10), 4)(x, y, torch.Generator().manual_seed(0))
    assert (blended - out).abs().max() > 0.1  # same draws, other resampling


def test_fill_is_the_normalised_background():
    _, x = glyph_batch(4)
    mean, std = 0.17, 0.33
    angle, translate, scale, shear = random_params(4, 5)
    a = apply_affine((x - mean) / std, angle, translate, scale, shear, fill=(0 - mean) / std)
    b = (apply_affine(x, angle, translate, scale, shear, fill=0.0) - mean) / std
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_zero_parameters_are_the_identity():
    _, x = glyph_batch(4)
    zeros = torch.zeros(4)
    out = apply_affine(x, zeros, torch.zeros(4, 2), torch.ones(4), zeros)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    aug = BatchAugment(AugmentConfig(), 62)
    assert not aug.enabled
    y = torch.arange(4)
    xo, yo = aug(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(xo, x) and torch.equal(yo, y)


def test_integer_shift_is_exact_and_matches_affine_translation():
    _, x = glyph_batch(5)
    dy, dx = torch.tensor([0, 2, -3, 1, 0]), torch.tensor([1, -2, 0, 3, 0])
    out = shift_integer(x, dy, dx, fill=0.0)
    for i in range(5):
        ref = TF.affine(x[i], 0.0, [int(dx[i]), int(dy[i])], 1.0, [0.0, 0.0], fill=0.0)
        assert torch.equal(out[i], ref)


def test_random_crop_matches_torchvision_random_crop_values():
    """Crop-only augmentation returns exactly some padded crop of each image (values unchanged)."""
    _, x = glyph_batch(6)
    aug = BatchAugment(AugmentConfig(crop_padding=2), 62)
    out, _ = aug(x, torch.zeros(6, dtype=torch.long), torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        crops = [padded[i, :, r:r + 28, c:c + 28] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], c) for c in crops)


@pytest.mark.parametrize("cfg", [RANDOM_AFFINE, AugmentConfig(rotation=20), AugmentConfig(crop_padding=3),
                                 AugmentConfig(degrees=10, rotation=10, translate=0.1, crop_padding=2)])
def test_geometry_keeps_labels_shape_and_is_reproducible(cfg):
    _, x = glyph_batch(16)
    y = torch.randint(0, 62, (16,))
    aug = BatchAugment(cfg, 62)
    assert aug.enabled
    a, ya = aug(x, y, torch.Generator().manual_seed(7))
    b, yb = aug(x, y, torch.Generator().manual_seed(7))
    c, _ = aug(x, y, torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert ya.dtype == torch.int64 and torch.equal(ya, y) and torch.equal(yb, y)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_parameter_sampling_follows_random_affine_ranges():
    """Translations are whole pixels within round(0.1 * 28) = 3: measured from a single bright pixel."""
    x = torch.zeros(256, 1, 28, 28)
    x[:, :, 14, 14] = 1.0
    out, _ = BatchAugment(AugmentConfig(translate=0.1), 62)(x, torch.zeros(256, dtype=torch.long),
                                                             torch.Generator().manual_seed(0))
    pos = out.flatten(1).argmax(1)
    dy, dx = pos // 28 - 14, pos % 28 - 14
    assert out.flatten(1).max(1).values.eq(1).all()  # exact shift, nothing interpolated
    assert dx.abs().max() == 3 and dy.abs().max() == 3
    assert len(set(dx.tolist())) == 7  # every shift in [-3, 3] happens


def test_never_mirrors_an_asymmetric_glyph():
    g = asymmetric_glyph()
    x = g.expand(64, 1, 28, 28).contiguous()
    cfg = AugmentConfig(degrees=15, translate=0.1, scale=(0.9, 1.1), shear=3, rotation=10, crop_padding=2)
    out, _ = BatchAugment(cfg, 62)(x, torch.zeros(64, dtype=torch.long), torch.Generator().manual_seed(0))
    mirror = torch.flip(g, dims=[-1])

    def best_corr(a, ref):
        """Highest correlation of each image with ``ref`` moved by any whole-pixel shift (undoes translation)."""
        a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
        best = torch.full((a.shape[0],), -1.0)
        for dy in range(-5, 6):
            for dx in range(-5, 6):
                r = shift_integer(ref[None], torch.tensor([dy]), torch.tensor([dx])).flatten()
                r = r - r.mean()
                best = torch.maximum(best, (a @ r) / (a.norm(dim=1) * r.norm()))
        return best

    same, mirrored = best_corr(out, g), best_corr(out, mirror)
    assert (same > mirrored).all()
    assert (same > 0.5).all()


def test_mixup_soft_targets_sum_to_one_and_match_the_blend():
    _, x = glyph_batch(32)
    y = torch.randint(0, 10, (32,))
    aug = BatchAugment(AugmentConfig(mixup_alpha=0.4), 10)
    out, t = aug(x, y, torch.Generator().manual_seed(0))
    assert t.dtype == torch.float32 and t.shape == (32, 10)
    torch.testing.assert_close(t.sum(1), torch.ones(32))
    assert ((t > 0).sum(1) <= 2).all()
    # Find lam from a pair of images, then check every image is lam * own + (1 - lam) * partner with the
    # targets mixed by the same lam.
    own = t[torch.arange(32), y]
    lam_candidates = own[own < 1 - 1e-6]
    assert len(lam_candidates) > 0
    lam = lam_candidates[0].item()
    for i in range(32):
        blends = lam * x[i] + (1 - lam) * x
        dist = (blends - out[i]).flatten(1).abs().max(1).values
        j = int(dist.argmin())
        assert dist[j] < 1e-5
        expected = lam * torch.nn.functional.one_hot(y[i], 10) + (1 - lam) * torch.nn.functional.one_hot(y[j], 10)
        torch.testing.assert_close(t[i], expected.float(), atol=1e-6, rtol=0)


def test_cutmix_lambda_matches_pasted_area():
    x = torch.zeros(16, 1, 28, 28)
    x += torch.arange(16).float().view(16, 1, 1, 1)  # image i is constant i: pasted pixels reveal the partner
    y = torch.arange(16)
    aug = BatchAugment(AugmentConfig(cutmix_alpha=1.0), 16)
    for seed in range(5):
        out, t = aug(x, y, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(t.sum(1), torch.ones(16))
        own = (out == x).flatten(1).float().mean(1)  # fraction of each image that stayed its own
        lam = t[torch.arange(16), y]
        partner_is_self = own == 1.0
        torch.testing.assert_close(lam[~partner_is_self], own[~partner_is_self])


def test_cutmix_box_is_clipped_and_lambda_corrected():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lam0 = float(rng.uniform())
        (y0, y1, x0, x1), lam = cutmix_box(28, 28, lam0, rng)
        assert 0 <= y0 <= y1 <= 28 and 0 <= x0 <= x1 <= 28
        assert lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 784)


def test_mix_prob_zero_never_mixes_and_both_methods_are_used():
    _, x = glyph_batch(8)
    y = torch.randint(0, 5, (8,))
    off = BatchAugment(AugmentConfig(mixup_alpha=1.0, mix_prob=0.0), 5)
    assert not off.enabled
    both = BatchAugment(AugmentConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mix_prob=0.5), 5)
    g = torch.Generator().manual_seed(0)
    kinds = set()
    for _ in range(40):
        out, t = both(x, y, g)
        if t.dtype == torch.int64:
            kinds.add("none")
            assert torch.equal(out, x) and torch.equal(t, y)
        else:
            # CutMix copies pixels (every pixel equals some image's pixel); MixUp blends them
            kinds.add("cutmix" if bool(((out.unsqueeze(1) == x.unsqueeze(0)).any(1)).all()) else "mixup")
    assert kinds == {"none", "cutmix", "mixup"}


def test_bad_ranges_raise_config_error():
    from charclf.errors import ConfigError

    with pytest.raises(ConfigError, match="scale"):
        BatchAugment(AugmentConfig(scale=(1.1, 0.9)), 10)
    with pytest.raises(ConfigError, match="mix_prob"):
        BatchAugment(AugmentConfig(mixup_alpha=0.2, mix_prob=1.5), 10)
    with pytest.raises(ConfigError, match="interpolation='bicubic'.*bilinear, nearest"):
        BatchAugment(AugmentConfig(rotation=10, interpolation="bicubic"), 10)


# -- capture effects (stroke width, blur, contrast, elastic) ---------------------------------------------------
FILL = -0.5  # a normalised background, as after (x - mean) / std


def _normalised_glyphs(n: int = 16) -> torch.Tensor:
    return glyph_batch(n)[1] * 2.0 + FILL  # background FILL, ink FILL + 2


def test_capture_is_off_by_default_and_draws_nothing_when_off():
    assert not AugmentConfig().captures and not BatchAugment(AugmentConfig(), 62).enabled
    assert not AugmentConfig(blur=0.5, capture_prob=0.0).captures
    # A recipe without capture keeps its random stream: the same geometry as before the capture fields existed.
    x, y = _normalised_glyphs(), torch.zeros(16, dtype=torch.long)
    plain = BatchAugment(RANDOM_AFFINE, 62, fill=FILL)(x, y, torch.Generator().manual_seed(3))[0]
    again = BatchAugment(AugmentConfig(degrees=15, translate=0.1, scale=(0.9, 1.1), shear=3, contrast=(1.0, 1.0)),
                         62, fill=FILL)(x, y, torch.Generator().manual_seed(3))[0]
    assert torch.equal(plain, again)


def test_contrast_scales_ink_about_the_background():
    x = _normalised_glyphs()
    out, _ = BatchAugment(AugmentConfig(contrast=(0.5, 0.5)), 62, fill=FILL)(x, torch.zeros(16, dtype=torch.long))
    assert torch.allclose(out, FILL + 0.5 * (x - FILL), atol=1e-6)
    assert torch.all(out[x == FILL] == FILL)  # the background stays the background


def test_stroke_width_thickens_some_images_and_thins_others():
    x = _normalised_glyphs(32)
    cfg = AugmentConfig(stroke_width_prob=1.0)
    out = BatchAugment(cfg, 62, fill=FILL)(x, torch.zeros(32, dtype=torch.long), torch.Generator().manual_seed(0))[0]
    ink_before, ink_after = (x - FILL).sum((1, 2, 3)), (out - FILL).sum((1, 2, 3))
    assert (ink_after > ink_before * 1.05).sum() >= 5 and (ink_after < ink_before * 0.95).sum() >= 5
    assert out.min() >= FILL - 1e-6 and out.max() <= x.max() + 1e-6  # grey morphology invents no new values range
    blank = torch.full((4, 1, 28, 28), FILL)
    assert torch.equal(BatchAugment(cfg, 62, fill=FILL)(blank, torch.zeros(4, dtype=torch.long))[0], blank)


def test_blur_softens_a_dot_and_keeps_its_ink():
    x = torch.full((8, 1, 28, 28), FILL)
    x[:, :, 14, 14] = FILL + 2
    out = capture_effects(x, AugmentConfig(blur=1.0), FILL, torch.Generator().manual_seed(1))
    assert torch.all(out[:, :, 14, 14] <= x[:, :, 14, 14] + 1e-6) and (out[:, :, 14, 14] < FILL + 1.9).any()
    assert torch.allclose((out - FILL).sum((1, 2, 3)), (x - FILL).sum((1, 2, 3)), rtol=1e-4)


def test_elastic_bends_a_character_by_at_most_its_bound():
    x = _normalised_glyphs(16)
    out = capture_effects(x, AugmentConfig(elastic=1.0), FILL, torch.Generator().manual_seed(2))
    assert not torch.allclose(out, x)
    rows = torch.arange(28.0).view(1, 1, 28, 1)
    centre = lambda t: ((t - FILL) * rows).sum((1, 2, 3)) / (t - FILL).sum((1, 2, 3))  # noqa: E731
    assert (centre(out) - centre(x)).abs().max() <= 1.0 + 1e-3  # every pixel moved by at most 1 px
    blank = torch.full((2, 1, 28, 28), FILL)
    assert torch.allclose(capture_effects(blank, AugmentConfig(elastic=3.0), FILL), blank)


def test_capture_prob_leaves_the_other_images_unchanged_and_a_seed_reproduces_it():
    x = _normalised_glyphs(64)
    cfg = AugmentConfig(capture_prob=0.5, contrast=(0.5, 0.7), blur=0.5)
    out = capture_effects(x, cfg, FILL, torch.Generator().manual_seed(4))
    unchanged = torch.tensor([torch.equal(a, b) for a, b in zip(out, x)])
    assert 16 <= int(unchanged.sum()) <= 48
    assert torch.equal(out, capture_effects(x, cfg, FILL, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("field, value", [("capture_prob", 1.5), ("stroke_width_prob", -0.1), ("blur", 2.0),
                                          ("contrast", (0.0, 1.0)), ("contrast", (1.0, 0.5)), ("elastic", 9.0)])
def test_bad_capture_ranges_raise_config_error(field, value):
    from charclf.errors import ConfigError

    with pytest.raises(ConfigError, match=field):
        BatchAugment(AugmentConfig(**{field: value}), 62)
