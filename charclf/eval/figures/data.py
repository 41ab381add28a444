"""Figures of the data: sample grids, class distributions, pixel statistics and augmentation grids."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from charclf.eval.figures.base import as_numpy, char_label, mosaic, new_figure, percent_formatter, set_title


def sample_grid(ds, per_class: int = 8, classes=None, *, seed: int = 0, title: str | None = None,
                subtitle: str | None = None) -> Figure:
    """``per_class`` random samples of each class (rows labelled with the character)."""
    labels = as_numpy(ds.labels)
    images = as_numpy(ds.images)
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
    grid = mosaic(tiles, len(wanted), per_class, fill=0.35)
    h = images.shape[1] + 1
    fig, axes = new_figure((max(3.0, 0.42 * per_class + 0.8), max(2.0, 0.42 * len(wanted) + 0.6)))
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(np.arange(len(wanted)) * h + (h - 1) / 2, [char_label(names[i]) for i in wanted],
                  fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    set_title(fig, f"{ds.split}: {per_class} samples per class", title, subtitle)
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
    fig, axes = new_figure((min(16.0, max(6.0, 0.2 * len(classes) + 2)), 3.6))
    ax = axes[0, 0]
    sns.barplot(data=table, x="char", y=y, hue="part" if len(parts) > 1 else None, order=list(classes), ax=ax,
                width=0.85, linewidth=0)
    ax.set_xticks(range(len(classes)), [char_label(c) for c in classes], fontsize=7)
    if len(parts) > 1:
        sns.move_legend(ax, "lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(parts), frameon=False,
                        title=None, fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("share of the part" if normalize else "images")
    if normalize:
        ax.yaxis.set_major_formatter(percent_formatter())
    ax.grid(axis="y", alpha=0.3)
    set_title(fig, "Class distribution", title, subtitle)
    return fig


def sample_images(ds, max_images: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = as_numpy(ds.images), as_numpy(ds.labels)
    if len(images) > max_images:  # the statistics are stable long before 100k images
        pick = np.random.default_rng(0).choice(len(images), max_images, replace=False)
        images, labels = images[pick], labels[pick]
    return images, labels


def ink_per_class(ds, *, max_images: int = 20000) -> pd.Series:
    """Mean ink mass (pixel sum / 255) of each class, indexed by character — what :func:`pixel_statistics`
    draws, over the same seeded sample of at most ``max_images`` images."""
    images, labels = sample_images(ds, max_images)
    mass = images.reshape(len(images), -1).sum(axis=1) / 255.0
    classes = tuple(ds.classes)
    per_class = pd.Series(mass).groupby(labels).mean().reindex(range(len(classes)))
    return pd.Series(per_class.to_numpy(), index=pd.Index(classes, name="char"), name="ink mass")


def pixel_statistics(ds, *, max_images: int = 20000, title: str | None = None, subtitle: str | None = None) -> Figure:
    """Mean image, histogram of pixel values (log scale), and mean ink mass per class."""
    images, _ = sample_images(ds, max_images)
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
    ax2.set_xticks(range(len(classes)), [char_label(c) for c in classes], fontsize=7)
    ax2.set_ylabel("ink mass (sum / 255)")
    ax2.set_title("mean ink per class", fontsize=9)
    ax2.grid(axis="y", alpha=0.3)
    set_title(fig, f"Pixel statistics — {ds.split} {ds.part} ({len(images):,} images)", title, subtitle)
    return fig


def augmentation_grid(images, augment_fn, n_aug: int = 6, *, seed: int = 0, title: str | None = None,
                      subtitle: str | None = None) -> Figure:
    """Each row: an original image, then ``n_aug`` draws of ``augment_fn``.

    ``augment_fn`` gets float (K, 1, 28, 28) in 0..1 and returns the same shape (or a tuple whose first item
    is it, as ``BatchAugment`` does). Draws are seeded with ``seed`` without touching the global RNG.
    """
    import torch

    x = torch.as_tensor(as_numpy(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    columns = [x[:, 0].numpy()]
    with torch.random.fork_rng(devices=[]):
        for i in range(n_aug):
            torch.manual_seed(seed + i)
            out = augment_fn(x.clone())
            out = out[0] if isinstance(out, (tuple, list)) else out
            columns.append(as_numpy(out).reshape(x.shape[0], *x.shape[-2:]))
    tiles = np.stack(columns, axis=1).reshape(-1, *x.shape[-2:])
    # Each tile scaled to its own range: the augmentation may work on normalised values.
    lo = tiles.min(axis=(1, 2), keepdims=True)
    hi = tiles.max(axis=(1, 2), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-6)
    grid = mosaic(tiles, x.shape[0], n_aug + 1, fill=1.0)
    fig, axes = new_figure((0.6 * (n_aug + 1) + 0.6, 0.6 * x.shape[0] + 0.6))
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    w = x.shape[-1] + 1
    ax.set_xticks(np.arange(n_aug + 1) * w + (w - 1) / 2, ["original"] + [f"#{i + 1}" for i in range(n_aug)],
                  fontsize=7)
    ax.set_yticks([])
    ax.tick_params(length=0)
    set_title(fig, "Augmentation draws", title, subtitle)
    return fig


# -- training -------------------------------------------------------------------------------------------
