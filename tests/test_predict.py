"""Image files -> EMNIST-style 28x28 -> predictions: invariance to colour mode, polarity and format; every bad
file gets a clear error without stopping the others; the CLI's exit codes and JSON."""
from __future__ import annotations

import json
import os
import re
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from charclf.apps.cli import main
from charclf.apps.imageprep import load_image, preprocess_image
from charclf.apps.predict import predict_files
from charclf.errors import ImageError
from charclf.models.hub import load_model, save_pretrained

BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(model_dir):
    return load_model(model_dir)


def draw_a(size=(240, 200), width=18, offset=(0, 0)) -> np.ndarray:
    """A thick light 'A' on black as uint8 (H, W): the master every variant is derived from."""
    w, h = size
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    ox, oy = offset
    d.line([(ox + w * 0.25, oy + h * 0.85), (ox + w * 0.5, oy + h * 0.15), (ox + w * 0.75, oy + h * 0.85)],
           fill=255, width=width, joint="curve")
    d.line([(ox + w * 0.36, oy + h * 0.6), (ox + w * 0.64, oy + h * 0.6)], fill=255, width=width)
    return np.asarray(img)


def _grey_palette_image(grey: np.ndarray) -> Image.Image:
    p = Image.frombytes("P", (grey.shape[1], grey.shape[0]), np.ascontiguousarray(grey).tobytes())
    p.putpalette([v for i in range(256) for v in (i, i, i)])
    return p


def variants(mask: np.ndarray) -> dict[str, Image.Image]:
    """The same drawing in every colour mode, in both polarities, and as ink on a transparent layer."""
    out = {}
    for polarity, grey in (("light_on_dark", mask), ("dark_on_light", 255 - mask)):
        L = Image.fromarray(grey)
        out[f"L_{polarity}"] = L
        out[f"RGB_{polarity}"] = Image.merge("RGB", (L, L, L))
        out[f"RGBA_{polarity}"] = Image.merge("RGBA", (L, L, L, Image.new("L", L.size, 255)))
        out[f"P_{polarity}"] = _grey_palette_image(grey)
        out[f"LA_{polarity}"] = Image.merge("LA", (L, Image.new("L", L.size, 255)))
        out[f"I16_{polarity}"] = Image.fromarray(grey.astype(np.uint16) * 257)
    alpha = Image.fromarray(mask)
    black, white = Image.new("L", alpha.size, 0), Image.new("L", alpha.size, 255)
    # Sketch apps: opaque strokes on a transparent layer whose hidden colour is black (same as black ink).
    out["RGBA_black_ink_on_transparent"] = Image.merge("RGBA", (black, black, black, alpha))
    out["RGBA_white_ink_on_transparent"] = Image.merge("RGBA", (white, white, white, alpha))
    palette_t = _grey_palette_image(255 - mask)
    palette_t.info["transparency"] = 255  # white = transparent, GIF style
    out["P_transparent_background"] = palette_t
    return out


def _save_all(tmp_path, images: dict[str, Image.Image], ext="png", **kw) -> dict[str, str]:
    paths = {}
    for name, img in images.items():
        path = tmp_path / f"{name}.{ext}"
        img.save(path, **kw)
        paths[name] = str(path)
    return paths


# -- preprocessing --------------------------------------------------------------------------------------
def test_modes_and_polarities_give_the_same_28x28(tmp_path):
    paths = _save_all(tmp_path, variants(draw_a()))
    saved_modes = {Image.open(path).mode for path in paths.values()}
    assert {"L", "RGB", "RGBA", "P", "LA"} <= saved_modes and saved_modes & {"I", "I;16"}  # really exercised
    ref = preprocess_image(paths["L_light_on_dark"])
    assert ref.dtype == np.uint8 and ref.shape == (28, 28)
    for name, path in paths.items():
        arr = preprocess_image(path)
        diff = np.abs(arr.astype(int) - ref.astype(int))
        assert diff.max() <= 1, f"{name} differs from the reference by up to {diff.max()} grey levels"


def test_a_dark_16_bit_scan_reads_like_its_8_bit_copy(tmp_path):
    """A 16-bit scan using values 0..1000 of 65535: under a tenth of the range, so an 8-bit conversion kept 4 grey
    levels and refused it as blank; its own range holds the character."""
    ink = draw_a().astype(np.float64) / 255.0
    reference = preprocess_image(Image.fromarray(255 - draw_a()))
    shading = np.linspace(0, 300, ink.shape[1])[None, :]  # a dim page, darker on one side (a vignette)
    for name, page, pen in (("dark", 1000, 0), ("washed_out", 40000, 39000), ("vignetted", 1200 + shading, 200)):
        Image.fromarray(np.round(page + (pen - page) * ink).astype(np.uint16)).save(tmp_path / f"{name}.png")
        assert Image.open(tmp_path / f"{name}.png").mode.startswith("I")
        diff = preprocess_image(tmp_path / f"{name}.png").astype(int) - reference
        assert np.abs(diff).max() <= 2, name


def test_preprocess_is_emnist_like():
    arr = preprocess_image(Image.fromarray(255 - draw_a()))  # dark ink on white paper
    assert arr.max() == 255  # intensities stretched to the full range
    assert arr[0].max() == arr[-1].max() == arr[:, 0].max() == arr[:, -1].max() == 0  # black border
    rows = np.flatnonzero(arr.max(1) > 0)
    cols = np.flatnonzero(arr.max(0) > 0)
    # The box is centred (to within a pixel) and its long side spans 24-27 px of 28, as measured on EMNIST.
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1 and abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1
    assert 24 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 27
    # Light ink on dark: most pixels are background, as in EMNIST (mean ~44, a third of pixels non-zero).
    assert 20 < arr.mean() < 90


def test_aspect_ratio_is_kept():
    img = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(img).line([(150, 40), (150, 260)], fill=0, width=20)  # a '1' / 'l': tall and thin
    arr = preprocess_image(img)
    rows = np.flatnonzero(arr.max(1) > 64)
    cols = np.flatnonzero(arr.max(0) > 64)
    assert len(rows) >= 22 and len(cols) <= 8  # not stretched into a square blob


def test_size_position_colour_and_specks_do_not_matter():
    ref = preprocess_image(Image.fromarray(draw_a()))
    # The same letter drawn small, off-centre, on a big page:
    page = np.zeros((900, 1200), dtype=np.uint8)
    page[500:700, 100:340] = draw_a()
    big = preprocess_image(Image.fromarray(page))
    # ... with a dust speck far away (must not stretch the bounding box):
    page[50:53, 1100:1103] = 255
    specked = preprocess_image(Image.fromarray(page))
    # ... in blue ink on yellow paper:
    m = draw_a()[..., None] / 255.0
    colour = (m * np.array([20, 40, 160]) + (1 - m) * np.array([250, 235, 120])).astype(np.uint8)
    coloured = preprocess_image(Image.fromarray(colour))
    for arr in (big, specked, coloured):
        assert np.abs(arr.astype(int) - ref.astype(int)).mean() < 6
    np.testing.assert_array_equal(big, specked)


def test_thin_strokes_are_thickened_towards_emnist():
    thin = preprocess_image(Image.fromarray(draw_a(size=(1200, 1000), width=6)))
    thick = preprocess_image(Image.fromarray(draw_a(size=(240, 200), width=30)))
    raw = preprocess_image(Image.fromarray(draw_a(size=(1200, 1000), width=6)), normalize_strokes=False)
    assert (thin > 127).mean() > 1.5 * (raw > 127).mean()  # the hairline became a stroke
    assert (thin > 127).mean() < (thick > 127).mean() * 1.2  # but not a blob


def test_arrays_are_accepted():
    mask = draw_a()
    ref = preprocess_image(Image.fromarray(mask))
    for arr in (mask, mask[..., None].repeat(3, -1), np.dstack([np.zeros_like(mask)] * 3 + [mask]),
                mask.astype(np.float32) / 255.0):
        np.testing.assert_allclose(preprocess_image(arr), ref, atol=2)
    with pytest.raises(ImageError, match="shape"):
        preprocess_image(np.zeros((4, 4, 4, 4)))


def test_lossy_and_other_formats(tmp_path):
    mask = draw_a()
    ref = preprocess_image(Image.fromarray(mask))
    dark = Image.fromarray(255 - mask)
    for ext, kw in (("jpg", {"quality": 85}), ("bmp", {}), ("webp", {"lossless": True}), ("webp", {"quality": 80})):
        for img in (dark, dark.convert("RGB")):
            path = tmp_path / f"a_{img.mode}_{len(kw)}.{ext}"
            img.save(path, **kw)
            arr = preprocess_image(path)
            tol = 1 if kw.get("lossless") or ext == "bmp" else 6
            assert np.abs(arr.astype(int) - ref.astype(int)).mean() <= tol, path.name


def test_exif_orientation_is_applied(tmp_path):
    mask = draw_a()
    rotated = Image.fromarray(mask).transpose(Image.Transpose.ROTATE_90)  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with "rotate 90 CW to display", as a phone writes it
    path = tmp_path / "phone.jpg"
    rotated.convert("RGB").save(path, exif=exif, quality=95)
    upright = preprocess_image(Image.fromarray(mask))
    assert np.abs(preprocess_image(path).astype(int) - upright.astype(int)).mean() < 6


# -- bad files ------------------------------------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that *claims* width x height (a decompression bomb costs nothing to make)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 8)  # a few rows; the rest would come from "decompression"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_files(tmp_path) -> dict[str, tuple]:
    good = tmp_path / "good.png"
    Image.fromarray(draw_a()).save(good)
    png = good.read_bytes()
    jpg_path = tmp_path / "good.jpg"
    Image.fromarray(draw_a()).save(jpg_path)
    files = {
        "not_an_image.png": (b"hello, I am text\n" * 20, "not an image"),
        "empty.png": (b"", "empty"),
        "truncated.png": (png[: len(png) // 2], "truncated or corrupted"),
        "truncated.jpg": (jpg_path.read_bytes()[:600], "truncated or corrupted"),
        "too_wide.png": (_png_header_only(30000, 10), "absurd image size"),
        "too_many_pixels.png": (_png_header_only(10000, 6000), "absurd image size"),
        "bomb.png": (_png_header_only(100000, 100000), "decompression bomb"),
        "tiny.png": (None, "too small"),
        "blank_white.png": (None, "blank"),
        "blank_noise.png": (None, "blank"),
        "transparent.png": (None, "transparent"),
        "random_noise.png": (None, "does not look like one character"),
        "speckle.png": (None, "does not look like one character"),
        "dark_16bit_noise.png": (None, "blank"),  # a dim 16-bit frame of sensor noise only: nothing to stretch
        "zero_wide.png": (_png_header_only(0, 10), "starts as a PNG file, but Pillow cannot decode it"),
        "pipe.png": (None, "not a regular file"),
    }
    for name, (data, _) in files.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    Image.new("L", (3, 3), 0).save(tmp_path / "tiny.png")
    Image.new("RGB", (200, 150), (255, 255, 255)).save(tmp_path / "blank_white.png")
    noise = np.random.default_rng(0).integers(120, 135, (200, 150), dtype=np.uint8)  # paper texture, no ink
    Image.fromarray(noise).save(tmp_path / "blank_noise.png")
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(tmp_path / "transparent.png")
    if hasattr(os, "mkfifo"):  # reading a pipe would block until someone writes to it (no FIFOs on Windows)
        os.mkfifo(tmp_path / "pipe.png")
    else:
        files.pop("pipe.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (96, 96), dtype=np.uint8)).save(tmp_path / "random_noise.png")
    Image.fromarray(np.where(rng.random((200, 200)) < 0.05, 0, 255).astype(np.uint8)).save(tmp_path / "speckle.png")
    Image.fromarray(rng.integers(0, 300, (64, 64)).astype(np.uint16)).save(tmp_path / "dark_16bit_noise.png")
    return {name: (tmp_path / name, expected) for name, (_, expected) in files.items()}


def test_every_bad_file_gets_a_clear_error(tmp_path):
    for name, (path, expected) in _bad_files(tmp_path).items():
        with pytest.raises(ImageError) as info:
            preprocess_image(path)
        message = str(info.value)
        assert str(path) in message, name  # which file
        assert expected in message, f"{name}: {message}"  # what is wrong
        assert "Fix:" in message, name  # what to do
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_predict_files_takes_the_model_first_and_the_former_order_with_a_deprecation_warning(tmp_path, model):
    import warnings
    from pathlib import Path

    path = _save_all(tmp_path, {"a": Image.fromarray(draw_a())})["a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the model-first order warns of nothing
        new = predict_files(model, [path], top=3)
    with pytest.warns(DeprecationWarning, match=r"predict_files\(model, paths\)") as caught:
        old = predict_files([path], model, top=3)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert old == new and new[0]["ok"] and len(new[0]["top"]) == 3
    with pytest.warns(DeprecationWarning):
        assert predict_files(Path(path), model, top=3) == new  # one path, not in a list


def test_batch_with_bad_files_keeps_the_good_ones(tmp_path, model):
    bad = _bad_files(tmp_path)
    good = _save_all(tmp_path, {"a1": Image.fromarray(draw_a()), "a2": Image.fromarray(255 - draw_a())})
    paths = [good["a1"], *[str(p) for p, _ in bad.values()], good["a2"]]
    entries = predict_files(model, paths, top=5)
    assert [e["file"] for e in entries] == paths
    assert [e["ok"] for e in entries] == [True] + [False] * len(bad) + [True]
    for e in entries[1:-1]:
        assert e["error"] and e["top"] == []
    first, last = entries[0], entries[-1]
    assert first["error"] is None and len(first["top"]) == 5
    probs = [p for _, p in first["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    assert all(c in BYCLASS for c, _ in first["top"])
    assert [c for c, _ in first["top"]] == [c for c, _ in last["top"]]


def test_predictions_identical_across_modes_and_polarities(tmp_path, model):
    paths = _save_all(tmp_path, variants(draw_a()))
    entries = predict_files(model, list(paths.values()), top=5)
    assert all(e["ok"] for e in entries)
    ref = entries[0]["top"]
    for name, e in zip(paths, entries):
        assert [c for c, _ in e["top"]] == [c for c, _ in ref], name
        np.testing.assert_allclose([p for _, p in e["top"]], [p for _, p in ref], atol=2e-3, err_msg=name)


# -- CLI ------------------------------------------------------------------------------------------------
def test_cli_exit_codes_text_and_json(tmp_path, model_dir, capsys):
    good = tmp_path / "a.png"
    Image.fromarray(255 - draw_a()).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")

    assert main(["predict", str(good), "--model", str(model_dir), "--top", "3"]) == 0
    out = capsys.readouterr().out
    parts = out.strip().split(": ", 1)[1].split("  ")  # [a look-alike note,] then "char prob" x 3
    assert out.startswith(f"{good}: ") and len([p for p in parts if re.fullmatch(r"\S \d\.\d{3}", p)]) == 3

    assert main(["predict", str(good), str(bad), "--model", str(model_dir), "--json"]) == 1
    entries = json.loads(capsys.readouterr().out)
    assert [e["ok"] for e in entries] == [True, False]
    assert len(entries[0]["top"]) == 5 and isinstance(entries[0]["top"][0][0], str)
    assert "empty" in entries[1]["error"]

    assert main(["predict", str(bad), str(good), "--model", str(model_dir)]) == 1
    captured = capsys.readouterr()
    assert str(good) in captured.out and str(bad) not in captured.out  # good ones still printed
    assert "empty" in captured.err


def test_cli_without_default_model_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHARCLF_MODEL_HUB", str(tmp_path / "model_hub"))
    good = tmp_path / "a.png"
    Image.fromarray(draw_a()).save(good)
    assert main(["predict", str(good)]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "train" in err and "default" in err


# -- the shipped default model (what a fresh clone's `charclf predict` uses) ---------------------------------
def test_shipped_default_model_reads_drawn_characters(tmp_path, capsys):
    from charclf.apps.predict import default_model_dir

    DEFAULT_MODEL_DIR = default_model_dir()

    if not (DEFAULT_MODEL_DIR / "model.safetensors").exists():
        pytest.skip("model_hub/default is not in this checkout")
    weights = DEFAULT_MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size < 5_000_000  # "a few MB at most"
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["orientation"] == "upright" and len(config["labels"]) == config["num_classes"]
    # A drawn 'A' in every colour mode and polarity, and a '7', read by the real model, through the CLI
    # with no --model (the default is used).
    paths = _save_all(tmp_path, variants(draw_a()))
    seven = Image.new("L", (220, 260), 255)
    ImageDraw.Draw(seven).line([(40, 40), (180, 40), (90, 230)], fill=0, width=20)
    seven.save(tmp_path / "seven.png")
    assert main(["predict", *paths.values(), str(tmp_path / "seven.png"), "--json", "--top", "3"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["top"][0][0] for e in entries] == ["A"] * len(paths) + ["7"]
    assert all(len(e["top"]) == 3 and e["top"][0][1] > 0.5 for e in entries)


# -- one bad file among good ones (issue 35, case 6) -----------------------------------------------------
def _float_tiff(path, bad_value):
    arr = (255.0 - draw_a().astype(np.float32))  # dark ink on a light page, as a float image
    arr[5, 7] = bad_value
    Image.fromarray(arr, mode="F").save(path)
    assert Image.open(path).mode == "F" and not np.isfinite(np.asarray(Image.open(path))).all()  # really there
    return path


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_pixel_in_a_float_tiff_fails_only_that_file(tmp_path, model_dir, capsys, bad_value):
    good1, good2 = tmp_path / "a.png", tmp_path / "b.tif"
    Image.fromarray(255 - draw_a()).save(good1)
    Image.fromarray(255.0 - draw_a().astype(np.float32), mode="F").save(good2)  # a finite float TIFF works
    bad = _float_tiff(tmp_path / "nan.tif", bad_value)
    assert main(["predict", str(good1), str(bad), str(good2), "--model", str(model_dir), "--top", "2"]) == 1
    captured = capsys.readouterr()
    out_lines = captured.out.strip().splitlines()
    assert [line.split(": ")[0] for line in out_lines] == [str(good1), str(good2)]  # both good files answered
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith(f"{bad}: error: ")
    assert "NaN or infinite" in err_lines[0] and "Fix:" in err_lines[0] and "Traceback" not in captured.err


def test_a_failure_nobody_foresaw_stays_with_its_file(tmp_path, model, monkeypatch):
    """Isolation is the mechanism, not a list of known errors: any exception in one file's conversion gives
    that file an error line, and the model still answers for the rest."""
    import charclf.apps.predict as predict_mod

    paths = list(_save_all(tmp_path, {"a": Image.fromarray(draw_a()), "boom": Image.fromarray(draw_a()),
                                      "c": Image.fromarray(255 - draw_a())}).values())
    real = predict_mod._prepare

    def flaky(path, disable=()):
        if "boom" in str(path):
            raise ZeroDivisionError("division by zero")
        return real(path, disable)

    monkeypatch.setattr(predict_mod, "_prepare", flaky)
    entries = predict_files(model, paths, top=3)
    assert [e["ok"] for e in entries] == [True, False, True]
    assert entries[1]["error"].startswith(f"{paths[1]}: ") and "ZeroDivisionError" in entries[1]["error"]
    assert "Fix:" in entries[1]["error"] and len(entries[0]["top"]) == 3 and len(entries[2]["top"]) == 3


def test_a_model_failure_on_one_image_spares_the_others(tmp_path, model, monkeypatch):
    import charclf.apps.predict as predict_mod

    paths = list(_save_all(tmp_path, {"a": Image.fromarray(draw_a()), "b": Image.fromarray(255 - draw_a())}).values())
    real = predict_mod.predict_arrays
    calls = []

    def fails_on_batches_and_on_b(model, images, **kw):
        calls.append(len(images))
        if len(images) > 1 or len(calls) == 3:  # the batch, then the second image alone
            raise RuntimeError("out of memory")
        return real(model, images, **kw)

    monkeypatch.setattr(predict_mod, "predict_arrays", fails_on_batches_and_on_b)
    entries = predict_files(model, paths, top=2)
    assert calls == [2, 1, 1] and [e["ok"] for e in entries] == [True, False]
    assert "RuntimeError: out of memory" in entries[1]["error"] and len(entries[0]["top"]) == 2


# -- look-alikes and the merged classes ------------------------------------------------------------------
def test_lookalikes_are_named():
    from charclf.apps.predict import answer, format_entry, lookalikes

    assert lookalikes([("O", 0.4), ("0", 0.35), ("Q", 0.1), ("o", 0.08), ("D", 0.04)]) == ["O", "0", "o"]
    assert answer([("O", 0.4), ("0", 0.35), ("o", 0.2)]) == "O or 0 or o (look-alikes)"
    assert answer([("l", 0.5), ("1", 0.3), ("I", 0.1), ("i", 0.01)]) == "l or 1 or I (look-alikes)"
    for pair in ("Ss", "s5", "Zz", "z2", "Cc", "kK", "Yy", "Ii"):
        assert lookalikes([(pair[0], 0.5), (pair[1], 0.4)]) == list(pair), pair
    for pair in ("AH", "L1", "Ee", "Bb", "O6", "aA"):  # not look-alikes (a and A differ; so do e and E)
        assert lookalikes([(pair[0], 0.5), (pair[1], 0.4)]) is None, pair
    assert answer([("A", 0.9), ("H", 0.05)]) == "A" and answer([]) == ""
    assert answer([("L", 0.998), ("l", 0.001)]) == "L"  # a look-alike far behind is no doubt
    entry = {"file": "o.png", "ok": True, "error": None, "top": [("O", 0.5), ("0", 0.4)],
             "answer": "O or 0 (look-alikes)", "lookalikes": ["O", "0"]}
    assert format_entry(entry) == "o.png: O or 0 (look-alikes)  O 0.500  0 0.400"


def test_merged_sums_the_case_pairs(model):
    from charclf.apps.predict import predict_arrays
    from charclf.data.merge import MERGED_LETTERS

    image = preprocess_image(Image.fromarray(draw_a()))[None]
    full = dict(predict_arrays(model, image, top=62)[0])
    merged = dict(predict_arrays(model, image, top=47, merged=True)[0])
    assert len(merged) == 47 and not set(MERGED_LETTERS) & set(merged)
    assert abs(sum(merged.values()) - 1.0) < 1e-5
    for c in MERGED_LETTERS:
        assert merged[c.upper()] == pytest.approx(full[c] + full[c.upper()], abs=1e-6)
    assert merged["a"] == pytest.approx(full["a"]) and merged["A"] == pytest.approx(full["A"])


def test_cli_merged(tmp_path, model_dir, capsys):
    good = tmp_path / "a.png"
    Image.fromarray(255 - draw_a()).save(good)
    assert main(["predict", str(good), "--model", str(model_dir), "--merged", "--top", "47", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    chars = [c for c, _ in entry["top"]]
    assert len(chars) == 47 and "c" not in chars and "C" in chars and "a" in chars
    assert entry["answer"] and "lookalikes" in entry


# -- the torch-free path for one image --------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["minivision_v3", "minivision_v2", "minivision_s"])
def test_numpy_minivision_matches_torch(tmp_path, arch):
    """``charclf predict`` runs Mini-Vision models in numpy (no torch import); it must give the torch model's
    probabilities, trained BatchNorm statistics included."""
    from charclf.apps.fastpredict import load
    from charclf.apps.predict import model_probs
    from charclf.models import create_model

    torch.manual_seed(1)
    net = create_model(arch, num_classes=62)
    for m in net.modules():  # non-trivial running statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.data.uniform_(0.5, 1.5)
    save_pretrained(net, tmp_path, architecture=arch, num_classes=62, labels=BYCLASS, mean=0.17, std=0.33,
                    protocol="holdout", extra={"split": "byclass"})
    fast, slow = load(tmp_path), load_model(tmp_path)
    assert fast is not None
    images = np.stack([preprocess_image(Image.fromarray(draw_a())),
                       np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)])
    np.testing.assert_allclose(model_probs(fast, images), model_probs(slow, images), atol=1e-5)


def test_numpy_path_declines_what_it_cannot_run(tmp_path, model_dir):
    from charclf.apps.fastpredict import load

    assert load(model_dir) is None  # a LeNet: torch runs it
    assert load(tmp_path / "missing") is None


def test_cli_one_image_does_not_import_torch(tmp_path):
    """The point of the numpy path: `charclf predict one.png` with the shipped model never imports torch."""
    import subprocess
    import sys

    from charclf.apps.predict import default_model_dir

    if not (default_model_dir() / "model.safetensors").exists():
        pytest.skip("model_hub/default is not in this checkout")
    good = tmp_path / "a.png"
    Image.fromarray(255 - draw_a()).save(good)
    code = ("import sys; from charclf.apps.cli import main; rc = main(['predict', sys.argv[1]]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, str(good)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith(f"{good}: A ") and out.splitlines()[-1] == "False"


def test_small_batches_run_on_one_torch_thread(model, monkeypatch):
    import charclf.eval.inference as inference
    from charclf.apps.predict import SMALL_BATCH, predict_arrays

    seen = []
    real = inference.predict_logits

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "predict_logits", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        image = preprocess_image(Image.fromarray(draw_a()))
        predict_arrays(model, image[None])
        predict_arrays(model, np.repeat(image[None], SMALL_BATCH + 1, axis=0))
        assert seen == [1, 2] and torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)


def test_cli_disable_a_step_for_an_ablation(tmp_path, model_dir, capsys):
    from charclf.apps.predict import predict_files

    ruled = Image.new("RGB", (240, 240), (235, 235, 235))
    d = ImageDraw.Draw(ruled)
    for y in range(8, 240, 32):
        d.line([(0, y), (239, y)], fill=(150, 185, 235), width=2)
    d.line([(80, 40), (80, 200), (170, 200)], fill=(25, 25, 25), width=16)
    path = tmp_path / "ruled.png"
    ruled.save(path)
    model = load_model(model_dir)
    on, off = (predict_files(model, [path], top=62, disable=d)[0]["top"] for d in ((), ("remove_lines",)))
    assert dict(on) != dict(off)
    assert main(["predict", str(path), "--model", str(model_dir), "--disable", "remove_lines", "--json",
                 "--top", "62"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["top"] == [list(t) for t in off]
    assert main(["predict", str(path), "--model", str(model_dir), "--disable", "remove_line"]) == 2
    assert "remove_lines" in capsys.readouterr().err  # the valid names are listed
