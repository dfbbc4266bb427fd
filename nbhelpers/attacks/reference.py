"""The reference method: scipy's L-BFGS-B, one image at a time, as the paper describes it.

``method="scipy"``: ``scipy.optimize.minimize`` (L-BFGS-B, true bounds ``[0, 1]`` on
every pixel, scipy's default tolerances, at most ``max_iterations`` iterations)
started from ``r = 0`` for every c; c starts at ``c_init``, is multiplied or divided
by 10 until a success and a failure bracket it, and is then bisected geometrically,
``c_steps`` solves in all. Each image keeps the successful solution of smallest
distortion (that of the largest successful c, see `c_update`).

So that it is a fair yardstick, its objective is an XLA-compiled TensorFlow
value-and-gradient of one image handed to scipy in float64, and BLAS is held to one
thread while scipy runs (L-BFGS-B's small dense algebra is many times slower with
threads on a busy 2-core machine).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from ..perturbations import rms_difference
from ._compiled import cached, flat_size
from .objective import margins, objective_tf, safe_margin
from .scheduler import SearchOutcome

__all__ = ["search_scipy"]


def _blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def _scipy_objective(model, input_shape):
    """``z (float64), x, c, t -> (f, grad f)`` in float64 for one flat image, compiled once."""
    import tensorflow as tf

    def build(template):
        shape = (1,) + tuple(input_shape)

        def value_and_gradient(z, x, c, t):
            z32 = tf.cast(z, tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(z32)
                logits = template(tf.reshape(z32, shape), training=False)[0]
                f = objective_tf(logits, t, z32, x, c)
            g = tape.gradient(f, z32)
            return tf.cast(f, tf.float64), tf.cast(g, tf.float64)

        d = flat_size(input_shape)
        signature = [
            tf.TensorSpec([d], tf.float64),
            tf.TensorSpec([d], tf.float32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
        ]
        fn = tf.function(value_and_gradient, input_signature=signature, jit_compile=True)
        return fn.get_concrete_function()

    return cached(model, ("scipy", tuple(input_shape)), build)


def _next_c(c, lo, hi):
    """The next c: times or over 10 until a success (``lo``) and a failure (``hi``)
    bracket c*, then geometric bisection ``sqrt(lo hi)``."""
    if lo is None:
        return c / 10.0
    if hi is None:
        return c * 10.0
    return math.sqrt(lo * hi)


def _search_one(objective, logits_of, x, t, c_init, c_steps, max_iterations):
    """One problem, every c solved from r = 0.

    Returns ``((distortion, z, c) of the best success or (inf, None, nan), evaluations)``.
    """
    import scipy.optimize
    import tensorflow as tf

    x_t = tf.constant(x)
    t_t = tf.constant(int(t), tf.int32)
    n_eval = 0
    lo = hi = None
    c = c_init
    best = (np.inf, None, np.nan)
    for _ in range(c_steps):
        c_t = tf.constant(c, tf.float32)

        def fun(zv, c_t=c_t):
            nonlocal n_eval
            n_eval += 1
            f, g = objective(tf.constant(zv), x_t, c_t, t_t)
            return f.numpy(), g.numpy()

        res = scipy.optimize.minimize(
            fun,
            x.astype(np.float64),
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 1.0),
            options={"maxiter": max_iterations},
        )
        z = np.clip(res.x, 0.0, 1.0).astype(np.float32)
        logits = logits_of(z)[None]
        if margins(logits, [t])[0] >= safe_margin(logits)[0]:
            dist = float(rms_difference(x[None], z[None])[0])
            if dist < best[0]:
                best = (dist, z, c)
            lo = c
        else:
            hi = c
        c = _next_c(c, lo, hi)
    return best, n_eval


def search_scipy(model, input_shape, images, image_of, targets, limits, bar) -> SearchOutcome:
    """The reference on every problem in turn: image ``images[image_of[i]]`` to ``targets[i]``.

    ``limits`` = (c_init, c_steps, max_iterations); ``bar``: a progress bar or None.
    """
    c_init, c_steps, max_iterations = limits
    objective = _scipy_objective(model, input_shape)
    shape = (1,) + tuple(input_shape)

    def logits_of(z):
        return np.asarray(model(z.reshape(shape), training=False))[0]

    n = len(image_of)
    outcome = SearchOutcome(
        z=np.full((n, images.shape[1]), np.nan, np.float32),
        success=np.zeros(n, bool),
        c=np.full(n, np.nan),
        evaluations=np.zeros(n, np.int64),
        total_evaluations=0,
        calls=0,
    )
    with _blas_one_thread():
        for p in range(n):
            (_, z, c), evaluations = _search_one(
                objective,
                logits_of,
                images[image_of[p]],
                targets[p],
                c_init,
                c_steps,
                max_iterations,
            )
            if z is not None:
                outcome.z[p], outcome.success[p], outcome.c[p] = z, True, c
            outcome.evaluations[p] = evaluations
            outcome.total_evaluations += evaluations
            if bar is not None:
                bar.update(1)
    return outcome
