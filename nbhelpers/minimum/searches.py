"""Two minimal-norm searches from above beside Table 1's: DeepFool (a step to the linearised
model's nearest boundary) and Carlini and Wagner's L2 attack (Adam in tanh space, a binary
search over c). Each counts a target as reached as the book's search does."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from .._validation import check_images, check_int, check_labels, check_real


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
    from ..attacks.objective import safe_margin

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

    from ..attacks.objective import margins, safe_margin

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

    from ..attacks.objective import margins_tf, safe_margin_tf

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

    from ..attacks.objective import margins, safe_margin

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
