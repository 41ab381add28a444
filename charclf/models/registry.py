"""The model registry (timm style): ``@register_model`` on a factory, ``create_model(name)`` to build it.

A factory is a plain function ``def vgg(num_classes=62, *, option=...) -> nn.Module``; its name is the
registry name. Notebooks, recipes, the CLI and ``charclf.models.hub.load_model`` all build models through
``create_model``, so a saved ``config.json`` (architecture + model_kwargs) is enough to rebuild any network.
"""
from __future__ import annotations

import fnmatch
import inspect
import operator
from typing import Callable

from torch import nn

from charclf.errors import ConfigError, unknown_name

ModelFactory = Callable[..., nn.Module]

_MODELS: dict[str, ModelFactory] = {}

# Factory keywords that only choose the *initial* weights, not the architecture. Code that rebuilds a model to
# load saved weights into it (charclf.models.hub.load_model, resume) should drop them: the saved file replaces the
# init anyway, and an ImageNet file path from the training machine need not exist where the model is loaded.
INIT_ONLY_KWARGS = frozenset({"pretrained", "weights_path"})


def architecture_kwargs(model_kwargs: dict) -> dict:
    """``model_kwargs`` without the init-only keywords (see ``INIT_ONLY_KWARGS``)."""
    return {k: v for k, v in model_kwargs.items() if k not in INIT_ONLY_KWARGS}


def _origin(fn: ModelFactory) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def register_model(fn: ModelFactory) -> ModelFactory:
    """Register ``fn`` under its function name; refuses a second, different factory with the same name.

    Re-registering the *same* function (same module and qualified name, e.g. after ``importlib.reload`` in a
    notebook) replaces the entry instead of failing.
    """
    name = fn.__name__
    old = _MODELS.get(name)
    if old is not None and _origin(old) != _origin(fn):
        raise ConfigError(f"model name {name!r} is already registered by {_origin(old)}; "
                          f"rename the factory function {_origin(fn)} (the function name is the registry name)")
    if "num_classes" not in inspect.signature(fn).parameters:
        raise ConfigError(f"model factory {_origin(fn)} must accept a 'num_classes' argument")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registry names, optionally filtered by an fnmatch pattern such as ``"charnet_*"``."""
    names = sorted(_MODELS)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def get_model_factory(name: str) -> ModelFactory:
    """The factory registered as ``name`` (raises ``UnknownNameError`` with close matches otherwise)."""
    try:
        return _MODELS[name]
    except KeyError:
        raise unknown_name("model", name, list_models()) from None


def create_model(name: str, num_classes: int = 62, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with a ``num_classes``-way head.

    ``kwargs`` go to the factory; a keyword it does not accept raises ``ConfigError`` naming the accepted
    ones (so a typo in ``model_kwargs`` of a config file is caught before any training starts).
    """
    factory = get_model_factory(name)
    try:  # operator.index accepts int, numpy integers and 0-d integer tensors, but not floats or bools
        n_classes = None if isinstance(num_classes, bool) else operator.index(num_classes)
    except TypeError:
        n_classes = None
    if n_classes is None or n_classes < 1:
        raise ConfigError(f"num_classes for model {name!r} must be a positive integer, got {num_classes!r}")
    num_classes = n_classes
    signature = inspect.signature(factory)
    try:
        signature.bind(num_classes=num_classes, **kwargs)
    except TypeError as err:
        accepted = [p for p in signature.parameters if p != "num_classes"]
        raise ConfigError(f"model {name!r} does not accept the arguments {sorted(kwargs)} ({err}); "
                          f"accepted keyword arguments: {accepted or 'none'}") from None
    try:
        model = factory(num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as err:
        if not kwargs:  # the defaults failing is a bug of the factory, not bad input: let it surface as it is
            raise
        # A keyword it accepts with a value it cannot use (a string for a width, a number for a list): one line.
        defaults = {p.name: p.default for p in signature.parameters.values()
                    if p.name in kwargs and p.default is not inspect.Parameter.empty}
        raise ConfigError(f"model {name!r} cannot be built with {kwargs} ({type(err).__name__}: {err}). Fix: give "
                          f"values of the defaults' kinds: {defaults}") from None
    # What the model is, carried by the model itself: fit records it in config.json, so a run can never name
    # another architecture than the one it trained (see built_as).
    model.charclf_built_as = {"architecture": name, "model_kwargs": dict(kwargs)}
    return model


def built_as(model) -> dict | None:
    """``{"architecture", "model_kwargs"}`` of a model built by :func:`create_model` (or loaded with
    ``charclf.load_model``), None for a module built some other way."""
    return getattr(unwrap(model), "charclf_built_as", None)


def unwrap(model):
    """The plain module under DistributedDataParallel and/or torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)
