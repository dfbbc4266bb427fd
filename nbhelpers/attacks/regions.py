"""Adversarial regions (Tabacof and Valle, IJCNN 2016): are adversarial examples isolated points?

Szegedy et al. read adversarial examples as "pockets" of low probability, dense
but rare, that random sampling around an image almost never finds (§4.1). Tabacof
and Valle probed the space *around* each adversarial image instead: Gaussian noise
of standard deviation ``2**i`` times the adversarial distortion (i from -5 to 5),
100 probes per level, each probe classified. On MNIST small and medium noise left
the probes adversarial; only large noise brought them back to the original class:
the examples sit in regions, not at points.

Here the unit of the noise is each example's own distortion, the paper's per-pixel
RMS of ``x_adv - x`` (Table 1's measure). The noise is unclipped by default, as the
book's other Gaussian noise (`perturbations.gaussian_noise(..., clip=False)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_bool, check_images, check_int, check_labels, check_real, check_seed
from ..evaluate import predict_labels
from .result import read_only

__all__ = ["LEVELS", "TABACOF_VALLE_2016", "RegionResult", "probe_regions"]

LEVELS = tuple(range(-5, 6))  # the noise is 2**i times the adversarial distortion

TABACOF_VALLE_2016 = {
    "citation": "Tabacof, Valle. Exploring the space of adversarial images. IJCNN 2016, "
    "arXiv:1510.05328.",
    "levels": LEVELS,
    "probes_per_level": 100,
    "finding": "on MNIST, adversarial images stay adversarial under small and medium "
    "Gaussian noise; only large noise brings them back to the original class",
}


@dataclass(frozen=True, eq=False)
class RegionResult:
    """Shares of the probes around each adversarial example, per noise level.

    levels       the exponents i; ``sigma`` ``(n, L)``: the noise's stddev, 2**i × distortion
    adversarial  ``(n, L)``: share of the probes the model still gives the adversarial label
    original     ``(n, L)``: share back to the original label (the rest: some third class)
    n_probes     probes per example and level; ``clip`` whether probes were clipped to [0, 1]
    """

    levels: np.ndarray
    sigma: np.ndarray
    adversarial: np.ndarray
    original: np.ndarray
    n_probes: int
    clip: bool

    def __post_init__(self):
        for name in ("levels", "sigma", "adversarial", "original"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @property
    def n(self) -> int:
        return int(len(self.sigma))

    def curve(self, which: str = "adversarial", z: float = 1.96) -> dict:
        """Per level, the mean share over the examples and its normal confidence interval.

        The examples are the independent units (a model's probes around one example are
        not): ``mean ± z·sd/√n`` across examples, ``z = 1.96`` for 95%. Returns arrays
        ``{"level", "mean", "low", "high", "median"}``.
        """
        if which not in ("adversarial", "original"):
            raise ValueError(f"which must be 'adversarial' or 'original', got {which!r}")
        z = check_real(z, "z", low=0)
        shares = getattr(self, which)
        mean = shares.mean(axis=0)
        half = z * shares.std(axis=0, ddof=1) / np.sqrt(self.n) if self.n > 1 else 0 * mean
        return {
            "level": np.asarray(self.levels),
            "mean": mean,
            "low": np.clip(mean - half, 0, 1),
            "high": np.clip(mean + half, 0, 1),
            "median": np.median(shares, axis=0),
        }

    def table(self, z: float = 1.96):
        """A DataFrame, one row per level: % adversarial and % original with their intervals."""
        import pandas as pd

        adv, orig = self.curve("adversarial", z), self.curve("original", z)
        return pd.DataFrame(
            {
                "noise / distortion": [f"2^{int(i)}" for i in self.levels],
                "adversarial (%)": 100 * adv["mean"],
                "adv. low": 100 * adv["low"],
                "adv. high": 100 * adv["high"],
                "original (%)": 100 * orig["mean"],
                "orig. low": 100 * orig["low"],
                "orig. high": 100 * orig["high"],
            }
        ).set_index("noise / distortion")


def _probes(x_adv_i, sigma_i, n_probes, seed, i, clip) -> np.ndarray:
    """``len(sigma_i) × n_probes`` noisy copies of one image, the noise drawn from (seed, i)."""
    rng = np.random.default_rng([seed, i])
    noise = rng.standard_normal((len(sigma_i), n_probes, x_adv_i.size)).astype(np.float32)
    probes = x_adv_i.reshape(1, 1, -1) + noise * sigma_i.astype(np.float32)[:, None, None]
    probes = probes.reshape(-1, x_adv_i.size)
    return np.clip(probes, 0.0, 1.0) if clip else probes


def probe_regions(
    model,
    x,
    x_adv,
    labels,
    *,
    levels=LEVELS,
    n_probes: int = 100,
    clip: bool = False,
    seed: int = 0,
    chunk: int = 16,
    batch_size: int = 8192,
) -> RegionResult:
    """Gaussian probes around each adversarial image ``x_adv[j]`` (Tabacof and Valle 2016).

    For each level i, ``n_probes`` images ``x_adv[j] + N(0, σ²)`` with
    ``σ = 2**i · distortion(x[j], x_adv[j])``, classified by ``model``: the share that keeps
    the model's label on ``x_adv[j]`` and the share back to ``labels[j]``. ``chunk``
    examples' probes are classified at once; the numbers do not depend on it.
    """
    x = check_images(x, "x")
    x_adv = check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    labels = check_labels(labels, "labels", n=len(x))
    levels = np.asarray([check_int(i, "levels", low=-30, high=30) for i in levels], dtype=np.int64)
    if levels.size == 0:
        raise ValueError("levels must hold at least one exponent, got none")
    n_probes, chunk = check_int(n_probes, "n_probes", low=1), check_int(chunk, "chunk", low=1)
    clip, seed = check_bool(clip, "clip"), check_seed(seed)
    flat, flat_adv = x.reshape(len(x), -1), x_adv.reshape(len(x), -1)
    distortion = np.sqrt(np.mean((flat_adv.astype(np.float64) - flat) ** 2, axis=1))
    if np.any(distortion == 0):
        raise ValueError("x_adv must differ from x in every row (a zero distortion has no scale)")
    adv_label = predict_labels(model, x_adv)
    if np.any(adv_label == labels):
        raise ValueError("every x_adv must be adversarial: the model gives some their label")
    sigma = distortion[:, None] * 2.0 ** levels[None, :]
    shape = (len(x), len(levels), n_probes)
    predicted = np.empty(shape, dtype=np.int64)
    for start in range(0, len(x), chunk):
        idx = range(start, min(start + chunk, len(x)))
        probes = np.concatenate(
            [_probes(flat_adv[i], sigma[i], n_probes, seed, i, clip) for i in idx]
        )
        out = predict_labels(model, probes, batch_size, box=clip)
        predicted[idx.start : idx.stop] = out.reshape(len(idx), len(levels), n_probes)
    return RegionResult(
        levels=levels,
        sigma=sigma,
        adversarial=np.mean(predicted == adv_label[:, None, None], axis=2),
        original=np.mean(predicted == labels[:, None, None], axis=2),
        n_probes=n_probes,
        clip=clip,
    )
