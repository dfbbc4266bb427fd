"""How minimal is Table 1's "minimum distortion"? Exact minima where they are computable.

For a softmax regression (the FC10 models of §2), the smallest perturbation ``r`` with
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

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_images, check_int, check_labels, check_real

__all__ = [
    "RATIO_HEADERS",
    "CarliniWagnerResult",
    "DeepFoolResult",
    "EFFORT_FMT",
    "EFFORT_HEADERS",
    "LinearMinimum",
    "certified_radius",
    "best_found",
    "carlini_wagner",
    "compared",
    "deepfool",
    "effort_row",
    "equal_effort",
    "linear_minimum",
    "methods_of",
    "ratio_fmt",
    "ratio_table",
    "sandwich_figure",
    "softmax_weights",
]


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


def _dense_chain(model) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """``[(W, b, activation), ...]`` of a chain of Dense layers on the pixels (every Table 1
    model: sigmoid hidden layers, linear logits); a TypeError for any other layer."""
    chain = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind != "Dense":
            raise TypeError(
                f"expected a chain of Dense layers (a Table 1 model), got {model.name!r} with "
                f"a {kind} layer {layer.name!r}"
            )
        activation = layer.get_config()["activation"]
        if activation not in ("sigmoid", "linear"):
            raise TypeError(f"{layer.name!r}: expected sigmoid or linear, got {activation!r}")
        w, b = (np.asarray(v, dtype=np.float64) for v in layer.get_weights())
        chain.append((w, b, activation))
    if not chain or chain[-1][2] != "linear":
        raise TypeError(f"{model.name!r}: expected linear logits as its last Dense layer")
    return chain


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _slope_bound(lo, hi):
    """The largest slope of the sigmoid on [lo, hi] (elementwise): 1/4 where the interval
    holds 0, else the slope at its end nearer 0."""
    nearest = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    s = _sigmoid(nearest)
    return s * (1.0 - s)


def certified_radius(model, x, labels, targets, *, bisections: int = 40) -> dict:
    """Certified lower bounds on the distortion (per-pixel RMS) needed to move each digit
    from its label to its target, for a chain of sigmoid Dense layers (§4.3's bounds put to
    use): no perturbation smaller than these can do it, box or no box.

    ``"global"``: the margin ``z_label − z_target`` over a Lipschitz constant of that
    logit difference, ``‖w_label − w_target‖`` times each hidden layer's operator norm
    and the sigmoid's slope bound 1/4 (Table 5's product, its last layer taken exactly).
    ``"local"``: the largest radius ε (bisection) at which the margin still exceeds ε times
    a Lipschitz constant valid on the ball of radius ε around the digit, the sigmoids'
    slopes bounded by interval propagation over the ball; never below ``"global"``.
    A digit whose margin is not positive (the model does not give it its label) gets 0.
    """
    chain = _dense_chain(model)
    check_images(x, "x")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    classes = chain[-1][0].shape[1]
    y = check_labels(labels, "labels", n=len(flat), num_classes=classes)
    t = check_labels(targets, "targets", n=len(flat), num_classes=classes)
    if np.any(y == t):
        raise ValueError("targets must differ from labels for every digit")
    bisections = check_int(bisections, "bisections", low=1)
    d = flat.shape[1]
    hidden = chain[:-1]
    w_out, b_out, _ = chain[-1]
    # the margin at the digit
    h = flat
    for w, b, _ in hidden:
        h = _sigmoid(h @ w + b)
    logits = h @ w_out + b_out
    rows = np.arange(len(flat))
    margin = np.maximum(logits[rows, y] - logits[rows, t], 0.0)
    a = (w_out[:, y] - w_out[:, t]).T  # (n, last hidden units): the logit difference's row
    norms = [np.linalg.norm(w, 2) for w, _, _ in hidden]
    product = np.prod([0.25 * n for n in norms]) if hidden else 1.0
    lipschitz = np.linalg.norm(a, axis=1) * product
    global_radius = margin / lipschitz

    def local_lipschitz(eps):
        """Per digit, a Lipschitz constant of the logit difference on the ball of radius eps."""
        if not hidden:
            return np.linalg.norm(a, axis=1)
        lo = hi = flat
        slopes = []
        for k, (w, b, _) in enumerate(hidden):
            if k == 0:
                centre = flat @ w + b
                radius = eps[:, None] * np.linalg.norm(w, axis=0)[None, :]
            else:
                mid, half = (lo + hi) / 2, (hi - lo) / 2
                centre = mid @ w + b
                radius = half @ np.abs(w)
            pre_lo, pre_hi = centre - radius, centre + radius
            slopes.append(_slope_bound(pre_lo, pre_hi))
            lo, hi = _sigmoid(pre_lo), _sigmoid(pre_hi)
        # |aᵀ D_L W_L … D_1 W_1 r| ≤ ‖c‖ ‖W_1‖ ‖r‖, c = s_1 ⊙ |W_2| (s_2 ⊙ … |a|)
        c = np.abs(a) * slopes[-1]
        for k in range(len(hidden) - 1, 0, -1):
            c = (c @ np.abs(hidden[k][0]).T) * slopes[k - 1]
        chained = np.linalg.norm(c, axis=1) * norms[0]
        return np.minimum(chained, lipschitz)

    low, high = global_radius.copy(), np.maximum(2.0 * global_radius, 1e-12)
    for _ in range(20):  # an upper end the local bound does not certify (or 2^20 × global)
        ok = margin > high * local_lipschitz(high)
        if not ok.any():
            break
        low = np.where(ok, high, low)
        high = np.where(ok, 2.0 * high, high)
    for _ in range(bisections):
        mid = (low + high) / 2
        ok = margin > mid * local_lipschitz(mid)
        low = np.where(ok, mid, low)
        high = np.where(ok, high, mid)
    local_radius = np.where(margin > 0, np.maximum(low, global_radius), 0.0)
    return {
        "global": global_radius / np.sqrt(d),
        "local": local_radius / np.sqrt(d),
        "margin": margin,
        "lipschitz": lipschitz,
    }


@dataclass(frozen=True)
class DeepFoolResult:
    """Per digit: the adversarial image (``x_adv``, the last iterate where it failed), its
    per-pixel RMS distortion, whether the target (or, untargeted, any other label) was
    reached beyond the search's safe margin, the label reached and the steps taken."""

    x_adv: np.ndarray
    distortion: np.ndarray
    success: np.ndarray
    reached: np.ndarray
    steps: np.ndarray


def _deepfool_step(logits, jacobian, own, targeted: bool) -> np.ndarray:
    """One DeepFool step per row: to the linearised boundary ``f + w·r = 0`` (``f < 0`` on
    this side), ``r = (|f| + safe margin) w / ‖w‖²``. Untargeted (``own`` the labels): the
    nearest other class's boundary; targeted (``own`` the targets): the boundary between
    the target and its strongest rival."""
    from .attacks.objective import safe_margin

    rows = np.arange(len(logits))
    if targeted:
        rival = logits.copy()
        rival[rows, own] = -np.inf
        k = rival.argmax(axis=1)
        f = logits[rows, k] - logits[rows, own]  # > 0 until the target wins
        wk = jacobian[rows, own] - jacobian[rows, k]
    else:
        f_all = logits - logits[rows, own][:, None]  # z_k − z_label, ≤ 0
        w_all = jacobian - jacobian[rows, own][:, None, :]
        dist = np.abs(f_all) / (np.linalg.norm(w_all, axis=2) + 1e-12)
        dist[rows, own] = np.inf
        k = dist.argmin(axis=1)
        f, wk = f_all[rows, k], w_all[rows, k]
    fk = np.abs(f) + safe_margin(logits)
    return (fk / (np.sum(wk * wk, axis=1) + 1e-12))[:, None] * wk


def _attack_inputs(model, x, labels, targets):
    """A search's inputs, checked before any work: the images as float32, their rows of
    pixels, the labels and the targets (None: untargeted), which must differ from them."""
    check_images(x, "x")
    images = np.asarray(x, dtype=np.float32)
    flat = images.reshape(len(images), -1)
    n, classes = len(flat), int(model.output_shape[-1])
    y = check_labels(labels, "labels", n=n, num_classes=classes)
    t = None if targets is None else check_labels(targets, "targets", n=n, num_classes=classes)
    if t is not None and np.any(t == y):
        raise ValueError("targets must differ from labels for every digit")
    return images, flat, y, t


def _logits(model, rows, shape, batch_size: int) -> np.ndarray:
    """The model's logits of ``rows`` (flat images; NaN rows give NaN logits) in float64,
    batch by batch, the model called directly: Keras' predict retraces for every new size."""
    return np.concatenate(
        [
            np.asarray(model(rows[i : i + batch_size].reshape(-1, *shape)))
            for i in range(0, len(rows), batch_size)
        ]
    ).astype(np.float64)


def deepfool(
    model,
    x,
    labels,
    targets=None,
    *,
    overshoot: float = 0.02,
    max_steps: int = 50,
    batch_size: int = 500,
) -> DeepFoolResult:
    """DeepFool (Moosavi-Dezfooli, Fawzi and Frossard, CVPR 2016): a fast minimal-norm
    search from above, each step to the nearest decision boundary of the model linearised
    at the current point, ``(1 + overshoot)`` times that step, clipped to the box [0, 1].

    Untargeted (``targets`` None): the boundary of the nearest other class, as the paper's
    algorithm. Targeted: the boundary between the target and its strongest rival, until
    the target wins (the book's Table 1 reading asks for a given wrong label). A target
    counts as reached beyond ``nbhelpers.attacks``' safe margin, as the book's search does.
    """
    import tensorflow as tf

    from .attacks.objective import margins, safe_margin

    images, flat, y, t = _attack_inputs(model, x, labels, targets)
    n = len(flat)
    overshoot = check_real(overshoot, "overshoot", low=0)
    max_steps = check_int(max_steps, "max_steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)

    @tf.function(reduce_retracing=True)
    def logits_and_jacobian(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = model(tf.reshape(z, (-1, *images.shape[1:])))
        return out, tape.batch_jacobian(out, z)

    z = flat.copy()
    steps = np.zeros(n, dtype=int)
    done = np.zeros(n, dtype=bool)
    for _ in range(max_steps + 1):
        active = np.flatnonzero(~done)
        if len(active) == 0:
            break
        for start in range(0, len(active), batch_size):
            rows = active[start : start + batch_size]
            out, jac = logits_and_jacobian(tf.constant(z[rows]))
            out = out.numpy().astype(np.float64)
            jac = jac.numpy().astype(np.float64)
            if t is None:
                wins = out.argmax(axis=1) != y[rows]
                beyond = -margins(out, y[rows]) >= safe_margin(out)
            else:
                beyond = margins(out, t[rows]) >= safe_margin(out)
                wins = beyond
            finished = wins & beyond
            done[rows[finished]] = True
            go = ~finished & (steps[rows] < max_steps)
            if not go.any():
                done[rows[~go]] = True
                continue
            r_idx = rows[go]
            own = y[r_idx] if t is None else t[r_idx]
            step = _deepfool_step(out[go], jac[go], own, targeted=t is not None)
            z[r_idx] = np.clip(z[r_idx] + (1 + overshoot) * step, 0.0, 1.0)
            steps[r_idx] += 1
            done[rows[~go]] = True
    final = _logits(model, z, images.shape[1:], batch_size)
    if t is None:
        success = (final.argmax(axis=1) != y) & (-margins(final, y) >= safe_margin(final))
    else:
        success = margins(final, t) >= safe_margin(final)
    distortion = np.sqrt(np.mean((z.astype(np.float64) - flat) ** 2, axis=1))
    return DeepFoolResult(z.reshape(images.shape), distortion, success, final.argmax(axis=1), steps)


@dataclass(frozen=True)
class CarliniWagnerResult:
    """Per digit: the smallest adversarial image found (NaN rows where none was), its
    per-pixel RMS distortion (inf where none), whether the target was reached beyond the
    search's safe margin, the ``c`` it was found at and the gradient evaluations spent."""

    x_adv: np.ndarray
    distortion: np.ndarray
    success: np.ndarray
    c: np.ndarray
    evaluations: np.ndarray


def _cw_function(model, shape):
    """One value of ``c`` per row, ``iterations`` steps of Adam on Carlini and Wagner's
    objective in tanh space: ``‖x' − x‖² + c · max(max_{j≠t} z_j − z_t + κ, 0)``, with
    ``x' = (tanh w + 1) / 2`` in the box by construction. Returns, per row, the smallest
    ``‖x' − x‖²`` among the iterates that reached the target, and that iterate. Graph code."""
    import tensorflow as tf

    from .attacks.objective import margins_tf, safe_margin_tf

    b1, b2, eps = 0.9, 0.999, 1e-8

    @tf.function(reduce_retracing=True)
    def run(w, x, t, c, iterations, lr):
        m, v = tf.zeros_like(w), tf.zeros_like(w)
        best_d = tf.fill(tf.shape(c), float("inf"))
        best_z = tf.fill(tf.shape(x), float("nan"))
        for i in tf.range(iterations):
            with tf.GradientTape() as tape:
                tape.watch(w)
                z = (tf.tanh(w) + 1) / 2
                logits = model(tf.reshape(z, (-1, *shape)))
                d2 = tf.reduce_sum(tf.square(z - x), axis=1)
                margin = margins_tf(logits, t)
                kappa = tf.stop_gradient(safe_margin_tf(logits))  # κ = 0 but for rounding
                loss = tf.reduce_sum(d2 + c * tf.nn.relu(kappa - margin))
            g = tape.gradient(loss, w)
            better = (margin >= kappa) & (d2 < best_d)
            best_d = tf.where(better, d2, best_d)
            best_z = tf.where(better[:, None], z, best_z)
            k = tf.cast(i + 1, w.dtype)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * (m / (1 - b1**k)) / (tf.sqrt(v / (1 - b2**k)) + eps)
        return best_d, best_z

    return run


@contextlib.contextmanager
def _quiet_retracing():
    """TensorFlow's retracing warning off: each model gets its own compiled function by
    design, which TF's detector counts as retracing (as `training` does for L-BFGS)."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _cw_search(run, flat, t, binary_steps, iterations, c_init, learning_rate, batch_size):
    """Carlini and Wagner's search over ``c`` per digit around `_cw_function`'s ``run``:
    the best image found (NaN rows where none) and the ``c`` it was found at."""
    import tensorflow as tf

    n = len(flat)
    best_d = np.full(n, np.inf)
    best_z = np.full_like(flat, np.nan)
    best_c = np.full(n, np.nan)
    lo, hi, c = np.zeros(n), np.full(n, np.inf), np.full(n, c_init)
    w0 = np.arctanh((2 * flat.astype(np.float64) - 1) * (1 - 1e-6)).astype(np.float32)
    for _ in range(binary_steps):
        reached = np.zeros(n, bool)  # at this c
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            d2, z = run(
                tf.constant(w0[rows]),
                tf.constant(flat[rows]),
                tf.constant(t[rows]),
                tf.constant(c[rows], tf.float32),
                tf.constant(iterations),
                tf.constant(learning_rate, tf.float32),
            )
            d2, z = d2.numpy().astype(np.float64), z.numpy()
            reached[rows] = np.isfinite(d2)
            better = d2 < best_d[rows]
            best_d[rows] = np.where(better, d2, best_d[rows])
            best_z[rows] = np.where(better[:, None], z, best_z[rows])
            best_c[rows] = np.where(better, c[rows], best_c[rows])
        hi = np.where(reached, np.minimum(hi, c), hi)
        lo = np.where(reached, lo, np.maximum(lo, c))
        c = np.where(np.isfinite(hi), (lo + hi) / 2, 10 * c)
    return best_z, best_c


def carlini_wagner(
    model,
    x,
    labels,
    targets,
    *,
    binary_steps: int = 9,
    iterations: int = 300,
    c_init: float = 1.0,
    learning_rate: float = 0.01,
    batch_size: int = 500,
) -> CarliniWagnerResult:
    """Carlini and Wagner's L2 attack (S&P 2017), targeted, with their margin objective f6
    at κ = 0 (up to the book's safe margin, so that a success counts as the book's search
    counts it): per digit, ``binary_steps`` values of ``c`` (×10 until the target is
    reached, then bisection), each ``iterations`` Adam steps from the digit itself, keeping
    the smallest success. Costs ``binary_steps × iterations`` gradient evaluations a digit.
    Their 9 values of ``c``; 300 steps each instead of their 10,000 with early stopping:
    pixels at 0 or 1 start deep in tanh's flat tails, so far fewer steps leave them unmoved.
    """

    from .attacks.objective import margins, safe_margin

    if targets is None:
        raise ValueError("targets must be given: Carlini and Wagner's attack here is targeted")
    images, flat, _, t = _attack_inputs(model, x, labels, targets)
    n = len(flat)
    binary_steps = check_int(binary_steps, "binary_steps", low=1)
    iterations = check_int(iterations, "iterations", low=1)
    c_init = check_real(c_init, "c_init", low=0, low_open=True)
    learning_rate = check_real(learning_rate, "learning_rate", low=0, low_open=True)
    batch_size = check_int(batch_size, "batch_size", low=1)

    run = _cw_function(model, images.shape[1:])
    with _quiet_retracing():
        best_z, best_c = _cw_search(
            run, flat, t, binary_steps, iterations, c_init, learning_rate, batch_size
        )
    found = np.isfinite(best_c)
    final = _logits(model, best_z, images.shape[1:], batch_size)  # outside the compiled loop
    success = found & (margins(final, t) >= safe_margin(final))
    distortion = np.sqrt(np.mean((best_z.astype(np.float64) - flat) ** 2, axis=1))
    distortion = np.where(success, distortion, np.inf)
    evaluations = np.full(n, binary_steps * iterations)
    return CarliniWagnerResult(
        best_z.reshape(images.shape), distortion, success, best_c, evaluations
    )


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
