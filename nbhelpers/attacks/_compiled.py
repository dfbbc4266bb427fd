"""Compiled TensorFlow functions of a model, made once per model and settings.

Every compiled function of the search closes over one Keras model, so it is traced
once per model (and per setting that changes its graph): tracing cannot be shared
between models. The cache holds, per model (weakly, so a model dropped by the
caller is not kept alive by the cache key), the concrete functions made for it; a
concrete function has a fixed input signature (batch dimension ``None``, scalars as
0-d tensors), so calls with other batch sizes or other scalar values reuse it and
never retrace.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable

import numpy as np

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached(model, key: Hashable, build: Callable):
    """``build()`` the first time ``(model, key)`` is asked for, the same object afterwards."""
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def logits_of(model, input_shape):
    """``z -> model(z reshaped to (n, *input_shape))``: the model on flat rows (graph code)."""
    import tensorflow as tf

    shape = (-1,) + tuple(input_shape)

    def logits(z):
        return model(tf.reshape(z, shape), training=False)

    return logits


def flat_size(input_shape) -> int:
    """Pixels per image: the length of one flat row."""
    return int(np.prod(input_shape))
