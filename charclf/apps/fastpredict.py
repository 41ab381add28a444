"""``charclf predict`` for one image in well under two seconds: the Mini-Vision family run in numpy, no torch.

Importing torch takes 2-6 s on a 2-core machine (more than everything else in ``charclf predict one.png``
together), while the shipped model, Mini-Vision-V3 (3 conv blocks and a 2-layer head, 0.4M parameters), needs
a few milliseconds of numpy per image. So ``predict`` reads such a model's weights with ``safetensors.numpy``
and runs this forward pass; every other architecture, a config this module does not fully recognise, or
``--tta`` goes the ordinary torch way (``charclf.models.hub.load_model``), which also gives the clear errors
for a damaged model folder. ``tests/test_predict.py`` checks that both ways give the same probabilities.

The layers mirror ``charclf.models.minivision``: blocks Conv3x3(pad 1) -> MaxPool(2) -> ReLU -> BatchNorm
(eval), then Flatten -> Linear -> ReLU -> (Dropout: identity in eval) -> Linear.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from charclf.class_prior import COUNTS_KEY, counts_problem

# architecture -> conv widths, for the hub's Mini-Vision variants with the flatten -> hidden -> classes head.
ARCHITECTURES = {"minivision_v2": (32, 64), "minivision_v3": (32, 64, 128), "minivision_s": (32, 64, 64)}
BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which the saved models use
SMALL_BATCH = 64  # up to this many images run on one BLAS thread (as charclf.apps.predict.SMALL_BATCH for torch)


class NumpyMiniVision:
    """A loaded Mini-Vision model as numpy arrays; ``probs(images)`` -> (N, classes) softmax probabilities."""

    def __init__(self, state: dict[str, np.ndarray], config: dict, widths: tuple[int, ...]):
        self.charclf_config = config
        self.blocks = []
        for i in range(len(widths)):
            p = f"features.{i}."
            scale = state[p + "3.weight"] / np.sqrt(state[p + "3.running_var"] + BN_EPS)
            shift = state[p + "3.bias"] - state[p + "3.running_mean"] * scale
            weight = state[p + "0.weight"]
            self.blocks.append((weight.reshape(weight.shape[0], -1), state[p + "0.bias"], scale, shift))
        self.head = [(state["classifier.1.weight"], state["classifier.1.bias"]),
                     (state["classifier.4.weight"], state["classifier.4.bias"])]

    def probs(self, images: np.ndarray) -> np.ndarray:
        # One BLAS thread for small inputs, as torch_threads does for torch: these matrices are tiny, and on a
        # busy 2-core machine OpenBLAS's second thread made one image 130 ms instead of 1.6 ms (measured).
        controller = _blas_controller() if len(images) <= SMALL_BATCH else None
        if controller is None:
            return self._probs(images)
        with controller.limit(limits=1, user_api="blas"):
            return self._probs(images)

    def _probs(self, images: np.ndarray) -> np.ndarray:
        cfg = self.charclf_config
        x = (np.asarray(images, dtype=np.float32)[:, None] / 255.0 - cfg["mean"]) / cfg["std"]
        for weight, bias, scale, shift in self.blocks:
            x = _conv3x3(x, weight, bias)
            n, c, h, w = x.shape
            x = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
            x = np.maximum(x, 0.0) * scale[:, None, None] + shift[:, None, None]
        x = x.reshape(len(x), -1)
        (w1, b1), (w2, b2) = self.head
        logits = np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (scanning them costs milliseconds, more
    than the model); None without threadpoolctl (scikit-learn brings it): then only slower, never different."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, O, H, W): 3x3 convolution with zero padding 1 (im2col + one matmul)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=2)
    cols = cols.reshape(n, c * 9, h * w)  # index c*9 + dy*3 + dx, as torch's (O, C, 3, 3) weight flattens
    out = np.matmul(weight, cols) + bias[:, None]
    return out.reshape(n, -1, h, w)


def load(model_dir: str | Path) -> NumpyMiniVision | None:
    """The model in ``model_dir`` as a ``NumpyMiniVision``, or None whenever anything is not exactly as
    expected (the caller then uses torch, whose loader explains any problem)."""
    model_dir = Path(model_dir)
    try:
        from charclf.model_config import read_model_config

        config = read_model_config(model_dir)  # the torch loader's checks, the same refusals (then torch says why)
        widths = ARCHITECTURES.get(config.get("architecture"))
        if widths is None or config.get("model_kwargs") or config.get("orientation", "upright") != "upright":
            return None
        labels, mean, std = config["labels"], float(config["mean"]), float(config["std"])
        if (len(labels) != config["num_classes"] or not all(isinstance(c, str) for c in labels)
                or not (math.isfinite(mean) and math.isfinite(std) and std > 0)
                or (config.get(COUNTS_KEY) is not None and counts_problem(config[COUNTS_KEY], len(labels)))):
            return None
        from safetensors.numpy import load_file

        state = load_file(str(model_dir / "model.safetensors"))
    except Exception:  # noqa: BLE001  (any doubt: the torch path loads it, or says what is wrong)
        return None
    if not _shapes_match(state, widths, len(labels)):
        return None
    return NumpyMiniVision({k: v.astype(np.float32) for k, v in state.items()}, config, widths)


def _shapes_match(state: dict[str, np.ndarray], widths: tuple[int, ...], classes: int) -> bool:
    expected, chans, side = {}, (1, *widths), 28
    for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
        expected.update({f"features.{i}.0.weight": (b, a, 3, 3), f"features.{i}.0.bias": (b,)})
        expected.update({f"features.{i}.3.{k}": (b,) for k in ("weight", "bias", "running_mean", "running_var")})
        expected[f"features.{i}.3.num_batches_tracked"] = ()
        side //= 2
    hidden = state.get("classifier.1.bias", np.zeros(0)).shape[:1] or (0,)
    expected.update({"classifier.1.weight": (hidden[0], widths[-1] * side * side), "classifier.1.bias": hidden,
                     "classifier.4.weight": (classes, hidden[0]), "classifier.4.bias": (classes,)})
    return set(state) == set(expected) and all(state[k].shape == s for k, s in expected.items()) and all(
        np.isfinite(v).all() for v in state.values())
