"""The draw-a-character demo: predict_sketch on what the Sketchpad sends, and the app served on 127.0.0.1 and
called through gradio_client."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from charclf.apps.demo import predict_sketch, sketch_to_input
from charclf.apps.imageprep import preprocess_image
from charclf.apps.predict import predict_arrays
from charclf.models.hub import load_model

BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
CANVAS = (400, 400)


@pytest.fixture(scope="module")
def model(model_dir):
    return load_model(model_dir)


def strokes_layer() -> np.ndarray:
    """What a Sketchpad layer holds: black strokes (an 'A') on a transparent RGBA canvas, uint8 (H, W, 4)."""
    img = Image.new("RGBA", CANVAS, (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.line([(120, 320), (200, 80), (280, 320)], fill=(0, 0, 0, 255), width=16, joint="curve")
    d.line([(150, 230), (250, 230)], fill=(0, 0, 0, 255), width=16)
    return np.asarray(img)


def white_background() -> np.ndarray:
    return np.full((*CANVAS, 4), 255, dtype=np.uint8)


def test_predict_sketch_accepts_every_sketchpad_shape(model):
    layer = strokes_layer()
    composite = np.asarray(Image.alpha_composite(Image.fromarray(white_background()), Image.fromarray(layer)))
    expected = predict_arrays(model, preprocess_image(layer)[None], top=5)[0]
    values = {
        "array": layer,
        "pil": Image.fromarray(layer),
        "editor_composite": {"background": white_background(), "layers": [layer], "composite": composite},
        "editor_transparent_composite": {"background": None, "layers": [layer], "composite": layer},
        "editor_without_composite": {"background": white_background(), "layers": [layer], "composite": None},
    }
    for name, value in values.items():
        out = predict_sketch(model, value)
        assert isinstance(out, dict) and len(out) == 5, name
        assert list(out) == [c for c, _ in expected], name
        np.testing.assert_allclose(list(out.values()), [p for _, p in expected], atol=1e-5, err_msg=name)
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in out.values())
    assert len(predict_sketch(model, layer, top=3)) == 3


def test_blank_or_missing_sketch_gives_empty_dict(model):
    empty_layer = np.zeros((*CANVAS, 4), dtype=np.uint8)
    for value in (None, empty_layer, white_background(), {"background": None, "layers": [], "composite": None},
                  {"background": white_background(), "layers": [empty_layer], "composite": None}):
        assert predict_sketch(model, value) == {}
        assert sketch_to_input(value) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gradio's own queue code trips pandas 3 deprecation warnings; they are not ours to fix.
@pytest.mark.slow  # a served app
@pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
def test_app_on_localhost_through_gradio_client(model_dir, model, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("GRADIO_SHARE", raising=False)
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'charclf[demo]')")
    gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed")
    from charclf.apps.demo import launch

    png = tmp_path / "sketch.png"
    Image.fromarray(strokes_layer()).save(png)
    expected = predict_sketch(model, strokes_layer())

    port = _free_port()
    demo = launch(model_dir, port=port, block=False, quiet=True)
    try:
        assert demo.server_name == "127.0.0.1"
        assert demo.server.config.host == "127.0.0.1"  # what uvicorn actually bound
        assert demo.share is False and demo.share_url is None
        assert demo.local_url.startswith(f"http://127.0.0.1:{port}")
        client = gradio_client.Client(demo.local_url, verbose=False, download_files=False)
        file = gradio_client.handle_file(str(png))
        result, said, seen = client.predict({"background": None, "layers": [], "composite": file},
                                            api_name="/predict")
        assert result["label"] == next(iter(expected)) and said.strip("*").split(" ")[0] == result["label"]
        shown = np.asarray(Image.open(seen["path"] if isinstance(seen, dict) else seen).convert("L"))
        assert shown.shape == (224, 224)  # the 28x28 input, 8x, nearest neighbour: crisp 8x8 blocks
        np.testing.assert_array_equal(shown[::8, ::8], sketch_to_input(strokes_layer()))
        np.testing.assert_array_equal(shown, np.kron(shown[::8, ::8], np.ones((8, 8), dtype=np.uint8)))
        confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
        assert list(confidences) == list(expected)
        np.testing.assert_allclose(list(confidences.values()), list(expected.values()), atol=1e-4)
        # An empty canvas gives no labels, not an error.
        blank, said, seen = client.predict({"background": None, "layers": [], "composite": None},
                                           api_name="/predict")
        assert not blank.get("confidences") and not said and seen is None
    finally:
        demo.close()
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"


def test_respond_names_lookalikes_and_enlarges_the_input(model, monkeypatch):
    """One stroke updates the top 5, the answer in words (look-alikes named) and the input shown 8x."""
    import charclf.apps.demo as demo_mod

    monkeypatch.setattr(demo_mod, "predict_arrays", lambda m, images, top=5, **kw: [[("O", 0.5), ("0", 0.3), ("o", 0.1)]])
    top, said, seen = demo_mod.respond(model, strokes_layer())
    assert list(top) == ["O", "0", "o"] and said == "**O or 0 or o (look-alikes)**"
    small = sketch_to_input(strokes_layer())
    assert seen.shape == (224, 224) and (seen[::8, ::8] == small).all() and (seen[7::8, 7::8] == small).all()
    assert demo_mod.respond(model, None) == ({}, "", None)
    blank = np.full((224, 224, 3), 255, np.uint8)
    assert demo_mod.respond(model, blank) == ({}, "", None)  # an empty canvas: no answer, nothing to say
    scribbled = np.where(np.random.default_rng(0).random((224, 224, 1)) < 0.5, 0, 255).repeat(3, 2).astype(np.uint8)
    top, said, seen = demo_mod.respond(model, scribbled)  # scribbled all over: no answer, and why
    assert top == {} and seen is None and said.startswith("no answer: does not look like one character")


def test_the_demo_answers_under_the_prior_predict_uses_and_refuses_one_the_model_cannot_use(tmp_path, model):
    from test_class_prior import _minivision_with_counts

    import charclf.apps.demo as demo_mod
    from charclf.errors import ConfigError

    counted = load_model(_minivision_with_counts(tmp_path, [1000] * 10 + [10] * 52))
    image = preprocess_image(strokes_layer())[None]
    for prior in ("auto", "train", "uniform"):
        assert demo_mod.predict_sketch(counted, strokes_layer(), top=62, prior=prior) == dict(
            predict_arrays(counted, image, top=62, prior=prior)[0])
    assert demo_mod.predict_sketch(counted, strokes_layer(), top=62, prior="train") != \
        demo_mod.predict_sketch(counted, strokes_layer(), top=62)
    with pytest.raises(ConfigError, match="--prior train"):
        demo_mod.build_demo(model, prior="uniform")  # a model without class counts
