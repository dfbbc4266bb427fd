"""Training the paper's models (§2); the trained models are kept in `nbhelpers.cache`.

The paper trained to convergence with L-BFGS; `train` does the same with TensorFlow
Probability's full-batch L-BFGS, by default after a few epochs of minibatch Adam that
bring it near the minimum cheaply (see METHODS), or with Adam alone.
`trained_model` returns a model from the shared cache, or trains and stores it there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from . import _validation as _v
from .cache import TrainingResult, cache_key, cached
from .data import N_CLASSES, N_PIXELS, balanced_indices, check_data
from .evaluate import deterministic_ops, error_rate
from .models import DEFAULT_DECAY_FORM, build, build_autoencoder, spec
from .progress import check_progress, progress_bar

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "TrainingSettings",
    "TrainingResult",
    "train",
    "trained_model",
    "check_settings",
    "classifier_head",
    "autoencoder_settings",
    "fit_autoencoder",
    "fit_classifier",
    "minimise",
    "regularization",
    "sparsity_penalty",
]

METHODS = ("lbfgs", "adam", "adam_lbfgs")
# "lbfgs": full-batch L-BFGS from the initial weights, as the paper trained (§2).
# "adam": minibatch Adam alone. "adam_lbfgs": `warm_epochs` of Adam, then full-batch
# L-BFGS from there. Chosen by benchmarks/training_choices.py on full MNIST (2 CPU
# cores): the FC10 models reach the same minimum as with L-BFGS alone (they are convex);
# FC100-100-10 and FC200-200-10 reach 0% training error and test errors within 0.3
# points of Table 1 in 2-3 minutes instead of 13-27 (L-BFGS, 1,000 iterations), and
# AE400-10 does as well as 1,000 L-BFGS iterations per stage in 8 minutes instead of
# 44-76. Adam alone is faster still but leaves FC100-100-10 0.6 points off.
DEFAULT_METHOD = "adam_lbfgs"


@dataclass(frozen=True)
class TrainingSettings:
    """Everything about the optimisation that determines the weights."""

    method: str = DEFAULT_METHOD
    max_iterations: int = 200  # L-BFGS iterations (AE400-10's autoencoder: twice as many)
    epochs: int = 30  # Adam epochs ("adam")
    batch_size: int = 128
    learning_rate: float = 1e-3
    warm_epochs: int = 5  # Adam epochs before L-BFGS ("adam_lbfgs")

    def __post_init__(self):
        _v.check_choice(self.method, "method", METHODS)
        for name in ("max_iterations", "epochs", "batch_size", "warm_epochs"):
            _v.check_int(getattr(self, name), name, low=1)
        _v.check_real(self.learning_rate, "learning_rate", low=0, low_open=True)

    def as_dict(self) -> dict:
        """Only the settings that the chosen method uses, so unused ones do not split the cache."""
        lbfgs = {"max_iterations": int(self.max_iterations)}
        adam = {"batch_size": int(self.batch_size), "learning_rate": float(self.learning_rate)}
        if self.method == "lbfgs":
            return {"method": "lbfgs", **lbfgs}
        if self.method == "adam":
            return {"method": "adam", "epochs": int(self.epochs), **adam}
        return {"method": "adam_lbfgs", "warm_epochs": int(self.warm_epochs), **adam, **lbfgs}

    def stages(self) -> tuple[TrainingSettings, ...]:
        """The single-method settings run one after the other ("adam_lbfgs": Adam, then L-BFGS)."""
        if self.method != "adam_lbfgs":
            return (self,)
        return (
            replace(self, method="adam", epochs=self.warm_epochs),
            replace(self, method="lbfgs"),
        )


# ---------------------------------------------------------------------------
# optimisers


def regularization(model):
    """The weight-decay term of every trainable layer that has one: its kernel's, and its
    biases' where the decay form decays them (see models._decay)."""
    import tensorflow as tf

    terms = [
        regularizer(variable)
        for layer in model.layers
        if getattr(layer, "trainable", True)
        for regularizer, variable in (
            (getattr(layer, "kernel_regularizer", None), getattr(layer, "kernel", None)),
            (getattr(layer, "bias_regularizer", None), getattr(layer, "bias", None)),
        )
        if regularizer is not None and variable is not None
    ]
    return tf.add_n(terms) if terms else tf.constant(0.0)


def _initial_state(value_and_gradients, theta, options):
    """TFP's own L-BFGS initial state at `theta` (one evaluation, its convergence test,
    empty memory), so that one traced loop, `more`, runs every chunk of `_lbfgs`: tracing
    the loop is most of a small model's training time. Graph code."""
    import tensorflow as tf
    from tensorflow_probability.python.optimizer.lbfgs import LBfgsOptimizerResults

    f0, g0 = value_and_gradients(theta)
    converged = tf.math.is_finite(f0) & (tf.norm(g0, ord=np.inf, axis=-1) < options["tolerance"])
    empty = tf.zeros((options["num_correction_pairs"], tf.size(theta)), theta.dtype)
    return LBfgsOptimizerResults(
        converged=converged,
        failed=tf.zeros_like(converged),
        num_iterations=tf.constant(0),
        num_objective_evaluations=tf.constant(1),
        position=theta,
        objective_value=f0,
        objective_gradient=g0,
        position_deltas=empty,
        gradient_deltas=empty,
    )


def _lbfgs(variables, loss_fn, max_iterations: int, bar=None, chunk: int = 20) -> dict:
    """Minimise loss_fn() over `variables` with full-batch L-BFGS (TensorFlow Probability).

    Runs in chunks of `chunk` iterations, each continuing the last one's state (the same
    iterates as one long run), so that `bar` (a tqdm bar or None) can show the loss.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]

    def assign(theta):
        for v, part, shape in zip(variables, tf.split(theta, sizes), shapes, strict=True):
            v.assign(tf.reshape(part, shape))

    def value_and_gradients(theta):
        assign(theta)
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
        return loss, tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

    options = dict(num_correction_pairs=20, tolerance=1e-7, f_relative_tolerance=1e-9)

    @tf.function
    def start(theta):
        return _initial_state(value_and_gradients, theta, options)

    @tf.function
    def more(previous, limit):
        return tfp.optimizer.lbfgs_minimize(
            value_and_gradients,
            initial_position=None,
            previous_optimizer_results=previous,
            max_iterations=limit,
            **options,
        )

    theta0 = tf.concat([tf.reshape(tf.convert_to_tensor(v), [-1]) for v in variables], axis=0)
    # A new tf.function per model is intended; keep TF's retracing warning out of the chapters.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        result, done = start(theta0), 0
        while done < max_iterations and not bool(result.converged):
            limit = min(done + chunk, max_iterations)
            result = more(result, tf.constant(limit))
            done = int(result.num_iterations)
            if bar is not None:
                bar.set_postfix(loss=f"{float(result.objective_value):.4g}", refresh=False)
                bar.update(done - bar.n)
            if bool(result.converged) or bool(result.failed) or done < limit:
                break
    finally:
        logger.setLevel(level)
    assign(result.position)
    return {
        "iterations": int(result.num_iterations),
        "evaluations": int(result.num_objective_evaluations),
        "converged": bool(result.converged),
        "final_loss": float(result.objective_value),
    }


def _adam(variables, batch_loss, data, settings: TrainingSettings, seed: int, bar=None) -> dict:
    """Minimise batch_loss(*batch) over `variables` with minibatch Adam, shuffled per epoch."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    opt = keras.optimizers.Adam(settings.learning_rate)
    n = len(data[0])
    ds = tf.data.Dataset.from_tensor_slices(data).shuffle(n, seed=seed).batch(settings.batch_size)

    @tf.function
    def step(*batch):
        with tf.GradientTape() as tape:
            loss = batch_loss(*batch)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return loss

    mean = None
    for _ in range(settings.epochs):
        total, batches = tf.constant(0.0), 0
        for batch in ds:
            total += step(*batch)
            batches += 1
        mean = float(total) / batches
        if bar is not None:
            bar.set_postfix(loss=f"{mean:.4g}", refresh=False)
            bar.update(1)
    return {"epochs": settings.epochs, "final_loss": mean}


def minimise(variables, batch_loss, data, settings, seed, desc, progress) -> dict:
    """One training stage with the chosen method (each of its methods in turn for
    "adam_lbfgs"), behind a progress bar per method when asked for."""
    import tensorflow as tf

    stages = settings.stages()
    info = {}
    for step in stages:
        lbfgs = step.method == "lbfgs"
        total, unit = (step.max_iterations, "iteration") if lbfgs else (step.epochs, "epoch")
        label = f"{desc} ({step.method})"
        bar = progress_bar(total, label, unit) if progress else None
        try:
            if lbfgs:
                full = tuple(tf.constant(d) for d in data)
                out = _lbfgs(variables, lambda f=full: batch_loss(*f), step.max_iterations, bar)
            else:
                out = _adam(variables, batch_loss, data, step, seed, bar)
        finally:
            if bar is not None:
                bar.close()
        info[step.method] = out
    if len(stages) == 1:
        return out
    return {**info, "final_loss": out["final_loss"]}


def fit_classifier(model, x, y, settings: TrainingSettings, seed: int, progress=False, label=None):
    """Fit every trainable weight of `model` on (x, y): mean cross-entropy + weight decay."""
    import keras

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(xb, yb):
        return ce(yb, model(xb, training=True)) + regularization(model)

    desc = f"training {label or model.name}"
    return minimise(model.trainable_variables, loss, (x, y), settings, seed, desc, progress)


def sparsity_penalty(code, rho: float):
    """Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j unit j's mean activation over the batch: the sparse
    autoencoder's sparsity term (UFLDL), which its objective weights by β."""
    import tensorflow as tf

    rho_hat = tf.clip_by_value(tf.reduce_mean(code, axis=0), 1e-6, 1 - 1e-6)
    return tf.reduce_sum(
        rho * tf.math.log(rho / rho_hat) + (1 - rho) * tf.math.log((1 - rho) / (1 - rho_hat))
    )


def autoencoder_settings(settings: TrainingSettings) -> TrainingSettings:
    """How AE400-10's autoencoder trains under `settings`: full-batch L-BFGS from its initial
    weights, as UFLDL's exercise does, for `autoencoder_iterations_per_max` times
    ``settings.max_iterations`` (UFLDL's 400 at the full profile's 200)."""
    per_max = spec("AE400-10").extra["autoencoder_iterations_per_max"]
    return TrainingSettings(method="lbfgs", max_iterations=per_max * settings.max_iterations)


def fit_autoencoder(model, x, y, settings: TrainingSettings, seed: int, progress=False) -> dict:
    """Unsupervised training of AE400-10's encoder (§2) by UFLDL's sparse-autoencoder recipe:
    ½·squared reconstruction error + β·KL(ρ‖ρ̂) + λ/2·Σw² over both weight matrices, by
    `autoencoder_settings`, on a class-balanced sample (labels `y`) of at most
    `autoencoder_digits` of x, as UFLDL's 10,000 patches."""
    import tensorflow as tf

    s = spec("AE400-10")
    rho, beta = s.extra["sparsity_target"], s.extra["sparsity_weight"]
    ae = build_autoencoder(model)
    x = x[balanced_indices(y, s.extra["autoencoder_digits"], seed)]

    def loss(xb):
        recon, code = ae(xb, training=True)
        mse = 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(recon - xb), axis=1))
        return mse + beta * sparsity_penalty(code, rho) + regularization(ae)

    desc = f"training {s.name}'s autoencoder"
    info = minimise(
        ae.trainable_variables, loss, (x,), autoencoder_settings(settings), seed, desc, progress
    )
    return {**info, "digits": int(len(x))}


def classifier_head(model, x):
    """AE400-10's softmax layer as a model of its own, and the frozen encoder's codes of x.

    The encoder does not change in the second stage, so its codes are computed once.
    """
    import keras

    codes = np.asarray(model.get_layer("encoder")(x))
    top = model.get_layer("logits")
    head = keras.Sequential([keras.Input((codes.shape[1],)), top], name=f"{model.name}_head")
    return head, codes


def train(
    name: str,
    x,
    y,
    *,
    seed: int = 0,
    settings: TrainingSettings | None = None,
    decay_form: str | None = None,
    progress: bool | None = None,
) -> TrainingResult:
    """Build the paper model `name` and train it on (x, y) (§2); same seed, same weights.

    AE400-10 is trained in two stages as in the paper: the sparse autoencoder
    unsupervised (`fit_autoencoder`, UFLDL's recipe), then a softmax classifier on the
    frozen encoder's codes of all of x, by `settings`. progress: a bar per
    stage with the loss; ``None``: shown unless ``NBHELPERS_PROGRESS`` is 0.
    """
    s = spec(name)
    settings = check_settings(settings)
    x = _v.check_images(x, "x (training images)", shape=(N_PIXELS,))
    y = _v.check_labels(y, "y (labels)", n=len(x), num_classes=N_CLASSES)
    seed = _v.check_seed(seed)
    progress = check_progress(progress)
    model = build(
        name, seed=seed, decay_form=DEFAULT_DECAY_FORM if decay_form is None else decay_form
    )
    deterministic_ops()
    start = time.perf_counter()
    info: dict = {
        "model": name,
        "settings": settings.as_dict(),
        "seed": seed,
        "n_train": int(len(x)),
    }
    if s.kind == "ae":
        info["autoencoder"] = fit_autoencoder(model, x, y, settings, seed, progress)
        head, codes = classifier_head(model, x)
        label = f"{name}'s classifier"
        info["classifier"] = fit_classifier(head, codes, y, settings, seed, progress, label)
    else:
        info["classifier"] = fit_classifier(model, x, y, settings, seed, progress, name)
    info["seconds"] = round(time.perf_counter() - start, 2)
    info["train_error"] = error_rate(model, x, y)
    return TrainingResult(model=model, info=info)


def check_settings(settings) -> TrainingSettings:
    """None (the defaults) or a TrainingSettings."""
    if settings is None:
        return TrainingSettings()
    if not isinstance(settings, TrainingSettings):
        raise TypeError(
            f"settings must be a TrainingSettings or None, got {type(settings).__name__}"
        )
    return settings


def trained_model(
    name: str,
    data,
    *,
    seed: int = 0,
    settings: TrainingSettings | None = None,
    retrain: bool = False,
    verbose: bool = True,
    return_info: bool = False,
):
    """The paper model `name` trained on `data.x_train`, from the cache or trained now and cached.

    `data` is an `nbhelpers.data.MNIST` (anything with x_train, y_train, source and
    fingerprint). The cache key covers the model, data, seed, training settings and
    package versions, so a change in any of them trains afresh.
    """
    spec(name)
    settings = check_settings(settings)
    check_data(data)
    seed = _v.check_seed(seed)
    retrain = _v.check_bool(retrain, "retrain")
    verbose = _v.check_bool(verbose, "verbose")
    return_info = _v.check_bool(return_info, "return_info")
    key = cache_key(name, data.fingerprint, seed, settings)
    result = cached(
        name,
        key,
        lambda: train(name, data.x_train, data.y_train, seed=seed, settings=settings),
        label=name,
        n=len(data.x_train),
        method=settings.method,
        verbose=verbose,
        retrain=retrain,
    )
    return (result.model, result.info) if return_info else result.model
