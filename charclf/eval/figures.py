"""Figures of the study: data, augmentation, training, errors and calibration — each a function returning a
matplotlib ``Figure``, saved with ``savefig(fig, name)`` to ``outputs/figures/<name>.png``.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: no global state, nothing leaks
between calls, and Jupyter shows a returned figure once (``display(fig)`` shows one mid-cell). Every function
takes ``title=`` (replacing the default title) and ``subtitle=`` (a smaller second line, e.g. the profile and
the data protocol, which every measured number must carry).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
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
    out = figures_dir(directory) / f"{sanitize_name(name)}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight", facecolor="white")
    return out


# -- helpers --------------------------------------------------------------------------------------------
def _new_figure(figsize, nrows: int = 1, ncols: int = 1, **kw):
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _title(fig: Figure, default: str, title: str | None, subtitle: str | None) -> None:
    text = default if title is None else title
    if subtitle:
        text = f"{text}\n{subtitle}" if text else subtitle
    if text:
        fig.suptitle(text, fontsize=11)


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _mosaic(tiles: np.ndarray, nrows: int, ncols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile (n, h, w) images into one (nrows*(h+pad)-pad, ...) array: one imshow is far faster than n axes."""
    n, h, w = tiles.shape
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill, dtype=np.float32)
    for i in range(min(n, nrows * ncols)):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tiles[i]
    return out


def _char_label(c: str) -> str:
    """Characters as tick labels; '$' would start mathtext."""
    return c.replace("$", r"\$")


# -- data -----------------------------------------------------------------------------------------------
def sample_grid(ds, per_class: int = 8, classes=None, *, seed: int = 0, title: str | None = None,
                subtitle: str | None = None) -> Figure:
    """``per_class`` random samples of each class (rows labelled with the character)."""
    labels = _numpy(ds.labels)
    images = _numpy(ds.images)
    names = tuple(ds.classes)
    if classes is None:
        wanted = list(range(len(names)))
    else:
        wanted = [names.index(c) if isinstance(c, str) else int(c) for c in classes]
    rng = np.random.default_rng(seed)
    tiles = np.zeros((len(wanted) * per_class, *images.shape[1:]), dtype=np.float32)
    for row, label in enumerate(wanted):
        members = np.flatnonzero(labels == label)
        pick = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col, idx in enumerate(pick):
            tiles[row * per_class + col] = images[idx] / 255.0
    grid = _mosaic(tiles, len(wanted), per_class, fill=0.35)
    h = images.shape[1] + 1
    fig, axes = _new_figure((max(3.0, 0.42 * per_class + 0.8), max(2.0, 0.42 * len(wanted) + 0.6)))
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(np.arange(len(wanted)) * h + (h - 1) / 2, [_char_label(names[i]) for i in wanted],
                  fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    _title(fig, f"{ds.split}: {per_class} samples per class", title, subtitle)
    return fig


def _counts_table(data, classes=None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Long table (char, part, count) from a DataBundle, a CharDataset, or {part: dataset or counts}."""
    from charclf.data.dataset import CharDataset, DataBundle

    if isinstance(data, DataBundle):
        data = {"train": data.train, "val": data.val, "test": data.test}
    elif isinstance(data, CharDataset):
        data = {data.part: data}
    counts = {}
    for part, value in dict(data).items():
        if isinstance(value, CharDataset):
            classes = classes or value.classes
            counts[part] = value.class_counts()
        else:
            counts[part] = np.asarray(value)
    n = len(next(iter(counts.values())))
    classes = tuple(classes) if classes is not None else tuple(str(i) for i in range(n))
    rows = [(classes[i], part, int(c[i])) for part, c in counts.items() for i in range(len(c))]
    return pd.DataFrame(rows, columns=["char", "part", "count"]), classes


def class_distribution(data, classes=None, *, normalize: bool | None = None, title: str | None = None,
                       subtitle: str | None = None) -> Figure:
    """Samples per class for each part. ``normalize`` (default: when several parts) plots each part's share,
    so a 93k-image train part and an 11k-image test part compare on one axis."""
    import seaborn as sns

    table, classes = _counts_table(data, classes)
    parts = list(dict.fromkeys(table["part"]))
    if normalize is None:
        normalize = len(parts) > 1
    y = "count"
    if normalize:
        table["share"] = table["count"] / table.groupby("part")["count"].transform("sum")
        y = "share"
    fig, axes = _new_figure((min(16.0, max(6.0, 0.2 * len(classes) + 2)), 3.6))
    ax = axes[0, 0]
    sns.barplot(data=table, x="char", y=y, hue="part" if len(parts) > 1 else None, order=list(classes), ax=ax,
                width=0.85, linewidth=0)
    ax.set_xticks(range(len(classes)), [_char_label(c) for c in classes], fontsize=7)
    if len(parts) > 1:
        sns.move_legend(ax, "lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(parts), frameon=False,
                        title=None, fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("share of the part" if normalize else "images")
    if normalize:
        ax.yaxis.set_major_formatter(_percent_formatter())
    ax.grid(axis="y", alpha=0.3)
    _title(fig, "Class distribution", title, subtitle)
    return fig


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=1)


def _sample_images(ds, max_images: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _numpy(ds.images), _numpy(ds.labels)
    if len(images) > max_images:  # the statistics are stable long before 100k images
        pick = np.random.default_rng(0).choice(len(images), max_images, replace=False)
        images, labels = images[pick], labels[pick]
    return images, labels


def ink_per_class(ds, *, max_images: int = 20000) -> pd.Series:
    """Mean ink mass (pixel sum / 255) of each class, indexed by character — what :func:`pixel_statistics`
    draws, over the same seeded sample of at most ``max_images`` images."""
    images, labels = _sample_images(ds, max_images)
    mass = images.reshape(len(images), -1).sum(axis=1) / 255.0
    classes = tuple(ds.classes)
    per_class = pd.Series(mass).groupby(labels).mean().reindex(range(len(classes)))
    return pd.Series(per_class.to_numpy(), index=pd.Index(classes, name="char"), name="ink mass")


def pixel_statistics(ds, *, max_images: int = 20000, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Mean image, histogram of pixel values (log scale), and mean ink mass per class."""
    images, _ = _sample_images(ds, max_images)
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    grid = fig.add_gridspec(1, 4)
    ax0, ax1, ax2 = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[0, 2:])
    im = ax0.imshow(images.mean(axis=0), cmap="magma", interpolation="nearest")
    fig.colorbar(im, ax=ax0, shrink=0.8)
    ax0.set_title("mean image", fontsize=9)
    ax0.set_axis_off()
    hist = np.bincount(images.ravel(), minlength=256)
    ax1.bar(np.arange(256), hist, width=1.0, color="0.3")
    ax1.set_yscale("log")
    ax1.set_xlabel("pixel value")
    ax1.set_title(f"pixel values ({hist[0] / hist.sum():.0%} are 0)", fontsize=9)
    per_class = ink_per_class(ds, max_images=max_images)
    classes = tuple(ds.classes)
    ax2.bar(range(len(classes)), per_class.to_numpy(), color="tab:blue")
    ax2.set_xticks(range(len(classes)), [_char_label(c) for c in classes], fontsize=7)
    ax2.set_ylabel("ink mass (sum / 255)")
    ax2.set_title("mean ink per class", fontsize=9)
    ax2.grid(axis="y", alpha=0.3)
    _title(fig, f"Pixel statistics — {ds.split} {ds.part} ({len(images):,} images)", title, subtitle)
    return fig


def augmentation_grid(images, augment_fn, n_aug: int = 6, *, seed: int = 0, title: str | None = None,
                      subtitle: str | None = None) -> Figure:
    """Each row: an original image, then ``n_aug`` draws of ``augment_fn``.

    ``augment_fn`` gets float (K, 1, 28, 28) in 0..1 and returns the same shape (or a tuple whose first item
    is it, as ``BatchAugment`` does). Draws are seeded with ``seed`` without touching the global RNG.
    """
    import torch

    x = torch.as_tensor(_numpy(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    columns = [x[:, 0].numpy()]
    with torch.random.fork_rng(devices=[]):
        for i in range(n_aug):
            torch.manual_seed(seed + i)
            out = augment_fn(x.clone())
            out = out[0] if isinstance(out, (tuple, list)) else out
            columns.append(_numpy(out).reshape(x.shape[0], *x.shape[-2:]))
    tiles = np.stack(columns, axis=1).reshape(-1, *x.shape[-2:])
    # Each tile scaled to its own range: the augmentation may work on normalised values.
    lo = tiles.min(axis=(1, 2), keepdims=True)
    hi = tiles.max(axis=(1, 2), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-6)
    grid = _mosaic(tiles, x.shape[0], n_aug + 1, fill=1.0)
    fig, axes = _new_figure((0.6 * (n_aug + 1) + 0.6, 0.6 * x.shape[0] + 0.6))
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    w = x.shape[-1] + 1
    ax.set_xticks(np.arange(n_aug + 1) * w + (w - 1) / 2, ["original"] + [f"#{i + 1}" for i in range(n_aug)],
                  fontsize=7)
    ax.set_yticks([])
    ax.tick_params(length=0)
    _title(fig, "Augmentation draws", title, subtitle)
    return fig


# -- training -------------------------------------------------------------------------------------------
def training_curves(histories, *, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Loss and accuracy per epoch (train solid, val dashed), several runs overlaid in one colour each.

    ``histories``: ``{run name: history DataFrame}`` (columns epoch, train_loss, val_loss, train_acc, val_acc
    as ``charclf.train.fit`` returns) or a single DataFrame.
    """
    if isinstance(histories, pd.DataFrame):
        histories = {"run": histories}
    fig, axes = _new_figure((11, 3.8), 1, 2)
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for (name, h), colour in zip(histories.items(), colours):
        epoch = h["epoch"] if "epoch" in h else np.arange(1, len(h) + 1)
        for ax, metric in zip(axes[0], ("loss", "acc")):
            for part, style in (("train", "-"), ("val", "--")):
                col = f"{part}_{metric}"
                if col in h and h[col].notna().any():
                    ax.plot(epoch, h[col], style, color=colour, marker="o", markersize=2.5, linewidth=1.3,
                            label=f"{name} {part}")
    axes[0, 0].set_ylabel("loss")
    axes[0, 1].set_ylabel("accuracy")
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 1].legend(fontsize=7, ncols=1 + len(histories) // 6, loc="lower right")
    _title(fig, "Training curves (solid: train, dashed: val)", title, subtitle)
    return fig


def race_curves(result: dict, *, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Val accuracy against training seconds for every race of a time-to-accuracy result
    (``charclf.experiments.time_to_accuracy.run_race``): one colour per pipeline, one line per seed, the target
    dashed, and a dot where each race first reached it."""
    fig, axes = _new_figure((8, 4.5))
    ax = axes[0, 0]
    pipelines = list(dict.fromkeys(r["pipeline"] for r in result["races"]))
    for race in result["races"]:
        colour = f"C{pipelines.index(race['pipeline'])}"
        seconds, _, acc = zip(*race["curve"])
        first = race["seed"] == min(r["seed"] for r in result["races"] if r["pipeline"] == race["pipeline"])
        ax.plot(seconds, acc, "-", color=colour, marker="o", markersize=2.5, linewidth=1.2,
                label=race["pipeline"] if first else None)
        if race["reached"]:
            ax.plot(seconds[-1], acc[-1], "o", color=colour, markersize=7, markerfacecolor="none")
    ax.axhline(result["target"], color="0.4", linestyle="--", linewidth=1, label=f"target {result['target']:.1%}")
    ax.set_xlabel("training seconds (stopwatch: training epochs only)")
    ax.set_ylabel("val accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _title(fig, "Time to accuracy", title, subtitle)
    return fig


# -- hyperparameter search ------------------------------------------------------------------------------
def plot_search(df, params: list[str] | None = None):
    """Each hyperparameter against the validation loss, one panel per parameter; the best trial in red.

    Parameters with few distinct values (a grid axis) are drawn as evenly spaced categories with a little
    jitter, wide positive ranges on a log axis. Returns the matplotlib Figure.

    ``df``: a trials table as ``charclf.experiments.tune.SearchResult.trials_dataframe()`` returns it. Unlike the other
    figures this one is made with ``pyplot`` (no layout engine): notebook 05 relies on the inline backend to
    show it and calls ``tight_layout`` on it after adding its own title.
    """
    import matplotlib.pyplot as plt

    params = params or df.attrs.get("params")
    if not params:
        raise ValueError("plot_search needs the parameter columns: pass params=[...] or a DataFrame from "
                         "SearchResult.trials_dataframe()")
    done = df[(df.state == "COMPLETE") & df.val_loss.notna()]
    done = done[np.isfinite(done.val_loss.astype(float))]
    fig, axes = plt.subplots(1, len(params), figsize=(3.2 * len(params), 3.0), sharey=True, squeeze=False)
    axes = axes[0]
    best = int(np.argmin(done.val_loss.to_numpy(dtype=float))) if len(done) else None
    rng = np.random.default_rng(0)
    for ax, name in zip(axes, params):
        values = done[name]
        distinct = sorted(values.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
        if len(distinct) <= 6:
            pos = {v: i for i, v in enumerate(distinct)}
            x = np.array([pos[v] for v in values], dtype=float) + rng.uniform(-0.12, 0.12, len(values))
            ax.set_xticks(range(len(distinct)), [f"{v:g}" if isinstance(v, float) else str(v) for v in distinct])
            ax.set_xlim(-0.5, len(distinct) - 0.5)
        else:
            x = values.astype(float).to_numpy()
            if (x > 0).all() and x.max() / x.min() >= 20:
                ax.set_xscale("log")
        y = done.val_loss.to_numpy(dtype=float)
        ax.scatter(x, y, s=22, alpha=0.75, color="tab:blue", edgecolors="none")
        if best is not None:
            ax.scatter([x[best]], [y[best]], s=70, color="tab:red", marker="*", zorder=3, label="best")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation loss")
    n_pruned = int((df.state == "PRUNED").sum())
    fig.suptitle(f"{len(done)} complete trials" + (f", {n_pruned} pruned" if n_pruned else ""), fontsize=10)
    fig.tight_layout()
    return fig


# -- errors ---------------------------------------------------------------------------------------------
def confusion_heatmap(cm, classes, normalize: bool = True, *, log_scale: bool = True, annotate: bool | None = None,
                      title: str | None = None, subtitle: str | None = None) -> Figure:
    """Confusion matrix heatmap, rows = true class. Readable at 62 classes: character tick labels on every
    row/column, a figure sized to the class count, small fonts, and (``log_scale``) a log colour scale so
    1% confusions such as O/0 or l/1 stand out next to a 95% diagonal. ``normalize``: each row sums to 1.
    """
    import seaborn as sns
    from matplotlib.colors import LogNorm

    cm = np.asarray(cm, dtype=np.float64)
    c = len(classes)
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    side = min(22.0, max(5.0, 0.26 * c + 2.5))
    fig, axes = _new_figure((side * 1.12, side))
    ax = axes[0, 0]
    if annotate is None:
        annotate = c <= 20
    kwargs = {}
    positive = values[values > 0]
    if log_scale and positive.size:
        vmin = max(positive.min(), 1e-3 if normalize else 1.0)
        kwargs["norm"] = LogNorm(vmin=vmin, vmax=max(values.max(), vmin * 10))
    labels = [_char_label(ch) for ch in classes]
    sns.heatmap(np.ma.masked_equal(values, 0) if log_scale else values, ax=ax, cmap="rocket_r", square=True,
                xticklabels=labels, yticklabels=labels, annot=annotate, fmt=".2f" if normalize else ".0f",
                annot_kws={"fontsize": 7}, linewidths=0, cbar_kws={"shrink": 0.6, "pad": 0.01},
                **kwargs)
    if normalize and "norm" in kwargs:
        # Percent ticks read better than 10^-2 on a share scale.
        cbar = ax.collections[0].colorbar
        ticks = [t for t in (0.001, 0.01, 0.1, 1.0) if kwargs["norm"].vmin <= t <= kwargs["norm"].vmax]
        cbar.set_ticks(ticks, labels=[f"{t:.1%}" if t < 0.01 else f"{t:.0%}" for t in ticks])
        cbar.ax.minorticks_off()
    font = 9 if c <= 30 else 7
    ax.tick_params(axis="both", labelsize=font, length=0)
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=0)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_facecolor("white")
    # Light grid lines between blocks of 10 classes help follow a row across 62 columns.
    for k in range(10, c, 10):
        ax.axhline(k, color="0.85", linewidth=0.5)
        ax.axvline(k, color="0.85", linewidth=0.5)
    default = "Confusion matrix" + (" (row-normalised" + (", log colour scale)" if log_scale else ")")
                                    if normalize else "")
    _title(fig, default, title, subtitle)
    return fig


def per_class_f1(per_class: pd.DataFrame, *, sort: bool = True, metric: str = "f1", worst: int = 10,
                 title: str | None = None, subtitle: str | None = None) -> Figure:
    """F1 (or ``metric``) of every class as bars, worst first when ``sort``; the ``worst`` lowest classes in red,
    bar and tick label (a bar at 0 has no height to colour), a fixed count: a rule such as "one std below the
    mean" marks none when the scores spread widely. The macro mean as a line."""
    from matplotlib.patches import Patch

    df = per_class.sort_values(metric, kind="stable") if sort else per_class
    fig, axes = _new_figure((max(6.0, 0.2 * len(df) + 1.5), 3.6))
    ax = axes[0, 0]
    lowest = (df[metric].rank(method="first") <= worst).to_numpy()
    ax.bar(range(len(df)), df[metric].to_numpy(), color=np.where(lowest, "tab:red", "tab:blue"))
    mean = ax.axhline(df[metric].mean(), color="0.2", linestyle="--", linewidth=1,
                      label=f"macro mean {df[metric].mean():.3f}")
    ax.set_xticks(range(len(df)), [_char_label(str(c)) for c in df["char"]], fontsize=7)
    for tick, low in zip(ax.get_xticklabels(), lowest):
        tick.set_color("tab:red" if low else "black")
    handles = [mean] + ([Patch(color="tab:red", label=f"the {int(lowest.sum())} lowest")] if lowest.any() else [])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel(metric)
    ax.set_xlabel("class" + (" (sorted)" if sort else ""))
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    _title(fig, f"Per-class {metric.upper() if metric == 'f1' else metric}", title, subtitle)
    return fig


def prediction_grid(images, y_true, y_pred, classes, probs=None, *, ncols: int = 10, max_images: int = 60,
                    title: str | None = None, subtitle: str | None = None) -> Figure:
    """Images with 'pred (prob)' above and the true character below; wrong predictions in red."""
    images = _numpy(images)[:max_images]
    y_true, y_pred = _numpy(y_true)[:max_images], _numpy(y_pred)[:max_images]
    probs = None if probs is None else _numpy(probs)[:max_images]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = _new_figure((1.05 * ncols, 1.3 * nrows + 0.4), nrows, ncols)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray", interpolation="nearest")
        ok = y_true[i] == y_pred[i]
        p = f" {probs[i, y_pred[i]]:.2f}" if probs is not None else ""
        ax.set_title(f"{_char_label(classes[y_pred[i]])}{p}", fontsize=8, color="tab:green" if ok else "tab:red",
                     pad=2)
        ax.text(0.5, -0.08, f"true {_char_label(classes[y_true[i]])}", transform=ax.transAxes, ha="center",
                va="top", fontsize=7, color="0.25")
    accuracy = float(np.mean(y_true == y_pred)) if n else float("nan")
    _title(fig, f"Predictions (pred + prob above, truth below; {accuracy:.0%} right)", title, subtitle)
    return fig


def misclassified_gallery(images, y_true, y_pred, classes, probs=None, *, k: int = 40, ncols: int = 10,
                          title: str | None = None, subtitle: str | None = None) -> Figure:
    """The ``k`` most confident mistakes (or the first ``k`` without ``probs``), as a prediction grid."""
    from charclf.eval.evaluate import misclassified_indices

    idx = misclassified_indices(y_true, y_pred, probs, k)
    images = _numpy(images)
    sub = None if probs is None else _numpy(probs)[idx]
    default = f"Misclassified: {len(idx)} most confident mistakes (pred + prob above, truth below)"
    return prediction_grid(images[idx], _numpy(y_true)[idx], _numpy(y_pred)[idx], classes, sub, ncols=ncols,
                           max_images=k, title=default if title is None else title, subtitle=subtitle)


# -- comparisons and calibration ------------------------------------------------------------------------
def _annotate_apart(ax, xs, ys, labels, *, fontsize: float = 7.0) -> None:
    """Label each point, moving a label up (with a leader line) until its box overlaps no label placed before
    it: points of a study cluster (many models within a point of accuracy), and labels at one fixed offset
    print over each other."""
    ax.figure.canvas.draw()  # fixes the limits, so data -> pixel positions are final
    points = ax.transData.transform(np.column_stack([xs, ys]))
    scale = ax.figure.dpi / 72.0  # pixels per point
    height = (fontsize + 2) * scale
    placed = []  # (x0, y0, x1, y1) in pixels
    for i in np.argsort(points[:, 1]):
        width = 0.6 * fontsize * scale * len(labels[i])
        x0, y0 = points[i, 0] + 4 * scale, points[i, 1] + 3 * scale
        while any(x0 < b[2] and b[0] < x0 + width and y0 < b[3] and b[1] < y0 + height for b in placed):
            y0 += height
        placed.append((x0, y0, x0 + width, y0 + height))
        offset = ((x0 - points[i, 0]) / scale, (y0 - points[i, 1]) / scale)
        moved = offset[1] > 3.5
        ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points", xytext=offset, fontsize=fontsize,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5} if moved else None)


def params_vs_accuracy(df: pd.DataFrame, *, x: str = "params", y: str = "accuracy", label: str = "model",
                       hue: str | None = None, logx: bool = True, title: str | None = None,
                       subtitle: str | None = None) -> Figure:
    """Accuracy against parameter count (log x), one labelled point per model, and the Pareto front."""
    import seaborn as sns

    fig, axes = _new_figure((7.5, 4.8) if len(df) <= 10 else (10.0, 6.5))
    ax = axes[0, 0]
    sns.scatterplot(data=df, x=x, y=y, hue=hue, ax=ax, s=45, legend=hue is not None)
    # Pareto front: models no smaller model beats.
    ordered = df.sort_values([x, y], ascending=[True, False])
    front = ordered[ordered[y] >= ordered[y].cummax()]
    ax.step(front[x], front[y], where="post", color="0.5", linewidth=1, linestyle=":", label="Pareto front")
    if logx:
        ax.set_xscale("log")
    _annotate_apart(ax, df[x].to_numpy(float), df[y].to_numpy(float), [str(v) for v in df[label]])
    ax.set_xlabel("parameters" if x == "params" else x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    _title(fig, f"{y} vs {x}", title, subtitle)
    return fig


def reliability_diagram(probs, y_true, n_bins: int = 15, *, title: str | None = None,
                        subtitle: str | None = None) -> Figure:
    """Accuracy vs confidence per equal-width bin (the diagonal is perfect calibration), with the ECE, and
    the share of predictions in each bin below."""
    from charclf.eval.evaluate import expected_calibration_error, reliability_bins

    bins = reliability_bins(_numpy(probs), _numpy(y_true), n_bins)
    ece = expected_calibration_error(_numpy(probs), _numpy(y_true), n_bins)
    fig, axes = _new_figure((5.2, 6.0), 2, 1, sharex=True, height_ratios=[3, 1])
    ax, axc = axes[0, 0], axes[1, 0]
    width = 1.0 / n_bins
    centres = bins["bin_lower"] + width / 2
    ax.bar(centres, bins["accuracy"].fillna(0), width=width * 0.95, color="tab:blue", label="accuracy")
    used = bins["count"] > 0
    low = np.minimum(bins["accuracy"], bins["confidence"])[used]
    gap = (bins["confidence"] - bins["accuracy"]).abs()[used]
    ax.bar(centres[used], gap, bottom=low, width=width * 0.95, facecolor=(1, 0, 0, 0.15), edgecolor="tab:red",
           hatch="//", linewidth=0.6, label="gap to confidence")
    ax.plot(centres[used], bins["confidence"][used], "_", color="black", markersize=9, label="mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.3", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left", title=f"ECE = {ece:.4f}", title_fontsize=8)
    share = bins["count"] / max(bins["count"].sum(), 1)
    axc.bar(centres, share, width=width * 0.95, color="0.4")
    axc.set_yscale("log")
    axc.set_xlabel("confidence (top-class probability)")
    axc.set_ylabel("share")
    _title(fig, "Reliability diagram", title, subtitle)
    return fig


# -- label audit ----------------------------------------------------------------------------------------
KIND_COLOURS = {"case": "0.45", "digit_letter": "tab:orange", "orientation": "tab:purple", "wrong_label": "tab:red"}


def _captioned_grid(images, above, below, colours, *, ncols: int, default: str, title: str | None,
                    subtitle: str | None, tile: tuple[float, float] = (1.05, 1.3)) -> Figure:
    """Images in a grid with a coloured caption above and a grey one below each."""
    images = _numpy(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = _new_figure((tile[0] * ncols, tile[1] * nrows + 0.5), nrows, ncols)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray", interpolation="nearest")
        ax.set_title(above[i], fontsize=8, color=colours[i], pad=2)
        ax.text(0.5, -0.08, below[i], transform=ax.transAxes, ha="center", va="top", fontsize=6.5, color="0.25")
    _title(fig, default, title, subtitle)
    return fig


def label_issue_gallery(images, given, suggested, quality, kinds, *, k: int = 50, ncols: int = 10,
                        title: str | None = None, subtitle: str | None = None) -> Figure:
    """The first ``k`` flagged images (pass them worst label quality first): 'given → suggested' above,
    coloured by kind (``KIND_COLOURS``), the kind and the label quality below."""
    given, suggested, quality, kinds = (list(_numpy(a))[:k] for a in (given, suggested, quality, kinds))
    above = [f"{_char_label(str(g))} → {_char_label(str(s))}" for g, s in zip(given, suggested)]
    below = [f"{kd.replace('_', ' ')} {q:.2f}" for kd, q in zip(kinds, quality)]
    colours = [KIND_COLOURS.get(kd, "black") for kd in kinds]
    default = f"Top {len(above)} label issues (given → suggested; kind and label quality below)"
    return _captioned_grid(_numpy(images)[:k], above, below, colours, ncols=ncols, default=default, title=title,
                           subtitle=subtitle)


def orientation_gallery(images, fixed, given, orientations, *, k: int = 24, ncols: int = 8,
                        title: str | None = None, subtitle: str | None = None) -> Figure:
    """Orientation outliers side by side: each image as stored, then under the orientation its given label
    fits best (``fixed``, the same images transformed; ``orientations`` names the transform)."""
    images, fixed = _numpy(images)[:k], _numpy(fixed)[:k]
    given, orientations = list(_numpy(given))[:k], list(_numpy(orientations))[:k]
    tiles = np.stack([images, fixed], axis=1).reshape(-1, *images.shape[1:]) if len(images) else images
    above, below, colours = [], [], []
    for g, o in zip(given, orientations):
        above += [f"given {_char_label(str(g))}", str(o).replace("_", " ")]
        below += ["as stored", "fixed"]
        colours += ["0.2", KIND_COLOURS["orientation"]]
    default = f"{len(images)} orientation outliers: as stored, and under the orientation the label fits"
    return _captioned_grid(tiles, above, below, colours, ncols=max(2, ncols - ncols % 2), default=default,
                           title=title, subtitle=subtitle)


def label_error_rates(per_class: pd.DataFrame, kinds=("wrong_label", "orientation", "digit_letter", "case"), *,
                      sort: bool = True, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Flagged share of each class (by its given label), stacked by kind. ``per_class``: index = character,
    columns ``images`` and one count column per kind."""
    df = per_class.copy()
    shares = df[list(kinds)].div(df["images"].where(df["images"] > 0), axis=0).fillna(0.0)
    if sort:
        shares = shares.loc[shares.sum(axis=1).sort_values(ascending=False).index]
    fig, axes = _new_figure((max(6.0, 0.2 * len(shares) + 1.5), 3.8))
    ax = axes[0, 0]
    bottom = np.zeros(len(shares))
    for kind in kinds:
        ax.bar(range(len(shares)), shares[kind].to_numpy(), bottom=bottom, color=KIND_COLOURS.get(kind),
               label=kind.replace("_", " "), width=0.85)
        bottom += shares[kind].to_numpy()
    ax.set_xticks(range(len(shares)), [_char_label(str(c)) for c in shares.index], fontsize=7)
    ax.yaxis.set_major_formatter(_percent_formatter())
    ax.set_ylabel("share of the class's images")
    ax.set_xlabel("class (given label)" + (", most flagged first" if sort else ""))
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    _title(fig, "Flagged images per class, by kind", title, subtitle)
    return fig
