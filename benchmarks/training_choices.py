"""Choose the training defaults by measurement: the ones whose errors come closest to Table 1.

Trains the six Table 1 models on the same data with each training method (full-batch
L-BFGS, minibatch Adam, Adam then L-BFGS), and the three FC10 models with every
weight-decay form, and prints training and test errors beside the paper's with the time
each training took. Prints figures; asserts nothing.

    python benchmarks/training_choices.py [--source embedded] [--max-iterations 500] [--epochs 30]
    NBHELPERS_MNIST=/path/to/mnist python benchmarks/training_choices.py --source auto \
        --max-iterations 1000 --only decay       # the weight-decay forms at full scale
    NBHELPERS_MNIST=/path/to/mnist python benchmarks/training_choices.py --source auto \
        --only methods --methods adam_lbfgs --max-iterations 200 --models FC100-100-10
"""

import argparse
import time

import numpy as np

from nbhelpers import paper
from nbhelpers.data import load_mnist
from nbhelpers.evaluate import error_rate
from nbhelpers.models import DECAY_FORMS, TABLE1_MODELS
from nbhelpers.training import METHODS, TrainingSettings, train


def run(name, data, settings, decay_form=None):
    t = time.perf_counter()
    r = train(name, data.x_train, data.y_train, seed=0, settings=settings, decay_form=decay_form)
    train_err = error_rate(r.model, data.x_train, data.y_train)
    test_err = error_rate(r.model, data.x_test, data.y_test)
    return train_err, test_err, time.perf_counter() - t


def distance(rows):
    """Mean absolute gap to the paper, in percentage points, over training and test error."""
    return float(np.mean([abs(a - b) for row in rows for a, b in row]))


def compare(names, data, settings, label, decay_form=None):
    """Train each model, print its errors beside Table 1's; the mean gap to the paper."""
    rows = []
    for name in names:
        tr, te, sec = run(name, data, settings, decay_form=decay_form)
        p = paper.TABLE1[name]
        rows.append([(100 * tr, p["train_error"]), (100 * te, p["test_error"])])
        print(
            f"{label:10s} {name:15s} {tr:9.2%} {te:9.2%}  "
            f"{p['train_error']:5.2f}%/{p['test_error']:5.2f}% {sec:8.1f}",
            flush=True,
        )
    return distance(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="embedded")
    ap.add_argument("--max-iterations", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--warm-epochs", type=int, default=5)
    ap.add_argument("--only", choices=("methods", "decay"), default=None)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    ap.add_argument("--models", default=",".join(TABLE1_MODELS), help="comma-separated")
    args = ap.parse_args()
    data = load_mnist(args.source)
    print(data.describe())
    header = f"{'train err':>9s} {'test err':>9s}  {'paper':>13s} {'seconds':>8s}"
    print(f"\n{'method':9s} {'model':15s} {header}")
    gaps = {}
    for method in args.methods.split(",") if args.only != "decay" else ():
        settings = TrainingSettings(
            method=method,
            max_iterations=args.max_iterations,
            epochs=args.epochs,
            warm_epochs=args.warm_epochs,
        )
        gaps[method] = compare(args.models.split(","), data, settings, method)
    print("\nmean |ours - paper| over training and test error, percentage points:")
    for method, gap in gaps.items():
        print(f"  {method:7s} {gap:6.2f}")

    print(f"\nweight-decay form, FC10 models, L-BFGS:\n{'form':9s} {'model':15s} {header}")
    settings = TrainingSettings(method="lbfgs", max_iterations=args.max_iterations)
    for form in DECAY_FORMS if args.only != "methods" else ():
        gap = compare(("FC10(1e-4)", "FC10(1e-2)", "FC10(1)"), data, settings, form, form)
        print(f"{form:9s} mean |ours - paper|: {gap:.2f} points")


if __name__ == "__main__":
    main()
