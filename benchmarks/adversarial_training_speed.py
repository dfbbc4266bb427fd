"""How fast §4.2's variants train: the traced epoch loop against one call per minibatch.

Trains each variant of chapter 06 for a few epochs of FC100-100-10 (on full MNIST where
NBHELPERS_MNIST or a network gives it, else the embedded digits), once with the epoch's
minibatches stepped in one traced loop (`trainers._epoch_function`, what the book runs)
and once with one traced call per minibatch (the loop before it), and prints wall and CPU
seconds and whether the two trained the same weights. Prints figures; asserts nothing.

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/adversarial_training_speed.py --epochs 5
"""

import argparse
import resource
import time

import numpy as np


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _batch_by_batch(step, x, y):
    """The epoch loop as it was: one traced step per minibatch."""
    import tensorflow as tf

    from nbhelpers.adversarial_training import assemble_batch

    traced = tf.function(step)

    def run(plan, pools):
        return [float(traced(*assemble_batch(x, y, pools, *batch))) for batch in plan]

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()

    from nbhelpers import adversarial_training as A
    from nbhelpers.adversarial_training import trainers
    from nbhelpers.data import load_mnist

    data = load_mnist("auto", seed=0)
    print(f"data: {data.describe()}; {args.epochs} epochs each\n")
    variants = {
        "weight decay": (A.train_baseline, A.BaselineSettings(epochs=args.epochs)),
        "dropout": (
            A.train_baseline,
            A.BaselineSettings(dropout_input=0.1, dropout_hidden=0.2, epochs=args.epochs),
        ),
        "FGSM": (A.train_fgsm, A.FGSMTrainingSettings(epochs=args.epochs)),
        "pool (pixels)": (A.train_with_pool, A.PoolSettings(layers=(0,), epochs=args.epochs)),
        "pool (every layer)": (
            A.train_with_pool,
            A.PoolSettings(layers=(0, 1, 2), epochs=args.epochs),
        ),
    }
    loops = {"traced loop": trainers._epoch_function, "per minibatch": _batch_by_batch}
    print(f"{'variant':<20}{'loop':<15}{'wall s':>8}{'CPU s':>8}{'CPU use':>9}  same weights")
    for name, (train, settings) in variants.items():
        weights = {}
        for loop, function in loops.items():
            trainers._epoch_function = function
            start, cpu = time.perf_counter(), _cpu()
            result = train(
                "FC100-100-10",
                data.x_train,
                data.y_train,
                x_test=data.x_test,
                y_test=data.y_test,
                seed=0,
                settings=settings,
                progress=False,
            )
            wall, used = time.perf_counter() - start, _cpu() - cpu
            weights[loop] = result.model.get_weights()
            same = ""
            if len(weights) == 2:
                pairs = zip(*weights.values(), strict=True)
                same = "yes" if all(np.array_equal(a, b) for a, b in pairs) else "NO"
            print(f"{name:<20}{loop:<15}{wall:>8.1f}{used:>8.1f}{used / wall:>8.0%}  {same}")
        trainers._epoch_function = loops["traced loop"]


if __name__ == "__main__":
    main()
