"""Which reading of the paper's weight decay fits Table 1's three softmax regressions?

§4.2 of the paper writes the decay as "λΣw²/k added to the total loss, where k is the
number of units in the layer"; "total loss" and "k" each have more than one reading, and
the biases may or may not be decayed. Every reading is, against the mean cross-entropy the
book minimises, the penalty ``s · λ · Σw²`` (plus ``s · λ · Σb²`` with the biases) for
some scale ``s``:

- ``sum`` λΣw² (s = 1); ``half`` λ/2·Σw² (s = 1/2, the book's); ``per unit`` λ/k·Σw² with
  k = 10 units (s = 1/10); ``per input`` k = 784 inputs (s = 1/784);
- ``total, per unit``: the cross-entropy summed over the N training digits, not averaged,
  with λ/k·Σw² (s = 1/(10 N));
- ``bits, sum`` and ``bits, half``: the cross-entropy in bits (log₂), as some L-BFGS codes
  of the time wrote it (s = ln 2 and ln 2 / 2 against nats);

and a sweep of ``s`` between them, to see where the paper's numbers lie. With ``--deep``,
FC100-100-10 and FC200-200-10 instead, under the book's λ/2·Σw² and with their biases
decayed too (the reading that fits the FC10 errors best): does it move the deep models?
Each model is trained as the book trains it (5 epochs of Adam, then L-BFGS; seed
0), with the search of Table 1 on ``--n`` training digits for its distortion. Prints, per
reading, each model's training and test error and distortion beside the paper's, and
the mean gap over the three FC10 models' errors (points) and distortions (|ratio − 1|).
Asserts nothing.

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/decay_readings.py --source auto --n 300
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from nbhelpers import attacks, paper  # noqa: E402
from nbhelpers.data import load_mnist  # noqa: E402
from nbhelpers.evaluate import error_rate  # noqa: E402
from nbhelpers.training import TrainingSettings, deterministic_ops, minimise  # noqa: E402

FC10 = {"FC10(1e-4)": 1e-4, "FC10(1e-2)": 1e-2, "FC10(1)": 1.0}


def readings(n_train: int) -> dict:
    """``{name: (s, biases decayed)}``: each reading's scale against the mean cross-entropy."""
    out = {
        "sum": (1.0, False),
        "half (the book's)": (0.5, False),
        "per unit, k = 10": (0.1, False),
        "per input, k = 784": (1 / 784, False),
        "total, per unit": (1 / (10 * n_train), False),
        "bits, sum": (math.log(2), False),
        "bits, half": (math.log(2) / 2, False),
        "half, biases too": (0.5, True),
        "sum, biases too": (1.0, True),
    }
    for s in (0.2, 0.3, 0.4):
        out[f"sweep s = {s:g}"] = (s, False)
    return out


def fc10(lam: float, scale: float, biases: bool, x, y, seed: int, settings):
    """A softmax regression on the pixels trained on (x, y) with ``scale·λ·Σw²`` (and Σb²)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, name="logits")])
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    dense = model.get_layer("logits")

    def loss(xb, yb):
        penalty = tf.reduce_sum(tf.square(dense.kernel))
        if biases:
            penalty += tf.reduce_sum(tf.square(dense.bias))
        return ce(yb, model(xb, training=True)) + scale * lam * penalty

    minimise(model.trainable_variables, loss, (x, y), settings, seed, "FC10", False)
    return model


DEEP = ("FC100-100-10", "FC200-200-10")


def measured(model, data, xs, ys) -> tuple[float, float, float]:
    """A trained model's training and test error (%) and its mean distortion (Table 1's
    search to random wrong labels, over the searched digits it reached)."""
    train_err = 100 * error_rate(model, data.x_train, data.y_train)
    test_err = 100 * error_rate(model, data.x_test, data.y_test)
    res = attacks.search_correctly_classified(
        model, xs, ys, attacks.readings.targets_for("random"), seed=0, progress=False
    )
    return train_err, test_err, float(np.mean(res.distortion[res.success]))


def paper_line(name: str, train_err: float, test_err: float, dist: float, t0: float) -> str:
    """Ours, then the paper's (training / test / distortion), then the seconds since t0."""
    p = paper.TABLE1[name]
    return (
        f"{train_err:8.2f} {test_err:7.2f} {dist:10.4f}  {p['train_error']:5.2f}/"
        f"{p['test_error']:5.2f}/{p['distortion']:.3f}  {time.perf_counter() - t0:7.1f}"
    )


def deep(name: str, biases: bool, x, y, seed: int, settings):
    """A Table 1 network as the book builds it (λ/2·Σw² per layer), trained as the book
    trains it, with λ/2·Σb² of each layer's λ added when ``biases``."""
    import keras
    import tensorflow as tf

    from nbhelpers import models
    from nbhelpers.training import regularization

    model = models.build(name, seed=seed, decay_form="half")
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    dense = [layer for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    lams = models.spec(name).decay

    def loss(xb, yb):
        total = ce(yb, model(xb, training=True)) + regularization(model)
        if biases:
            total += tf.add_n(
                [
                    lam / 2 * tf.reduce_sum(tf.square(d.bias))
                    for d, lam in zip(dense, lams, strict=True)
                ]
            )
        return total

    minimise(model.trainable_variables, loss, (x, y), settings, seed, name, False)
    return model


def main_deep(data, xs, ys, settings):
    """The deep models under the book's form and with their biases decayed (``--deep``)."""
    for biases in (False, True):
        for name in DEEP:
            t0 = time.perf_counter()
            model = deep(name, biases, data.x_train, data.y_train, 0, settings)
            numbers = measured(model, data, xs, ys)
            reading = "half, biases too" if biases else "half (the book's)"
            print(f"{reading:22s} {name:13s} {paper_line(name, *numbers, t0)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="embedded")
    ap.add_argument("--n", type=int, default=300, help="training digits searched per model")
    ap.add_argument("--max-iterations", type=int, default=200)
    ap.add_argument("--only", default="", help="reading names separated by ; (default: all)")
    ap.add_argument("--deep", action="store_true", help="FC100-100-10 and FC200-200-10 instead")
    args = ap.parse_args()

    deterministic_ops()
    data = load_mnist(args.source, seed=0)
    xs, ys = data.sample("train", args.n, seed=0)
    settings = TrainingSettings(max_iterations=args.max_iterations)
    print(f"data: {data.describe()}; distortion over {len(xs):,} training digits")
    if args.deep:
        return main_deep(data, xs, ys, settings)
    chosen = readings(len(data.x_train))
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(";")}
    print(f"{'reading':22s} {'s':>9s} {'model':11s} {'train %':>8s} {'test %':>7s} "
          f"{'distortion':>10s}  paper (train/test/dist)  seconds")  # fmt: skip
    for name, (scale, biases) in chosen.items():
        errors, ratios = [], []
        for model_name, lam in FC10.items():
            t0 = time.perf_counter()
            model = fc10(lam, scale, biases, data.x_train, data.y_train, 0, settings)
            train_err, test_err, dist = measured(model, data, xs, ys)
            p = paper.TABLE1[model_name]
            errors += [abs(train_err - p["train_error"]), abs(test_err - p["test_error"])]
            ratios.append(abs(dist / p["distortion"] - 1))
            line = paper_line(model_name, train_err, test_err, dist, t0)
            print(f"{name:22s} {scale:9.3g} {model_name:11s} {line}", flush=True)
        print(
            f"{name:22s} mean |gap|: errors {np.mean(errors):.2f} points, "
            f"distortions {100 * np.mean(ratios):.1f}%",
            flush=True,
        )


if __name__ == "__main__":
    main()
