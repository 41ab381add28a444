"""charclf — handwritten character recognition on EMNIST: data, models, training, evaluation, demo.

The heavy pieces are imported lazily so that ``import charclf`` stays fast (the CLI and notebooks start quickly).
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "create_model": "charclf.models",
    "list_models": "charclf.models",
    "register_model": "charclf.models",
    "model_summary": "charclf.models",
    "load_model": "charclf.models.hub",
    "save_pretrained": "charclf.models.hub",
    "load_data": "charclf.data",
    "fit": "charclf.train",
    "TrainConfig": "charclf.train",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'charclf' has no attribute {name!r}")
