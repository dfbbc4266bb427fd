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
``method="scipy"`` is the reference, one image at a time, as the paper describes it:
``scipy.optimize.minimize`` (L-BFGS-B, true bounds ``[0, 1]`` on every pixel, scipy's
default tolerances, at most ``max_iterations`` iterations) started from ``r = 0`` for
every ``c``; ``c`` starts at ``c_init``, is multiplied or divided by 10 until a
success and a failure bracket it, and is then bisected geometrically, ``c_steps``
solves in all. So that it is a fair yardstick, its objective is an XLA-compiled
TensorFlow value-and-gradient of one image handed to scipy in float64, and BLAS is
held to one thread while scipy runs (L-BFGS-B's small dense algebra is many times
slower with threads on a busy 2-core machine).

``method="tfp"`` solves thousands of problems at once with
``tfp.optimizer.lbfgs_minimize`` (one batch of independent problems per call) and
spends far fewer objective evaluations per image:

* The box, exactly. The variable is ``z``; pixels on a bound whose gradient points
  out of the box are held there for one optimizer call (an active set, renewed at
  every call), the others move freely, and a pixel that crosses a bound within a call
  meets a quadratic penalty ``mu ||z - clip(z)||^2`` (continuous derivative, weight
  ``min(10, 10 c)``) until the next call clips and holds it. The answer is
  ``clip(z, 0, 1)``: every returned pixel is in the box, and success is checked on it.
  Measured alternatives: tanh/sigmoid changes of variables freeze the pixels that sit
  exactly at 0 or 1 (most MNIST pixels) and found perturbations about 1.6 times larger
  than L-BFGS-B; ``f(clip(z))`` has a kinked derivative that tripled the batched line
  search's evaluations; the penalty alone biased distortions up by ~0.5%.
* The search over c. After a solve, a success is pulled back along its perturbation
  to the decision boundary (bisection on forward passes), and the boundary point
  gives the next c directly: the c for which it is stationary (KKT,
  ``2c r = -grad CE`` on the free pixels). A member is done once its c agrees with
  that estimate (``kkt_tol``), or its success sits on the boundary (``margin_tol``),
  or its bracket [largest success, smallest failure] is narrower than ``c_rtol``, or
  after ``c_steps`` values. A failure steps down by a root step on the target margin
  in ``log c`` (secant through its previous point, else Newton with the implicit
  derivative ``dz/dlog c = -2c H^-1 (z - x)`` from the L-BFGS memory), inside the
  bracket. Every success's boundary point is a candidate; the best is kept.
* Warm starts. Each new ``c`` starts from the previous solution moved along that
  first-order prediction, and keeps its L-BFGS memory with the curvature pairs
  corrected exactly for the change of ``c``. A failure that barely improved on the
  previous one restarts from the last success (or from ``x``): on flat models (AE400-10)
  warm starts down a failing path can stall on a plateau the cold start avoids.
* Asynchronous calls. Each optimizer call runs at most ``stage_iterations``
  iterations and stops once half its members have converged; a member moves to its
  next c when its solve converged, or, after a full call, when it is a success well
  past the boundary; the others carry on at the same c in the next call. Every member
  pays for the slowest one's line search within a call, so calls are kept short.
* Continuous batching. ``chunk_size`` slots are solved together; a finished problem's
  slot takes the next problem in the queue, so the batch stays full until the queue
  is empty and then shrinks, padded to a few fixed sizes so compiled code is reused.
* Compilation. ``jit_compile=True`` XLA-compiles each whole optimizer call (fastest,
  but a few seconds of compilation per batch size and model); ``"objective"``
  compiles only the objective (one graph for all sizes, starts in seconds); the
  default ``"auto"`` picks the first from ``AUTO_JIT_PROBLEMS`` problems on.
  Everything is float32, with 3 L-BFGS correction pairs.

Both methods end alike: the best candidate is pulled back along its perturbation to
just past the decision boundary (``refine`` bisection steps; the target must win by a
logit margin of ``SAFE_MARGIN_ABS + SAFE_MARGIN_REL * max|logit|``, so that forward
passes compiled differently, e.g. Keras' ``predict``, agree on it), and success is
verified by running the model on the returned images. ``benchmarks/adversarial_speed.py``
measures both methods against each other.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from .evaluate import predict_labels

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
    diff = (x_adv - x).reshape(len(x), int(np.prod(x.shape[1:])))
    return np.sqrt(np.mean(diff * diff, axis=1))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return int(seed)


def _check_stddev(stddev) -> float:
    if (
        isinstance(stddev, bool)
        or not isinstance(stddev, numbers.Real)
        or not math.isfinite(stddev)
        or stddev < 0
    ):
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


# A success must beat the best other class by this much (in logits), so that forward
# passes compiled differently (Keras' predict, a batch of another size, XLA) agree on
# it: an image left exactly on the decision boundary can flip under float rounding.
SAFE_MARGIN_ABS = 1e-3
SAFE_MARGIN_REL = 1e-4  # times the row's largest |logit|


def _safe_margin(logits) -> np.ndarray:
    return SAFE_MARGIN_ABS + SAFE_MARGIN_REL * np.max(
        np.abs(np.asarray(logits, dtype=np.float64)), axis=1
    )


# ----------------------------------------------------------------------------------
# validation


def _check_positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_positive_float(name, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_box_images(x, name="x") -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of images with pixels in [0, 1], got {type(x).__name__}"
        ) from None
    if a.ndim < 2:
        raise ValueError(f"{name} must be a batch of images of shape (n, ...), got shape {a.shape}")
    if a.size and np.isnan(a).any():
        raise ValueError(f"{name} contains NaN; expected pixel values in [0, 1]")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(
            f"{name} must have pixel values in [0, 1], got values in [{a.min():g}, {a.max():g}]"
            " (divide 0-255 pixels by 255)"
        )
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
    if (
        expected is not None
        and all(d is not None for d in expected)
        and tuple(x.shape[1:]) != expected
    ):
        raise ValueError(
            f"x has images of shape {tuple(x.shape[1:])} but the model expects inputs of shape "
            f"(n, {', '.join(str(d) for d in expected)}); reshape x to (n, *{expected})"
        )
    probe = x[: min(len(x), 16)]
    try:
        out = np.asarray(model(probe, training=False))
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise ValueError(
            f"the model could not be applied to x of shape (n, {', '.join(map(str, x.shape[1:]))}): "
            f"{type(err).__name__}: {err}"
        ) from err
    if out.ndim != 2 or out.shape[0] != len(probe):
        raise ValueError(
            f"expected the model to output logits of shape (n, K), got shape {out.shape} "
            f"for {len(probe)} images"
        )
    if out.shape[1] < 2:
        raise ValueError(
            f"expected the model to output logits for K >= 2 classes, got K = {out.shape[1]}"
        )
    if not np.all(np.isfinite(out)):
        raise ValueError("the model outputs non-finite values on x")
    if np.all(out >= 0) and np.all(out <= 1) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "the model seems to output probabilities (rows in [0, 1] summing to 1, i.e. a softmax "
            "layer); logits are required: drop the final softmax activation"
        )
    return int(out.shape[1])


def _check_classes(name, values, n, num_classes) -> np.ndarray:
    try:
        a = np.asarray(values)
    except Exception:  # noqa: BLE001
        raise ValueError(f"{name} must be an array of {n} class indices") from None
    if a.shape != (n,):
        raise ValueError(f"expected {name} of shape ({n},) (one per image), got shape {a.shape}")
    if n and not (
        np.issubdtype(a.dtype, np.integer)
        or (
            np.issubdtype(a.dtype, np.floating)
            and np.all(np.isfinite(a))
            and np.all(a == np.round(a))
        )
    ):
        raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if n and (a.min() < 0 or a.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}] (the model has {num_classes} outputs), "
            f"got values in [{a.min()}, {a.max()}]"
        )
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

            warnings.warn(
                f"mean_distortion: {self.n_failed} of {self.n} searches failed and are left out",
                stacklevel=2,
            )
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
        return (
            f"AdversarialResult({kind}, method={self.method!r}, n={self.n}, success={self.success_rate:.1%}, "
            f"mean_distortion={self.mean_distortion(warn=False):.4f}, seconds={self.seconds:.2f})"
        )


# ----------------------------------------------------------------------------------
# the batched search (TensorFlow Probability)

_TFP_DEFAULTS = dict(
    # the objective and the optimizer
    box="active",  # active set on the bounds; "penalty": the penalty alone keeps z near the box
    mu=10.0,  # penalty weight outside the box (pixels crossing a bound within a call) ...
    mu_rel=10.0,  # ... at most this times c (keeps small-c problems well conditioned)
    num_correction_pairs=3,  # L-BFGS memory (more pairs: fewer iterations, each much dearer)
    tolerance=1e-4,  # gradient sup-norm
    f_relative_tolerance=1e-5,
    stage_iterations=10,  # most L-BFGS iterations per optimizer call
    stage_fraction=0.5,  # a call stops once this fraction of its members has converged
    jit_compile="auto",  # True: XLA-compile each whole call; "objective": only the objective;
    #                      "auto": True from AUTO_JIT_PROBLEMS problems on, else "objective"
    bucket_ratio=4.0,  # sizes the shrinking batch is padded to, for compiled-code reuse
    # when a member's solve at its c counts as done
    decided_margin=0.25,  # after a full call, a success this far past the boundary moves on
    decide_failures=False,  # also let a stalled failure this far short of it move on
    patience=3,  # after this many full calls at one c, the current iterate decides
    # the search over c
    kkt=True,  # successes: next c from the multiplier of their boundary point
    kkt_tol=0.05,  # done when |log(c_kkt / c)| is below this
    kkt_aim=0.02,  # aim this far (in log c) below c_kkt, on the success side
    shrink_steps=16,  # bisection steps to each success's boundary point
    margin_tol=0.05,  # a success with a margin below this is on the boundary: done
    c_rtol=0.02,  # bracket [success, failure] narrower than this ratio: done
    max_log_step=math.log(3.0),  # largest change of log c in one step
    newton_damping=0.6,  # Newton steps from the success side overshoot (concave margin)
    predictor=True,  # warm start at the first-order prediction of the new minimiser
    restart_failures="stuck",  # True / "stuck" / False: restart failures from the last success or x
    stuck_slope=0.25,  # "stuck": margin gained per unit of log c below this
)

# compiled functions, per model (weakly held) and settings
_STAGE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# "auto": from this many problems on, whole-call XLA compilation (some 20 s per model
# on 2 cores) pays for itself against the compiled objective
AUTO_JIT_PROBLEMS = 25_000  # measured: benchmarks/adversarial_speed.py, "first call on a new model"
# options that change the compiled function (the others only steer the Python loop)
_STAGE_KEYS = (
    "mu",
    "mu_rel",
    "jit_compile",
    "tolerance",
    "f_relative_tolerance",
    "box",
    "num_correction_pairs",
    "shrink_steps",
)


def _stage_function(model, input_shape, opts):
    """One compiled optimizer call on a batch of problems (cached per model and settings)."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    from tensorflow_probability.python.optimizer.lbfgs import LBfgsOptimizerResults

    key = (tuple(input_shape),) + tuple(opts[k] for k in _STAGE_KEYS)
    per_model = _STAGE_CACHE.setdefault(model, {})
    if key in per_model:
        return per_model[key]

    shape = (-1,) + tuple(input_shape)
    mu = tf.constant(opts["mu"], tf.float32)
    mu_rel = tf.constant(opts["mu_rel"], tf.float32)
    active_set = opts["box"] == "active"
    tolerance = float(opts["tolerance"])
    f_rel = float(opts["f_relative_tolerance"])
    d = int(np.prod(input_shape))
    unit = tf.constant(1e-3 / math.sqrt(d), tf.float32)
    shrink_steps = int(opts["shrink_steps"])

    def logits_of(z):
        return model(tf.reshape(z, shape), training=False)

    def objective(z, x, t, c):
        """c ||z - x||^2 + CE(f(z), t) + mu ||z - clip(z)||^2 and its gradient, per row."""
        with tf.GradientTape() as tape:
            tape.watch(z)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits_of(z))
            r = z - x
            o = z - tf.clip_by_value(z, 0.0, 1.0)
            f = (
                c * tf.reduce_sum(r * r, axis=1)
                + ce
                + tf.minimum(mu, mu_rel * c) * tf.reduce_sum(o * o, axis=1)
            )
        return f, tape.gradient(f, z)

    # "objective": only the objective is XLA-compiled (per batch size, in a fraction
    # of a second); the optimizer loop runs as one TensorFlow graph for all sizes
    inner = (
        tf.function(objective, jit_compile=True, autograph=False)
        if opts["jit_compile"] == "objective"
        else objective
    )

    def stage(x, t, c, c_hist, reset, position, s_hist, y_hist, max_it, n_real, fraction):
        batch = tf.shape(c)[0]
        real = tf.range(batch) < n_real  # the rest is padding

        if active_set:
            # start from the box; pixels on a bound whose gradient points out of the
            # box are held there for this call (their gradient is zeroed)
            position = tf.clip_by_value(position, 0.0, 1.0)
        f0, g0 = objective(position, x, t, c)
        start_logits = logits_of(position)
        if active_set:
            frozen = ((position <= 0.0) & (g0 > 0.0)) | ((position >= 1.0) & (g0 < 0.0))
            free = 1.0 - tf.cast(frozen, tf.float32)
        else:
            free = tf.ones_like(position)

        def value_and_gradients(z):
            f, g = inner(z, x, t, c)
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
        s_last = tf.where(empty[:, None], unit * free, s_h[-1])
        y_last = tf.where(empty[:, None], 2.0 * c[:, None] * unit * free, y_h[-1])
        s_h = tf.concat([s_h[:-1], s_last[None]], axis=0)
        y_h = tf.concat([y_h[:-1], y_last[None]], axis=0)

        g0 = g0 * free
        state = LBfgsOptimizerResults(
            converged=~real,
            failed=tf.zeros_like(real),
            num_iterations=tf.constant(s_hist.shape[0]),
            num_objective_evaluations=tf.constant(0),
            position=position,
            objective_value=f0,
            objective_gradient=g0,
            position_deltas=s_h,
            gradient_deltas=y_h,
        )

        def stop(converged, failed):
            done = tf.cast((converged | failed) & real, tf.float32)
            return tf.reduce_sum(done) >= fraction * tf.cast(n_real, tf.float32)

        res = tfp.optimizer.lbfgs_minimize(
            value_and_gradients,
            None,
            previous_optimizer_results=state,
            max_iterations=state.num_iterations + max_it,
            tolerance=tolerance,
            f_relative_tolerance=f_rel,
            stopping_condition=stop,
        )
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
        # pull the (clipped) solution back along its perturbation to the decision boundary
        r = zc - x
        boundary = x + _boundary_fraction(logits_of, x, r, t, True, shrink_steps)[:, None] * r
        # the c for which the boundary point is stationary on its free pixels
        # (KKT: 2c r = -grad CE): the multiplier estimate of the c we look for
        with tf.GradientTape() as tape:
            tape.watch(boundary)
            ce_b = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=t, logits=logits_of(boundary)
            )
        g_b = tape.gradient(ce_b, boundary)
        free_b = 1.0 - tf.cast(
            ((boundary <= 0.0) & (g_b > 0.0)) | ((boundary >= 1.0) & (g_b < 0.0)), tf.float32
        )
        rb = (boundary - x) * free_b
        c_kkt = -tf.reduce_sum(rb * g_b, axis=1) / (2.0 * tf.reduce_sum(rb * rb, axis=1) + 1e-30)
        return dict(
            position=z,
            converged=res.converged,
            failed=res.failed,
            s=s_f,
            y=y_f,
            evaluations=res.num_objective_evaluations,
            iterations=res.num_iterations - k,
            logits=logits_clip,
            slope=tf.reduce_sum(grad_m * dz, axis=1),
            dz=dz,
            boundary=boundary,
            c_kkt=c_kkt,
            start_logits=start_logits,
        )

    if opts["jit_compile"] is True:
        fn = tf.function(stage, jit_compile=True, autograph=False)  # compiled once per batch size
    else:  # one graph for every batch size
        m = int(opts["num_correction_pairs"])
        vec = tf.TensorSpec([None], tf.float32)
        mat = tf.TensorSpec([None, d], tf.float32)
        hist = tf.TensorSpec([m, None, d], tf.float32)
        scalar_i = tf.TensorSpec([], tf.int32)
        fn = tf.function(
            stage,
            autograph=False,
            input_signature=[
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
            ],
        )
    per_model[key] = fn
    return fn


def _boundary_fraction(logits_of, x, r, classes, targeted, steps):
    """Smallest t in (0, 1] (to 2^-steps) with x + t r still on the class's side (graph code).

    Bisection on forward passes, as a loop in the graph (a smaller graph to trace and
    compile than an unrolled one). Targeted: ``classes`` beats every other class;
    untargeted: some other class beats ``classes``; either by a logit margin of at
    least SAFE_MARGIN_ABS + SAFE_MARGIN_REL * max|logit|. Shared by the search's
    boundary points and the final pull-back (`_shrink`).
    """
    import tensorflow as tf

    def on_side(lg):
        onehot = tf.one_hot(classes, tf.shape(lg)[1], dtype=lg.dtype)
        own = tf.reduce_sum(lg * onehot, axis=1)
        other = tf.reduce_max(lg - 1e30 * onehot, axis=1)
        safe = SAFE_MARGIN_ABS + SAFE_MARGIN_REL * tf.reduce_max(tf.abs(lg), axis=1)
        return tf.where(targeted, own - other >= safe, other - own >= safe)

    def bisect(lo, hi):
        mid = 0.5 * (lo + hi)
        ok = on_side(logits_of(x + mid[:, None] * r))
        return tf.where(ok, lo, mid), tf.where(ok, mid, hi)

    n = tf.shape(x)[:1]
    _, hi = tf.while_loop(
        lambda *_: True, bisect, (tf.zeros(n), tf.ones(n)), maximum_iterations=steps
    )
    return hi


def _bucket_sizes(n0: int, ratio: float) -> list[int]:
    """Batch sizes the compacted batch is padded to: n0, then n0 / ratio, ... (multiples of 8)."""
    sizes = [n0]
    while sizes[-1] > 16:
        sizes.append(max(16, int(math.ceil(sizes[-1] / ratio / 8)) * 8))
    return sorted(set(sizes))


class _Slots:
    """Per-slot state of the problems being solved, numpy arrays indexed by slot."""

    def __init__(self, B, d, m):
        self.prob = np.full(B, -1, np.int64)  # problem held by the slot, -1 = free
        self.z = np.zeros((B, d), np.float32)
        self.z_lo = np.full((B, d), np.nan, np.float32)  # solution at the largest successful c
        self.S = np.zeros((m, B, d), np.float32)
        self.Y = np.zeros((m, B, d), np.float32)
        for name in ("c", "c_hist", "lo", "hi", "m_lo", "m_hi", "prev_logc", "prev_margin"):
            setattr(self, name, np.full(B, np.nan))
        self.reset = np.ones(B, bool)
        self.steps = np.zeros(B, np.int64)
        self.its_at_c = np.zeros(B, np.int64)

    def load(self, slots, probs, images, image_of, c_init):
        self.prob[slots] = probs
        self.z[slots] = images[image_of[probs]]
        self.z_lo[slots] = np.nan
        self.S[:, slots] = 0.0
        self.Y[:, slots] = 0.0
        self.c[slots] = c_init
        self.c_hist[slots] = c_init
        for name in ("lo", "hi", "m_lo", "m_hi", "prev_logc", "prev_margin"):
            getattr(self, name)[slots] = np.nan
        self.reset[slots] = True
        self.steps[slots] = 0
        self.its_at_c[slots] = 0


def _search_tfp(
    model, input_shape, images, image_of, t, opts, c_init, c_steps, max_iterations, chunk_size, pbar
):
    """Batched search over all problems: image images[image_of[i]] to target t[i].

    `chunk_size` slots are solved together; a slot whose problem is finished takes the
    next problem in the queue, so the batch stays full until the queue is empty, and
    then shrinks (padded to a few fixed sizes, so compiled code is reused).
    """
    import tensorflow as tf

    n, d = len(image_of), images.shape[1]
    m = opts["num_correction_pairs"]
    stage = _stage_function(model, input_shape, opts)
    B0 = min(n, chunk_size)
    sizes = _bucket_sizes(B0, opts["bucket_ratio"])
    t = t.astype(np.int32)
    slots = _Slots(B0, d, m)
    queue = 0  # next problem to load
    best_d = np.full(n, np.inf)
    best_z = np.full((n, d), np.nan, np.float32)
    best_c = np.full(n, np.nan)
    evals = np.zeros(n, np.int64)
    total_evals = 0
    n_calls = 0
    fraction = tf.constant(float(opts["stage_fraction"]), tf.float32)
    stage_its = tf.constant(int(opts["stage_iterations"]))
    maxs = opts["max_log_step"]
    margin_tol, c_rtol = opts["margin_tol"], opts["c_rtol"]

    while True:
        free_slots = np.flatnonzero(slots.prob < 0)
        if queue < n and len(free_slots):
            k = min(len(free_slots), n - queue)
            slots.load(free_slots[:k], np.arange(queue, queue + k), images, image_of, c_init)
            queue += k
        idx = np.flatnonzero(slots.prob >= 0)  # live slots
        na = len(idx)
        if na == 0:
            break
        B = min(s for s in sizes if s >= na)
        pad = np.concatenate([idx, np.full(B - na, idx[0])])
        probs = slots.prob[idx]
        xi = images[image_of[probs]]
        out = stage(
            tf.constant(images[image_of[slots.prob[pad]]]),
            tf.constant(t[slots.prob[pad]]),
            tf.constant(slots.c[pad].astype(np.float32)),
            tf.constant(slots.c_hist[pad].astype(np.float32)),
            tf.constant(slots.reset[pad]),
            tf.constant(slots.z[pad]),
            tf.constant(slots.S[:, pad]),
            tf.constant(slots.Y[:, pad]),
            stage_its,
            tf.constant(na),
            fraction,
        )
        n_calls += 1
        ne = int(out["evaluations"]) + 2  # + the restart and the margin gradient
        evals[probs] += ne
        total_evals += ne * B
        slots.its_at_c[idx] += int(out["iterations"])

        zn = out["position"].numpy()[:na]
        conv = out["converged"].numpy()[:na]
        lsfail = out["failed"].numpy()[:na]
        slots.S[:, idx] = out["s"].numpy()[:, :na]
        slots.Y[:, idx] = out["y"].numpy()[:, :na]
        cc = slots.c[idx]
        slots.c_hist[idx] = cc
        lg = out["logits"].numpy()[:na].astype(np.float64)
        bnd = out["boundary"].numpy()[:na]
        c_kkt = out["c_kkt"].numpy()[:na].astype(np.float64)
        finite = (
            np.all(np.isfinite(zn), axis=1)
            & np.all(np.isfinite(lg), axis=1)
            & np.all(np.isfinite(bnd), axis=1)
        )
        zn = np.where(finite[:, None], zn, xi)
        lg = np.where(finite[:, None], lg, 0.0)
        marg = margins(lg, t[probs])
        ok = finite & (marg >= _safe_margin(lg))

        # candidates: the boundary point of each success (kkt) or the clipped solution
        cand = bnd if opts["kkt"] else np.clip(zn, 0.0, 1.0)
        dist = np.sqrt(np.mean((cand.astype(np.float64) - xi) ** 2, axis=1))
        better = ok & (dist < best_d[probs])
        bp = probs[better]
        best_d[bp] = dist[better]
        best_z[bp] = cand[better]
        best_c[bp] = cc[better]

        # a member's solve at its c is complete when it converged, its line search
        # gave up, it used max_iterations at this c, or, after a full call at this
        # c, its margin is far enough from 0 to decide on which side of c* it is
        # (a success well past the boundary moves on at once; a failure only once its
        # margin stalls: slow problems fail for many iterations before they succeed)
        its_c = slots.its_at_c[idx]
        marg0 = margins(
            np.where(finite[:, None], out["start_logits"].numpy()[:na].astype(np.float64), 0.0),
            t[probs],
        )
        full_call = its_c >= opts["stage_iterations"]
        complete = conv | lsfail | ~finite | (its_c >= max_iterations)
        complete |= full_call & ok & (marg > opts["decided_margin"])
        if opts["decide_failures"]:
            complete |= (
                full_call
                & ~ok
                & (marg < -opts["decided_margin"])
                & (marg - marg0 < opts["decided_margin"])
            )
        complete |= its_c >= opts["patience"] * opts["stage_iterations"]
        logc = np.log(cc)

        # bracket [largest success, smallest failure]; a failed line search without
        # success says nothing about c
        informative = complete & finite & (ok | ~lsfail)
        set_lo = informative & ok & ~(slots.lo[idx] >= cc)
        set_hi = informative & ~ok & ~(slots.hi[idx] <= cc)
        slots.lo[idx[set_lo]] = cc[set_lo]
        slots.m_lo[idx[set_lo]] = marg[set_lo]
        slots.z_lo[idx[set_lo]] = zn[set_lo]
        slots.hi[idx[set_hi]] = cc[set_hi]
        slots.m_hi[idx[set_hi]] = marg[set_hi]
        slots.steps[idx[complete]] += 1
        lo, hi = slots.lo[idx], slots.hi[idx]
        both = np.isfinite(lo) & np.isfinite(hi)

        done = complete & ok & (marg <= margin_tol)
        done |= complete & both & (hi <= lo * (1.0 + c_rtol))
        done |= complete & (slots.steps[idx] >= c_steps)
        kkt_ok = complete & ok & np.isfinite(c_kkt) & (c_kkt > 0)
        if opts["kkt"]:
            with np.errstate(divide="ignore", invalid="ignore"):
                done |= kkt_ok & (
                    np.abs(np.log(np.where(kkt_ok, c_kkt, 1.0) / cc)) <= opts["kkt_tol"]
                )

        move = complete & ~done & informative
        if move.any():
            # next c. Successes: the multiplier estimate c_kkt of their boundary point.
            # Failures (and successes without one): a root step on the margin in
            # log c, with the secant slope through the member's previous point, else
            # the Newton slope grad(margin) . dz/dlog c. Kept inside the bracket.
            newton = out["slope"].numpy()[:na].astype(np.float64)
            prev_marg = slots.prev_margin[idx].copy()
            dlog = logc - slots.prev_logc[idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                secant = np.where(
                    np.abs(dlog) > 1e-6, (marg - slots.prev_margin[idx]) / dlog, np.nan
                )
                have_secant = np.isfinite(secant) & (secant < 0)
                slope = np.where(have_secant, secant, newton)
                step = np.where(slope < 0, (0.5 * margin_tol - marg) / slope, np.nan)
            # the margin is concave in log c: a Newton step from the success side overshoots
            step = np.where(ok & ~have_secant, opts["newton_damping"] * step, step)
            if opts["kkt"]:
                kstep = np.log(np.where(kkt_ok, c_kkt, 1.0)) - opts["kkt_aim"] - logc
                step = np.where(kkt_ok, kstep, step)
            step = np.clip(step, -maxs, maxs)
            step = np.where(np.isfinite(step), step, np.where(ok, maxs, -maxs))
            target = logc + step
            a, b = np.log(lo), np.log(hi)
            inside = (target > a + 0.05 * (b - a)) & (target < b - 0.05 * (b - a))
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.clip(slots.m_lo[idx] / (slots.m_lo[idx] - slots.m_hi[idx]), 0.1, 0.9)
            target = np.where(both & ~inside, a + w * (b - a), target)
            target = np.where(move, target, logc)
            slots.prev_logc[idx[move]] = logc[move]
            slots.prev_margin[idx[move]] = marg[move]
            if opts["predictor"]:
                # first-order prediction of the new minimiser: z + dz/dlog c * dlog c
                zp = zn + out["dz"].numpy()[:na] * (target - logc)[:, None].astype(np.float32)
                good = (move & finite)[:, None] & np.all(np.isfinite(zp), axis=1, keepdims=True)
                zn = np.where(good, np.clip(zp, -0.1, 1.1), zn)
            if opts["restart_failures"]:
                # a failure restarts from the solution at its largest successful c, or
                # from x: warm starts down a failing path can stall on a flat region
                back = move & ~ok
                if (
                    opts["restart_failures"] == "stuck"
                ):  # only after a failure that barely improved on the last
                    with np.errstate(divide="ignore", invalid="ignore"):
                        gain = (marg - prev_marg) / np.abs(dlog)  # margin gained per unit of log c
                    back &= (prev_marg < 0) & (gain < opts["stuck_slope"])
                zl = slots.z_lo[idx]
                has = np.all(np.isfinite(zl), axis=1)
                zn = np.where((back & has)[:, None], zl, np.where(back[:, None], xi, zn))
            slots.c[idx] = np.exp(target)
            slots.its_at_c[idx[move]] = 0
        slots.z[idx] = zn
        slots.reset[idx] = lsfail | ~finite
        slots.prob[idx[done]] = -1
        if pbar is not None and done.any():
            pbar.update(int(done.sum()))

    return dict(
        z=best_z,
        ok=np.isfinite(best_d),
        c=best_c,
        evals=evals,
        total_evals=total_evals,
        calls=n_calls,
    )


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

    sig = [
        tf.TensorSpec([d], tf.float64),
        tf.TensorSpec([d], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.int32),
    ]
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

        res = scipy.optimize.minimize(
            fun,
            x.astype(np.float64),
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 1.0),
            options={"maxiter": max_iterations},
        )
        z = np.clip(res.x, 0.0, 1.0).astype(np.float32)
        lg = logits_fn(z)
        if margins(lg[None], [t])[0] >= _safe_margin(lg[None])[0]:
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


def _shrink_function(model, input_shape):
    """The final pull-back as a tf.function of the model, cached per model and input shape."""
    import tensorflow as tf

    per_model = _STAGE_CACHE.setdefault(model, {})
    key = ("shrink", tuple(input_shape))
    if key in per_model:
        return per_model[key]
    flat = tf.TensorSpec([None, int(np.prod(input_shape))], tf.float32)
    shape = (-1,) + tuple(input_shape)

    def shrink(x, r, classes, targeted, steps):
        return _boundary_fraction(
            lambda z: model(tf.reshape(z, shape), training=False), x, r, classes, targeted, steps
        )

    fn = tf.function(
        shrink,
        autograph=False,
        input_signature=[
            flat,
            flat,
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.bool),
            tf.TensorSpec([], tf.int32),
        ],
    )
    per_model[key] = fn
    return fn


def _shrink(model, input_shape, x, x_adv, classes, targeted, steps):
    """Pull each successful x_adv back towards x along its own perturbation.

    The smallest t in (0, 1] (to 2^-steps) with x + t (x_adv - x) still reaching the
    target (targeted) or still misclassified (untargeted), by bisection on forward
    passes; x + t r stays in the box because the box is convex. "Reaching" means by
    a logit margin of at least SAFE_MARGIN_ABS + SAFE_MARGIN_REL * max|logit|, so the
    answer is not left exactly on the decision boundary, where float rounding in a
    differently compiled forward pass can flip it.
    """
    import tensorflow as tf

    fn = _shrink_function(model, input_shape)
    r = (x_adv - x).astype(np.float32)
    t = fn(
        tf.constant(x),
        tf.constant(r),
        tf.constant(classes.astype(np.int32)),
        tf.constant(bool(targeted)),
        tf.constant(int(steps)),
    ).numpy()
    return np.clip(x + t[:, None].astype(np.float32) * r, 0.0, 1.0)


def _check_progress(progress) -> bool:
    """``True``/``False`` as given; ``None``: on unless ``NBHELPERS_PROGRESS`` is 0/false/no/off."""
    if progress is None:
        return os.environ.get("NBHELPERS_PROGRESS", "1").strip().lower() not in (
            "0",
            "false",
            "no",
            "off",
        )
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None, got {progress!r}")
    return progress


def _progress_bar(total, desc):
    """A tqdm bar: a widget in notebooks that have ipywidgets (Colab), else text on stderr."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found": falls back to text
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="problem", leave=False)


def _random_wrong_labels(labels, num_classes, seed):
    rng = np.random.default_rng(seed)
    return (labels + rng.integers(1, num_classes, size=len(labels))) % num_classes


def minimal_distortion(
    model,
    x,
    labels,
    targets=None,
    method: str = "tfp",
    *,
    c_init: float = 1.0,
    c_steps: int = 10,
    max_iterations: int = 100,
    chunk_size: int = 1024,
    untargeted_candidates: int = DEFAULT_UNTARGETED_CANDIDATES,
    progress: bool | None = None,
    seed: int = 0,
    refine: int = 16,
    **tfp_options,
) -> AdversarialResult:
    """Smallest perturbations that make `model` output a chosen label (paper §4.1).

    Minimises ``c ||r||^2 + CE(model(x + r), target)`` over ``r`` with ``x + r`` in
    ``[0, 1]`` for a sequence of ``c``, and keeps per image the successful solution of
    smallest distortion, i.e. the one of the **largest c that still reaches the
    target**: the paper's "minimum c" read as "smallest perturbation", because ``c``
    weighs the size of ``r`` (see the module docstring). The squared norm keeps the
    objective smooth at ``r = 0``, where every search starts.

    Parameters
    ----------
    model : Keras model mapping images (n, *input_shape) to logits (n, K), not to
        softmax probabilities.
    x : images in [0, 1], shape (n, *input_shape), e.g. (n, 784) or (n, 28, 28, 1).
    labels : (n,) true labels.
    targets : (n,) target classes, each different from its label; ``"random"`` for
        uniformly random wrong labels (drawn with ``seed``); or ``None`` for an
        untargeted search, the smallest distortion over the wrong classes (see
        ``untargeted_candidates``).
    method : ``"tfp"`` (batched, fast) or ``"scipy"`` (the reference: L-BFGS-B per
        image, every c solved from r = 0).
    c_init : the first c tried.
    c_steps : most values of c solved per problem (the reference always solves this
        many; the batched search stops earlier once c is pinned down).
    max_iterations : most L-BFGS iterations at one value of c.
    chunk_size : problems solved together by the batched method (bounds its working
        memory: about 30 KB per problem).
    untargeted_candidates : for ``targets=None``, the number k of wrong classes tried
        per image, those the model ranks highest at x; K - 1 (9 on MNIST) tries them
        all and is exact. The default was measured to stay within 1% of the exact
        minimum on average (benchmarks/adversarial_speed.py).
    progress : show a tqdm progress bar over the problems; ``None`` (default): show it
        unless the environment variable ``NBHELPERS_PROGRESS`` is ``0`` (the book's
        build sets it, so rendered chapters carry no progress bars).
    seed : seed of ``targets="random"``; the search itself uses no randomness, and the
        same inputs give the same outputs.
    refine : bisection steps of the final pull-back of each result towards x, along its
        own perturbation, to just past the decision boundary (0 = off); applied
        alike to both methods.
    **tfp_options : advanced settings of the batched method (``_TFP_DEFAULTS``), e.g.
        ``jit_compile=True`` for the fastest steady state.

    Returns
    -------
    AdversarialResult, with ``c`` the value of c whose solution was pulled back to
    give ``x_adv``, and in ``info``: ``distortion_unrefined`` (before the final
    pull-back), and for "tfp" ``jit_compile`` and ``optimizer_calls``.
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
        raise ValueError(
            f"refine must be a non-negative integer (bisection steps, 0 = off), got {refine!r}"
        )
    seed = _check_seed(seed)
    progress = _check_progress(progress)
    unknown = set(tfp_options) - set(_TFP_DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)}; expected some of {sorted(_TFP_DEFAULTS)}"
        )
    opts = dict(_TFP_DEFAULTS, **tfp_options)
    for name in (
        "mu",
        "mu_rel",
        "tolerance",
        "margin_tol",
        "c_rtol",
        "max_log_step",
        "kkt_tol",
        "decided_margin",
    ):
        opts[name] = _check_positive_float(name, opts[name])
    if not (0 < float(opts["stage_fraction"]) <= 1):
        raise ValueError(f"stage_fraction must lie in (0, 1], got {opts['stage_fraction']!r}")
    if not (float(opts["f_relative_tolerance"]) >= 0):
        raise ValueError(f"f_relative_tolerance must be >= 0, got {opts['f_relative_tolerance']!r}")
    for name in ("num_correction_pairs", "stage_iterations", "patience", "shrink_steps"):
        opts[name] = _check_positive_int(name, opts[name])
    for name, allowed in (
        ("jit_compile", ("auto", True, False, "objective")),
        ("box", ("active", "penalty")),
        ("restart_failures", (True, False, "stuck")),
    ):
        if not any(opts[name] is a if isinstance(a, bool) else opts[name] == a for a in allowed):
            raise ValueError(f"{name} must be one of {allowed}, got {opts[name]!r}")
    if method == "scipy" and tfp_options:
        raise TypeError(f"option(s) {sorted(tfp_options)} apply to method='tfp' only")

    x = _check_box_images(x, "x")
    n = len(x)
    if n == 0:
        raise ValueError("expected at least one image, got none")
    num_classes = _probe_model(model, x)
    labels = _check_classes("labels", labels, n, num_classes)
    if isinstance(targets, str):
        if targets != "random":
            raise ValueError(
                f"targets must be an array of classes, 'random' or None, got {targets!r}"
            )
        targets = _random_wrong_labels(labels, num_classes, seed)
    if targets is not None:
        targets = _check_classes("targets", targets, n, num_classes)
        same = np.flatnonzero(targets == labels)
        if len(same):
            raise ValueError(
                f"targets must differ from labels; they are equal for {len(same)} image(s), "
                f"first at index {same[0]}"
            )
        prob_img = np.arange(n)
        prob_t = targets
    else:
        k = min(untargeted_candidates, num_classes - 1)
        logits = np.concatenate(
            [np.asarray(model(x[i : i + 2048], training=False)) for i in range(0, n, 2048)]
        )
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

    bar = _progress_bar(n_prob, f"adversarial search ({method})") if progress else None
    try:
        if method == "tfp":
            if opts["jit_compile"] == "auto":
                # XLA-compiling the whole optimizer takes some 20 s per model; it pays
                # off from AUTO_JIT_PROBLEMS problems on
                opts["jit_compile"] = True if n_prob >= AUTO_JIT_PROBLEMS else "objective"
            info["jit_compile"] = opts["jit_compile"]
            out = _search_tfp(
                model,
                input_shape,
                xf,
                prob_img,
                prob_t,
                opts,
                c_init,
                c_steps,
                max_iterations,
                chunk_size,
                bar,
            )
            z_best, ok_p, c_p, ev_p = out["z"], out["ok"], out["c"], out["evals"]
            total = out["total_evals"]
            info["optimizer_calls"] = out["calls"]
        else:
            objective = _scipy_objective(model, input_shape)
            shape = (1,) + input_shape

            def logits_fn(zv):
                return np.asarray(model(zv.reshape(shape), training=False))[0]

            with _blas_one_thread():
                for p in range(n_prob):
                    (dist, z, cbest), ne = _search_scipy_one(
                        model,
                        objective,
                        xf[prob_img[p]],
                        prob_t[p],
                        c_init,
                        c_steps,
                        max_iterations,
                        logits_fn,
                    )
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
    dist_p = np.full(n_prob, np.inf)
    dist_p[ok_p] = distortion(xf[prob_img[ok_p]], z_best[ok_p])
    order = np.lexsort((dist_p, prob_img))  # by image, then distortion
    first = np.ones(n_prob, bool)
    first[1:] = prob_img[order][1:] != prob_img[order][:-1]
    pick = order[first]  # one problem per image, in image order
    x_adv = z_best[pick].copy()
    chosen_ok = ok_p[pick]
    x_adv[~chosen_ok] = np.nan
    evaluations = np.bincount(prob_img, weights=ev_p, minlength=n).astype(np.int64)

    info["distortion_unrefined"] = np.full(n, np.nan)
    if chosen_ok.any():
        info["distortion_unrefined"][chosen_ok] = distortion(xf[chosen_ok], x_adv[chosen_ok])
    if refine and chosen_ok.any():
        rows = np.flatnonzero(chosen_ok)
        classes = targets[rows] if targets is not None else labels[rows]
        x_adv[rows] = _shrink(
            model, input_shape, xf[rows], x_adv[rows], classes, targets is not None, refine
        )

    # verify on the returned images
    reached = np.full(n, -1, np.int64)
    if chosen_ok.any():
        reached[chosen_ok] = predict_labels(model, x_adv[chosen_ok].reshape((-1,) + input_shape))
    if targets is not None:
        success = chosen_ok & (reached == targets)
    else:
        success = chosen_ok & (reached != labels) & (reached >= 0)
    x_adv[~success] = np.nan
    reached[~success] = -1
    dist = np.where(success, distortion(xf, np.where(success[:, None], x_adv, xf)), np.nan)
    c_out = np.where(success, c_p[pick], np.nan)
    return AdversarialResult(
        x_adv=x_adv.reshape(x.shape),
        distortion=dist,
        success=success,
        targets=reached,
        labels=labels,
        requested=None if targets is None else targets,
        c=c_out,
        evaluations=evaluations,
        total_evaluations=int(total),
        seconds=time.perf_counter() - t_start,
        method=method,
        info=info,
    )
