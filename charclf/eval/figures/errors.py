"""Figures of a model's errors and calibration: confusion, per-class scores, prediction grids, size vs accuracy
and reliability."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from charclf.eval.figures.base import as_numpy, char_label, new_figure, set_title


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
    fig, axes = new_figure((side * 1.12, side))
    ax = axes[0, 0]
    if annotate is None:
        annotate = c <= 20
    kwargs = {}
    positive = values[values > 0]
    if log_scale and positive.size:
        vmin = max(positive.min(), 1e-3 if normalize else 1.0)
        kwargs["norm"] = LogNorm(vmin=vmin, vmax=max(values.max(), vmin * 10))
    labels = [char_label(ch) for ch in classes]
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
    set_title(fig, default, title, subtitle)
    return fig


def per_class_f1(per_class: pd.DataFrame, *, sort: bool = True, metric: str = "f1", worst: int = 10,
                 title: str | None = None, subtitle: str | None = None) -> Figure:
    """F1 (or ``metric``) of every class as bars, worst first when ``sort``; the ``worst`` lowest classes in red,
    bar and tick label (a bar at 0 has no height to colour), a fixed count: a rule such as "one std below the
    mean" marks none when the scores spread widely. The macro mean as a line."""
    from matplotlib.patches import Patch

    df = per_class.sort_values(metric, kind="stable") if sort else per_class
    fig, axes = new_figure((max(6.0, 0.2 * len(df) + 1.5), 3.6))
    ax = axes[0, 0]
    lowest = (df[metric].rank(method="first") <= worst).to_numpy()
    ax.bar(range(len(df)), df[metric].to_numpy(), color=np.where(lowest, "tab:red", "tab:blue"))
    mean = ax.axhline(df[metric].mean(), color="0.2", linestyle="--", linewidth=1,
                      label=f"macro mean {df[metric].mean():.3f}")
    ax.set_xticks(range(len(df)), [char_label(str(c)) for c in df["char"]], fontsize=7)
    for tick, low in zip(ax.get_xticklabels(), lowest):
        tick.set_color("tab:red" if low else "black")
    handles = [mean] + ([Patch(color="tab:red", label=f"the {int(lowest.sum())} lowest")] if lowest.any() else [])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel(metric)
    ax.set_xlabel("class" + (" (sorted)" if sort else ""))
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    set_title(fig, f"Per-class {metric.upper() if metric == 'f1' else metric}", title, subtitle)
    return fig


def prediction_grid(images, y_true, y_pred, classes, probs=None, *, ncols: int = 10, max_images: int = 60,
                    title: str | None = None, subtitle: str | None = None) -> Figure:
    """Images with 'pred (prob)' above and the true character below; wrong predictions in red."""
    images = as_numpy(images)[:max_images]
    y_true, y_pred = as_numpy(y_true)[:max_images], as_numpy(y_pred)[:max_images]
    probs = None if probs is None else as_numpy(probs)[:max_images]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = new_figure((1.05 * ncols, 1.3 * nrows + 0.4), nrows, ncols)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray", interpolation="nearest")
        ok = y_true[i] == y_pred[i]
        p = f" {probs[i, y_pred[i]]:.2f}" if probs is not None else ""
        ax.set_title(f"{char_label(classes[y_pred[i]])}{p}", fontsize=8, color="tab:green" if ok else "tab:red",
                     pad=2)
        ax.text(0.5, -0.08, f"true {char_label(classes[y_true[i]])}", transform=ax.transAxes, ha="center",
                va="top", fontsize=7, color="0.25")
    accuracy = float(np.mean(y_true == y_pred)) if n else float("nan")
    set_title(fig, f"Predictions (pred + prob above, truth below; {accuracy:.0%} right)", title, subtitle)
    return fig


def misclassified_gallery(images, y_true, y_pred, classes, probs=None, *, k: int = 40, ncols: int = 10,
                          title: str | None = None, subtitle: str | None = None) -> Figure:
    """The ``k`` most confident mistakes (or the first ``k`` without ``probs``), as a prediction grid."""
    from charclf.eval.evaluate import misclassified_indices

    idx = misclassified_indices(y_true, y_pred, probs, k)
    images = as_numpy(images)
    sub = None if probs is None else as_numpy(probs)[idx]
    default = f"Misclassified: {len(idx)} most confident mistakes (pred + prob above, truth below)"
    return prediction_grid(images[idx], as_numpy(y_true)[idx], as_numpy(y_pred)[idx], classes, sub, ncols=ncols,
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
                       subtitle: str | None = None, budgets: tuple[int, ...] = ()) -> Figure:
    """Accuracy against parameter count (log x), one labelled point per model, and the Pareto front;
    ``budgets``: parameter counts drawn as dashed verticals (the size classes a reader compares within)."""
    import seaborn as sns

    fig, axes = new_figure((7.5, 4.8) if len(df) <= 10 else (10.0, 6.5))
    ax = axes[0, 0]
    sns.scatterplot(data=df, x=x, y=y, hue=hue, ax=ax, s=45, legend=hue is not None)
    # Pareto front: models no smaller model beats.
    ordered = df.sort_values([x, y], ascending=[True, False])
    front = ordered[ordered[y] >= ordered[y].cummax()]
    ax.step(front[x], front[y], where="post", color="0.5", linewidth=1, linestyle=":", label="Pareto front")
    if logx:
        ax.set_xscale("log")
    for budget in budgets:
        ax.axvline(budget, color="0.7", linewidth=0.8, linestyle="--", zorder=0)
        ax.annotate(f"≤ {budget / 1e6:g}M" if budget >= 1e6 else f"≤ {budget // 1000:g}k", (budget, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(-3, -3), textcoords="offset points", ha="right",
                    va="top", fontsize=7, color="0.45")
    _annotate_apart(ax, df[x].to_numpy(float), df[y].to_numpy(float), [str(v) for v in df[label]])
    ax.set_xlabel("parameters" if x == "params" else x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    set_title(fig, f"{y} vs {x}", title, subtitle)
    return fig


def reliability_diagram(probs, y_true, n_bins: int = 15, *, title: str | None = None,
                        subtitle: str | None = None) -> Figure:
    """Accuracy vs confidence per equal-width bin (the diagonal is perfect calibration), with the ECE, and
    the share of predictions in each bin below."""
    from charclf.eval.evaluate import expected_calibration_error, reliability_bins

    bins = reliability_bins(as_numpy(probs), as_numpy(y_true), n_bins)
    ece = expected_calibration_error(as_numpy(probs), as_numpy(y_true), n_bins)
    fig, axes = new_figure((5.2, 6.0), 2, 1, sharex=True, height_ratios=[3, 1])
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
    set_title(fig, "Reliability diagram", title, subtitle)
    return fig


# -- label audit ----------------------------------------------------------------------------------------
