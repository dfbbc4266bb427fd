"""The methods of "How minimal is the minimum?" side by side: each against the search digit
by digit, the smallest distortion any of them found, the figure and the tables."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_int, check_real


def equal_effort(evaluations, binary_steps: int) -> int:
    """Adam iterations per value of ``c`` that give `carlini_wagner` about ``evaluations``
    gradient evaluations a digit (the search's mean), over ``binary_steps`` values."""
    evaluations = check_real(evaluations, "evaluations", low=0)
    binary_steps = check_int(binary_steps, "binary_steps", low=1)
    return max(1, round(evaluations / binary_steps))


# effort_row's columns in words, and their digits
EFFORT_HEADERS = {
    "search evaluations": "search: gradients a digit",
    "search reached (%)": "search: reached (%)",
    "C&W same effort evaluations": "C&W at the same effort: gradients",
    "C&W same effort reached (%)": "reached (%)",
    "C&W same effort ratio": "÷ search",
    "C&W full evaluations": "C&W, full budget: gradients",
    "C&W full reached (%)": "reached (%) ",
    "C&W full ratio": "÷ search ",
}
EFFORT_FMT = {name: "{:.2f}" if name.endswith("ratio") else "{:,.0f}" for name in EFFORT_HEADERS}


def effort_row(search, asked, full, same) -> dict:
    """One model at equal and at greater effort: the search's gradient evaluations a digit
    and share of digits reached (of those it was ``asked`` to move), then Carlini–Wagner's
    at ``same`` effort and at its ``full`` budget (`CarliniWagnerResult`), each with its
    median distortion ratio to the search on the digits both reached."""
    keep = np.asarray(asked, bool)
    ok, dist = search.success[keep], search.distortion[keep]
    row = {
        "search evaluations": float(search.evaluations[keep].mean()),
        "search reached (%)": 100 * float(ok.mean()),
    }
    for label, cw in (("same effort", same), ("full", full)):
        both = ok & cw.success
        ratio = cw.distortion[both] / dist[both]
        row[f"C&W {label} evaluations"] = float(cw.evaluations.mean())
        row[f"C&W {label} reached (%)"] = 100 * float(cw.success.mean())
        row[f"C&W {label} ratio"] = float(np.median(ratio)) if both.any() else math.nan
    return row


def compared(methods, reference: str = "search") -> dict:
    """Each method against ``reference`` on the digits both reached (methods reach different
    digits, so means over different digits would not compare): ``methods`` is ``{name:
    (distortion, reached)}``, per digit, the same digits. Per name: ``reached`` (% of all
    digits), ``digits`` (reached by both), ``mean`` and ``reference mean`` over those,
    and ``median ratio``, the digit by digit ratio to the reference."""
    if not methods or reference not in methods:
        raise ValueError(f"methods must include the reference {reference!r}, got {list(methods)}")
    sizes = {name: len(np.asarray(d)) for name, (d, _) in methods.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every method must give one distortion per digit, got sizes {sizes}")
    base, base_ok = (np.asarray(v) for v in methods[reference])
    out = {}
    for name, (dist, ok) in methods.items():
        ok = np.asarray(ok, bool)
        both = ok & base_ok.astype(bool)
        d = np.asarray(dist, dtype=np.float64)[both]
        b = base.astype(np.float64)[both]
        out[name] = {
            "reached": 100 * float(ok.mean()),
            "digits": int(both.sum()),
            "mean": float(d.mean()) if both.any() else math.nan,
            "reference mean": float(b.mean()) if both.any() else math.nan,
            "median ratio": float(np.median(d / b)) if both.any() else math.nan,
        }
    return out


def best_found(methods, reference: str = "search") -> np.ndarray:
    """Per digit the reference reached, the smallest distortion any method of ``methods``
    (``{name: (distortion, reached)}``, searches from above) reached: at most the
    reference's, so its mean says by how much at least the reference overestimates."""
    base, base_ok = (np.asarray(v) for v in methods[reference])
    stacked = [
        np.where(np.asarray(ok, bool), np.asarray(d, np.float64), np.inf)
        for d, ok in methods.values()
    ]
    return np.min(stacked, axis=0)[base_ok.astype(bool)]


def sandwich_figure(per_model, reference: str = "search", ncols: int = 3):
    """One panel per model (``{model: {method: per-digit distortions}}``, the digits every
    method reached): each method's distortion, the digits sorted by the ``reference``'s, so
    that lower bounds run under it and other searches over it."""
    import matplotlib.pyplot as plt

    if not per_model:
        raise ValueError("per_model must hold at least one model")
    ncols = min(check_int(ncols, "ncols", low=1), len(per_model))
    nrows = -(-len(per_model) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.ravel()[len(per_model) :]:
        ax.set_visible(False)
    for ax, (model, methods) in zip(axes.ravel(), per_model.items(), strict=False):
        if reference not in methods:
            raise ValueError(f"{model}: no {reference!r} among {list(methods)}")
        order = np.argsort(np.asarray(methods[reference], dtype=np.float64))
        rank = np.arange(1, len(order) + 1)
        for name, values in methods.items():
            v = np.asarray(values, dtype=np.float64)[order]
            style = {"linewidth": 2.0, "color": "black"} if name == reference else {"lw": 0.9}
            ax.plot(rank, v, label=name, **style)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("digits, by the search's distortion", fontsize=8)
    axes[0, 0].set_ylabel("distortion (per-pixel RMS)", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def methods_of(search, asked, bounds, exact=None, others=None) -> dict:
    """One model's methods as `compared` takes them, ``{name: (distortion, reached)}`` on the
    digits its search was asked to move (``asked``): the search (an AdversarialResult), the
    certified bounds (`certified_radius`'s, reached by definition), the exact minimum (a
    `LinearMinimum`, softmax regressions only) and ``others`` (``{name: result}`` with
    ``distortion`` and ``success``, e.g. DeepFool and FGSM)."""
    keep = np.asarray(asked, bool)
    every = np.ones(int(keep.sum()), bool)
    methods = {
        "search": (search.distortion[keep], search.success[keep]),
        "bound (global)": (bounds["global"], every),
        "bound (local)": (bounds["local"], every),
    }
    if exact is not None:
        methods["exact"] = (exact.distortion, exact.feasible)
    for name, result in (others or {}).items():
        methods[name] = (result.distortion, result.success)
    return methods


# ratio_table's columns, in words short enough for a narrow page: each is "÷ the search"
RATIO_HEADERS = {
    "bound (global)": "global bound",
    "bound (local)": "local bound",
    "exact": "exact",
}


def ratio_table(sandwich, reached=("DeepFool", "FGSM", "C&W")) -> dict:
    """Per model (``{model: compared(...)}``): the search's mean distortion, every other
    method's median ratio to it and the share of digits each method of ``reached`` reached."""
    table = {}
    for model, row in sandwich.items():
        cells = {"search": row["search"]["mean"]}
        for name, values in row.items():
            if name != "search":
                cells[RATIO_HEADERS.get(name, name)] = values["median ratio"]
        for name in reached:
            if name in row:
                cells[f"{name} reached (%)"] = row[name]["reached"]
        table[model] = cells
    return table


def ratio_fmt(table) -> dict:
    """`report.beside`'s formats for a `ratio_table`: four digits for the search's mean
    distortion, whole per cents for the shares reached; the ratios keep the default."""
    columns = dict.fromkeys(c for cells in table.values() for c in cells)
    return {"search": "{:.4f}", **{c: "{:.0f}" for c in columns if c.endswith("reached (%)")}}
