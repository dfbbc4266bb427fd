"""The exact minimum distortion of a softmax regression (the FC10 models of §2).

For a softmax regression, the smallest perturbation ``r`` with
``x + r`` in the box [0, 1] that makes the model output ``t`` is a convex problem:

    minimise ½‖r‖²  subject to  (w_t − w_j)·(x + r) + b_t − b_j ≥ margin  (j ≠ t),  0 ≤ x + r ≤ 1,

a quadratic objective under 9 linear constraints and box bounds. Its Lagrange dual has
only 9 variables, λ ≥ 0: for fixed λ the box-constrained minimiser is
``r(λ) = clip(Gᵀλ, −x, 1 − x)`` (G's rows the ``w_t − w_j``), so the dual is a concave,
continuously differentiable function of λ that scipy's L-BFGS-B maximises under λ ≥ 0.

Why this and not a QP package: the dual certifies its own answer. Any λ ≥ 0 gives a lower
bound on the minimum (weak duality) and any ``r`` that meets the constraints an upper
bound, so every digit's minimum comes with an interval whose width is reported, instead
of a solver's word for it; and it needs nothing beyond scipy, which the book already uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_images, check_int, check_labels, check_real


@dataclass(frozen=True)
class LinearMinimum:
    """Per digit: the perturbation found (``r``, NaN rows where the target cannot be
    reached in the box), its per-pixel RMS (``distortion``: an upper bound on the minimum,
    met by ``r``), the dual's certified lower bound on that RMS (``lower``), whether the
    target is reachable (``feasible``) and the dual solver's iterations."""

    r: np.ndarray
    distortion: np.ndarray
    lower: np.ndarray
    feasible: np.ndarray
    iterations: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """``distortion − lower``: how far from certified each minimum is (NaN: none)."""
        return self.distortion - self.lower


def softmax_weights(model) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of a softmax regression (one Dense layer on the pixels, an FC10 model):
    logits ``x @ W + b``. A TypeError for a model with hidden layers, whose minimum is not
    a convex problem."""
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    if len(dense) != 1:
        raise TypeError(
            f"expected a softmax regression (one Dense layer on the pixels, an FC10 model), "
            f"got {model.name!r} with {len(dense)} Dense layers"
        )
    w, b = (np.asarray(v, dtype=np.float64) for v in dense[0].get_weights())
    return w, b


def _one(g_rows, s, lo, hi, tol, max_iterations):
    """Maximise the dual for one digit; ``(λ, r(λ), g(λ), iterations)`` (g: ½‖r‖² units).

    A dual value above the largest ½‖r‖² the box allows proves the target unreachable;
    the solver is stopped there (``g`` returned as inf)."""
    from scipy.optimize import minimize

    ceiling = 0.5 * float(np.sum(np.maximum(lo * lo, hi * hi)))

    def negative_dual(lam):
        r = np.clip(g_rows.T @ lam, lo, hi)
        h = g_rows @ r + s
        value = 0.5 * float(r @ r) - float(lam @ h)
        return -value, h  # the gradient of −g is h (Danskin)

    lam0 = np.zeros(len(s))
    res = minimize(
        negative_dual,
        lam0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * len(s),
        options={"maxiter": max_iterations, "ftol": tol, "gtol": tol * 1e-2},
        callback=lambda xk: -negative_dual(xk)[0] > ceiling and _stop(),
    )
    lam = np.maximum(res.x, 0.0)
    r = np.clip(g_rows.T @ lam, lo, hi)
    value = -negative_dual(lam)[0]
    return lam, r, (np.inf if value > ceiling else value), int(res.nit)


def _stop():
    raise StopIteration  # scipy >= 1.11 ends the run at the last iterate


def linear_minimum(
    weights,
    bias,
    x,
    targets,
    *,
    margin: float = 0.0,
    tol: float = 1e-12,
    max_iterations: int = 2000,
) -> LinearMinimum:
    """The smallest ``r`` (per digit) with ``x + r`` in [0, 1] and target logit at least
    ``margin`` above every other, for logits ``(x + r) @ weights + bias``.

    ``x``: (n, …) images in [0, 1]; ``targets``: n labels. Each digit's dual is maximised
    to ``tol`` and its ``r(λ)`` checked against the constraints; where it misses them by a
    rounding error the dual is solved again with the margin raised a little, so that
    ``distortion`` is always met by a perturbation that satisfies them (an upper bound)
    and ``lower`` is the dual's value at the original margin (a certified lower bound).
    """
    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    if w.ndim != 2 or b.shape != (w.shape[1],):
        raise ValueError(
            f"weights must be (pixels, classes) and bias (classes,), got {w.shape} and {b.shape}"
        )
    check_images(x, "x")  # shape and range; the values used are the caller's, in float64
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if flat.shape[1] != w.shape[0]:
        raise ValueError(f"x has {flat.shape[1]} pixels per image, weights {w.shape[0]}")
    classes = w.shape[1]
    t = check_labels(targets, "targets", n=len(flat), num_classes=classes)
    margin = check_real(margin, "margin", low=0)
    tol = check_real(tol, "tol", low=0, low_open=True)
    max_iterations = check_int(max_iterations, "max_iterations", low=1)
    n, d = flat.shape
    r_out = np.full((n, d), np.nan)
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    feasible = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=int)
    for i in range(n):
        others = np.arange(classes) != t[i]
        g_rows = (w[:, t[i]][:, None] - w[:, others]).T  # (classes − 1, pixels)
        s = g_rows @ flat[i] + (b[t[i]] - b[others]) - margin
        lo, hi = -flat[i], 1.0 - flat[i]
        lam, r, value, its = _one(g_rows, s, lo, hi, tol, max_iterations)
        iterations[i] = its
        if not np.isfinite(value):
            lower[i] = np.inf  # no perturbation in the box reaches the target
            continue
        raised = 0.0
        scale = max(1.0, float(np.max(np.abs(s))))
        for _ in range(8):  # rounding: make r(λ) meet the constraints it nearly meets
            if np.min(g_rows @ r + s) >= 0.0:
                break
            raised = 10.0 * raised if raised else 1e-9 * scale
            _, r, _, more = _one(g_rows, s - raised, lo, hi, tol, max_iterations)
            iterations[i] += more
        else:
            continue  # not met even so: reported as not certified (NaN), never guessed
        feasible[i] = True
        r_out[i] = r
        upper[i] = np.sqrt(float(r @ r) / d)
        lower[i] = np.sqrt(max(2.0 * value, 0.0) / d)
    return LinearMinimum(r_out, upper, lower, feasible, iterations)
