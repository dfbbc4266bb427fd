"""The paper's suggestion, measured (§4.3): train with a penalty on the layers' upper
Lipschitz bounds and see what it does to test error and to the adversarial distortion.

The penalty is λ/2 · Σ_k ||W_k||², the spectral norm regularisation of Yoshida and
Miyato (2017), added to the loss a paper model is trained on (cross-entropy and weight
decay), with the same optimisation as :func:`nbhelpers.training.train` (Adam, then
L-BFGS). Penalised models are cached beside the others, their key the training
cache's key plus the penalty; strength 0 is the unpenalised model itself.
"""

from __future__ import annotations

import time

from .. import _validation as _v

__all__ = ["PENALTY_FORM", "spectral_penalty", "trained_penalised"]

PENALTY_FORM = "half_sum_squared_spectral_norms"  # λ/2 · Σ_k σ_max(W_k)²


def spectral_penalty(model, strength: float):
    """λ/2 · Σ_k σ_max(W_k)² over the Dense layers of ``model`` (a TensorFlow scalar).

    σ_max by singular value decomposition, differentiable: its gradient is u vᵀ.
    """
    import tensorflow as tf

    strength = _v.check_real(strength, "strength", low=0)
    kernels = [layer.kernel for layer in model.layers if type(layer).__name__ == "Dense"]
    if not kernels:
        raise ValueError(f"model {model.name!r} has no Dense layer to penalise")
    sigmas = [tf.linalg.svd(k, compute_uv=False)[0] for k in kernels]
    return 0.5 * strength * tf.add_n([tf.square(s) for s in sigmas])


def _train(name, x, y, strength, seed, settings, progress):
    """training.train's path for a classifier, with the penalty added to its loss."""
    import keras

    from .. import training
    from ..cache import TrainingResult
    from ..evaluate import deterministic_ops, error_rate
    from ..models import build

    model = build(name, seed=seed)
    deterministic_ops()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(xb, yb):
        return (
            ce(yb, model(xb, training=True))
            + training.regularization(model)
            + spectral_penalty(model, strength)
        )

    start = time.perf_counter()
    desc = f"training {name}, spectral penalty {strength:g}"
    fit = training.minimise(model.trainable_variables, loss, (x, y), settings, seed, desc, progress)
    info = {
        "model": name,
        "settings": settings.as_dict(),
        "seed": seed,
        "n_train": int(len(x)),
        "penalty": {"form": PENALTY_FORM, "strength": strength},
        "classifier": fit,
        "seconds": round(time.perf_counter() - start, 2),
        "train_error": error_rate(model, x, y),
    }
    return TrainingResult(model=model, info=info)


def trained_penalised(
    name: str,
    data,
    strength: float,
    *,
    seed: int = 0,
    settings=None,
    progress: bool | None = None,
    verbose: bool = True,
    return_info: bool = False,
):
    """The paper model ``name`` trained on ``data.x_train`` with the spectral penalty
    ``strength`` (λ), from the cache or trained now; 0 gives the unpenalised cached model.

    ``data`` and ``settings`` as for :func:`nbhelpers.training.trained_model`.
    """
    from .. import cache, training
    from ..data import N_CLASSES, N_PIXELS, check_data
    from ..models import spec
    from ..progress import check_progress

    if spec(name).kind != "fc":
        raise ValueError(f"name must be a fully connected paper model, got {name!r}")
    strength = float(_v.check_real(strength, "strength", low=0))
    if strength == 0:
        return training.trained_model(
            name, data, seed=seed, settings=settings, verbose=verbose, return_info=return_info
        )
    settings = training.check_settings(settings)
    seed = _v.check_seed(seed)
    progress = check_progress(progress)
    _v.check_bool(verbose, "verbose")
    check_data(data, ("x_train", "y_train", "fingerprint"))
    key = {
        **cache.cache_key(name, data.fingerprint, seed, settings),
        "spectral_penalty": {"form": PENALTY_FORM, "strength": strength},
    }

    def make():
        x = _v.check_images(data.x_train, "data.x_train", shape=(N_PIXELS,))
        y = _v.check_labels(data.y_train, "data.y_train", n=len(x), num_classes=N_CLASSES)
        return _train(name, x, y, strength, seed, settings, progress)

    result = cache.cached(
        name,
        key,
        make,
        label=f"{name} (spectral penalty {strength:g})",
        n=len(data.x_train),
        method=settings.method,
        verbose=verbose,
    )
    return (result.model, result.info) if return_info else result.model
