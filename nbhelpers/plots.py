"""Figures for the book: grids of digits, weight filters and heat maps.

Knows nothing of models or data sources: it takes arrays and returns matplotlib figures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["image_grid", "filter_grid", "heatmap", "side_by_side_table"]


def _as_images(images) -> np.ndarray:
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 2 and a.shape[1] == 784:
        a = a.reshape(-1, 28, 28)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 3:
        raise ValueError(
            f"expected images of shape (n, 784), (n, 28, 28) or (n, 28, 28, 1), got {np.shape(images)}"
        )
    return a


def image_grid(
    rows, row_labels=None, titles=None, *, cmap="gray", vmin=0.0, vmax=1.0, scale=1.1, suptitle=None
):
    """A grid of digits: `rows` is a list of image arrays, one row each (as in the paper's Figure 7).

    `titles` optionally gives, per row, a list of strings shown above each image.
    Pass vmin=None/vmax=None to scale each image on its own (e.g. magnified perturbations).
    """
    import matplotlib.pyplot as plt

    rows = [_as_images(r) for r in rows]
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(
        len(rows),
        ncols,
        figsize=(scale * ncols + (1.2 if row_labels else 0), scale * 1.15 * len(rows)),
        squeeze=False,
    )
    for i, r in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j >= len(r):
                continue
            img = r[j]
            lo = img.min() if vmin is None else vmin
            hi = img.max() if vmax is None else vmax
            ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
            if titles is not None and titles[i] is not None:
                ax.set_title(str(titles[i][j]), fontsize=8)
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def filter_grid(weights, n: int = 64, ncols: int = 16, seed: int = 0, title=None):
    """First-layer weights (784 × units) shown as 28×28 filters, `n` of them chosen at random."""
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != 784:
        raise ValueError(f"expected first-layer weights of shape (784, units), got {w.shape}")
    idx = np.sort(
        np.random.default_rng(seed).choice(w.shape[1], size=min(n, w.shape[1]), replace=False)
    )
    filt = w[:, idx].T.reshape(-1, 28, 28)
    rows = [filt[i : i + ncols] for i in range(0, len(filt), ncols)]
    return image_grid(rows, vmin=None, vmax=None, cmap="RdBu_r", scale=0.8, suptitle=title)


def heatmap(
    matrix,
    row_labels,
    col_labels,
    *,
    fmt="{:.1f}",
    title=None,
    cmap="viridis",
    vmin=0,
    vmax=100,
    xlabel=None,
    ylabel=None,
):
    """A heat map with the value written in each cell (Tables 2 and 4)."""
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    if m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(
            f"expected a {len(row_labels)}×{len(col_labels)} matrix for the labels given, got {m.shape}"
        )
    fig, ax = plt.subplots(figsize=(1.1 * len(col_labels) + 3, 0.5 * len(row_labels) + 1.5))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=30, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                frac = (m[i, j] - vmin) / (vmax - vmin) if vmax > vmin else 0
                ax.text(
                    j,
                    i,
                    fmt.format(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if frac > 0.6 else "white",
                )
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig


def side_by_side_table(
    ours: dict, paper: dict, columns, *, labels=None, ours_fmt="{:.2f}", paper_fmt="{:g}"
):
    """A DataFrame with, for each column, our value and the paper's beside it ("ours" / "paper").

    `labels` optionally maps a column key to the heading shown for it.
    """
    import pandas as pd

    labels = labels or {}
    rows = {}
    for name in ours:
        row = {}
        for col in columns:
            o = ours[name].get(col)
            p = paper.get(name, {}).get(col)
            head = labels.get(col, col)
            row[(head, "ours")] = (
                "—"
                if o is None or (isinstance(o, float) and not np.isfinite(o))
                else ours_fmt.format(o)
            )
            row[(head, "paper")] = "—" if p is None else paper_fmt.format(p)
        rows[name] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df
