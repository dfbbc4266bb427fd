"""Perturbations of images and their size: distortion, Gaussian noise, magnification.

The paper measures a perturbation by its *distortion*, the per-pixel root mean square
``sqrt(mean((x' - x)^2))`` of one image (Tables 1-4), and compares adversarial
examples with random Gaussian noise of a given standard deviation (Tables 2 and 4)
and with adversarial perturbations rescaled to such a standard deviation (Table 4).
Rows that are NaN stand for failed adversarial searches and stay NaN.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_bool, check_images, check_real, check_seed

__all__ = ["distortion", "gaussian_noise", "magnify"]


def _check_same_shape(x: np.ndarray, x_adv: np.ndarray) -> None:
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")


def distortion(x, x_adv) -> np.ndarray:
    """Per-image root-mean-square perturbation ``sqrt(mean((x_adv - x)^2))`` (paper's "distortion").

    Computed in float64 on the values given. Rows of ``x_adv`` that are NaN (failed
    searches) give NaN.
    """
    check_images(x, "x", allow_empty=True)
    check_images(x_adv, "x_adv", allow_nan=True, allow_empty=True)
    return rms_difference(x, x_adv)


def rms_difference(x, x_adv) -> np.ndarray:
    """`distortion` without the checks, for callers whose arrays are theirs (the search's rows).

    On the values given, float32 or float64 alike, computed in float64.
    """
    x = np.asarray(x, dtype=np.float64)
    x_adv = np.asarray(x_adv, dtype=np.float64)
    _check_same_shape(x, x_adv)
    diff = (x_adv - x).reshape(len(x), int(np.prod(x.shape[1:])))
    return np.sqrt(np.mean(diff * diff, axis=1))


def gaussian_noise(x, stddev: float, seed: int = 0, clip: bool = True) -> np.ndarray:
    """``x + N(0, stddev^2)``, clipped to ``[0, 1]`` unless ``clip=False``: the
    random-noise baselines of Tables 2 and 4 and of Figure 7.

    The paper does not say whether it clipped. Clipping turns the zero-mean noise on
    MNIST's black background into a grey veil of mean about 0.4·stddev, which the
    networks find far harder than the noise itself; without clipping the pixels leave
    the box. The chapters measure both readings. The same ``seed`` draws the same
    noise either way.
    """
    x = check_images(x, "x", allow_empty=True)
    stddev = check_real(stddev, "stddev", low=0)
    clip = check_bool(clip, "clip")
    rng = np.random.default_rng(check_seed(seed))
    noise = rng.standard_normal(x.shape).astype(np.float32) * np.float32(stddev)
    noisy = x + noise
    return (np.clip(noisy, 0.0, 1.0) if clip else noisy).astype(np.float32)


def magnify(x, x_adv, stddev: float = 0.1) -> np.ndarray:
    """Rescale each perturbation ``x_adv - x`` to a per-pixel stddev ``stddev`` (Table 4).

    Per image, ``r = x_adv - x`` is multiplied by ``stddev / std(r)`` (``std`` over the
    image's pixels, ``np.std``), then ``x + r`` is clipped to ``[0, 1]``. The clipping
    comes after the rescaling, so the returned images' realised stddev can be a little
    below ``stddev``. Rows of ``x_adv`` that are NaN (failed searches) stay NaN;
    a zero perturbation cannot be rescaled and raises.
    """
    x = check_images(x, "x", allow_empty=True)
    x_adv = check_images(x_adv, "x_adv", allow_nan=True, allow_empty=True)
    _check_same_shape(x, x_adv)
    stddev = check_real(stddev, "stddev", low=0)
    n = len(x)
    r = (x_adv - x).reshape(n, -1).astype(np.float64)
    failed = np.isnan(r).any(axis=1)
    ok_rows = r[~failed]
    std = ok_rows.std(axis=1)
    if np.any(std == 0):
        raise ValueError("some perturbations are zero (x_adv == x) and cannot be magnified")
    out = np.full_like(r, np.nan)
    out[~failed] = ok_rows * (stddev / std)[:, None]
    out = np.clip(x.reshape(n, -1) + out, 0.0, 1.0)  # NaN rows stay NaN
    return out.reshape(x.shape).astype(np.float32)
