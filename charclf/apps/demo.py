"""Draw-a-character web demo (Gradio): a sketchpad and the model's top-5 characters, updated as you draw.

The drawing goes through exactly the same conversion as ``charclf predict`` (``charclf.apps.imageprep``), and the
28x28 image the model sees is shown beside the prediction. The app binds 127.0.0.1 (this machine only) by
default and never creates a public share link unless ``share=True`` / ``--share`` is asked for.
"""
from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import numpy as np

from charclf.apps.imageprep import preprocess_image
from charclf.apps.predict import answer, load_for_predict, predict_arrays, resolve_model_dir
from charclf.argtypes import PORT
from charclf.class_prior import PRIOR_HELP, PRIORS
from charclf.errors import BlankImageError, CharclfError, ImageError

DEFAULT_HOST = "127.0.0.1"
CANVAS = (400, 400)
PREVIEW_SCALE = 8  # the 28x28 model input is shown at 224x224, each pixel an 8x8 block (nearest neighbour)
SKETCH_ID = "sketchpad"
# Gradio's Sketchpad opens with no tool selected ("select the draw tool to start"), so a first stroke selects
# page text instead of drawing. Click its Brush button once the component has mounted (it mounts after load).
ACTIVATE_BRUSH_JS = f"""() => {{
  let tries = 0;
  const timer = setInterval(() => {{
    const brush = document.querySelector('#{SKETCH_ID} button[aria-label="Brush"], #{SKETCH_ID} button[title="Brush"]');
    if (brush) {{ brush.click(); }}
    if (brush || ++tries > 100) {{ clearInterval(timer); }}
  }}, 100);
}}"""


def _gradio():
    """Import gradio offline: no telemetry or version check (the study runs without internet)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gradio as gr
    except ImportError as err:
        raise CharclfError("the demo needs gradio, which is not installed. Fix: pip install 'charclf[demo]' "
                           f"(or pip install gradio) ({err})") from None
    return gr


def _as_image(value):
    """A sketchpad image: numpy array, PIL image or file path (gradio's ``type`` option) -> array or PIL."""
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, (str, Path)):
        from charclf.apps.imageprep import load_image

        return load_image(value)
    if hasattr(value, "mode") and hasattr(value, "size"):  # PIL image
        return value
    if isinstance(value, dict) and "path" in value:  # gradio FileData as a dict
        return _as_image(value["path"])
    raise ImageError(f"sketch: unsupported image value of type {type(value).__name__}. Fix: pass a numpy array, "
                     "a PIL image or a file path")


def _flatten_layers(background, layers) -> np.ndarray | None:
    """Alpha-composite the layers over the background (used when gradio sends no composite)."""
    from PIL import Image

    images = [img for img in [background, *layers] if img is not None]
    if not images:
        return None
    base = None
    for img in images:
        rgba = Image.fromarray(np.asarray(img)) if isinstance(img, np.ndarray) else img
        rgba = rgba.convert("RGBA")
        base = rgba if base is None else Image.alpha_composite(base, rgba.resize(base.size))
    return np.asarray(base)


def sketch_image(sketch):
    """The drawn image from whatever the Sketchpad gives: an EditorValue dict (composite, or background +
    layers), a numpy array or a PIL image. None when nothing is there."""
    if sketch is None:
        return None
    if isinstance(sketch, dict) and any(k in sketch for k in ("composite", "layers", "background")):
        composite = _as_image(sketch.get("composite"))
        if composite is not None:
            return composite
        layers = [_as_image(layer) for layer in (sketch.get("layers") or [])]
        return _flatten_layers(_as_image(sketch.get("background")), layers)
    return _as_image(sketch)


def sketch_to_input(sketch) -> np.ndarray | None:
    """uint8 (28, 28) the model would see, or None for an empty / blank sketch."""
    image = sketch_image(sketch)
    if image is None:
        return None
    try:
        return preprocess_image(image)
    except ImageError:
        return None  # a blank canvas (or one being cleared) is not an error in a live demo; respond says the rest


def predict_sketch(model, sketch, top: int = 5, prior: str = "auto") -> dict[str, float]:
    """``{char: probability}`` of the ``top`` characters for a drawing (under ``prior``, as ``charclf predict
    --prior``); ``{}`` when nothing is drawn."""
    image = sketch_to_input(sketch)
    if image is None:
        return {}
    return dict(predict_arrays(model, image[None], top=top, prior=prior)[0])


def respond(model, sketch, top: int = 5, prior: str = "auto") -> tuple[dict[str, float], str, np.ndarray | None]:
    """Everything one stroke updates, from one conversion: the top characters, the answer in words (naming
    look-alikes: "O or 0 or o (look-alikes)") and the model's input enlarged for people to see. A drawing that is
    refused for a reason other than being empty (scribbled over: no single character) says why, in words."""
    drawn = sketch_image(sketch)
    if drawn is None:
        return {}, "", None
    try:
        image = preprocess_image(drawn)
    except BlankImageError:
        return {}, "", None  # a blank canvas (or one being cleared) is not an error in a live demo
    except ImageError as err:
        return {}, f"no answer: {str(err).split(': ', 1)[-1]}", None
    ranked = predict_arrays(model, image[None], top=top, prior=prior)[0]
    return dict(ranked), f"**{answer(ranked)}**", enlarge(image)


def enlarge(image: np.ndarray, scale: int = PREVIEW_SCALE) -> np.ndarray:
    """Nearest-neighbour enlargement: every model pixel a crisp ``scale`` x ``scale`` block."""
    return np.kron(image, np.ones((scale, scale), dtype=image.dtype))


def build_demo(model, *, title: str = "charclf: draw a character", prior: str = "auto"):
    """A ``gradio.Blocks`` app: a Sketchpad (brush active on load), the answer in words (naming look-alikes),
    a ``Label`` with the top-5 characters and the 28x28 image the model sees, enlarged 8x with nearest
    neighbour; all three update on every stroke (API name ``/predict``: the top 5, the answer, the image).
    ``prior``: which characters to expect, as ``charclf predict --prior`` (refused here, before serving, when the
    model cannot use it)."""
    from charclf.class_prior import PRIOR_WORDS, resolve_prior

    prior = resolve_prior(model.charclf_config, prior)
    gr = _gradio()
    labels = model.charclf_config["labels"]
    arch = model.charclf_config.get("architecture", "model")
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"## {title}\nDraw one character (any of the {len(labels)} classes: "
                    f"`{''.join(labels)}`). Model: `{arch}`, trained on EMNIST "
                    f"({model.charclf_config.get('protocol', '?')} protocol). Answers assume "
                    f"{PRIOR_WORDS[prior]}.")
        with gr.Row():
            sketch = gr.Sketchpad(label="draw here", type="numpy", image_mode="RGBA", canvas_size=CANVAS,
                                  brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                  format="png", elem_id=SKETCH_ID)
            with gr.Column():
                said = gr.Markdown("", elem_id="answer", label="answer")
                label = gr.Label(num_top_classes=5, label="top 5", elem_id="top5")
                side = 28 * PREVIEW_SCALE
                seen = gr.Image(label=f"what the model sees (28x28, shown {PREVIEW_SCALE}x)", image_mode="L",
                                height=side + 110, width=side + 20, interactive=False, elem_id="model_input",
                                format="png")  # lossless: the pixels are what the model sees
        # One event per stroke: one conversion and one model call feed all three outputs.
        sketch.change(lambda s: respond(model, s, top=5, prior=prior), inputs=sketch, outputs=[label, said, seen],
                      api_name="predict", show_progress="hidden", trigger_mode="always_last")
        demo.load(None, None, None, js=ACTIVATE_BRUSH_JS)
    return demo


def launch(model_dir=None, host: str = DEFAULT_HOST, port: int | None = None, share: bool = False, *,
           block: bool = True, quiet: bool = False, prior: str = "auto"):
    """Load the model folder and serve the demo on ``host:port`` (this machine only by default).

    ``share=True`` asks Gradio for a public link (reachable by anyone who has it); it is never on otherwise,
    even in notebooks where Gradio would switch it on by itself. ``block=False`` returns the running
    ``Blocks`` at once (call ``.close()`` to stop it), for notebooks and tests.
    """
    # Before gradio starts: it speaks of launch() parameters, or retries a --host that does not resolve forever.
    check_address(host, port)
    model = load_for_predict(resolve_model_dir(model_dir))  # the model `charclf predict` uses, loaded once
    demo = build_demo(model, prior=prior)
    if host not in ("127.0.0.1", "localhost", "::1") and not quiet:
        print(f"warning: serving on {host}: other machines on the network can reach the demo", file=sys.stderr)
    try:
        demo.launch(server_name=host, server_port=port, share=bool(share), prevent_thread_lock=not block,
                    quiet=quiet, show_error=True)
    except OSError as err:  # the port was taken between the check and the launch, or no free port from 7860
        raise _port_error(host, port, err) from None
    return demo


def check_address(host: str, port: int | None = None) -> None:
    """Raise a one-line ``CharclfError`` when ``host:port`` cannot be bound: a --host that does not resolve or is
    no address of this machine, or a port another program holds. Binds the way the web server will
    (SO_REUSEADDR), so a port in TIME_WAIT is not called busy; without a port, any free one tests the host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port or 0))
        except (OSError, TypeError) as err:  # TypeError: a host name that is not ASCII ("encoding ... failed")
            raise _port_error(host, port, err) from None


def _port_error(host: str, port: int | None, err: OSError | TypeError) -> CharclfError:
    reason = " ".join(str(getattr(err, "strerror", None) or err).split())
    # The host, not the port: no such name, not this machine's address, or an address no socket takes (fe80::1).
    if not isinstance(err, OSError) or isinstance(err, socket.gaierror) or err.errno in (errno.EADDRNOTAVAIL,
                                                                                          errno.EINVAL):
        return CharclfError(f"--host {host}: not a name or address of this machine ({reason}). Fix: pass one of its "
                            "addresses, e.g. --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every network)")
    where = f"{host}:{port}" if port is not None else f"{host} (ports 7860 and up)"
    return CharclfError(f"{where}: cannot serve the demo there ({reason}; another program, perhaps another "
                        "charclf demo, is using it). Fix: stop that program, pass another --port, or leave --port "
                        "out to take the first free port from 7860")


# -- CLI ------------------------------------------------------------------------------------------------
def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="draw-a-character web demo (Gradio, localhost)",
                              description="Serve a draw-a-character page: the model's top-5 characters update as "
                                          "you draw. Binds 127.0.0.1 (this machine only) unless --host is given.")
    p.add_argument("--model", default=None, metavar="DIR", help="model folder (default: model_hub/default)")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=PORT, default=None, help="port (default: the first free one from 7860)")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (anyone with the "
                                                        "link can use the demo)")
    p.add_argument("--prior", choices=PRIORS, default="auto", help=PRIOR_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    launch(args.model, host=args.host, port=args.port, share=args.share, block=True, prior=args.prior)
    return 0
