"""How often a prediction assumes each character is written: the class prior, and dividing the training one out.

A model trained on EMNIST ByClass learnt NIST's forms, where digits are half of the images and ``o`` is twelve
times rarer than ``0``. Its softmax estimates ``p_train(y | x)``, which is proportional to ``p(x | y) p_train(y)``.
A person's handwriting does not come with NIST's frequencies. So for a user's image ``charclf predict``, the demo
and ``charclf evaluate-images`` divide the training prior out by default. This is Bayes' rule for a new prior, also
called logit adjustment (Menon et al., 2021). The result is the posterior with every character equally likely:
``p(y | x)`` proportional to ``p_train(y | x) / p_train(y)``.

Nothing is tuned: the exponent is 1, Bayes' own value. Notebook 10 reads its effect on val, where the metric
matching an even prior is balanced accuracy (mean per-class recall), and then on the real-handwriting set.
``charclf evaluate`` scores EMNIST, which is drawn with the training prior, so it keeps the model's own answers.

A model folder's ``config.json`` records the class counts of its training images under :data:`COUNTS_KEY`
(``charclf.train.engine.fit`` writes them). This module is numpy-only, so the torch-free predict path can use it.
"""
from __future__ import annotations

import numpy as np

COUNTS_KEY = "train_class_counts"
PRIORS = ("auto", "uniform", "train")
PRIOR_WORDS = {"uniform": "every character equally likely", "train": "EMNIST's frequencies, the raw answers"}
PRIOR_HELP = ("which characters to expect: uniform = every character equally likely, the training images' "
              "frequencies divided out (a person's handwriting); train = EMNIST's own frequencies, the model's raw "
              "answers (EMNIST-like data); auto (default) = uniform when the model's config.json records its "
              "training class counts, else train")


def recorded_prior(record: dict) -> str:
    """The prior a real-world artifact's ``metrics`` or ``provenance`` scored under; one written before the prior
    was recorded scored under the training prior."""
    return record.get("prior", "train")


def counts_problem(value, num_classes: int) -> str | None:
    """Why ``value`` is not usable as ``config.json``'s class counts (None when it is): a list of ``num_classes``
    whole numbers >= 0 with at least one image."""
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return f"{COUNTS_KEY!r} must be a list of whole numbers (images per class)"
    if len(value) != num_classes:
        return f"{COUNTS_KEY!r} has {len(value)} counts but num_classes is {num_classes}"
    if min(value) < 0 or sum(value) == 0:
        return f"{COUNTS_KEY!r} must be counts >= 0 with at least one image"
    return None


def resolve_prior(config: dict, prior: str = "auto") -> str:
    """``"uniform"`` or ``"train"``: what ``prior`` means for the model of ``config`` (``auto``: uniform when the
    config records its class counts). Asking for uniform without counts is a ``ConfigError``."""
    from charclf.errors import ConfigError

    if prior not in PRIORS:
        raise ConfigError(f"prior={prior!r}: choose one of {', '.join(PRIORS)}")
    has_counts = config.get(COUNTS_KEY) is not None
    if prior == "auto":
        return "uniform" if has_counts else "train"
    if prior == "uniform" and not has_counts:
        raise ConfigError(f"the model's config.json has no {COUNTS_KEY!r}, so its training prior cannot be divided "
                          "out. Fix: pass --prior train (the model's raw answers), or add the counts with "
                          "python tools/add_class_counts.py MODEL_DIR")
    return prior


def adjust(probs: np.ndarray, config: dict, prior: str = "auto") -> np.ndarray:
    """(N, classes) probabilities under the training prior -> under ``prior`` (see :func:`resolve_prior`).

    One image is added to every class's count, so a class absent from training gets a finite weight, not an
    infinite one."""
    if resolve_prior(config, prior) == "train":
        return probs
    problem = counts_problem(config[COUNTS_KEY], probs.shape[1])
    if problem:
        from charclf.errors import ConfigError

        raise ConfigError(f"the model's {problem}, for {probs.shape[1]} predicted classes. Fix: pass --prior train, "
                          "or write the counts again with python tools/add_class_counts.py MODEL_DIR --write")
    counts = np.asarray(config[COUNTS_KEY], dtype=np.float64) + 1.0
    weighted = probs / (counts / counts.sum())
    return (weighted / weighted.sum(axis=1, keepdims=True)).astype(probs.dtype)
