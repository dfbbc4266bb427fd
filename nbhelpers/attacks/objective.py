"""The objective of §4.1 and the margin that says whether a target is reached.

The paper's problem
-------------------
For a classifier ``f`` with logits, an image ``x`` in ``[0, 1]^m`` and a target label
``l != f(x)``, the paper looks for the smallest perturbation ``r`` with
``f(x + r) = l`` and ``x + r`` in the box. It approximates it by minimising

    c * |r| + loss_f(x + r, l)    subject to  x + r in [0, 1]^m            (1)

(``loss_f`` = softmax cross-entropy on the logits) with L-BFGS, for a sequence of
values of ``c``, keeping the minimiser that reaches the target.

The norm.  We use the squared Euclidean norm ``c * ||r||_2^2``. ``||r||`` is not
differentiable at ``r = 0``, which is exactly where every search starts; ``||r||^2``
is smooth there, and for every ``c`` the minimiser of the squared form is a minimiser
of the plain form for some other ``c'`` (the two families of minimisers trace the
same path), so searching over ``c`` reaches the same perturbations.

The margin.  ``margin = logit[target] - max_{k != target} logit[k]``, positive exactly
when the model's argmax is the target. A target counts as *reached* only when the
margin is at least ``SAFE_MARGIN_ABS + SAFE_MARGIN_REL * max|logit|``: an image left
exactly on the decision boundary can flip under float rounding in a forward pass
compiled differently (Keras' ``predict``, a batch of another size, XLA).

Each quantity is written once in numpy (the search's bookkeeping) and once as
TensorFlow graph code (inside compiled functions); the two agree to float rounding.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SAFE_MARGIN_ABS",
    "SAFE_MARGIN_REL",
    "margins",
    "safe_margin",
    "margins_tf",
    "safe_margin_tf",
    "objective_tf",
    "box_penalty_tf",
]

# A success must beat the best other class by this much (in logits), so that forward
# passes compiled differently (Keras' predict, a batch of another size, XLA) agree on it.
SAFE_MARGIN_ABS = 1e-3
SAFE_MARGIN_REL = 1e-4  # times the row's largest |logit|


def margins(logits, targets) -> np.ndarray:
    """Target logit minus the largest other logit, per row (> 0 exactly when argmax is the target).

    ``margin_i = logits[i, t_i] - max_{k != t_i} logits[i, k]``, in float64.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.arange(len(logits))
    own = logits[rows, targets]
    other = logits.copy()
    other[rows, targets] = -np.inf
    return own - other.max(axis=1)


def safe_margin(logits) -> np.ndarray:
    """The margin a row must reach to count: ``SAFE_MARGIN_ABS + SAFE_MARGIN_REL * max|logit|``."""
    return SAFE_MARGIN_ABS + SAFE_MARGIN_REL * np.max(
        np.abs(np.asarray(logits, dtype=np.float64)), axis=1
    )


def margins_tf(logits, classes):
    """Graph twin of `margins`: ``logit[class] - max_{k != class} logit[k]`` per row.

    The other classes' maximum is taken with the class's own logit pushed down by
    1e30, which leaves every other entry (and the gradient) exactly as it is.
    """
    import tensorflow as tf

    onehot = tf.one_hot(classes, tf.shape(logits)[1], dtype=logits.dtype)
    own = tf.reduce_sum(logits * onehot, axis=1)
    other = tf.reduce_max(logits - 1e30 * onehot, axis=1)
    return own - other


def safe_margin_tf(logits):
    """Graph twin of `safe_margin`."""
    import tensorflow as tf

    return SAFE_MARGIN_ABS + SAFE_MARGIN_REL * tf.reduce_max(tf.abs(logits), axis=1)


def objective_tf(logits, targets, z, x, c):
    """``c ||z - x||^2 + CE(logits, t)``: objective (1) with the squared norm, per row.

    Sums run over the last axis, so one image (a vector) and a batch (rows) alike;
    ``logits`` must be the model's output at ``z``, computed under the caller's tape.
    """
    import tensorflow as tf

    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    r = z - x
    return c * tf.reduce_sum(r * r, axis=-1) + ce


def box_penalty_tf(z, c, mu, mu_rel):
    """``min(mu, mu_rel c) ||z - clip(z, 0, 1)||^2`` per row: the pull back into the box.

    Zero inside the box, with a continuous derivative across its faces; it only holds
    pixels that cross a bound within one optimizer call (the next call clips them and
    holds them on the bound, see `solver`). Its weight is bounded by ``mu_rel * c`` so
    small-c problems stay well conditioned.
    """
    import tensorflow as tf

    outside = z - tf.clip_by_value(z, 0.0, 1.0)
    return tf.minimum(mu, mu_rel * c) * tf.reduce_sum(outside * outside, axis=1)
