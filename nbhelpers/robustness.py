"""What training on adversarial examples bought (paper §4.2): robustness and seed spread.

`robustness` measures a trained model as Table 1 does (the average minimum distortion of
the box-constrained search, §4.1) and adds the error within a fixed distortion budget,
the error under one FGSM step, and the error on adversarial examples made for another
network (§4.2's transfer). `over_seeds` and `paired_difference` summarise several seeds,
because the paper's differences are a few tenths of a point.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _validation as _v
from .evaluate import error_rate

__all__ = [
    "METRICS",
    "OUTCOMES",
    "Robustness",
    "robustness",
    "over_seeds",
    "paired_difference",
    "verdict",
]

# What `robustness` (and the training's info) report, in the order tables show them.
METRICS = {
    "test_error": "test error (%)",
    "distortion": "average minimum distortion (Table 1)",
    "error_within_budget": "error within the distortion budget (%)",
    "fgsm_error": "error under one FGSM step (%)",
    "transfer_error": "error on the baseline's examples (%)",
}

# What `verdict` can say of a variant's test error against a baseline's.
OUTCOMES = ("better", "worse", "no different")


@dataclass(frozen=True)
class Robustness:
    """What `robustness` measured: the numbers (by `METRICS` name) and the search behind
    Table 1's distortion (an `attacks.AdversarialResult`, for its examples)."""

    numbers: dict
    search: object


def robustness(
    model,
    x,
    y,
    *,
    budget: float = 0.05,
    fgsm_epsilon: float = 0.1,
    transferred=None,
    seed: int = 0,
    **search_keywords,
):
    """The `Robustness` of `model` on the digits ``(x, y)``: its numbers and its search.

    distortion: Table 1's average minimum distortion (per-pixel RMS) to a random wrong
    label, over the digits the model gets right (`attacks.readings.table1_distortion`);
    failed: searches that failed (left out of it). error_within_budget: share of all the
    digits misclassified or moved to their label within distortion `budget`. fgsm_error:
    error under one FGSM step of max-norm `fgsm_epsilon`. transfer_error (with
    ``transferred = (x_adv, labels)``, e.g. another network's ``search.successful()[1:]``):
    error on those examples. ``search_keywords`` go to `attacks.search_correctly_classified`.
    """
    from .attacks import fgsm, search_correctly_classified
    from .attacks.readings import table1_distortion

    if transferred is not None and (not isinstance(transferred, tuple) or len(transferred) != 2):
        raise TypeError(
            "transferred must be a pair (x_adv, labels), e.g. search.successful()[1:], got "
            f"{type(transferred).__name__} of length {len(transferred)}"
            if hasattr(transferred, "__len__")
            else f"transferred must be a pair (x_adv, labels), got {type(transferred).__name__}"
        )
    budget = _v.check_real(budget, "budget", low=0, low_open=True)
    fgsm_epsilon = _v.check_real(fgsm_epsilon, "fgsm_epsilon", low=0)
    seed = _v.check_seed(seed)
    search_keywords.setdefault("progress", False)
    search = search_correctly_classified(model, x, y, "random", seed=seed, **search_keywords)
    within = search.already_wrong | (search.success & (search.distortion <= budget))
    numbers = {
        "distortion": float(table1_distortion(search, "random")),
        "failed": int(search.n_failed),
        "error_within_budget": 100 * float(np.mean(within)),
        "fgsm_error": 100 * float(fgsm(model, x, y, fgsm_epsilon).error_rate),
    }
    if transferred is not None:
        numbers["transfer_error"] = 100 * float(error_rate(model, *transferred))
    return Robustness(numbers=numbers, search=search)


def over_seeds(per_seed: Mapping[str, Sequence[Mapping]]) -> dict:
    """``{row: {metric: {"mean", "std", "min", "max", "n"}}}`` from ``{row: [numbers per
    seed]}``; std is the sample standard deviation (0 for one seed). Every seed of a row
    must report the same metrics."""
    per_seed = _v.check_mapping(per_seed, "per_seed", what="a dict {row: [numbers per seed]}")
    out = {}
    for row, runs in per_seed.items():
        if not isinstance(runs, Sequence) or isinstance(runs, str):
            raise TypeError(
                f"per_seed[{row!r}] must be a list of dicts {{metric: number}}, one per seed, "
                f"got {type(runs).__name__}"
            )
        runs = list(runs)
        if not runs:
            raise ValueError(f"per_seed[{row!r}] must hold at least one seed's numbers, got none")
        for run in runs:
            if not isinstance(run, Mapping):
                raise TypeError(
                    f"per_seed[{row!r}] must be a list of dicts {{metric: number}}, one per "
                    f"seed, got an item of type {type(run).__name__}"
                )
            for key, value in run.items():
                if not isinstance(value, numbers.Real) or isinstance(value, bool):
                    raise TypeError(
                        f"per_seed[{row!r}]: metric {key!r} must be a real number (NaN allowed), "
                        f"got {type(value).__name__} {value!r}"
                    )
        keys = set(runs[0])
        if any(set(r) != keys for r in runs):
            raise ValueError(
                f"every seed of {row!r} must report the same metrics, got "
                f"{[sorted(r) for r in runs]}"
            )
        out[row] = {}
        for key in runs[0]:
            values = np.array([r[key] for r in runs], dtype=float)
            out[row][key] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "min": float(values.min()),
                "max": float(values.max()),
                "n": int(len(values)),
            }
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of ``a − b`` over seeds paired by position, with its Student-t interval
    (NaN bounds for one seed): is a variant better than another beyond the seeds' spread?"""
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"a and b must be non-empty 1-D sequences of the same length, got shapes "
            f"{a.shape} and {b.shape}"
        )
    confidence = _v.check_real(
        confidence, "confidence", low=0, high=1, low_open=True, high_open=True
    )
    d = a - b
    mean = float(d.mean())
    if len(d) < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "n": 1}
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": int(len(d))}


def verdict(difference: Mapping) -> str:
    """ "better", "worse" or "no different": a variant's test error against a baseline's,
    from their `paired_difference` (variant minus baseline): better only when the whole
    interval lies below zero, worse only when it lies above, else no different (§4.2)."""
    difference = _v.check_mapping(difference, "difference", what="a paired_difference dict")
    missing = {"low", "high"} - set(difference)
    if missing:
        raise ValueError(
            f"difference must be a paired_difference dict with 'low' and 'high', "
            f"missing {sorted(missing)}"
        )
    low, high = float(difference["low"]), float(difference["high"])
    if np.isnan(low) or np.isnan(high):
        return "no different"  # one seed: no interval, no verdict beyond chance
    return "better" if high < 0 else "worse" if low > 0 else "no different"
