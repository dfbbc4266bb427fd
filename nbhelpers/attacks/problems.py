"""The problems a search solves, and the inputs it accepts.

A *problem* is one image and one target class. A targeted search has one problem per
image; ``targets="random"`` draws the targets; an untargeted search has ``k`` per image,
the k wrong classes the model ranks highest at x (`untargeted_problems`), and keeps
per image the smallest successful perturbation over them (`best_per_image`).
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_choice,
    check_int,
    check_labels,
    check_real,
    check_seed,
)
from ..perturbations import rms_difference
from .options import SearchOptions

__all__ = [
    "METHODS",
    "check_settings",
    "model_input_shape",
    "probe_model",
    "check_targets",
    "random_wrong_labels",
    "untargeted_problems",
    "best_per_image",
]


METHODS = ("tfp", "scipy")


def check_settings(method, limits, chunk_size, untargeted_candidates, refine, seed, options):
    """The scalar arguments of `minimal_distortion`, checked; ``limits`` = (c_init, c_steps,
    max_iterations). ``options`` is ``(SearchOptions or None, keywords)``."""
    method = check_choice(method, "method", METHODS)
    c_init, c_steps, max_iterations = limits
    limits = (
        check_real(c_init, "c_init", low=0, low_open=True),
        check_int(c_steps, "c_steps", low=1),
        check_int(max_iterations, "max_iterations", low=1),
    )
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    untargeted_candidates = check_int(untargeted_candidates, "untargeted_candidates", low=1)
    refine = check_int(refine, "refine", low=0)
    seed = check_seed(seed)
    base, keywords = options
    if method == "scipy" and (keywords or base is not None):
        given = sorted(keywords) or ["options"]
        raise TypeError(f"option(s) {given} apply to method='tfp' only")
    options = SearchOptions.from_keywords(base, **keywords)
    return method, limits, chunk_size, untargeted_candidates, refine, seed, options


def model_input_shape(model):
    """The per-image input shape the model declares, or None when it does not say."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if shape is None or isinstance(shape, list):  # several inputs: not ours to handle
        return None
    return tuple(shape[1:])


def _check_input_shape(model, x: np.ndarray) -> None:
    expected = model_input_shape(model)
    if expected is None or any(d is None for d in expected) or tuple(x.shape[1:]) == expected:
        return
    raise ValueError(
        f"x has images of shape {tuple(x.shape[1:])} but the model expects inputs of shape "
        f"(n, {', '.join(str(d) for d in expected)}); reshape x to (n, *{expected})"
    )


def _check_logits(out: np.ndarray, n: int) -> None:
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(
            f"expected the model to output logits of shape (n, K), got shape {out.shape} "
            f"for {n} images"
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


def probe_model(model, x: np.ndarray) -> int:
    """Check that the model takes x and returns (n, K) logits, not probabilities; return K."""
    _check_input_shape(model, x)
    probe = x[: min(len(x), 16)]
    try:
        out = np.asarray(model(probe, training=False))
    except Exception as err:  # noqa: BLE001 - re-raised with context
        shape = ", ".join(map(str, x.shape[1:]))
        raise ValueError(
            f"the model could not be applied to x of shape (n, {shape}): "
            f"{type(err).__name__}: {err}"
        ) from err
    _check_logits(out, len(probe))
    return int(out.shape[1])


def random_wrong_labels(labels, num_classes: int, seed: int) -> np.ndarray:
    """A uniformly random class other than each label, reproducible for a given seed."""
    rng = np.random.default_rng(seed)
    return (labels + rng.integers(1, num_classes, size=len(labels))) % num_classes


def check_targets(targets, labels, num_classes: int, seed: int):
    """The targets as class indices (``"random"`` drawn with ``seed``), or None (untargeted)."""
    if targets is None:
        return None
    if isinstance(targets, str):
        if targets != "random":
            raise ValueError(
                f"targets must be an array of classes, 'random' or None, got {targets!r}"
            )
        return random_wrong_labels(labels, num_classes, seed)
    targets = check_labels(targets, "targets", n=len(labels), num_classes=num_classes)
    same = np.flatnonzero(targets == labels)
    if len(same):
        raise ValueError(
            f"targets must differ from labels; they are equal for {len(same)} image(s), "
            f"first at index {same[0]}"
        )
    return targets


def untargeted_problems(logits, labels, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image of each problem, its target)``: the k wrong classes ranked highest, per image."""
    n = len(labels)
    ranked = logits.copy()
    ranked[np.arange(n), labels] = -np.inf
    candidates = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
    return np.repeat(np.arange(n), k), candidates.reshape(-1)


def best_per_image(images, image_of, z, success) -> np.ndarray:
    """Per image, the index of its successful problem of smallest distortion (else any one).

    Ties go to the problem listed first, so the choice is deterministic.
    """
    dist = np.full(len(image_of), np.inf)
    dist[success] = rms_difference(images[image_of[success]], z[success])
    order = np.lexsort((dist, image_of))  # by image, then distortion
    first = np.ones(len(image_of), bool)
    first[1:] = image_of[order][1:] != image_of[order][:-1]
    return order[first]  # one problem per image, in image order
