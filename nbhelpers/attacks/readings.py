"""Which "average minimum distortion" Table 1 reports: the plausible readings, side by side.

The paper's Table 1 gives, per model, the "average minimum distortion" needed to
reach 0% accuracy on the training set, and Tables 2–4 reuse those examples. It does
not say towards which wrong label each digit is moved, how digits the model already
misclassifies count, or how finely its line search over c ran. Each choice changes
the number by up to a factor of two, so the book measures every reading
(:func:`distortion_readings`) and adopts the one closest to the paper's column on
full MNIST (:data:`DEFAULT_READING`), keeping the book's earlier one as a labelled
variant (:data:`VARIANT_READING`).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_images, check_labels, check_mapping, check_seed
from ..evaluate import predict_labels
from .search import minimal_distortion

__all__ = [
    "READINGS",
    "DEFAULT_READING",
    "VARIANT_READING",
    "targets_for",
    "other_reading",
    "table1_distortion",
    "closest_reading",
    "readings_table",
    "coarse_c_search",
    "nine_targets_mean",
    "distortion_readings",
]

# Which wrong label each digit is moved to; the first two are what the chapters run.
READINGS = {
    "random": "one random wrong label per digit",
    "nearest": "the nearest wrong label (untargeted)",
    "all nine": "the mean over all nine wrong labels",
    "random, c on powers of 10": "one random wrong label, c on a grid of powers of 10, "
    "no pull-back to the boundary",
    "random, c on powers of 2": "one random wrong label, c on a grid of powers of 2, "
    "no pull-back to the boundary",
}
DEFAULT_READING = "random"  # closest to the paper's Table 1 on full MNIST (chapter "Blind spots")
VARIANT_READING = "nearest"  # the book's reading before it was measured at full scale

# The grids of c for the coarse readings: c = base**k, k in range (the search's c is
# about 1 for distortions near the paper's; these span three orders of magnitude each way).
C_GRIDS = {10: range(-3, 3), 2: range(-10, 8)}


def targets_for(reading: str):
    """The ``targets`` argument of the search for a chapter's reading: "random" or None."""
    reading = check_choice(reading, "reading", (DEFAULT_READING, VARIANT_READING))
    return "random" if reading == "random" else None


def other_reading(reading: str) -> str:
    """The chapters' other reading: the variant beside the default, or the default beside it."""
    reading = check_choice(reading, "reading", (DEFAULT_READING, VARIANT_READING))
    return VARIANT_READING if reading == DEFAULT_READING else DEFAULT_READING


def table1_distortion(result, reading: str) -> float:
    """Table 1's "average minimum distortion" of a search made with ``targets_for(reading)``.

    ``"random"`` (the paper's reading, measured): the mean over the digits the model
    classifies correctly; ``"nearest"`` (the variant): the distortion that brings
    accuracy to 0%, digits already misclassified counting as 0. Failed searches are
    left out of both and reported by ``result.n_failed``.
    """
    reading = check_choice(reading, "reading", (DEFAULT_READING, VARIANT_READING))
    if reading == "random":
        return result.mean_distortion(warn=False)
    return result.distortion_to_zero_accuracy(warn=False)


def closest_reading(measured: dict, paper: dict, mean: str = "correct_only") -> dict:
    """Per reading, the mean |log(ours / paper)| over the models: how far it is from the paper.

    ``measured``: ``{model: distortion_readings(...)}``; ``paper``: ``{model: distortion}``.
    Returns ``{reading: gap}`` sorted from the closest; exp(gap) - 1 is the typical
    relative difference. Every model of ``measured`` needs a paper number (ValueError
    naming those that lack one) and every reading.
    """
    check_mapping(measured, "measured", what="a dict {model: distortion_readings(...)}")
    check_mapping(paper, "paper", what="a dict {model: distortion}")
    mean = check_choice(mean, "mean", ("correct_only", "misclassified_as_zero"))
    if not measured:
        raise ValueError("measured must hold at least one model, got none")
    lacking = [m for m in measured if m not in paper]
    if lacking:
        raise ValueError(
            f"paper has no distortion for the model(s) {lacking} of measured; "
            f"the models with a paper number: {list(paper)}"
        )
    for m in measured:
        check_mapping(measured[m], f"measured[{m!r}]", what="a dict {reading: means}")
        missing = [r for r in READINGS if r not in measured[m]]
        if missing:
            raise ValueError(
                f"measured[{m!r}] lacks the reading(s) {missing}; expected every reading "
                f"of READINGS, as distortion_readings gives"
            )
    gaps = {}
    for reading in READINGS:
        logs = [abs(np.log(measured[m][reading][mean] / paper[m])) for m in measured]
        gaps[reading] = float(np.mean(logs))
    return dict(sorted(gaps.items(), key=lambda item: item[1]))


def readings_table(measured: dict, paper: dict):
    """Models × readings: means over correct digits, the two "as 0" means, and the paper's.

    ``measured``: ``{model: distortion_readings(...)}``; ``paper``: ``{model: distortion}``.
    """
    import pandas as pd

    rows = {}
    for model, by_reading in measured.items():
        row = {reading: r["correct_only"] for reading, r in by_reading.items()}
        for reading in (DEFAULT_READING, VARIANT_READING):
            row[f"{reading}, misclassified as 0"] = by_reading[reading]["misclassified_as_zero"]
        row["failed"] = sum(r["failed"] for r in by_reading.values())
        row["paper"] = paper.get(model, float("nan"))
        rows[model] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def coarse_c_search(model, x, labels, targets, base: int, exponents, **kwargs) -> np.ndarray:
    """Per image, the distortion at the largest c on the grid ``base**k`` whose solution succeeds.

    One solve of (1) per c, started from x, no pull-back to the decision boundary
    (``refine=0``) and no refinement of c: a line search as coarse as the paper's might
    have been. NaN where no c on the grid succeeds.
    """
    best = np.full(len(x), np.nan)
    for k in sorted(exponents):  # ascending c: a success at a larger c replaces a smaller one's
        found = minimal_distortion(
            model, x, labels, targets, c_init=float(base) ** k, c_steps=1, refine=0,
            kkt=False, **kwargs,
        )  # fmt: skip
        best = np.where(found.success, found.distortion, best)
    return best


def nine_targets_mean(model, x, labels, num_classes: int = 10, **kwargs) -> np.ndarray:
    """Per image, the mean minimal distortion over every wrong label (NaN if any search failed)."""
    labels = np.asarray(labels)
    wrong = np.array([[t for t in range(num_classes) if t != y] for y in labels])
    k = num_classes - 1
    found = minimal_distortion(
        model, np.repeat(x, k, axis=0), np.repeat(labels, k), wrong.reshape(-1), **kwargs
    )
    return found.distortion.reshape(len(x), k).mean(axis=1)


def _two_means(distortion: np.ndarray, n_all: int) -> dict:
    """The mean over the searched digits, and over all digits with the misclassified ones as 0.

    Failed searches (NaN) are left out of both means and counted.
    """
    ok = np.isfinite(distortion)
    n_failed = int(np.sum(~ok))
    return {
        "correct_only": float(np.mean(distortion[ok])) if ok.any() else float("nan"),
        "misclassified_as_zero": float(np.sum(distortion[ok]) / (n_all - n_failed)),
        "failed": n_failed,
    }


def distortion_readings(model, x, labels, *, seed: int = 0, progress=False, **kwargs) -> dict:
    """Table 1's distortion under every reading of :data:`READINGS`, on the same digits.

    Only the digits ``model`` classifies correctly are searched; each reading gives
    two means (:func:`_two_means`): over those digits (``correct_only``), and over all
    digits with the misclassified ones counting as 0 (``misclassified_as_zero``).
    Returns ``{reading: {"correct_only", "misclassified_as_zero", "failed"}}``.
    """
    if not callable(model):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__} {model!r}")
    seed = check_seed(seed)
    n = len(check_images(x, "x"))
    # one class index per image, said before any search (the model's classes: any index)
    check_labels(labels, "labels", n=n, num_classes=np.iinfo(np.int32).max)
    labels = np.asarray(labels)
    right = predict_labels(model, x) == labels
    if not right.any():
        raise ValueError("the model classifies none of the digits correctly: nothing to search")
    xr, yr = np.asarray(x)[right], labels[right]
    search = dict(kwargs, progress=progress)
    random = minimal_distortion(model, xr, yr, "random", seed=seed, **search)
    per_digit = {
        "random": random.distortion,
        "nearest": minimal_distortion(model, xr, yr, None, **search).distortion,
        "all nine": nine_targets_mean(model, xr, yr, **search),
    }
    for base, exponents in C_GRIDS.items():
        per_digit[f"random, c on powers of {base}"] = coarse_c_search(
            model, xr, yr, random.requested, base, exponents, **search
        )
    return {reading: _two_means(d, len(x)) for reading, d in per_digit.items()}
