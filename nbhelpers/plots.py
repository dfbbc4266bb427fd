"""Figures for the book: grids of digits, weight filters and heat maps.

Knows nothing of models or data sources: it takes arrays and returns matplotlib figures.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int, check_real, check_seed, check_str

__all__ = ["image_grid", "filter_grid", "heatmap", "curves", "histogram_panels", "seed_bars"]


def _check_labels(labels, name: str, n: int):
    """``labels`` as a list of ``n`` strings (row or column headings), or None."""
    if labels is None:
        return None
    if isinstance(labels, str) or not hasattr(labels, "__len__"):
        raise TypeError(f"{name} must be a list of str, got {type(labels).__name__}")
    if len(labels) != n:
        raise ValueError(f"{name} must hold {n} labels, one per row or column, got {len(labels)}")
    return [str(label) for label in labels]


def _as_floats(value, name: str, what: str, dtype=np.float32) -> np.ndarray:
    """``value`` as a float array; TypeError naming ``name`` and ``what`` it must be if not."""
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}") from None


def _as_images(images, name: str = "images") -> np.ndarray:
    """Images as (n, 28, 28) floats; perturbations (negative values) and NaN pass."""
    a = _as_floats(images, name, "an array of shape (n, 784) or (n, 28, 28)")
    if a.ndim == 2 and a.shape[1] == 784:
        a = a.reshape(-1, 28, 28)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n, 784), (n, 28, 28) or (n, 28, 28, 1), got {a.shape}"
        )
    return a


def image_grid(
    rows,
    row_labels=None,
    titles=None,
    *,
    cmap="gray",
    vmin=0.0,
    vmax=1.0,
    scale=1.1,
    suptitle=None,
    signed_rows=(),
    signed_label="change in pixel value",
):
    """A grid of digits: `rows` is a list of image arrays, one row each (the paper's Figure 7).

    `titles` optionally gives, per row, a list of strings shown above each image.
    Pass vmin=None/vmax=None to scale each image on its own (e.g. magnified perturbations).
    `signed_rows` (row indices) hold signed changes such as perturbations: drawn red for
    up, blue for down and white for none, on one scale shared by those rows, with a colour
    bar labelled `signed_label` beside them, so that their sizes can be compared and read.
    """
    import matplotlib.pyplot as plt

    if isinstance(rows, np.ndarray) or not isinstance(rows, (list, tuple)):
        raise TypeError(f"rows must be a list of image arrays, got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows must hold at least one row of images, got none")
    rows = [_as_images(r, f"rows[{i}]") for i, r in enumerate(rows)]
    row_labels = _check_labels(row_labels, "row_labels", len(rows))
    if titles is not None:
        _check_labels(titles, "titles", len(rows))
    vmin = check_real(vmin, "vmin", allow_none=True)
    vmax = check_real(vmax, "vmax", allow_none=True)
    scale = check_real(scale, "scale", low=0, low_open=True)
    suptitle = check_str(suptitle, "suptitle", allow_none=True)
    signed = _check_rows(signed_rows, len(rows))
    signed_label = check_str(signed_label, "signed_label")
    limit = _abs_max([rows[i] for i in signed])
    ncols = max(len(r) for r in rows)
    if ncols == 0:
        raise ValueError("rows must hold at least one image, got only empty rows")
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
            if i in signed:
                shown = ax.imshow(img, cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:
                lo = img.min() if vmin is None else vmin
                hi = img.max() if vmax is None else vmax
                ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
            if titles is not None and titles[i] is not None:
                ax.set_title(str(titles[i][j]), fontsize=8)
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 0.9, 1) if signed else (0, 0, 1, 1))
    boxes = [axes[i, j].get_position() for i in signed for j in range(len(rows[i]))]
    if boxes:
        low, high = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
        fig.colorbar(shown, cax=fig.add_axes((0.91, low, 0.015, high - low)), label=signed_label)
    return fig


def _check_rows(indices, n: int) -> list[int]:
    """Row indices (``signed_rows``) as a sorted list, each an int in [0, n)."""
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__"):
        raise TypeError(f"signed_rows must be a list of row indices, got {type(indices).__name__}")
    out = sorted({check_int(i, "signed_rows", low=0) for i in indices})
    if out and out[-1] >= n:
        raise ValueError(f"signed_rows must index the {n} rows (0 to {n - 1}), got {out[-1]}")
    return out


def _abs_max(arrays) -> float:
    """The largest finite |value| in ``arrays`` (a failed search is NaN), or 1 when none."""
    values = np.concatenate([np.abs(a[np.isfinite(a)]).ravel() for a in arrays] or [[]])
    top = float(values.max()) if values.size else 0.0
    return top if top > 0 else 1.0


def filter_grid(weights, n: int = 64, ncols: int = 16, seed: int = 0, title=None):
    """First-layer weights (784 × units) shown as 28×28 filters, `n` of them chosen at random.

    Red is a positive weight, blue a negative one, each filter scaled by its largest |weight|.
    """
    w = _as_floats(weights, "weights", "an array of shape (784, units)")
    if w.ndim != 2 or w.shape[0] != 784:
        raise ValueError(f"weights must have shape (784, units), got {w.shape}")
    n, ncols, seed = check_int(n, "n", low=1), check_int(ncols, "ncols", low=1), check_seed(seed)
    title = check_str(title, "title", allow_none=True)
    idx = np.sort(
        np.random.default_rng(seed).choice(w.shape[1], size=min(n, w.shape[1]), replace=False)
    )
    filt = w[:, idx].T.reshape(-1, 28, 28)
    # each filter on its own scale, zero white: the sign of a weight reads at a glance
    peak = np.abs(filt).max(axis=(1, 2), keepdims=True)
    filt = filt / np.where(peak > 0, peak, 1)
    rows = [filt[i : i + ncols] for i in range(0, len(filt), ncols)]
    return image_grid(
        rows,
        scale=0.8,
        suptitle=title,
        signed_rows=range(len(rows)),
        signed_label="weight / the filter's largest |weight|",
    )


def heatmap(
    matrix,
    row_labels=None,
    col_labels=None,
    *,
    fmt="{:.1f}",
    title=None,
    cmap="viridis",
    vmin=0,
    vmax=100,
    xlabel=None,
    ylabel=None,
    colorbar_label=None,
):
    """A heat map with the value written in each cell (Tables 2 and 4).

    ``matrix``: a 2-D array, or a DataFrame whose index and columns are the default
    row and column labels (a transfer matrix, or ``paper.table("table2")``'s models).
    ``colorbar_label`` names what the colours measure, with its unit (e.g. "error (%)").
    """
    import matplotlib.pyplot as plt

    if row_labels is None and hasattr(matrix, "index"):
        row_labels = list(matrix.index)
    if col_labels is None and hasattr(matrix, "columns"):
        col_labels = list(matrix.columns)
    m = _as_floats(matrix, "matrix", "a 2-D array of numbers", dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    if row_labels is None or col_labels is None:
        raise TypeError("row_labels and col_labels are needed unless matrix is a DataFrame")
    row_labels = _check_labels(row_labels, "row_labels", m.shape[0])
    col_labels = _check_labels(col_labels, "col_labels", m.shape[1])
    vmin, vmax = check_real(vmin, "vmin"), check_real(vmax, "vmax")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format str, got {type(fmt).__name__} {fmt!r}")
    title, xlabel, ylabel, colorbar_label = (
        check_str(v, n, allow_none=True)
        for v, n in (
            (title, "title"),
            (xlabel, "xlabel"),
            (ylabel, "ylabel"),
            (colorbar_label, "colorbar_label"),
        )
    )
    # room for the row labels, the cells and the colour bar, near a page's text width (7
    # inches at 100 dpi) so that the numbers are not shrunk away
    width = min(0.07 * max(map(len, row_labels)) + 0.7 * len(col_labels) + 1.5, 9.0)
    fig, ax = plt.subplots(figsize=(width, 0.45 * len(row_labels) + 1.6))
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
    fig.colorbar(im, ax=ax, fraction=0.04, label=colorbar_label)
    fig.tight_layout()
    return fig


def curves(
    x,
    series,
    *,
    bands=None,
    xlabel=None,
    ylabel=None,
    title=None,
    logx=False,
    logy=False,
    ax=None,
):
    """Line plots of ``series`` (``{name: y values}``) against ``x``, one line each, with markers.

    ``bands`` (optional, ``{name: (low, high)}``) shades an interval around a series
    (a confidence interval). ``logx``/``logy`` use log axes; ``ax`` draws into an
    existing axes. Returns the figure.
    """
    import matplotlib.pyplot as plt

    xs = _as_floats(x, "x", "a 1-D array of numbers", dtype=np.float64)
    if xs.ndim != 1 or len(xs) == 0:
        raise ValueError(f"x must be a non-empty 1-D array, got shape {xs.shape}")
    if not isinstance(series, dict) or not series:
        raise TypeError(f"series must be a non-empty dict {{name: values}}, got {series!r:.60}")
    bands = {} if bands is None else bands
    if not isinstance(bands, dict) or not set(bands) <= set(series):
        raise ValueError("bands must be a dict whose keys are among the series' names")
    title, xlabel, ylabel = (
        check_str(v, n, allow_none=True)
        for v, n in ((title, "title"), (xlabel, "xlabel"), (ylabel, "ylabel"))
    )
    fig, ax = plt.subplots(figsize=(6, 3.8)) if ax is None else (ax.figure, ax)
    for name, values in series.items():
        ys = _as_floats(values, f"series[{name!r}]", "an array of numbers", dtype=np.float64)
        if ys.shape != xs.shape:
            raise ValueError(f"series[{name!r}] must have shape {xs.shape}, got {ys.shape}")
        (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=str(name))
        if name in bands:
            low, high = (np.asarray(b, dtype=np.float64) for b in bands[name])
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    for setter, value in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
        if value:
            setter(value)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def histogram_panels(panels, *, bins=10, value_range=(0.0, 1.0), xlabel=None, ncols=3):
    """One panel per entry of ``panels`` (``{title: {name: values}}``), each an overlay of
    step histograms of its samples, as shares (e.g. top-k purity of units and directions, §3)."""
    import matplotlib.pyplot as plt

    if not isinstance(panels, dict) or not panels:
        raise TypeError(
            f"panels must be a non-empty dict {{title: {{name: values}}}}, got {panels!r:.60}"
        )
    bins, ncols = check_int(bins, "bins", low=1), check_int(ncols, "ncols", low=1)
    lo, hi = (check_real(v, "value_range") for v in value_range)
    if hi <= lo:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    xlabel = check_str(xlabel, "xlabel", allow_none=True)
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, samples) in zip(axes.ravel()[: len(panels)], panels.items(), strict=True):
        if not isinstance(samples, dict) or not samples:
            raise TypeError(f"panels[{title!r}] must be a non-empty dict {{name: values}}")
        for name, values in samples.items():
            v = _as_floats(values, f"panels[{title!r}][{name!r}]", "an array of numbers")
            w = np.full(v.size, 1.0 / max(v.size, 1))
            ax.hist(v.ravel(), bins=bins, range=(lo, hi), weights=w, histtype="step", label=name)
        ax.set_title(str(title), fontsize=9)
        if xlabel:
            ax.set_xlabel(xlabel, fontsize=8)
    axes[0, 0].set_ylabel("share", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def seed_bars(per_seed, *, ylabel=None, title=None, references=None, ax=None):
    """One bar per row of ``per_seed`` (``{name: values over seeds}``) at their mean, with
    each seed as a dot and the range as an error bar; ``references`` (``{label: value}``,
    e.g. the paper's numbers) as dashed horizontal lines. Returns the figure."""
    import matplotlib.pyplot as plt

    if not isinstance(per_seed, dict) or not per_seed:
        raise TypeError(f"per_seed must be a non-empty dict {{name: values}}, got {per_seed!r:.60}")
    references = {} if references is None else references
    if not isinstance(references, dict):
        raise TypeError(f"references must be a dict {{label: value}}, got {references!r:.60}")
    references = {k: check_real(v, f"references[{k!r}]") for k, v in references.items()}
    rows = {}
    for name, values in per_seed.items():
        ys = _as_floats(values, f"per_seed[{name!r}]", "an array of numbers", dtype=np.float64)
        if ys.ndim != 1 or len(ys) == 0:
            raise ValueError(f"per_seed[{name!r}] must be a non-empty 1-D array, got {ys.shape}")
        rows[name] = ys
    title, ylabel = (
        check_str(v, n, allow_none=True) for v, n in ((title, "title"), (ylabel, "ylabel"))
    )
    fig, ax = plt.subplots(figsize=(6.5, 3.8)) if ax is None else (ax.figure, ax)
    for i, ys in enumerate(rows.values()):
        mean = ys.mean()
        ax.bar(i, mean, color=f"C{i}", alpha=0.6, width=0.6)
        ax.errorbar(i, mean, yerr=[[mean - ys.min()], [ys.max() - mean]], color="k", capsize=4)
        ax.plot(np.full(len(ys), i), ys, "o", color="k", markersize=3)
    for j, (label, value) in enumerate(references.items()):
        color = f"C{j + len(per_seed)}"
        ax.axhline(value, color=color, linestyle="--", linewidth=1, label=str(label))
    if references:
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(per_seed)), [str(n) for n in per_seed], rotation=20, ha="right")
    for setter, value in ((ax.set_ylabel, ylabel), (ax.set_title, title)):
        if value:
            setter(value)
    fig.tight_layout()
    return fig
