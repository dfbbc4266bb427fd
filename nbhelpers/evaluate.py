"""What a model answers on a set of images: its logits, classes, error rate and gradients.

The one home of model evaluation, shared by the modules that train, attack and
compare models; it knows nothing of any of them (any Keras model that outputs one
score per class, logits rather than probabilities, will do). Everything runs in
batches of ``batch_size`` images, in inference mode (``training=False``).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_images, check_int, check_labels

__all__ = [
    "logits",
    "predict_labels",
    "error_rate",
    "accuracy",
    "input_gradient",
    "deterministic_ops",
]


def deterministic_ops() -> None:
    """TensorFlow's deterministic kernels, for the rest of the process: same seed, same numbers.

    Training and the search both turn them on. Were only training to do it, a search
    in a process that trained a model would differ (in the 7th digit) from the same
    search in one that loaded it from the cache.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def _batch_starts(x: np.ndarray, batch_size) -> range:
    return range(0, len(x), check_int(batch_size, "batch_size", low=1))


def logits(model, x, batch_size: int = 2048, *, box: bool = True) -> np.ndarray:
    """The model's outputs ``(n, K)`` (float32) for images ``x`` in ``[0, 1]``, in batches.

    ``box=False`` takes pixels outside ``[0, 1]`` (an unclipped step or noise).
    """
    x = check_images(x, "x", allow_empty=True, box=box)
    starts = _batch_starts(x, batch_size)
    if len(x) == 0:
        return np.asarray(model(x, training=False), dtype=np.float32)
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in starts]
    return np.concatenate(out).astype(np.float32, copy=False)


def predict_labels(model, x, batch_size: int = 2048, *, box: bool = True) -> np.ndarray:
    """The model's class (argmax of its outputs) for each image, as int64, in batches.

    ``box=False`` takes pixels outside ``[0, 1]`` (the unclipped noise of Tables 2 and 4).
    """
    x = check_images(x, "x", allow_empty=True, box=box)
    out = [
        np.argmax(np.asarray(model(x[i : i + batch_size], training=False)), axis=1)
        for i in _batch_starts(x, batch_size)
    ]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), dtype=np.int64)


def _images_and_labels(model, x, y, allow_nan: bool = False, box: bool = True):
    """Images and one label each, a class of the model; an empty set is refused."""
    x = check_images(x, "x", allow_nan=allow_nan, allow_empty=True, box=box)
    y_array = np.asarray(y)
    if y_array.ndim == 1 and len(y_array) != len(x):
        raise ValueError(
            f"expected as many labels as images, got {len(y_array)} labels for {len(x)} images"
        )
    if len(x) == 0:
        raise ValueError("expected at least one image, got none")
    num_classes = int(np.asarray(model(x[:1], training=False)).shape[-1])
    return x, check_labels(y, "labels", n=len(x), num_classes=num_classes)


def error_rate(model, x, y, batch_size: int = 2048, *, box: bool = True) -> float:
    """Fraction of images the model misclassifies (Table 1's error columns).

    ``box=False`` takes pixels outside ``[0, 1]`` (unclipped noise).
    """
    x, y = _images_and_labels(model, x, y, box=box)
    return float(np.mean(predict_labels(model, x, batch_size, box=box) != y))


def accuracy(model, x, labels, batch_size: int = 2048, *, box: bool = True) -> float:
    """Fraction of images (e.g. adversarial ones) the model classifies as ``labels``.

    Rows containing NaN (failed adversarial searches) are left out, not counted as
    errors; with no rows left, NaN. ``box=False`` takes pixels outside ``[0, 1]``.
    """
    x, labels = _images_and_labels(model, x, labels, allow_nan=True, box=box)
    keep = ~np.isnan(x.reshape(len(x), -1)).any(axis=1)
    if not keep.any():
        return float("nan")
    return float(np.mean(predict_labels(model, x[keep], batch_size, box=box) == labels[keep]))


def input_gradient(model, x, labels, batch_size: int = 2048) -> np.ndarray:
    """Gradient of each image's cross-entropy loss with respect to the image, shaped as ``x``.

    ``d CE(softmax(f(x_i)), y_i) / d x_i`` for every image ``x_i``, the direction in
    which a small change of the pixels raises the loss fastest (the first-order term
    that the box-constrained search of §4.1 follows). float32, eager (no tracing).
    """
    import tensorflow as tf

    x, labels = _images_and_labels(model, x, labels)
    out = []
    for i in _batch_starts(x, batch_size):
        batch = tf.constant(x[i : i + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.constant(labels[i : i + batch_size]),
                logits=model(batch, training=False),
            )
        out.append(tape.gradient(ce, batch).numpy())
    return np.concatenate(out).reshape(x.shape)
