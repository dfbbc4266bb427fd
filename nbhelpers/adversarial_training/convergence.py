"""§4.2's networks trained to convergence, and the paper's "alternating fashion".

The paper trained its models "with L-BFGS until convergence" and its adversarially trained
network "in an alternating fashion, maintaining and updating a pool of adversarial
examples for each layer separately in addition to the original training set".
`train_converged` trains any of §4.2's variants (the settings of `trainers`) with minibatch
Adam until the error on held-out training digits stops falling: after `patience` epochs
without a new best the learning rate drops tenfold, `lr_drops` times, the next plateau
stops, and the best epoch's weights are kept (`Plateau`). With `refit`, the network is
then trained again from the same initial weights on every training digit, for the epochs
and drops the held-out digits chose (`Replay`). Pools enter as whole passes of their own
(`epoch_plan`): a pass over the clean digits then one over each pool ("alternate", the
paper's wording) or the same batches shuffled together ("interleave"); a pool at a hidden
layer trains only the layers above it. `settings.epochs` is the cap.

Chapter 06 trains every §4.2 variant with it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import _validation as _v
from ..cache import TrainingResult, cache_key, cached
from ..data import N_CLASSES, N_PIXELS, balanced_indices, check_data
from ..evaluate import deterministic_ops, error_rate
from ..models import build, spec
from ..progress import check_progress, progress_bar
from ..training import regularization
from .pools import dense_layers, new_pools, refresh
from .trainers import (
    BaselineSettings,
    FGSMTrainingSettings,
    PoolSettings,
    consecutive_runs,
    fgsm_loss,
)

__all__ = [
    "SCHEDULES",
    "ConvergenceSettings",
    "Plateau",
    "Replay",
    "epoch_plan",
    "train_converged",
    "trained_converged",
]

SCHEDULES = ("alternate", "interleave")


@dataclass(frozen=True)
class ConvergenceSettings:
    """When training stops (`Plateau`) and how pools enter an epoch (`epoch_plan`).

    held_out: class-balanced training digits kept out to judge the epochs (chosen by the
    seed). patience: epochs without a lower held-out error before the learning rate drops
    by `drop_factor`, `lr_drops` times; the next plateau stops. refit: then train again on
    every digit for the epochs and drops chosen. schedule: "alternate" or "interleave".
    """

    held_out: int = 10_000
    patience: int = 5
    lr_drops: int = 2
    drop_factor: float = 0.1
    refit: bool = False
    schedule: str = "alternate"

    def __post_init__(self):
        _v.check_int(self.held_out, "held_out", low=1)
        _v.check_int(self.patience, "patience", low=1)
        _v.check_int(self.lr_drops, "lr_drops", low=0)
        _v.check_real(self.drop_factor, "drop_factor", low=0, high=1, low_open=True, high_open=True)
        _v.check_bool(self.refit, "refit")
        _v.check_choice(self.schedule, "schedule", SCHEDULES)

    def as_dict(self) -> dict:
        """Every setting, for the cache key."""
        return asdict(self)


class Plateau:
    """Held-out early stopping with learning-rate drops: `update(error)` says per epoch
    "best" (a new lowest error: keep these weights), "wait", "drop" (`patience` epochs
    without a best, drops left) or "stop" (the same with none left)."""

    def __init__(self, patience: int, lr_drops: int):
        self.patience, self.drops_left = patience, lr_drops
        self.best, self.since = np.inf, 0

    def update(self, error: float) -> str:
        if error < self.best:
            self.best, self.since = error, 0
            return "best"
        self.since += 1
        if self.since < self.patience:
            return "wait"
        if self.drops_left == 0:
            return "stop"
        self.drops_left, self.since = self.drops_left - 1, 0
        return "drop"


class Replay:
    """A schedule already chosen, replayed: drops after the epochs in `drops_after`, stops
    after `epochs`; every epoch is "best", so the last one is kept."""

    def __init__(self, epochs: int, drops_after):
        self.epochs, self.drops_after, self.seen = epochs, set(drops_after), 0

    def update(self, error: float) -> str:
        self.seen += 1
        if self.seen >= self.epochs:
            return "stop"
        return "drop" if self.seen in self.drops_after else "best"


def epoch_plan(n_clean: int, filled, batch_size: int, schedule: str, rng) -> list:
    """One epoch's minibatches as ``(source, indices)``, source -1 for the clean digits and
    k for the k-th pool: every clean digit once, then every filled example of each pool
    once ("alternate"), or the same batches in shuffled order ("interleave")."""
    n_clean = _v.check_int(n_clean, "n_clean", low=1)
    batch_size = _v.check_int(batch_size, "batch_size", low=1)
    schedule = _v.check_choice(schedule, "schedule", SCHEDULES)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    sizes = [(-1, n_clean)] + [(k, _v.check_int(f, "filled", low=0)) for k, f in enumerate(filled)]
    plan = [
        (source, chunk)
        for source, n in sizes
        if n
        for chunk in np.array_split(rng.permutation(n), range(batch_size, n, batch_size))
    ]
    if schedule == "interleave":
        plan = [plan[i] for i in rng.permutation(len(plan))]
    return plan


# ---------------------------------------------------------------------------
# the loop


def _losses(model, settings, pools, seed: int) -> dict:
    """Each source's ``(minibatch loss, variables it trains)``: the clean digits (with
    dropout or FGSM where the settings say so) train every layer; the k-th pool trains
    only the layers above its layer, on their cross-entropy and their weight decay (§4.2)."""
    import keras

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    every = model.trainable_variables
    if isinstance(settings, FGSMTrainingSettings):
        a, e = settings.alpha, settings.epsilon
        return {-1: (lambda xb, yb: fgsm_loss(model, xb, yb, a, e), every)}
    dropout = getattr(settings, "dropout_input", 0.0), getattr(settings, "dropout_hidden", 0.0)
    dense, generator = dense_layers(model), keras.random.SeedGenerator(seed)

    def clean(xb, yb):
        h = xb
        for i, layer in enumerate(dense):
            rate = dropout[min(i, 1)]
            h = layer(keras.random.dropout(h, rate, seed=generator) if rate else h)
        return ce(yb, h) + regularization(model)

    out = {-1: (clean, every)}
    for k, pool in enumerate(pools):
        up = pool["maps"][1]
        out[k] = (lambda hb, yb, up=up: ce(yb, up(hb)) + regularization(up), up.trainable_variables)
    return out


def _runner(losses: dict, optimizer):
    """``run(plan, arrays)``: one Adam step per planned batch, consecutive batches of one
    source and size stepped in one traced loop (per-step Python calls cost more than the
    arithmetic). ``arrays[source]`` holds that source's (inputs, labels). Returns the losses."""
    import tensorflow as tf

    optimizer.build(losses[-1][1])

    def traced(loss, variables):
        @tf.function(reduce_retracing=True)
        def steps(xs, ys, rows):
            out = tf.TensorArray(tf.float32, size=tf.shape(rows)[0])
            for i in tf.range(tf.shape(rows)[0]):
                with tf.GradientTape() as tape:
                    value = loss(tf.gather(xs, rows[i]), tf.gather(ys, rows[i]))
                grads = tape.gradient(value, variables)
                optimizer.apply_gradients(zip(grads, variables, strict=True))
                out = out.write(i, value)
            return out.stack()

        return steps

    stepper = {source: traced(*pair) for source, pair in losses.items()}

    def run(plan, arrays) -> list:
        values, logger = [], tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # one trace per source and batch size, by design
        try:
            for group in consecutive_runs(plan, lambda b: (b[0], len(b[1]))):
                source, rows = group[0][0], np.stack([b[1] for b in group])
                values += list(stepper[source](*arrays[source], rows).numpy())
        finally:
            logger.setLevel(level)
        return [float(v) for v in values]

    return run


def _fit(name, fit, judge, settings, seed, stopper, how, progress):
    """Train `name` from its seeded initial weights on ``fit = (x, y)`` until `stopper`
    says stop or ``settings.epochs`` have run, judging each epoch by its error on ``judge``
    (None: a `Replay`, which keeps the last epoch). ``how``: the schedule, the drop factor
    and the test digits (recorded, never used to stop). Returns the model with the kept
    epoch's weights and the records."""
    import keras

    x, y = fit
    model = build(name, seed=seed)
    deterministic_ops()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    pools = new_pools(model, settings) if isinstance(settings, PoolSettings) else []
    optimizer = keras.optimizers.Adam(settings.learning_rate)
    run = _runner(_losses(model, settings, pools, seed), optimizer)
    arrays = {-1: (np.asarray(x, np.float32), np.asarray(y, np.int64))}
    kept, best, epochs, drops = 0, model.get_weights(), [], []
    desc = f"training {name} to convergence"
    bar = progress_bar(settings.epochs, desc, "epoch") if progress else None
    try:
        for epoch in range(1, settings.epochs + 1):
            record = {"epoch": epoch, "learning_rate": float(optimizer.learning_rate.numpy())}
            if pools and epoch > 1 and (epoch - 1) % settings.refresh_every == 0:
                record["refresh"] = [
                    refresh(p, model, x, y, rng, settings, seed + epoch) for p in pools
                ]
            arrays.update({k: (p["x"], p["y"]) for k, p in enumerate(pools)})
            filled = [p["filled"] for p in pools]
            plan = epoch_plan(len(x), filled, settings.batch_size, how["schedule"], rng)
            record["loss"] = float(np.mean(run(plan, arrays)))
            if judge is not None:
                record["held_out_error"] = error_rate(model, *judge)
            if how["test"] is not None:
                record["test_error"] = error_rate(model, *how["test"])
            verdict = stopper.update(record.get("held_out_error", 0.0))
            epochs.append({**record, "verdict": verdict})
            if verdict == "best" or (verdict == "stop" and judge is None):
                kept, best = epoch, model.get_weights()
            elif verdict == "drop":
                drops.append(epoch)
                optimizer.learning_rate.assign(optimizer.learning_rate * how["factor"])
            if bar is not None:
                bar.update(1)
            if verdict == "stop":
                break
    finally:
        if bar is not None:
            bar.close()
    model.set_weights(best)
    return model, {"epochs": epochs, "kept": kept, "drops_after": drops}


def _check_kinds(name, settings, convergence):
    """The model name and both settings (defaults where None), checked."""
    if spec(name).kind != "fc":
        raise ValueError(f"name must be a fully connected paper model (FC...), got {name!r}")
    settings = BaselineSettings() if settings is None else settings
    if not isinstance(settings, BaselineSettings | PoolSettings | FGSMTrainingSettings):
        raise TypeError(
            "settings must be a BaselineSettings, PoolSettings or FGSMTrainingSettings, "
            f"got {type(settings).__name__}"
        )
    convergence = ConvergenceSettings() if convergence is None else convergence
    if not isinstance(convergence, ConvergenceSettings):
        raise TypeError(
            f"convergence must be a ConvergenceSettings or None, got {type(convergence).__name__}"
        )
    return settings, convergence


def _check_held_out(convergence, n: int) -> None:
    if convergence.held_out >= n:
        raise ValueError(
            f"held_out must leave digits to train on: got held_out={convergence.held_out} "
            f"of {n} training digits"
        )


def train_converged(
    name: str,
    x,
    y,
    *,
    seed: int = 0,
    settings=None,
    convergence=None,
    x_test=None,
    y_test=None,
    progress=None,
) -> TrainingResult:
    """Train the FC paper model `name` by its §4.2 variant (`settings`) until the error on
    ``convergence.held_out`` held-out digits stops falling (`Plateau`), keeping the best
    epoch; with ``convergence.refit``, train again on every digit for the epochs chosen.

    ``info["convergence"]`` holds the epochs run, the epoch kept, the drops and each
    epoch's learning rate and held-out error (``"refit"``: the second run's).
    """
    settings, convergence = _check_kinds(name, settings, convergence)
    x = _v.check_images(x, "x (training images)", shape=(N_PIXELS,))
    y = _v.check_labels(y, "y (labels)", n=len(x), num_classes=N_CLASSES)
    _check_held_out(convergence, len(x))
    if (x_test is None) != (y_test is None):
        raise ValueError("x_test and y_test must be given together or both left out")
    test = None
    if x_test is not None:
        x_test = _v.check_images(x_test, "x_test", shape=(N_PIXELS,))
        test = (x_test, _v.check_labels(y_test, "y_test", n=len(x_test), num_classes=N_CLASSES))
    seed, progress = _v.check_seed(seed), check_progress(progress)
    out = balanced_indices(y, convergence.held_out, seed)
    keep = np.setdiff1d(np.arange(len(x)), out)
    how = {"schedule": convergence.schedule, "test": test, "factor": convergence.drop_factor}
    start = time.perf_counter()
    stopper = Plateau(convergence.patience, convergence.lr_drops)
    model, chosen = _fit(
        name, (x[keep], y[keep]), (x[out], y[out]), settings, seed, stopper, how, progress
    )
    kept = [e for e in chosen["epochs"] if e["epoch"] == chosen["kept"]]  # none: nan throughout
    held_out_error = kept[0]["held_out_error"] if kept else float("nan")
    info_convergence = {**chosen, "held_out_error": held_out_error, "n_fit": int(len(keep))}
    if convergence.refit:
        replay = Replay(chosen["kept"], chosen["drops_after"])
        model, info_convergence["refit"] = _fit(
            name, (x, y), None, settings, seed, replay, how, progress
        )
    info = {
        "model": name,
        "variant": settings.as_dict()["variant"],
        "settings": settings.as_dict(),
        "convergence_settings": convergence.as_dict(),
        "seed": seed,
        "n_train": int(len(x)),
        "convergence": info_convergence,
        "seconds": round(time.perf_counter() - start, 2),
        "train_error": error_rate(model, x, y),
    }
    if test is not None:
        info["test_error"] = error_rate(model, *test)
    return TrainingResult(model=model, info=info)


def trained_converged(
    name: str,
    data,
    *,
    seed: int = 0,
    settings=None,
    convergence=None,
    retrain: bool = False,
    verbose: bool = True,
    progress=None,
) -> TrainingResult:
    """`train_converged` on `data.x_train`, from the shared model cache or trained now and
    cached; the test error on `data.x_test` is in its info (never used to stop)."""
    check_data(data, ("x_train", "y_train", "x_test", "y_test", "fingerprint"))
    settings, convergence = _check_kinds(name, settings, convergence)
    _check_held_out(convergence, len(data.x_train))
    seed = _v.check_seed(seed)
    retrain = _v.check_bool(retrain, "retrain")
    verbose = _v.check_bool(verbose, "verbose")
    variant = settings.as_dict()["variant"]
    key = cache_key(name, data.fingerprint, seed, settings)
    key["convergence"] = convergence.as_dict()
    key["adversarial"] = {
        "variant": variant,
        "module": "nbhelpers.adversarial_training.convergence",
    }
    return cached(
        name,
        key,
        lambda: train_converged(
            name,
            data.x_train,
            data.y_train,
            seed=seed,
            settings=settings,
            convergence=convergence,
            x_test=data.x_test,
            y_test=data.y_test,
            progress=progress,
        ),
        label=f"{name} ({variant} training to convergence, seed {seed})",
        n=len(data.x_train),
        method=f"adversarial {variant}, to convergence",
        verbose=verbose,
        retrain=retrain,
    )
