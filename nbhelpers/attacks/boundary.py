"""Bisection to the decision boundary along a perturbation, and the final pull-back.

Along a perturbation ``r`` of ``x`` that reaches a class, the points ``x + t r``,
``t`` in ``[0, 1]``, stay in the box (it is convex), and the smallest ``t`` that still
reaches the class gives the smallest perturbation in that direction. Both the
batched search (its candidates and its KKT estimate of c, see `solver`) and the end
of both search methods (`shrink`) find it by bisection on forward passes.
"""

from __future__ import annotations

import numpy as np

from ._compiled import cached, flat_size, logits_of
from .objective import margins_tf, safe_margin_tf

__all__ = ["boundary_fraction", "shrink"]


def boundary_fraction(logits_of, x, r, classes, targeted, steps):
    """Smallest t in (0, 1] (to 2^-steps) with x + t r still on the class's side (graph code).

    Bisection on forward passes, as a loop in the graph (a smaller graph to trace and
    compile than an unrolled one). Targeted: ``classes`` beats every other class by
    the safe margin (``margin >= safe``); untargeted: some other class beats
    ``classes`` by it (``-margin >= safe``). ``t = 1`` is assumed on the side.
    """
    import tensorflow as tf

    def on_side(logits):
        margin = margins_tf(logits, classes)
        safe = safe_margin_tf(logits)
        return tf.where(targeted, margin >= safe, -margin >= safe)

    def bisect(lo, hi):
        mid = 0.5 * (lo + hi)
        ok = on_side(logits_of(x + mid[:, None] * r))
        return tf.where(ok, lo, mid), tf.where(ok, mid, hi)

    n = tf.shape(x)[:1]
    _, hi = tf.while_loop(
        lambda *_: True, bisect, (tf.zeros(n), tf.ones(n)), maximum_iterations=steps
    )
    return hi


def _shrink_function(model, input_shape):
    """`boundary_fraction` of the model as one concrete function, cached per architecture
    and shape (`_compiled.cached`).

    Its signature has a free batch dimension and takes ``targeted`` and ``steps`` as
    0-d tensors, so it is traced once per architecture and never again.
    """
    import tensorflow as tf

    def build(template):
        logits = logits_of(template, input_shape)

        def shrink(x, r, classes, targeted, steps):
            return boundary_fraction(logits, x, r, classes, targeted, steps)

        flat = tf.TensorSpec([None, flat_size(input_shape)], tf.float32)
        signature = [
            flat,
            flat,
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.bool),
            tf.TensorSpec([], tf.int32),
        ]
        return tf.function(
            shrink, autograph=False, input_signature=signature
        ).get_concrete_function()

    return cached(model, ("shrink", tuple(input_shape)), build)


def shrink(model, input_shape, x, x_adv, classes, targeted: bool, steps: int) -> np.ndarray:
    """Pull each successful x_adv back towards x along its own perturbation (flat rows).

    The smallest t in (0, 1] (to 2^-steps) with x + t (x_adv - x) still reaching the
    target (targeted) or still misclassified (untargeted), by `boundary_fraction`;
    the result is ``clip(x + t r, 0, 1)``. "Reaching" means by the safe margin, so the
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
