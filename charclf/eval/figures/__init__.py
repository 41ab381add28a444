"""Figures of the study: data, augmentation, training, errors and calibration — each a function returning a
matplotlib ``Figure``, saved with ``savefig(fig, name)`` to ``outputs/figures/<name>.png``.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: no global state, nothing leaks
between calls, and Jupyter shows a returned figure once (``display(fig)`` shows one mid-cell). Every function
takes ``title=`` (replacing the default title) and ``subtitle=`` (a smaller second line, e.g. the profile and
the data protocol, which every measured number must carry).

One module per concern — ``base`` (saving, titles), ``data``, ``training``, ``errors``, ``labels`` — all
re-exported here, so ``from charclf.eval import figures as viz; viz.confusion_heatmap(...)`` reads as before.
"""
from __future__ import annotations

from charclf.eval.figures.base import figures_dir, sanitize_name, savefig
from charclf.eval.figures.data import (augmentation_grid, class_distribution, ink_per_class, pixel_statistics,
                                       sample_grid)
from charclf.eval.figures.errors import (confusion_heatmap, misclassified_gallery, params_vs_accuracy,
                                         per_class_f1, prediction_grid, reliability_diagram)
from charclf.eval.figures.labels import KIND_COLOURS, label_error_rates, label_issue_gallery, orientation_gallery
from charclf.eval.figures.training import plot_search, race_curves, training_curves

__all__ = ["figures_dir", "sanitize_name", "savefig", "augmentation_grid", "class_distribution", "ink_per_class",
           "pixel_statistics", "sample_grid", "confusion_heatmap", "misclassified_gallery", "params_vs_accuracy",
           "per_class_f1", "prediction_grid", "reliability_diagram", "KIND_COLOURS", "label_error_rates",
           "label_issue_gallery", "orientation_gallery", "plot_search", "race_curves", "training_curves"]
