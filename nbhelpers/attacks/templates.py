"""Fooling linear classifiers with their own templates (Karpathy 2015), after the paper.

A softmax regression scores class t by ``w_t·x + b_t``; the score's gradient with
respect to the image is the class's weight *template* ``w_t``. Karpathy showed on
ImageNet that adding a small multiple of the target's template to an image, or to
noise, makes a linear classifier call it that class, and that stronger weight
decay gives smoother templates and more resistance, at a cost in accuracy. On
the paper's FC10 models (softmax regression on raw pixels, Table 1) the same
experiment reads the weights directly.
"""

from __future__ import annotations

import time

import numpy as np

from .._validation import check_images, check_labels, check_real
from ..evaluate import logits
from .fgsm import FGSMResult, smallest_step, step_result

__all__ = ["KARPATHY_2015", "linear_templates", "roughness", "fool_with_templates"]

KARPATHY_2015 = {
    "citation": "Karpathy. Breaking linear classifiers on ImageNet. Blog post, March 2015, "
    "karpathy.github.io/2015/03/30/breaking-convnets/.",
    "finding": "adding a small multiple of the target's weight template fools a linear "
    "classifier; stronger regularisation gives smoother templates and more resistance, "
    "at a cost in accuracy",
}


def linear_templates(model) -> tuple[np.ndarray, np.ndarray]:
    """The weight templates ``W`` ``(K, 784)`` and biases ``b`` ``(K,)`` of a softmax regression.

    ``model`` must be linear: its only weights one kernel ``(784, K)`` and one bias ``(K,)``
    (the FC10 models of Table 1). Anything else is refused: its gradient is no template.
    """
    weights = [np.asarray(w) for w in getattr(model, "weights", [])]
    shapes = [w.shape for w in weights]
    if len(weights) != 2 or weights[0].ndim != 2 or weights[1].shape != weights[0].shape[1:]:
        raise ValueError(
            "model must be a softmax regression (one kernel (784, K) and one bias (K,)), "
            f"got weights of shapes {shapes}"
        )
    return weights[0].T.astype(np.float64), weights[1].astype(np.float64)


def roughness(templates) -> np.ndarray:
    """Per 28×28 template, ‖finite differences‖ / ‖template‖: about 2 for white noise, 0 if flat.

    The root of the summed squared differences between horizontal and vertical
    neighbours, over the root of the summed squared weights; Karpathy's "smoother
    templates" as one number.
    """
    w = np.asarray(templates, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != 784:
        raise ValueError(f"templates must have shape (K, 784), got {w.shape}")
    img = w.reshape(-1, 28, 28)
    dx, dy = np.diff(img, axis=2), np.diff(img, axis=1)
    diffs = (dx**2).sum(axis=(1, 2)) + (dy**2).sum(axis=(1, 2))
    return np.sqrt(diffs / (img**2).sum(axis=(1, 2)))


def fool_with_templates(
    model, x, labels, targets, *, high: float = 1.0, grid: int = 50, refine: int = 12
) -> FGSMResult:
    """Per image, the smallest multiple of the target's template that makes it that class.

    ``x' = clip(x + s·w_t / rms(w_t), 0, 1)`` with the smallest ``s`` in ``(0, high]``
    (`smallest_step`) for which the model's class on ``x'`` is ``t``: ``s`` is the RMS
    size of the step before clipping, kept in the result's ``epsilon`` (NaN where no
    ``s ≤ high`` succeeds; those rows keep ``x_adv = x``). ``labels``: the images' classes
    (for noise, the model's own).
    """
    started = time.perf_counter()
    x = check_images(x, "x")
    w, _ = linear_templates(model)
    labels = check_labels(labels, "labels", n=len(x), num_classes=len(w))
    targets = check_labels(targets, "targets", n=len(x), num_classes=len(w))
    if np.any(targets == labels):
        raise ValueError("targets must differ from labels (a wrong class for each image)")
    high = check_real(high, "high", low=0, low_open=True)
    unit = w / np.sqrt(np.mean(w**2, axis=1, keepdims=True))
    directions = unit[targets].astype(np.float32).reshape(x.shape)

    def step(s):
        shape = (-1, *([1] * (x.ndim - 1)))
        return np.clip(x + np.asarray(s, np.float32).reshape(shape) * directions, 0.0, 1.0)

    def flips(s):
        return np.argmax(logits(model, step(s)), axis=1) == targets

    s = smallest_step(flips, len(x), high, grid, refine)
    x_adv = step(np.nan_to_num(s))
    return step_result(model, x, x_adv, labels, targets, s, started, 2048, True)
