"""One optimizer call of the batched search: TFP L-BFGS on a batch of problems (graph code).

``tfp.optimizer.lbfgs_minimize`` minimises the objective of every row of a batch at
once; each row is one problem (an image, a target, a value of c). A call runs at
most ``stage_iterations`` iterations and stops once ``stage_fraction`` of its rows
have converged (every row pays for the slowest one's line search within a call, so
calls are kept short); the scheduler then decides, row by row, what the next call
does. Everything is float32.

The box, exactly. The variable is ``z``; at the start of a call, pixels on a bound
whose gradient points out of the box are held there for the call (an active set,
renewed at every call), the others move freely, and a pixel that crosses a bound
within a call meets the quadratic `objective.box_penalty_tf` (continuous
derivative) until the next call clips and holds it. The answer is ``clip(z, 0, 1)``.
Measured alternatives: tanh/sigmoid changes of variables freeze the pixels that sit
exactly at 0 or 1 (most MNIST pixels) and found perturbations about 1.6 times
larger than L-BFGS-B; ``f(clip(z))`` has a kinked derivative that tripled the
batched line search's evaluations; the penalty alone biased distortions up by ~0.5%.

Warm starts. A row moving to a new c keeps its L-BFGS memory, with the curvature
pairs corrected exactly for the change of c (`_memory_for_new_c`). Besides its
solution, a call returns what the search over c needs (`c_update`): the logits of
the clipped solution, the slope of the margin in log c (Newton), the boundary point
along the solution's perturbation and the KKT estimate of c there.

Compilation. ``jit_compile=True`` XLA-compiles the whole call (fastest; XLA compiles
once per batch size); ``"objective"`` compiles only the objective (one graph for all
sizes, starts in seconds); False compiles nothing. Either way the call is one
concrete function per model and settings with a free batch dimension and its
scalars passed as tensors: it is traced once, never retraced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._compiled import cached, flat_size, logits_of
from .boundary import boundary_fraction
from .objective import box_penalty_tf, margins_tf, objective_tf

__all__ = ["StageResult", "stage_function", "run_stage"]


def _objective_function(logits, options):
    """``z, x, t, c -> (f, grad f)``: objective (1) plus the box penalty, per row."""
    import tensorflow as tf

    mu = tf.constant(options.mu, tf.float32)
    mu_rel = tf.constant(options.mu_rel, tf.float32)

    def objective(z, x, t, c):
        """c ||z - x||^2 + CE(f(z), t) + min(mu, mu_rel c) ||z - clip(z)||^2 and its gradient."""
        with tf.GradientTape() as tape:
            tape.watch(z)
            f = objective_tf(logits(z), t, z, x, c) + box_penalty_tf(z, c, mu, mu_rel)
        return f, tape.gradient(f, z)

    return objective


def _outward(z, gradient):
    """Pixels on a bound whose gradient points out of the box (1.0 = held), graph code."""
    import tensorflow as tf

    held = ((z <= 0.0) & (gradient > 0.0)) | ((z >= 1.0) & (gradient < 0.0))
    return tf.cast(held, tf.float32)


def _memory_for_new_c(s_hist, y_hist, c, c_hist, reset, free, unit):
    """The L-BFGS curvature pairs ``(s, y)`` carried over to a new c, on the free pixels.

    The objective's Hessian changes by ``2 (c - c_prev) I`` with c, so each pair is
    corrected exactly: ``y <- y + 2 (c - c_prev) s``. Pairs of reset rows, and pairs
    that lost positive curvature (``s.y <= 1e-12``), are dropped; a row left without
    its newest pair gets ``s = unit``, ``y = 2c unit`` (``H0 = I / 2c``).
    """
    import tensorflow as tf

    keep = 1.0 - tf.cast(reset, tf.float32)[None, :, None]
    s_h = s_hist * free[None] * keep
    y_h = (y_hist + 2.0 * (c - c_hist)[None, :, None] * s_hist) * free[None] * keep
    sy = tf.reduce_sum(s_h * y_h, axis=-1)
    good = tf.cast(sy > 1e-12, tf.float32)[:, :, None]
    s_h = s_h * good
    y_h = y_h * good
    empty = sy[-1] <= 1e-12
    s_last = tf.where(empty[:, None], unit * free, s_h[-1])
    y_last = tf.where(empty[:, None], 2.0 * c[:, None] * unit * free, y_h[-1])
    s_h = tf.concat([s_h[:-1], s_last[None]], axis=0)
    y_h = tf.concat([y_h[:-1], y_last[None]], axis=0)
    return s_h, y_h


def _minimiser_derivative(s, y, z, x, c, free):
    """``dz/dlog c = -2c H^-1 (z - x)``: the implicit derivative of the minimiser (graph code).

    At a minimiser, ``2c (z - x) + grad CE = 0``; differentiating in ``log c`` gives
    ``H dz = -2c (z - x)``. ``H^-1`` is the L-BFGS inverse Hessian of the final pairs
    ``(s, y)``, applied by the two-loop recursion (Nocedal & Wright, Alg. 7.4).
    """
    import tensorflow as tf

    sy = tf.reduce_sum(s * y, axis=-1)
    rho = tf.where(sy > 0, tf.math.divide_no_nan(tf.ones_like(sy), sy), tf.zeros_like(sy))
    q = (z - x) * free
    k = s.shape[0]
    alphas = [None] * k
    for i in reversed(range(k)):
        alphas[i] = rho[i] * tf.reduce_sum(s[i] * q, axis=-1)
        q = q - alphas[i][:, None] * y[i]
    yy = tf.reduce_sum(y[-1] * y[-1], axis=-1)
    gamma = tf.where(yy > 0, tf.math.divide_no_nan(sy[-1], yy), 0.5 / c)
    hv = gamma[:, None] * q
    for i in range(k):
        b = rho[i] * tf.reduce_sum(y[i] * hv, axis=-1)
        hv = hv + (alphas[i] - b)[:, None] * s[i]
    return -2.0 * c[:, None] * hv


def _kkt_estimate(logits, boundary, x, t):
    """The c for which the boundary point is stationary on its free pixels (graph code).

    KKT for (1) at a point ``b`` with perturbation ``r = b - x``: ``2c r = -grad CE``
    on the pixels not held by the box; least squares over those pixels gives
    ``c_kkt = -(r . grad CE) / (2 ||r||^2)``, the multiplier estimate of ``c*``.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(boundary)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits(boundary))
    gradient = tape.gradient(ce, boundary)
    r = (boundary - x) * (1.0 - _outward(boundary, gradient))
    return -tf.reduce_sum(r * gradient, axis=1) / (2.0 * tf.reduce_sum(r * r, axis=1) + 1e-30)


def _lbfgs_call(value_and_gradients, state, max_it, n_real, fraction, options):
    """``lbfgs_minimize`` from ``state`` for at most ``max_it`` more iterations.

    Rows past ``n_real`` are padding (started converged); the call stops once
    ``fraction`` of the real rows have converged or failed.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    real = tf.range(tf.shape(state.position)[0]) < n_real

    def stop(converged, failed):
        done = tf.cast((converged | failed) & real, tf.float32)
        return tf.reduce_sum(done) >= fraction * tf.cast(n_real, tf.float32)

    return tfp.optimizer.lbfgs_minimize(
        value_and_gradients,
        None,
        previous_optimizer_results=state,
        max_iterations=state.num_iterations + max_it,
        tolerance=float(options.tolerance),
        f_relative_tolerance=float(options.f_relative_tolerance),
        stopping_condition=stop,
    )


def _stage(model, input_shape, options):
    """The graph of one optimizer call (see the module docstring), as a Python function."""
    import tensorflow as tf
    from tensorflow_probability.python.optimizer.lbfgs import LBfgsOptimizerResults

    logits = logits_of(model, input_shape)
    objective = _objective_function(logits, options)
    # "objective": only the objective is XLA-compiled (per batch size, in a fraction
    # of a second); the optimizer loop runs as one TensorFlow graph for all sizes
    inner = objective
    if options.jit_compile == "objective":
        inner = tf.function(objective, jit_compile=True, autograph=False)
    unit = tf.constant(1e-3 / math.sqrt(flat_size(input_shape)), tf.float32)
    shrink_steps = int(options.shrink_steps)

    def stage(x, t, c, c_hist, reset, position, s_hist, y_hist, max_it, n_real, fraction):
        real = tf.range(tf.shape(c)[0]) < n_real  # the rest is padding
        if options.box == "active":
            position = tf.clip_by_value(position, 0.0, 1.0)  # start from the box
        f0, g0 = objective(position, x, t, c)
        start_logits = logits(position)
        free = tf.ones_like(position)
        if options.box == "active":  # held pixels get a zero gradient for this call
            free = 1.0 - _outward(position, g0)

        def value_and_gradients(z):
            f, g = inner(z, x, t, c)
            return f, g * free

        s_h, y_h = _memory_for_new_c(s_hist, y_hist, c, c_hist, reset, free, unit)
        state = LBfgsOptimizerResults(
            converged=~real,
            failed=tf.zeros_like(real),
            num_iterations=tf.constant(s_hist.shape[0]),
            num_objective_evaluations=tf.constant(0),
            position=position,
            objective_value=f0,
            objective_gradient=g0 * free,
            position_deltas=s_h,
            gradient_deltas=y_h,
        )
        res = _lbfgs_call(value_and_gradients, state, max_it, n_real, fraction, options)
        z = res.position
        with tf.GradientTape() as tape:  # the margin's gradient, for the Newton step
            tape.watch(z)
            margin = margins_tf(logits(z), t)
        grad_margin = tape.gradient(margin, z) * free
        s_f, y_f = res.position_deltas, res.gradient_deltas
        dz = _minimiser_derivative(s_f, y_f, z, x, c, free)
        zc = tf.clip_by_value(z, 0.0, 1.0)
        logits_clip = logits(zc)
        # pull the (clipped) solution back along its perturbation to the decision boundary
        r = zc - x
        boundary = x + boundary_fraction(logits, x, r, t, True, shrink_steps)[:, None] * r
        return dict(
            position=z,
            converged=res.converged,
            failed=res.failed,
            s=s_f,
            y=y_f,
            evaluations=res.num_objective_evaluations,
            iterations=res.num_iterations - s_f.shape[0],
            logits=logits_clip,
            slope=tf.reduce_sum(grad_margin * dz, axis=1),
            dz=dz,
            boundary=boundary,
            c_kkt=_kkt_estimate(logits, boundary, x, t),
            start_logits=start_logits,
        )

    return stage


def stage_function(model, input_shape, options):
    """One optimizer call as a concrete function, cached per architecture, shape and
    compiled settings (`_compiled.cached`: it computes with `model`'s current weights).

    ``options`` must be resolved (no ``jit_compile="auto"``). The signature has a
    free batch dimension and takes the iteration budget, the number of real rows and
    the stopping fraction as 0-d tensors: traced once per architecture and settings.
    """
    import tensorflow as tf

    def build(template):
        d = flat_size(input_shape)
        m = int(options.num_correction_pairs)
        vec = tf.TensorSpec([None], tf.float32)
        mat = tf.TensorSpec([None, d], tf.float32)
        hist = tf.TensorSpec([m, None, d], tf.float32)
        scalar_i = tf.TensorSpec([], tf.int32)
        signature = [
            mat,
            tf.TensorSpec([None], tf.int32),
            vec,
            vec,
            tf.TensorSpec([None], tf.bool),
            mat,
            hist,
            hist,
            scalar_i,
            scalar_i,
            tf.TensorSpec([], tf.float32),
        ]
        fn = tf.function(
            _stage(template, input_shape, options),
            autograph=False,
            jit_compile=options.jit_compile is True,
            input_signature=signature,
        )
        return fn.get_concrete_function()

    return cached(model, ("stage", tuple(input_shape)) + options.compile_key, build)


@dataclass
class StageResult:
    """What one optimizer call returns for its ``n`` real rows (numpy; padding dropped).

    Per row: ``position`` (unclipped z), ``converged``, ``failed`` (line search gave
    up), ``logits`` (at clip(z)), ``start_logits`` (at the call's start), ``slope``
    (Newton ``dm/dlog c``), ``dz`` (``dz/dlog c``), ``boundary`` (boundary point),
    ``c_kkt``; the memory ``s``, ``y`` (pairs, rows); and for the whole call the
    objective ``evaluations`` and ``iterations`` it ran.
    """

    position: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    s: np.ndarray
    y: np.ndarray
    evaluations: int
    iterations: int
    logits: np.ndarray
    slope: np.ndarray
    dz: np.ndarray
    boundary: np.ndarray
    c_kkt: np.ndarray
    start_logits: np.ndarray


def run_stage(fn, x, t, c, c_hist, reset, position, s, y, max_it, n_real, fraction):
    """Call a `stage_function` on padded numpy arrays; the `StageResult` of the n_real first rows.

    The arrays are those of the signature (`stage_function`); the scalars are Python numbers.
    """
    import tensorflow as tf

    out = fn(
        tf.constant(x),
        tf.constant(t),
        tf.constant(c.astype(np.float32)),
        tf.constant(c_hist.astype(np.float32)),
        tf.constant(reset),
        tf.constant(position),
        tf.constant(s),
        tf.constant(y),
        tf.constant(int(max_it), tf.int32),
        tf.constant(int(n_real), tf.int32),
        tf.constant(float(fraction), tf.float32),
    )
    rows = slice(0, n_real)
    pairs = (slice(None), rows)
    fields = {}
    for name in ("position", "converged", "failed", "dz", "boundary"):
        fields[name] = out[name].numpy()[rows]
    for name in ("logits", "slope", "c_kkt", "start_logits"):
        fields[name] = out[name].numpy()[rows].astype(np.float64)
    return StageResult(
        s=out["s"].numpy()[pairs],
        y=out["y"].numpy()[pairs],
        evaluations=int(out["evaluations"]),
        iterations=int(out["iterations"]),
        **fields,
    )
