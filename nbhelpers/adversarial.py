"""Adversarial examples by box-constrained L-BFGS (paper §4.1), distortion, noise baselines.

The paper's problem
-------------------
For a classifier ``f`` with logits, an image ``x`` in ``[0, 1]^m`` and a target label
``l != f(x)``, the paper looks for the smallest perturbation ``r`` with
``f(x + r) = l`` and ``x + r`` in the box. It approximates it by minimising

    c * |r| + loss_f(x + r, l)    subject to  x + r in [0, 1]^m            (1)

(``loss_f`` = softmax cross-entropy on the logits) with L-BFGS, for a sequence of
values of ``c``, keeping the minimiser that reaches the target.

Which c?  The paper says it searches for the "minimum c > 0" whose minimiser reaches
``l``. Read literally that gives the *largest* perturbation: ``c`` weighs the size of
``r``, so a small ``c`` lets the cross-entropy term push ``r`` far past the decision
boundary. The smallest ``r`` comes from the **largest c whose minimiser still reaches
the target**; that is the reading this module follows, since it is the only one that
makes (1) an approximation of the minimal-distortion problem the paper states first.
Both search methods keep, per image, the successful candidate of smallest distortion.

The norm.  We use the squared Euclidean norm ``c * ||r||_2^2``. ``||r||`` is not
differentiable at ``r = 0``, which is exactly where every search starts; ``||r||^2``
is smooth there, and for every ``c`` the minimiser of the squared form is a minimiser
of the plain form for some other ``c'`` (the two families of minimisers trace the
same path), so searching over ``c`` reaches the same perturbations.

Distortion is the per-pixel root mean square ``sqrt(mean((x' - x)^2))`` per image, as
in the paper's tables (``distortion``).

The two methods
---------------
``method="scipy"`` is the reference, one image at a time: ``scipy.optimize.minimize``
(L-BFGS-B, true bounds ``[0, 1]`` on every pixel) started from ``r = 0`` for every
``c``; ``c`` starts at ``c_init``, is multiplied or divided by 10 until a success and
a failure bracket it, and is then bisected (geometrically) for the remaining steps.
The objective is a compiled TensorFlow value-and-gradient of one image, handed to
scipy in float64, and BLAS is held to one thread while scipy runs (L-BFGS-B's small
dense algebra is many times slower with threads on a busy 2-core machine).

``method="tfp"`` solves thousands of these problems at once with
``tfp.optimizer.lbfgs_minimize`` (a batch of independent problems per call), and is
built to spend as few objective evaluations per image as possible:

* The box.  The variable is ``z`` and the objective is
  ``c ||z - x||^2 + CE(f(z), l) + mu ||z - clip(z)||^2``: a quadratic penalty outside
  the box, continuous first derivative everywhere, and the answer is ``clip(z, 0, 1)``
  (so every returned pixel is exactly in the box; success is checked on the clipped
  image). A change of variables through tanh or a sigmoid would freeze the pixels
  that sit exactly at 0 or 1 - most MNIST pixels - and was measured to find
  perturbations about 1.6 times larger than L-BFGS-B; clipping inside the model input
  (``f(clip(z))``) has a kinked derivative that made the batched line search take
  about three times as many evaluations per iteration.
* Warm starts.  Each new ``c`` starts from the previous solution, moved along the
  first-order prediction of how the minimiser moves with ``c``
  (``dz/dlog c = -2c H^-1 (z - x)`` with the L-BFGS inverse-Hessian estimate), and
  keeps its L-BFGS memory: the curvature pairs are corrected exactly for the change
  of ``c`` (the penalty's Hessian changes by ``2 dc I``).
* The c search is a root search on the target margin (target logit minus the best
  other logit) as a function of ``log c``: a Newton step with the same implicit
  derivative for the first step, secant steps afterwards, kept inside the bracket
  [largest success, smallest failure] once there is one. A member stops as soon as
  it has a success whose margin is below ``margin_tol`` (it sits on the decision
  boundary) or its bracket is narrower than ``c_rtol``, or after ``c_steps`` values.
* Asynchronous stages.  Each call of the optimizer runs a few iterations and stops
  once most members have converged; members still iterating continue in the next
  call with the same ``c``. Finished members leave the batch, which is compacted
  (padded to a few fixed sizes so compiled code is reused). The whole call is
  compiled with XLA (``jit_compile``).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "AdversarialResult",
    "METHODS",
    "minimal_distortion",
    "distortion",
    "gaussian_noise",
    "magnify",
    "predict_labels",
    "accuracy_on",
    "margins",
]

METHODS = ("tfp", "scipy")

# Default number of candidate targets for untargeted searches (the k wrong classes the
# model ranks highest at x). Chosen by benchmarks/adversarial_speed.py: see its output.
DEFAULT_UNTARGETED_CANDIDATES = 3


# ----------------------------------------------------------------------------------
# small helpers


def distortion(x, x_adv) -> np.ndarray:
    """Per-image root-mean-square perturbation ``sqrt(mean((x_adv - x)^2))`` (paper's "distortion").

    Rows of ``x_adv`` that are NaN (failed searches) give NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    x_adv = np.asarray(x_adv, dtype=np.float64)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    if x.ndim < 2:
        raise ValueError(f"expected a batch of images of shape (n, ...), got shape {x.shape}")
    diff = (x_adv - x).reshape(len(x), -1)
    return np.sqrt(np.mean(diff * diff, axis=1))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return int(seed)


def _check_stddev(stddev) -> float:
    if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not math.isfinite(stddev) or stddev < 0:
        raise ValueError(f"stddev must be a non-negative finite number, got {stddev!r}")
    return float(stddev)


def gaussian_noise(x, stddev: float, seed: int = 0) -> np.ndarray:
    """``clip(x + N(0, stddev^2), 0, 1)``: the random-noise baselines of Tables 2 and 4.

    ``stddev`` is the standard deviation of the noise *before* clipping (the paper's
    "Gaussian noise, stddev 0.1"); clipping to the box afterwards makes the realised
    perturbation somewhat smaller, most on pixels that sit at 0 or 1. Reproducible
    for a given ``seed``.
    """
    x = _check_box_images(x, "x")
    stddev = _check_stddev(stddev)
    rng = np.random.default_rng(_check_seed(seed))
    noise = rng.standard_normal(x.shape).astype(np.float32) * np.float32(stddev)
    return np.clip(x + noise, 0.0, 1.0).astype(np.float32)


def magnify(x, x_adv, stddev: float = 0.1) -> np.ndarray:
    """Rescale each perturbation ``x_adv - x`` to a per-pixel standard deviation ``stddev`` (Table 4).

    Per image, ``r = x_adv - x`` is multiplied by ``stddev / std(r)`` (``std`` over the
    image's pixels, ``np.std``), then ``x + r`` is clipped to ``[0, 1]``. The clipping
    comes after the rescaling, so the returned images' realised stddev can be a little
    below ``stddev``. Rows of ``x_adv`` that are NaN (failed searches) stay NaN;
    a zero perturbation cannot be rescaled and raises.
    """
    x = _check_box_images(x, "x")
    x_adv = np.asarray(x_adv, dtype=np.float32)
    if x_adv.shape != x.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    stddev = _check_stddev(stddev)
    n = len(x)
    r = (x_adv - x).reshape(n, -1).astype(np.float64)
    failed = np.isnan(r).any(axis=1)
    ok_rows = r[~failed]
    if ok_rows.size and (np.nanmin(x_adv[~failed]) < 0 or np.nanmax(x_adv[~failed]) > 1):
        raise ValueError("x_adv has pixels outside [0, 1]; expected images in the box")
    std = ok_rows.std(axis=1)
    if np.any(std == 0):
        raise ValueError("some perturbations are zero (x_adv == x) and cannot be magnified")
    out = np.full_like(r, np.nan)
    out[~failed] = ok_rows * (stddev / std)[:, None]
    out = np.clip(x.reshape(n, -1) + out, 0.0, 1.0)  # NaN rows stay NaN
    return out.reshape(x.shape).astype(np.float32)


def predict_labels(model, x, batch_size: int = 2048) -> np.ndarray:
    """The model's class (argmax of its outputs) for each image, in batches."""
    x = np.asarray(x, dtype=np.float32)
    batch_size = _check_positive_int("batch_size", batch_size)
    out = [np.argmax(np.asarray(model(x[i : i + batch_size], training=False)), axis=1)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), dtype=np.int64)


def accuracy_on(model, x, labels, batch_size: int = 2048) -> float:
    """Fraction of images (e.g. adversarial ones) the model classifies as ``labels``.

    Rows containing NaN (failed searches) are left out; with no rows left, NaN.
    """
    x = np.asarray(x, dtype=np.float32)
    labels = np.asarray(labels)
    if labels.shape != (len(x),):
        raise ValueError(f"expected labels of shape ({len(x)},), got {labels.shape}")
    keep = ~np.isnan(x.reshape(len(x), -1)).any(axis=1)
    if not keep.any():
        return float("nan")
    return float(np.mean(predict_labels(model, x[keep], batch_size) == labels[keep]))


def margins(logits, targets) -> np.ndarray:
    """Target logit minus the largest other logit, per row (> 0 exactly when argmax is the target)."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.arange(len(logits))
    own = logits[rows, targets]
    other = logits.copy()
    other[rows, targets] = -np.inf
    return own - other.max(axis=1)


# ----------------------------------------------------------------------------------
# validation


def _check_positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_positive_float(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_box_images(x, name="x") -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of images with pixels in [0, 1], got {type(x).__name__}") from None
    if a.ndim < 2:
        raise ValueError(f"{name} must be a batch of images of shape (n, ...), got shape {a.shape}")
    if a.size and np.isnan(a).any():
        raise ValueError(f"{name} contains NaN; expected pixel values in [0, 1]")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"{name} must have pixel values in [0, 1], got values in [{a.min():g}, {a.max():g}]"
                         " (divide 0-255 pixels by 255)")
    return a


def _model_input_shape(model):
    """The per-image input shape the model declares, or None when it does not say."""
    for attr in ("input_shape",):
        try:
            shape = getattr(model, attr)
        except (AttributeError, ValueError, RuntimeError):
            continue
        if isinstance(shape, list):  # several inputs: not ours to handle
            return None
        if shape is not None:
            return tuple(shape[1:])
    return None


def _probe_model(model, x: np.ndarray) -> int:
    """Check that the model takes x and returns (n, K) logits; return K."""
    expected = _model_input_shape(model)
    if expected is not None and all(d is not None for d in expected) and tuple(x.shape[1:]) != expected:
        raise ValueError(f"x has images of shape {tuple(x.shape[1:])} but the model expects inputs of shape "
                         f"(n, {', '.join(str(d) for d in expected)}); reshape x to (n, *{expected})")
    probe = x[: min(len(x), 16)]
    try:
        out = np.asarray(model(probe, training=False))
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise ValueError(f"the model could not be applied to x of shape (n, {', '.join(map(str, x.shape[1:]))}): "
                         f"{type(err).__name__}: {err}") from err
    if out.ndim != 2 or out.shape[0] != len(probe):
        raise ValueError(f"expected the model to output logits of shape (n, K), got shape {out.shape} "
                         f"for {len(probe)} images")
    if out.shape[1] < 2:
        raise ValueError(f"expected the model to output logits for K >= 2 classes, got K = {out.shape[1]}")
    if not np.all(np.isfinite(out)):
        raise ValueError("the model outputs non-finite values on x")
    if np.all(out >= 0) and np.all(out <= 1) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("the model seems to output probabilities (rows in [0, 1] summing to 1, i.e. a softmax "
                         "layer); logits are required: drop the final softmax activation")
    return int(out.shape[1])


def _check_classes(name, values, n, num_classes) -> np.ndarray:
    try:
        a = np.asarray(values)
    except Exception:  # noqa: BLE001
        raise ValueError(f"{name} must be an array of {n} class indices") from None
    if a.shape != (n,):
        raise ValueError(f"expected {name} of shape ({n},) (one per image), got shape {a.shape}")
    if n and not (np.issubdtype(a.dtype, np.integer) or
                  (np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a)))):
        raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if n and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes - 1}] (the model has {num_classes} outputs), "
                         f"got values in [{a.min()}, {a.max()}]")
    return a


# ----------------------------------------------------------------------------------
# the result


@dataclass
class AdversarialResult:
    """What `minimal_distortion` found, one entry per input image.

    x_adv        the adversarial images, same shape as the input; rows where the
                 search failed are NaN (never the unperturbed input)
    distortion   per-image RMS perturbation (NaN where failed)
    success      the model's class on x_adv is the target (targeted) or differs from
                 the label (untargeted), checked by running the model on x_adv
    targets      the class reached (-1 where failed)
    labels       the true labels passed in
    requested    the targets asked for (None for an untargeted search)
    c            the c of the returned minimiser (NaN where failed)
    evaluations  objective value-and-gradient evaluations spent per image (for the
                 batched method: every evaluation of a batch the image was in)
    total_evaluations  all value-and-gradient evaluations of single images, padding
                 rows of the batched method included
    seconds      wall time of the search
    """

    x_adv: np.ndarray
    distortion: np.ndarray
    success: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    requested: np.ndarray | None
    c: np.ndarray
    evaluations: np.ndarray
    total_evaluations: int
    seconds: float
    method: str
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(len(self.success))

    @property
    def n_failed(self) -> int:
        return int(np.sum(~self.success))

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if self.n else float("nan")

    @property
    def images_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def mean_distortion(self, warn: bool = True) -> float:
        """Mean distortion over the successful images (failures are left out, and said so)."""
        if self.n_failed and warn:
            import warnings

            warnings.warn(f"mean_distortion: {self.n_failed} of {self.n} searches failed and are left out",
                          stacklevel=2)
        if not self.success.any():
            return float("nan")
        return float(np.mean(self.distortion[self.success]))

    def summary(self) -> str:
        kind = "untargeted" if self.requested is None else "targeted"
        md = self.mean_distortion(warn=False)
        lines = [
            f"{kind} minimal-distortion search ({self.method}) on {self.n} images",
            f"  success: {self.n - self.n_failed}/{self.n} ({self.success_rate:.1%})"
            + (f", {self.n_failed} failed (NaN rows)" if self.n_failed else ""),
            f"  mean distortion (successes only): {md:.4f}",
            f"  objective evaluations per image: {self.total_evaluations / max(self.n, 1):.0f}",
            f"  time: {self.seconds:.2f} s ({self.images_per_second:.1f} images/s)",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        kind = "untargeted" if self.requested is None else "targeted"
        return (f"AdversarialResult({kind}, method={self.method!r}, n={self.n}, success={self.success_rate:.1%}, "
                f"mean_distortion={self.mean_distortion(warn=False):.4f}, seconds={self.seconds:.2f})")


# ----------------------------------------------------------------------------------
# the batched search (TensorFlow Probability)

_TFP_DEFAULTS = dict(
    mu=10.0,  # penalty weight outside the box (only pixels crossing a bound mid-call see it)
    num_correction_pairs=3,  # L-BFGS memory
    stage_iterations=10,  # most L-BFGS iterations per optimizer call
    stage_fraction=0.5,  # a call stops once this fraction of its members has converged
    tolerance=1e-4,  # gradient sup-norm
    f_relative_tolerance=1e-5,
    margin_tol=0.05,  # a success with a target margin below this is on the boundary: done
    c_rtol=0.02,  # bracket [success, failure] narrower than this ratio: done
    kkt=True,  # c updates from the multiplier of the boundary point
    kkt_tol=0.05,  # done when |log(c_kkt / c)| is below this
    kkt_aim=0.02,  # aim this far (in log c) below c_kkt, on the success side
    decided_margin=0.25,  # after a full call at one c, |margin| above this decides its side
    max_log_step=math.log(3.0),  # largest change of log c in one step
    newton_damping=0.6,
    predictor=True,
    shrink_steps=8,
    first_step=1e9,
    warm_from_boundary=False,
    jit_compile=True,
    box="active",
)

# compiled optimizer calls, per model (weakly held) and settings
_DEBUG = False
_DEBUG_TRACE = []
_TIMES = []
_STAGE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _stage_function(model, input_shape, opts):
    """One compiled optimizer call on a batch of problems (cached per model and settings)."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    from tensorflow_probability.python.optimizer.lbfgs import LBfgsOptimizerResults

    keys = ("mu", "jit_compile", "tolerance", "f_relative_tolerance", "box", "num_correction_pairs", "first_step",
            "shrink_steps")
    key = (tuple(input_shape),) + tuple(opts[k] for k in keys)
    per_model = _STAGE_CACHE.setdefault(model, {})
    if key in per_model:
        return per_model[key]

    shape = (-1,) + tuple(input_shape)
    mu = tf.constant(opts["mu"], tf.float32)
    box = opts["box"]
    tolerance = float(opts["tolerance"])
    f_rel = float(opts["f_relative_tolerance"])
    d = int(np.prod(input_shape))
    unit = tf.constant(1e-3 / math.sqrt(d), tf.float32)
    first_step = tf.constant(opts["first_step"], tf.float32)
    shrink_steps = int(opts["shrink_steps"])

    def logits_of(z):
        return model(tf.reshape(z, shape), training=False)

    smooth_compiled = None
    if opts["jit_compile"] == "objective":
        def _smooth(z, x, t, c):
            with tf.GradientTape() as tape:
                tape.watch(z)
                zc = tf.clip_by_value(z, 0.0, 1.0)
                zin = zc if box == "clip" else z
                logits = logits_of(zin)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits)
                r = zin - x
                o = z - zc
                f = c * tf.reduce_sum(r * r, axis=1) + ce + mu * tf.reduce_sum(o * o, axis=1)
            return f, tape.gradient(f, z)
        _smooth_c = tf.function(_smooth, jit_compile=True)

    def stage(x, t, c, c_hist, reset, position, s_hist, y_hist, max_it, n_real, fraction):
        smooth_compiled = (lambda z: _smooth_c(z, x, t, c)) if opts["jit_compile"] == "objective" else None
        batch = tf.shape(c)[0]
        real = tf.range(batch) < n_real

        def smooth_value_and_gradients(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                zc = tf.clip_by_value(z, 0.0, 1.0)
                zin = zc if box == "clip" else z
                logits = logits_of(zin)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits)
                r = zin - x
                o = z - zc
                f = c * tf.reduce_sum(r * r, axis=1) + ce + mu * tf.reduce_sum(o * o, axis=1)
            return f, tape.gradient(f, z)

        smooth_inner = smooth_compiled if smooth_compiled is not None else smooth_value_and_gradients
        if box == "active":
            # start from the box; pixels on a bound whose gradient points out stay there
            position = tf.clip_by_value(position, 0.0, 1.0)
        f0, g0 = smooth_value_and_gradients(position)
        if box == "active":
            frozen = ((position <= 0.0) & (g0 > 0.0)) | ((position >= 1.0) & (g0 < 0.0))
            free = 1.0 - tf.cast(frozen, tf.float32)
        else:
            free = tf.ones_like(position)

        def value_and_gradients(z):
            f, g = smooth_inner(z)
            return f, g * free

        # curvature pairs: exact correction for the change of c (the Hessian of
        # c||z - x||^2 is 2c I), restricted to the free pixels; pairs that lost
        # positive curvature are dropped; an empty memory gets H0 = I / (2c)
        keep = 1.0 - tf.cast(reset, tf.float32)[None, :, None]
        s_h = s_hist * free[None] * keep
        y_h = (y_hist + 2.0 * (c - c_hist)[None, :, None] * s_hist) * free[None] * keep
        sy = tf.reduce_sum(s_h * y_h, axis=-1)
        good = tf.cast(sy > 1e-12, tf.float32)[:, :, None]
        s_h = s_h * good
        y_h = y_h * good
        empty = sy[-1] <= 1e-12
        # H0 = I / lam: the Hessian of the c-term, or less when that would make the
        # first step move some pixel by more than first_step
        lam = tf.maximum(2.0 * c, tf.reduce_max(tf.abs(g0 * free), axis=1) / first_step)
        s_last = tf.where(empty[:, None], unit * free, s_h[-1])
        y_last = tf.where(empty[:, None], lam[:, None] * unit * free, y_h[-1])
        s_h = tf.concat([s_h[:-1], s_last[None]], axis=0)
        y_h = tf.concat([y_h[:-1], y_last[None]], axis=0)

        g0 = g0 * free
        state = LBfgsOptimizerResults(
            converged=~real, failed=tf.zeros_like(real), num_iterations=tf.constant(s_hist.shape[0]),
            num_objective_evaluations=tf.constant(0), position=position, objective_value=f0,
            objective_gradient=g0, position_deltas=s_h, gradient_deltas=y_h)

        def stop(converged, failed):
            done = tf.cast((converged | failed) & real, tf.float32)
            return tf.reduce_sum(done) >= fraction * tf.cast(n_real, tf.float32)

        res = tfp.optimizer.lbfgs_minimize(
            value_and_gradients, None, previous_optimizer_results=state,
            max_iterations=state.num_iterations + max_it, tolerance=tolerance,
            f_relative_tolerance=f_rel, stopping_condition=stop)
        z = res.position
        # the margin and its gradient at z (for the Newton step in log c)
        with tf.GradientTape() as tape:
            tape.watch(z)
            lz = logits_of(z)
            onehot = tf.one_hot(t, tf.shape(lz)[1], dtype=lz.dtype)
            m = tf.reduce_sum(lz * onehot, axis=1) - tf.reduce_max(lz - 1e9 * onehot, axis=1)
        grad_m = tape.gradient(m, z) * free
        # dz/dlog c = -2c H^-1 (z - x): two-loop recursion with the final curvature pairs
        s_f, y_f = res.position_deltas, res.gradient_deltas
        sy = tf.reduce_sum(s_f * y_f, axis=-1)
        rho = tf.where(sy > 0, tf.math.divide_no_nan(tf.ones_like(sy), sy), tf.zeros_like(sy))
        q = (z - x) * free
        k = s_f.shape[0]
        alphas = [None] * k
        for i in reversed(range(k)):
            alphas[i] = rho[i] * tf.reduce_sum(s_f[i] * q, axis=-1)
            q = q - alphas[i][:, None] * y_f[i]
        yy = tf.reduce_sum(y_f[-1] * y_f[-1], axis=-1)
        gamma = tf.where(yy > 0, tf.math.divide_no_nan(sy[-1], yy), 0.5 / c)
        hv = gamma[:, None] * q
        for i in range(k):
            b = rho[i] * tf.reduce_sum(y_f[i] * hv, axis=-1)
            hv = hv + (alphas[i] - b)[:, None] * s_f[i]
        dz = -2.0 * c[:, None] * hv
        zc = tf.clip_by_value(z, 0.0, 1.0)
        logits_clip = logits_of(zc)
        onehot = tf.one_hot(t, tf.shape(logits_clip)[1], dtype=logits_clip.dtype)

        def reaches(lg):
            return tf.reduce_sum(lg * onehot, axis=1) > tf.reduce_max(lg - 1e9 * onehot, axis=1)

        # pull the (clipped) solution back along its perturbation to the decision
        # boundary: the smallest t (to 2^-shrink_steps) with x + t r still reaching l
        r = zc - x
        lo_t = tf.zeros_like(c)
        hi_t = tf.ones_like(c)
        for _ in range(shrink_steps):
            mid = 0.5 * (lo_t + hi_t)
            ok_mid = reaches(logits_of(x + mid[:, None] * r))
            hi_t = tf.where(ok_mid, mid, hi_t)
            lo_t = tf.where(ok_mid, lo_t, mid)
        boundary = x + hi_t[:, None] * r
        # the c for which the boundary point is stationary on its free pixels
        # (KKT: 2c r = -grad CE): the multiplier estimate of the c we look for
        with tf.GradientTape() as tape:
            tape.watch(boundary)
            ce_b = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits_of(boundary))
        g_b = tape.gradient(ce_b, boundary)
        free_b = 1.0 - tf.cast(((boundary <= 0.0) & (g_b > 0.0)) | ((boundary >= 1.0) & (g_b < 0.0)), tf.float32)
        rb = (boundary - x) * free_b
        c_kkt = -tf.reduce_sum(rb * g_b, axis=1) / (2.0 * tf.reduce_sum(rb * rb, axis=1) + 1e-30)
        return dict(position=z, converged=res.converged, failed=res.failed, s=s_f, y=y_f,
                    evaluations=res.num_objective_evaluations, iterations=res.num_iterations - k,
                    logits=logits_clip, slope=tf.reduce_sum(grad_m * dz, axis=1), dz=dz,
                    boundary=boundary, c_kkt=c_kkt)

    if opts["jit_compile"] is True:
        fn = tf.function(stage, jit_compile=True)
    else:
        fn = tf.function(stage, reduce_retracing=True)
    per_model[key] = fn
    return fn


def _bucket_sizes(n0: int) -> list[int]:
    """Batch sizes the compacted batch is padded to: n0, then about a quarter each time."""
    sizes = [n0]
    while sizes[-1] > 16:
        sizes.append(max(16, int(math.ceil(sizes[-1] / 4 / 8)) * 8))
    return sorted(set(sizes))


def _search_tfp_chunk(model, input_shape, x, t, opts, c_init, c_steps, max_iterations, pbar):
    """Batched search over one chunk of problems (x: (n, d) float32, t: (n,) int)."""
    import tensorflow as tf

    n, d = x.shape
    m = opts["num_correction_pairs"]
    stage = _stage_function(model, input_shape, opts)
    sizes = _bucket_sizes(n)
    t = t.astype(np.int32)

    z = x.copy()
    c = np.full(n, c_init, np.float64)
    c_hist = c.copy()  # the c at which each member's curvature pairs were collected
    reset = np.ones(n, bool)
    S = np.zeros((m, n, d), np.float32)
    Y = np.zeros((m, n, d), np.float32)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    m_lo = np.full(n, np.nan)
    m_hi = np.full(n, np.nan)
    prev_logc = np.full(n, np.nan)
    prev_margin = np.full(n, np.nan)
    steps = np.zeros(n, np.int64)  # values of c completed
    its_at_c = np.zeros(n, np.int64)
    best_d = np.full(n, np.inf)
    best_z = np.full((n, d), np.nan, np.float32)
    best_c = np.full(n, np.nan)
    evals = np.zeros(n, np.int64)
    total_evals = 0
    active = np.ones(n, bool)
    n_calls = 0
    fraction = tf.constant(float(opts["stage_fraction"]), tf.float32)
    stage_its = tf.constant(int(opts["stage_iterations"]))
    maxs = opts["max_log_step"]

    while active.any():
        idx = np.flatnonzero(active)
        na = len(idx)
        B = min(s for s in sizes if s >= na)
        pad = np.concatenate([idx, np.full(B - na, idx[0])])
        _t0 = time.perf_counter()
        out = stage(tf.constant(x[pad]), tf.constant(t[pad]), tf.constant(c[pad].astype(np.float32)),
                    tf.constant(c_hist[pad].astype(np.float32)), tf.constant(reset[pad]), tf.constant(z[pad]),
                    tf.constant(S[:, pad]), tf.constant(Y[:, pad]), stage_its, tf.constant(na), fraction)
        n_calls += 1
        ne = int(out["evaluations"]) + 2  # + the restart and the margin gradient
        _t1 = time.perf_counter()
        evals[idx] += ne
        total_evals += ne * B
        its = int(out["iterations"])
        its_at_c[idx] += its

        zn = out["position"].numpy()[:na]
        conv = out["converged"].numpy()[:na]
        lsfail = out["failed"].numpy()[:na]
        S[:, idx] = out["s"].numpy()[:, :na]
        Y[:, idx] = out["y"].numpy()[:, :na]
        c_hist[idx] = c[idx]
        reset[idx] = False
        lg = out["logits"].numpy()[:na].astype(np.float64)
        finite = np.all(np.isfinite(zn), axis=1) & np.all(np.isfinite(lg), axis=1)
        zn = np.where(finite[:, None], zn, np.where(np.isfinite(best_z[idx]), best_z[idx], x[idx]))
        zc = np.clip(zn, 0.0, 1.0)
        marg = margins(np.where(finite[:, None], lg, 0.0), t[idx])
        ok = finite & (marg > 0)
        dist = np.sqrt(np.mean((zc.astype(np.float64) - x[idx]) ** 2, axis=1))

        if opts["kkt"]:
            bnd = out["boundary"].numpy()[:na]
            c_kkt = out["c_kkt"].numpy()[:na].astype(np.float64)
            cand = np.where(ok[:, None], bnd, zc)
            dist = np.sqrt(np.mean((cand.astype(np.float64) - x[idx]) ** 2, axis=1))
        else:
            cand = zc
        better = ok & (dist < best_d[idx])
        best_d[idx[better]] = dist[better]
        best_z[idx[better]] = cand[better]
        best_c[idx[better]] = c[idx[better]]

        # a member's solve at its c is complete when it converged, its line search
        # gave up, or it used max_iterations at this c
        complete = conv | lsfail | ~finite | (its_at_c[idx] >= max_iterations)
        # far from the boundary after a full call at this c: the sign will not change
        complete |= (its_at_c[idx] >= opts["stage_iterations"]) & (np.abs(marg) > opts["decided_margin"])
        cc = c[idx]
        logc = np.log(cc)

        # bracket bookkeeping (a failed line search without success tells nothing)
        informative = complete & finite & (ok | ~lsfail)
        set_lo = informative & ok & ~(lo[idx] >= cc)
        set_hi = informative & ~ok & ~(hi[idx] <= cc)
        lo[idx[set_lo]] = cc[set_lo]
        m_lo[idx[set_lo]] = marg[set_lo]
        hi[idx[set_hi]] = cc[set_hi]
        m_hi[idx[set_hi]] = marg[set_hi]
        steps[idx[complete]] += 1

        lo_i, hi_i = lo[idx], hi[idx]
        both = np.isfinite(lo_i) & np.isfinite(hi_i)
        done = complete & ok & (marg <= opts["margin_tol"])
        done |= complete & both & (hi_i <= lo_i * (1.0 + opts["c_rtol"]))
        done |= complete & (steps[idx] >= c_steps)

        if opts["kkt"]:
            kkt_ok = complete & ok & np.isfinite(c_kkt) & (c_kkt > 0)
            done |= kkt_ok & (np.abs(np.log(np.where(kkt_ok, c_kkt, 1.0) / cc)) <= opts["kkt_tol"])
        move = complete & ~done & informative
        if move.any():
            # slope of the margin in log c: secant through this member's previous
            # point, else the Newton slope grad(margin) . dz/dlog c
            newton = out["slope"].numpy()[:na].astype(np.float64)
            dlog = logc - prev_logc[idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                secant = (marg - prev_margin[idx]) / dlog
            secant = np.where(np.abs(dlog) > 1e-6, secant, np.nan)
            slope = np.where(np.isfinite(secant) & (secant < 0), secant, newton)
            aim = 0.5 * opts["margin_tol"]
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(slope < 0, (aim - marg) / slope, np.nan)
            # the margin is concave in log c: a Newton step from the success side overshoots
            step = np.where(ok & ~(np.isfinite(secant) & (secant < 0)), opts["newton_damping"] * step, step)
            step = np.clip(step, -maxs, maxs)
            step = np.where(np.isfinite(step), step, np.where(ok, maxs, -maxs))
            if opts["kkt"]:
                kstep = np.log(np.where(kkt_ok, c_kkt, 1.0)) - opts["kkt_aim"] - logc
                step = np.where(kkt_ok, np.clip(kstep, -maxs, maxs), step)
            target = logc + step
            a, b = np.log(lo_i), np.log(hi_i)
            inside = (target > a + 0.05 * (b - a)) & (target < b - 0.05 * (b - a))
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.clip(m_lo[idx] / (m_lo[idx] - m_hi[idx]), 0.1, 0.9)
            target = np.where(both & ~inside, a + w * (b - a), target)
            target = np.where(move, target, logc)
            prev_logc[idx[move]] = logc[move]
            prev_margin[idx[move]] = marg[move]
            if opts["kkt"] and opts["warm_from_boundary"]:
                zn = np.where((move & ok)[:, None], bnd, zn)
            if opts["predictor"]:
                dz = out["dz"].numpy()[:na]
                zp = zn + dz * (target - logc)[:, None].astype(np.float32)
                zp = np.clip(zp, -0.1, 1.1)
                good = (move & finite)[:, None] & np.all(np.isfinite(zp), axis=1, keepdims=True)
                zn = np.where(good, zp, zn)
            c[idx] = np.exp(target)
            its_at_c[idx[move]] = 0
        z[idx] = zn
        reset[idx] = lsfail | ~finite
        active[idx[done]] = False
        _TIMES.append((B, ne, _t1 - _t0, time.perf_counter() - _t1))
        if _DEBUG:
            print(f"  call {n_calls}: active {na} B {B} evals {ne} its {its} {1e3*(time.perf_counter()-_t0):.0f}ms (call {1e3*(_t1-_t0):.0f}) "
                  f"complete {complete.sum()} ok {ok.mean():.2f} conv {conv.mean():.2f} lsfail {lsfail.sum()} retire {done.sum()} "
                  f"steps med {np.median(steps[idx]):.0f}")
        if _DEBUG:
            for j in _DEBUG_TRACE:
                kk = np.flatnonzero(idx == j)
                if len(kk):
                    k0 = kk[0]
                    print(f"     m{j}: c={cc[k0]:.4g} marg={marg[k0]:.3f} d={dist[k0]:.4f} its={its_at_c[j]} compl={complete[k0]} conv={conv[k0]} "
                          f"lo={lo[j]:.4g} hi={hi[j]:.4g} -> c={c[j]:.4g} done={done[k0]} best={best_d[j]:.4f}")
        if pbar is not None:
            pbar.update(int(done.sum()))

    if _DEBUG:
        print("steps hist", np.bincount(steps), "long:", np.flatnonzero(steps >= 7)[:10])
    ok = np.isfinite(best_d)
    return dict(z=best_z, ok=ok, c=best_c, evals=evals, total_evals=total_evals, calls=n_calls)


# ----------------------------------------------------------------------------------
# the reference (scipy L-BFGS-B, one image at a time)


def _blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def _scipy_objective(model, input_shape):
    import tensorflow as tf

    per_model = _STAGE_CACHE.setdefault(model, {})
    key = ("scipy", tuple(input_shape))
    if key in per_model:
        return per_model[key]
    d = int(np.prod(input_shape))
    shape = (1,) + tuple(input_shape)

    def vg(z, x, c, t):
        z32 = tf.cast(z, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(z32)
            logits = model(tf.reshape(z32, shape), training=False)[0]
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits)
            r = z32 - x
            f = c * tf.reduce_sum(r * r) + ce
        g = tape.gradient(f, z32)
        return tf.cast(f, tf.float64), tf.cast(g, tf.float64)

    sig = [tf.TensorSpec([d], tf.float64), tf.TensorSpec([d], tf.float32),
           tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)]
    fn = tf.function(vg, input_signature=sig, jit_compile=True).get_concrete_function()
    per_model[key] = fn
    return fn


def _search_scipy_one(model, objective, x, t, c_init, c_steps, max_iterations, logits_fn):
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

        def fun(zv):
            nonlocal n_eval
            n_eval += 1
            f, g = objective(tf.constant(zv), x_t, c_t, t_t)
            return f.numpy(), g.numpy()

        res = scipy.optimize.minimize(fun, x.astype(np.float64), jac=True, method="L-BFGS-B",
                                      bounds=scipy.optimize.Bounds(0.0, 1.0),
                                      options={"maxiter": max_iterations})
        z = np.clip(res.x, 0.0, 1.0).astype(np.float32)
        if int(np.argmax(logits_fn(z))) == t:
            dist = float(np.sqrt(np.mean((z.astype(np.float64) - x) ** 2)))
            if dist < best[0]:
                best = (dist, z, c)
            lo = c
        else:
            hi = c
        if lo is None:
            c = c / 10.0
        elif hi is None:
            c = c * 10.0
        else:
            c = math.sqrt(lo * hi)
    return best, n_eval


# ----------------------------------------------------------------------------------
# the public search


def _compiled(model, input_shape, name):
    """Cached tf.functions of the model for a per-image input shape: logits and shrink."""
    import tensorflow as tf

    per_model = _STAGE_CACHE.setdefault(model, {})
    key = (name, tuple(input_shape))
    if key in per_model:
        return per_model[key]
    d = int(np.prod(input_shape))
    shape = (-1,) + tuple(input_shape)
    flat = tf.TensorSpec([None, d], tf.float32)

    def logits(z):
        return model(tf.reshape(z, shape), training=False)

    if name == "logits":
        fn = tf.function(logits, input_signature=[flat])
    else:  # "shrink"
        def shrink(x, r, classes, targeted, steps):
            onehot = tf.one_hot(classes, tf.shape(logits(x[:1]))[1])
            lo = tf.zeros(tf.shape(x)[:1])
            hi = tf.ones(tf.shape(x)[:1])
            for _ in tf.range(steps):
                mid = 0.5 * (lo + hi)
                lg = logits(x + mid[:, None] * r)
                own = tf.reduce_sum(lg * onehot, axis=1)
                other = tf.reduce_max(lg - 1e30 * onehot, axis=1)
                pred_is_class = own > other
                ok = tf.where(targeted, pred_is_class, tf.argmax(lg, axis=1, output_type=tf.int32) != classes)
                hi = tf.where(ok, mid, hi)
                lo = tf.where(ok, lo, mid)
            return hi

        fn = tf.function(shrink, input_signature=[flat, flat, tf.TensorSpec([None], tf.int32),
                                                  tf.TensorSpec([], tf.bool), tf.TensorSpec([], tf.int32)])
    per_model[key] = fn
    return fn


def _predict_flat(model, input_shape, z, batch_size=4096):
    fn = _compiled(model, input_shape, "logits")
    out = [np.argmax(fn(z[i:i + batch_size]).numpy(), axis=1) for i in range(0, len(z), batch_size)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), np.int64)


SHRINK_SAFETY = 0.01


def _shrink(model, input_shape, x, x_adv, classes, targeted, steps):
    """Pull each successful x_adv back towards x along its own perturbation.

    The smallest t in (0, 1] (to 2^-steps) with x + t (x_adv - x) still reaching the
    target (targeted) or still misclassified (untargeted), by bisection on forward
    passes; x + t r stays in the box because the box is convex. The answer is then
    moved SHRINK_SAFETY (1%) back out past the boundary: an image left exactly on it
    can flip class under float rounding between differently compiled forward passes
    (seen: 2% of FC200-200-10's examples read correctly by model.predict).
    """
    import tensorflow as tf

    fn = _compiled(model, input_shape, "shrink")
    r = (x_adv - x).astype(np.float32)
    t = fn(tf.constant(x), tf.constant(r), tf.constant(classes.astype(np.int32)), tf.constant(bool(targeted)),
           tf.constant(int(steps))).numpy()
    t = np.minimum(1.0, t * (1.0 + SHRINK_SAFETY))
    return np.clip(x + t[:, None].astype(np.float32) * r, 0.0, 1.0)


def _random_wrong_labels(labels, num_classes, seed):
    rng = np.random.default_rng(seed)
    return (labels + rng.integers(1, num_classes, size=len(labels))) % num_classes


def minimal_distortion(model, x, labels, targets=None, method: str = "tfp", *, c_init: float = 1.0,
                       c_steps: int = 10, max_iterations: int = 100, chunk_size: int = 1024,
                       untargeted_candidates: int = DEFAULT_UNTARGETED_CANDIDATES, progress: bool = True,
                       seed: int = 0, refine: int = 16, **tfp_options) -> AdversarialResult:
    """Smallest perturbations that make `model` output a chosen label (paper §4.1).

    Minimises ``c ||r||^2 + CE(model(x + r), target)`` over ``r`` with ``x + r`` in
    ``[0, 1]`` for a sequence of ``c``, and keeps per image the successful minimiser of
    smallest distortion, i.e. the one of the **largest c that still reaches the target**
    (the paper's "minimum c" read as the smallest perturbation; see the module
    docstring). The squared norm keeps the objective smooth at ``r = 0``.

    Parameters
    ----------
    model : Keras model mapping images (n, *input_shape) to logits (n, K).
    x : images in [0, 1], shape (n, *input_shape) (e.g. (n, 784) or (n, 28, 28, 1)).
    labels : (n,) true labels.
    targets : (n,) target classes (each different from its label); ``"random"`` for
        uniformly random wrong labels (drawn with ``seed``); or ``None`` for an
        untargeted search: the smallest distortion over the wrong classes (see
        ``untargeted_candidates``).
    method : ``"tfp"`` (batched, fast) or ``"scipy"`` (reference: L-BFGS-B per image).
    c_init : first c tried.
    c_steps : most values of c solved per image (the reference always solves this many).
    max_iterations : most L-BFGS iterations for one value of c.
    chunk_size : problems solved together by the batched method (bounds memory).
    untargeted_candidates : for ``targets=None``, how many wrong classes to try per
        image: the k the model ranks highest at x (K - 1 tries them all, exactly).
    progress : show a tqdm progress bar.
    seed : seed for ``targets="random"`` (the search itself has no randomness).
    **tfp_options : advanced settings of the batched method (see ``_TFP_DEFAULTS``).

    Returns
    -------
    AdversarialResult
    """
    t_start = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    c_init = _check_positive_float("c_init", c_init)
    c_steps = _check_positive_int("c_steps", c_steps)
    max_iterations = _check_positive_int("max_iterations", max_iterations)
    chunk_size = _check_positive_int("chunk_size", chunk_size)
    untargeted_candidates = _check_positive_int("untargeted_candidates", untargeted_candidates)
    if isinstance(refine, bool) or not isinstance(refine, numbers.Integral) or refine < 0:
        raise ValueError(f"refine must be a non-negative integer (bisection steps, 0 = off), got {refine!r}")
    seed = _check_seed(seed)
    unknown = set(tfp_options) - set(_TFP_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; expected some of {sorted(_TFP_DEFAULTS)}")
    opts = dict(_TFP_DEFAULTS, **tfp_options)
    for name in ("mu", "tolerance", "margin_tol", "c_rtol", "max_log_step"):
        opts[name] = _check_positive_float(name, opts[name])
    if not (0 < float(opts["stage_fraction"]) <= 1):
        raise ValueError(f"stage_fraction must lie in (0, 1], got {opts['stage_fraction']!r}")
    if not (float(opts["f_relative_tolerance"]) >= 0):
        raise ValueError(f"f_relative_tolerance must be >= 0, got {opts['f_relative_tolerance']!r}")
    for name in ("num_correction_pairs", "stage_iterations"):
        opts[name] = _check_positive_int(name, opts[name])

    x = _check_box_images(x, "x")
    n = len(x)
    if n == 0:
        raise ValueError("expected at least one image, got none")
    num_classes = _probe_model(model, x)
    labels = _check_classes("labels", labels, n, num_classes)
    if isinstance(targets, str):
        if targets != "random":
            raise ValueError(f"targets must be an array of classes, 'random' or None, got {targets!r}")
        targets = _random_wrong_labels(labels, num_classes, seed)
    if targets is not None:
        targets = _check_classes("targets", targets, n, num_classes)
        same = np.flatnonzero(targets == labels)
        if len(same):
            raise ValueError(f"targets must differ from labels; they are equal for {len(same)} image(s), "
                             f"first at index {same[0]}")
        prob_img = np.arange(n)
        prob_t = targets
    else:
        k = min(untargeted_candidates, num_classes - 1)
        logits = np.concatenate([np.asarray(model(x[i:i + 2048], training=False)) for i in range(0, n, 2048)])
        ranked = logits.copy()
        ranked[np.arange(n), labels] = -np.inf
        cand = np.argsort(-ranked, axis=1, kind="stable")[:, :k]  # the k highest wrong classes
        prob_img = np.repeat(np.arange(n), k)
        prob_t = cand.reshape(-1)

    input_shape = tuple(x.shape[1:])
    d = int(np.prod(input_shape))
    xf = x.reshape(n, d)
    n_prob = len(prob_img)
    z_best = np.full((n_prob, d), np.nan, np.float32)
    ok_p = np.zeros(n_prob, bool)
    c_p = np.full(n_prob, np.nan)
    ev_p = np.zeros(n_prob, np.int64)
    total = 0
    info = {}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_prob, desc=f"adversarial search ({method})", unit="problem", leave=False)
    try:
        if method == "tfp":
            calls = 0
            for s in range(0, n_prob, chunk_size):
                sl = slice(s, min(s + chunk_size, n_prob))
                out = _search_tfp_chunk(model, input_shape, xf[prob_img[sl]], prob_t[sl], opts, c_init, c_steps,
                                        max_iterations, bar)
                z_best[sl], ok_p[sl], c_p[sl], ev_p[sl] = out["z"], out["ok"], out["c"], out["evals"]
                total += out["total_evals"]
                calls += out["calls"]
            info["optimizer_calls"] = calls
        else:
            objective = _scipy_objective(model, input_shape)
            shape = (1,) + input_shape

            def logits_fn(zv):
                return np.asarray(model(zv.reshape(shape), training=False))[0]

            with _blas_one_thread():
                for p in range(n_prob):
                    (dist, z, cbest), ne = _search_scipy_one(model, objective, xf[prob_img[p]], prob_t[p], c_init,
                                                             c_steps, max_iterations, logits_fn)
                    if z is not None:
                        z_best[p], ok_p[p], c_p[p] = z, True, cbest
                    ev_p[p] = ne
                    total += ne
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    # per image: the successful problem of smallest distortion
    dist_p = np.where(ok_p, np.sqrt(np.mean((z_best.astype(np.float64) - xf[prob_img]) ** 2, axis=1)), np.inf)
    order = np.lexsort((dist_p, prob_img))  # by image, then distortion
    first = np.ones(n_prob, bool)
    first[1:] = prob_img[order][1:] != prob_img[order][:-1]
    pick = order[first]  # one problem per image, in image order
    x_adv = z_best[pick].copy()
    chosen_ok = ok_p[pick]
    x_adv[~chosen_ok] = np.nan
    evaluations = np.bincount(prob_img, weights=ev_p, minlength=n).astype(np.int64)

    if refine and chosen_ok.any():
        rows = np.flatnonzero(chosen_ok)
        classes = targets[rows] if targets is not None else labels[rows]
        x_adv[rows] = _shrink(model, input_shape, xf[rows], x_adv[rows], classes, targets is not None, refine)

    # verify on the returned images
    reached = np.full(n, -1, np.int64)
    if chosen_ok.any():
        reached[chosen_ok] = _predict_flat(model, input_shape, x_adv[chosen_ok])
    if targets is not None:
        success = chosen_ok & (reached == targets)
    else:
        success = chosen_ok & (reached != labels) & (reached >= 0)
    x_adv[~success] = np.nan
    reached[~success] = -1
    dist = np.where(success, distortion(xf, np.where(success[:, None], x_adv, xf)), np.nan)
    c_out = np.where(success, c_p[pick], np.nan)
    return AdversarialResult(
        x_adv=x_adv.reshape(x.shape), distortion=dist, success=success, targets=reached, labels=labels,
        requested=None if targets is None else targets, c=c_out, evaluations=evaluations,
        total_evaluations=int(total), seconds=time.perf_counter() - t_start, method=method, info=info)
