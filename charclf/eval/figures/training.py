"""Figures of training: learning curves, the time-to-accuracy race and a hyperparameter search."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from charclf.eval.figures.base import new_figure, set_title


def training_curves(histories, *, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Loss and accuracy per epoch (train solid, val dashed), several runs overlaid in one colour each.

    ``histories``: ``{run name: history DataFrame}`` (columns epoch, train_loss, val_loss, train_acc, val_acc
    as ``charclf.train.fit`` returns) or a single DataFrame.
    """
    if isinstance(histories, pd.DataFrame):
        histories = {"run": histories}
    fig, axes = new_figure((11, 3.8), 1, 2)
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
    set_title(fig, "Training curves (solid: train, dashed: val)", title, subtitle)
    return fig


def race_curves(result: dict, *, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Val accuracy against training seconds for every race of a time-to-accuracy result
    (``charclf.experiments.time_to_accuracy.run_race``): one colour per pipeline, one line per seed, the target
    dashed, and a dot where each race first reached it."""
    fig, axes = new_figure((8, 4.5))
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
    set_title(fig, "Time to accuracy", title, subtitle)
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
