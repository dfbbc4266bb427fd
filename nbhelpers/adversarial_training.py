"""Training on adversarial examples (paper §4.2, last paragraph), and FGSM training.

The paper trained a 100-100-10 network with weight decay "on a pool of adversarial
examples, a random subset of which is continuously replaced by newly generated
adversarial examples and which is mixed into the original training set all the time";
it reached a test error below 1.2% (1.6% with weight decay alone). `train_with_pool`
does that with minibatch Adam: every `refresh_every` epochs a random share of the pool
is replaced by the book's minimal-distortion examples (§4.1) of the current model, and
every minibatch mixes clean digits with pool examples at a fixed ratio.
`train_fgsm` is Goodfellow et al.'s (2015) cheaper cousin, J̃ = αJ(x) + (1−α)J(x + ε·sign∇ₓJ).
`trained_adversarial` returns either from the shared model cache.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from . import _validation as _v
from .data import N_CLASSES, N_PIXELS
from .evaluate import deterministic_ops, error_rate, predict_labels
from .models import build, spec
from .progress import check_progress, progress_bar
from .training import (
    TrainingResult,
    TrainingSettings,
    _adam,
    _regularization,
    cache_key,
    cached,
    check_data,
)

__all__ = [
    "PAPER_SECTION_4_2",
    "VARIANTS",
    "PoolSettings",
    "FGSMTrainingSettings",
    "batch_plan",
    "assemble_batch",
    "fgsm_loss",
    "train_with_pool",
    "train_fgsm",
    "trained_adversarial",
]

# The paper's test errors for FC100-100-10 (§4.2): the adversarially trained network's
# "below 1.2%" is an upper bound.
PAPER_SECTION_4_2 = {"adversarial pool": 1.2, "weight decay alone": 1.6, "dropout": 1.3}
VARIANTS = ("pool", "fgsm")


@dataclass(frozen=True)
class PoolSettings:
    """How `train_with_pool` trains: the pool, its refreshes, the mix and the optimiser.

    pool_size: adversarial examples kept. refresh_fraction: share of the pool replaced
    at each refresh (the first refresh fills it). refresh_every: epochs between
    refreshes. mix: share of each minibatch taken from the pool. reading: the search's
    target choice ("random": a random wrong label, the book's Table 1 reading).
    search_iterations, c_steps: the search's L-BFGS iterations per c and values of c.
    """

    pool_size: int = 10_000
    refresh_fraction: float = 0.2
    refresh_every: int = 1
    mix: float = 0.5
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    reading: str = "random"
    search_iterations: int = 100
    c_steps: int = 10

    def __post_init__(self):
        for name in ("pool_size", "refresh_every", "epochs", "batch_size"):
            _v.check_int(getattr(self, name), name, low=1)
        _v.check_int(self.search_iterations, "search_iterations", low=1)
        _v.check_int(self.c_steps, "c_steps", low=1)
        _v.check_real(self.refresh_fraction, "refresh_fraction", low=0, high=1, low_open=True)
        _v.check_real(self.mix, "mix", low=0, high=1, high_open=True)
        _v.check_real(self.learning_rate, "learning_rate", low=0, low_open=True)
        _v.check_choice(self.reading, "reading", ("random",))
        if round(self.mix * self.batch_size) >= self.batch_size:
            raise ValueError(
                f"mix * batch_size must leave room for clean digits, got mix={self.mix} "
                f"with batch_size={self.batch_size}"
            )

    def as_dict(self) -> dict:
        """Every setting, for the cache key."""
        return {"variant": "pool", **asdict(self)}


@dataclass(frozen=True)
class FGSMTrainingSettings:
    """How `train_fgsm` trains: J̃ = αJ(x) + (1−α)J(x + ε·sign∇ₓJ) (Goodfellow et al. 2015)."""

    alpha: float = 0.5
    epsilon: float = 0.25
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3

    def __post_init__(self):
        _v.check_real(self.alpha, "alpha", low=0, high=1)
        _v.check_real(self.epsilon, "epsilon", low=0)
        for name in ("epochs", "batch_size"):
            _v.check_int(getattr(self, name), name, low=1)
        _v.check_real(self.learning_rate, "learning_rate", low=0, low_open=True)

    def as_dict(self) -> dict:
        """Every setting, for the cache key."""
        return {"variant": "fgsm", **asdict(self)}


# ---------------------------------------------------------------------------
# minibatches that mix clean digits and pool examples


def batch_plan(n_clean: int, pool_filled: int, batch_size: int, mix: float, rng) -> list:
    """One epoch's minibatches as ``(clean indices, pool indices)`` pairs.

    Each batch holds ``round(mix * batch_size)`` pool examples (none while the pool is
    empty) drawn at random without replacement when the pool is large enough, and the rest
    clean digits; the clean digits are shuffled and each is seen once per epoch.
    """
    k = round(mix * batch_size) if pool_filled > 0 else 0
    order = rng.permutation(n_clean)
    plan = []
    for start in range(0, n_clean, batch_size - k):
        clean = order[start : start + batch_size - k]
        n_pool = k if len(clean) == batch_size - k else round(len(clean) * k / (batch_size - k))
        pool = rng.choice(pool_filled, size=n_pool, replace=n_pool > pool_filled) if k else []
        plan.append((clean, np.asarray(pool, dtype=np.int64)))
    return plan


def assemble_batch(x, y, x_pool, y_pool, clean, pool):
    """The minibatch ``(images, labels)``: the chosen clean digits, then the chosen pool
    examples, each labelled with its original digit's label."""
    xb = np.concatenate([x[clean], x_pool[pool]]).astype(np.float32)
    yb = np.concatenate([y[clean], y_pool[pool]]).astype(np.int64)
    return xb, yb


# ---------------------------------------------------------------------------
# the pool


def _new_examples(model, x, y, count: int, rng, settings: PoolSettings, seed: int):
    """Up to `count` minimal-distortion examples (§4.1) of the current model, searched on
    twice as many random training digits it gets right (some searches fail): ``(images,
    original labels, their distortions)``."""
    from .attacks.readings import targets_for
    from .attacks.search import minimal_distortion

    right = np.flatnonzero(predict_labels(model, x) == y)
    rows = np.sort(rng.choice(right, size=min(2 * count, len(right)), replace=False))
    if len(rows) == 0:
        return x[:0], y[:0], np.zeros(0)
    found = minimal_distortion(
        model,
        x[rows],
        y[rows],
        targets_for(settings.reading),
        max_iterations=settings.search_iterations,
        c_steps=settings.c_steps,
        seed=seed,
        progress=False,
    )
    ok = np.flatnonzero(found.success)[:count]
    return np.asarray(found.x_adv)[ok], y[rows][ok], np.asarray(found.distortion)[ok]


def _refresh(pool: dict, model, x, y, rng, settings: PoolSettings, seed: int) -> dict:
    """Fill the pool, or replace a random `refresh_fraction` of it, with new examples;
    slots whose search failed keep their old example (or stay empty)."""
    filled = pool["filled"]
    filling = filled < settings.pool_size
    if filling:
        slots = np.arange(filled, settings.pool_size)
    else:
        n = max(1, round(settings.refresh_fraction * settings.pool_size))
        slots = rng.choice(settings.pool_size, size=n, replace=False)
    xa, ya, dist = _new_examples(model, x, y, len(slots), rng, settings, seed)
    asked, slots = len(slots), slots[: len(xa)]
    pool["x"][slots], pool["y"][slots] = xa, ya
    if filling:
        pool["filled"] = filled + len(slots)
    return {
        "kind": "fill" if filling else "replace",
        "asked": int(asked),
        "new": int(len(xa)),
        "mean_distortion": float(dist.mean()) if len(dist) else None,
    }


# ---------------------------------------------------------------------------
# training


def _check_fc(name: str) -> None:
    if spec(name).kind != "fc":
        raise ValueError(f"name must be a fully connected paper model (FC...), got {name!r}")


def _check_xy(x, y, x_test, y_test):
    x = _v.check_images(x, "x (training images)", shape=(N_PIXELS,))
    y = _v.check_labels(y, "y (labels)", n=len(x), num_classes=N_CLASSES)
    if (x_test is None) != (y_test is None):
        raise ValueError("x_test and y_test must be given together or both left out")
    if x_test is not None:
        x_test = _v.check_images(x_test, "x_test", shape=(N_PIXELS,))
        y_test = _v.check_labels(y_test, "y_test", n=len(x_test), num_classes=N_CLASSES)
    return x, y, x_test, y_test


def _step_function(model, optimizer):
    """One Adam step on the model's loss: mean cross-entropy + its weight decay (§2)."""
    import keras
    import tensorflow as tf

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = ce(yb, model(xb, training=True)) + _regularization(model)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return step


def train_with_pool(
    name: str, x, y, *, seed: int = 0, settings=None, x_test=None, y_test=None, progress=None
) -> TrainingResult:
    """Train the FC paper model `name` on (x, y) mixed with a refreshed pool of its own
    adversarial examples (§4.2); same seed, same weights.

    Before every `refresh_every`-th epoch (not the first: the model must have learnt
    something for its adversarial examples to mean anything) the pool is filled, later
    partly replaced, by minimal-distortion examples of the current model. ``info["epochs"]``
    holds per epoch the loss, training error, test error (with x_test, y_test) and the
    refresh (new examples, their mean distortion) made before it.
    """
    import keras

    _check_fc(name)
    settings = PoolSettings() if settings is None else settings
    if not isinstance(settings, PoolSettings):
        raise TypeError(f"settings must be a PoolSettings or None, got {type(settings).__name__}")
    x, y, x_test, y_test = _check_xy(x, y, x_test, y_test)
    seed = _v.check_seed(seed)
    progress = check_progress(progress)
    model = build(name, seed=seed)
    deterministic_ops()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    step = _step_function(model, keras.optimizers.Adam(settings.learning_rate))
    pool = {"x": np.zeros((settings.pool_size, N_PIXELS), np.float32), "filled": 0}
    pool["y"] = np.zeros(settings.pool_size, np.int64)
    start, epochs, refreshes = time.perf_counter(), [], 0
    bar = (
        progress_bar(settings.epochs, f"adversarial training {name}", "epoch") if progress else None
    )
    try:
        for epoch in range(settings.epochs):
            record = {"epoch": epoch + 1}
            if epoch > 0 and epoch % settings.refresh_every == 0:
                record["refresh"] = _refresh(pool, model, x, y, rng, settings, seed + epoch)
                refreshes += 1
            record["pool_filled"] = pool["filled"]
            plan = batch_plan(len(x), pool["filled"], settings.batch_size, settings.mix, rng)
            losses = [
                float(step(*assemble_batch(x, y, pool["x"], pool["y"], clean, chosen)))
                for clean, chosen in plan
            ]
            record["loss"] = float(np.mean(losses))
            record["train_error"] = error_rate(model, x, y)
            if x_test is not None:
                record["test_error"] = error_rate(model, x_test, y_test)
            epochs.append(record)
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.4g}", pool=pool["filled"], refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    extra = {"epochs": epochs, "refreshes": refreshes}
    return _result(model, name, "pool", settings, seed, (x, y), (x_test, y_test), start, extra)


def fgsm_loss(model, xb, yb, alpha: float, epsilon: float):
    """J̃ = αJ(x) + (1−α)J(clip(x + ε·sign∇ₓJ(x), 0, 1)) + weight decay (Goodfellow et al.
    2015, eq. 6), J the mean cross-entropy; the adversarial point is held constant."""
    import keras
    import tensorflow as tf

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    xb = tf.convert_to_tensor(xb, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xb)
        clean = ce(yb, model(xb, training=True))
    x_adv = tf.stop_gradient(
        tf.clip_by_value(xb + epsilon * tf.sign(tape.gradient(clean, xb)), 0, 1)
    )
    adv = ce(yb, model(x_adv, training=True))
    return alpha * clean + (1 - alpha) * adv + _regularization(model)


def train_fgsm(
    name: str, x, y, *, seed: int = 0, settings=None, x_test=None, y_test=None, progress=None
) -> TrainingResult:
    """Train the FC paper model `name` on the FGSM objective (`fgsm_loss`) with the
    shared minibatch Adam stage; same seed, same weights."""
    _check_fc(name)
    settings = FGSMTrainingSettings() if settings is None else settings
    if not isinstance(settings, FGSMTrainingSettings):
        raise TypeError(
            f"settings must be an FGSMTrainingSettings or None, got {type(settings).__name__}"
        )
    x, y, x_test, y_test = _check_xy(x, y, x_test, y_test)
    seed = _v.check_seed(seed)
    progress = check_progress(progress)
    model = build(name, seed=seed)
    deterministic_ops()
    adam = TrainingSettings(
        method="adam",
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
    )
    a, e = settings.alpha, settings.epsilon
    start = time.perf_counter()
    bar = progress_bar(settings.epochs, f"FGSM training {name}", "epoch") if progress else None
    try:
        loss = lambda xb, yb: fgsm_loss(model, xb, yb, a, e)  # noqa: E731
        out = _adam(model.trainable_variables, loss, (x, y), adam, seed, bar)
    finally:
        if bar is not None:
            bar.close()
    extra = {"final_loss": out["final_loss"]}
    return _result(model, name, "fgsm", settings, seed, (x, y), (x_test, y_test), start, extra)


def _result(model, name, variant, settings, seed, train, test, start, extra) -> TrainingResult:
    """The trained model and its info: what determined it, its own records (`extra`), the
    time since `start`, and its errors on the training and (if given) the test digits."""
    info = {
        "model": name,
        "variant": variant,
        "settings": settings.as_dict(),
        "seed": seed,
        "n_train": int(len(train[0])),
        **extra,
        "seconds": round(time.perf_counter() - start, 2),
        "train_error": error_rate(model, *train),
    }
    if test[0] is not None:
        info["test_error"] = error_rate(model, *test)
    return TrainingResult(model=model, info=info)


def trained_adversarial(
    name: str,
    data,
    *,
    seed: int = 0,
    settings=None,
    variant: str = "pool",
    retrain: bool = False,
    verbose: bool = True,
    progress=None,
) -> TrainingResult:
    """`name` trained on `data.x_train` with adversarial examples (`variant` "pool": §4.2's
    refreshed pool; "fgsm": Goodfellow et al.'s objective), from the shared model cache or
    trained now and cached; the test error on `data.x_test` is in the result's info."""
    _check_fc(name)
    variant = _v.check_choice(variant, "variant", VARIANTS)
    kind = PoolSettings if variant == "pool" else FGSMTrainingSettings
    settings = kind() if settings is None else settings
    if not isinstance(settings, kind):
        raise TypeError(
            f"settings for variant {variant!r} must be a {kind.__name__} or None, "
            f"got {type(settings).__name__}"
        )
    check_data(data, ("x_train", "y_train", "x_test", "y_test", "fingerprint"))
    seed = _v.check_seed(seed)
    retrain = _v.check_bool(retrain, "retrain")
    verbose = _v.check_bool(verbose, "verbose")
    key = cache_key(name, data.fingerprint, seed, settings)
    key["adversarial"] = {"variant": variant, "module": "nbhelpers.adversarial_training"}
    train_fn = train_with_pool if variant == "pool" else train_fgsm
    return cached(
        name,
        key,
        lambda: train_fn(
            name,
            data.x_train,
            data.y_train,
            seed=seed,
            settings=settings,
            x_test=data.x_test,
            y_test=data.y_test,
            progress=progress,
        ),
        label=f"{name} ({variant} adversarial training)",
        n=len(data.x_train),
        method=f"adversarial {variant}",
        verbose=verbose,
        retrain=retrain,
    )
