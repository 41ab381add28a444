"""What every figure shares: where figures are saved, a new ``Figure``, its title and subtitle, and small
array helpers."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


# -- saving ---------------------------------------------------------------------------------------------
def figures_dir(directory: str | Path | None = None) -> Path:
    """Where figures go: ``directory``, else ``charclf.paths.figures_dir()`` (``$CHARCLF_FIGURES_DIR`` >
    the outputs folder's ``figures/``; read at call time, so tests can redirect them)."""
    from charclf.paths import figures_dir as _default_figures_dir

    return Path(directory) if directory is not None else _default_figures_dir()


def sanitize_name(name: str) -> str:
    """A safe file stem: letters, digits, '.', '_' and '-' only (so a title can be used as a name)."""
    stem = str(name)
    if stem.lower().endswith(".png"):
        stem = stem[:-4]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    if not stem:
        raise ValueError(f"figure name {name!r} has no usable characters; use letters, digits, '_' or '-'")
    return stem


def savefig(fig: Figure, name: str, *, dpi: int = 120, directory: str | Path | None = None) -> Path:
    """Write ``fig`` to ``<figures dir>/<name>.png`` and return the path."""
    from charclf.fileio import atomic_path

    out = figures_dir(directory) / f"{sanitize_name(name)}.png"
    with atomic_path(out, suffix=".png") as tmp:  # a committed figure is replaced whole, never half-drawn
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", facecolor="white")
    return out


# -- helpers --------------------------------------------------------------------------------------------
def new_figure(figsize, nrows: int = 1, ncols: int = 1, **kw):
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def set_title(fig: Figure, default: str, title: str | None, subtitle: str | None) -> None:
    text = default if title is None else title
    if subtitle:
        text = f"{text}\n{subtitle}" if text else subtitle
    if text:
        fig.suptitle(text, fontsize=11)


def as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def mosaic(tiles: np.ndarray, nrows: int, ncols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile (n, h, w) images into one (nrows*(h+pad)-pad, ...) array: one imshow is far faster than n axes."""
    n, h, w = tiles.shape
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill, dtype=np.float32)
    for i in range(min(n, nrows * ncols)):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tiles[i]
    return out


def char_label(c: str) -> str:
    """Characters as tick labels; '$' would start mathtext."""
    return c.replace("$", r"\$")


def percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=1)
