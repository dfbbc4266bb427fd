"""What a model answers on a set of images: its classes and its error rate.

Shared by the modules that train, attack and compare models; it knows nothing of
any of them (any Keras model that outputs one score per class will do).
"""

from __future__ import annotations

import numpy as np

__all__ = ["predict_labels", "error_rate"]


def predict_labels(model, x, batch_size: int = 2048) -> np.ndarray:
    """The model's class (argmax of its outputs) for each image, in batches."""
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = np.asarray(x, dtype=np.float32)
    out = [
        np.argmax(np.asarray(model(x[i : i + batch_size], training=False)), axis=1)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), dtype=np.int64)


def error_rate(model, x, y, batch_size: int = 2048) -> float:
    """Fraction of images the model misclassifies (Table 1's error columns)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected labels of shape (n,), got {y.shape}")
    if len(y) != len(x):
        raise ValueError(
            f"expected as many labels as images, got {len(y)} labels for {len(x)} images"
        )
    if len(y) == 0:
        raise ValueError("expected at least one image, got none")
    return float(np.mean(predict_labels(model, x, batch_size) != y))
