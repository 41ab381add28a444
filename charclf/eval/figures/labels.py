"""Figures of the label audit: suspected label errors, mis-oriented images and error rates per class."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from charclf.eval.figures.base import as_numpy, char_label, new_figure, percent_formatter, set_title


KIND_COLOURS = {"case": "0.45", "digit_letter": "tab:orange", "orientation": "tab:purple", "wrong_label": "tab:red"}


def captioned_grid(images, above, below, colours, *, ncols: int, default: str, title: str | None,
                    subtitle: str | None, tile: tuple[float, float] = (1.05, 1.3)) -> Figure:
    """Images in a grid with a coloured caption above and a grey one below each."""
    images = as_numpy(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = new_figure((tile[0] * ncols, tile[1] * nrows + 0.5), nrows, ncols)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray", interpolation="nearest")
        ax.set_title(above[i], fontsize=8, color=colours[i], pad=2)
        ax.text(0.5, -0.08, below[i], transform=ax.transAxes, ha="center", va="top", fontsize=6.5, color="0.25")
    set_title(fig, default, title, subtitle)
    return fig


def label_issue_gallery(images, given, suggested, quality, kinds, *, k: int = 50, ncols: int = 10,
                        title: str | None = None, subtitle: str | None = None) -> Figure:
    """The first ``k`` flagged images (pass them worst label quality first): 'given → suggested' above,
    coloured by kind (``KIND_COLOURS``), the kind and the label quality below."""
    given, suggested, quality, kinds = (list(as_numpy(a))[:k] for a in (given, suggested, quality, kinds))
    above = [f"{char_label(str(g))} → {char_label(str(s))}" for g, s in zip(given, suggested)]
    below = [f"{kd.replace('_', ' ')} {q:.2f}" for kd, q in zip(kinds, quality)]
    colours = [KIND_COLOURS.get(kd, "black") for kd in kinds]
    default = f"Top {len(above)} label issues (given → suggested; kind and label quality below)"
    return captioned_grid(as_numpy(images)[:k], above, below, colours, ncols=ncols, default=default, title=title,
                           subtitle=subtitle)


def orientation_gallery(images, fixed, given, orientations, *, k: int = 24, ncols: int = 8,
                        title: str | None = None, subtitle: str | None = None) -> Figure:
    """Orientation outliers side by side: each image as stored, then under the orientation its given label
    fits best (``fixed``, the same images transformed; ``orientations`` names the transform)."""
    images, fixed = as_numpy(images)[:k], as_numpy(fixed)[:k]
    given, orientations = list(as_numpy(given))[:k], list(as_numpy(orientations))[:k]
    tiles = np.stack([images, fixed], axis=1).reshape(-1, *images.shape[1:]) if len(images) else images
    above, below, colours = [], [], []
    for g, o in zip(given, orientations):
        above += [f"given {char_label(str(g))}", str(o).replace("_", " ")]
        below += ["as stored", "fixed"]
        colours += ["0.2", KIND_COLOURS["orientation"]]
    default = f"{len(images)} orientation outliers: as stored, and under the orientation the label fits"
    return captioned_grid(tiles, above, below, colours, ncols=max(2, ncols - ncols % 2), default=default,
                           title=title, subtitle=subtitle)


def label_error_rates(per_class: pd.DataFrame, kinds=("wrong_label", "orientation", "digit_letter", "case"), *,
                      sort: bool = True, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Flagged share of each class (by its given label), stacked by kind. ``per_class``: index = character,
    columns ``images`` and one count column per kind."""
    df = per_class.copy()
    shares = df[list(kinds)].div(df["images"].where(df["images"] > 0), axis=0).fillna(0.0)
    if sort:
        shares = shares.loc[shares.sum(axis=1).sort_values(ascending=False).index]
    fig, axes = new_figure((max(6.0, 0.2 * len(shares) + 1.5), 3.8))
    ax = axes[0, 0]
    bottom = np.zeros(len(shares))
    for kind in kinds:
        ax.bar(range(len(shares)), shares[kind].to_numpy(), bottom=bottom, color=KIND_COLOURS.get(kind),
               label=kind.replace("_", " "), width=0.85)
        bottom += shares[kind].to_numpy()
    ax.set_xticks(range(len(shares)), [char_label(str(c)) for c in shares.index], fontsize=7)
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_ylabel("share of the class's images")
    ax.set_xlabel("class (given label)" + (", most flagged first" if sort else ""))
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    set_title(fig, "Flagged images per class, by kind", title, subtitle)
    return fig
