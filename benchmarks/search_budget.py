"""How much search does Table 1's distortion need? The budget of the box-constrained L-BFGS
search (§4.1: values of c per digit, L-BFGS iterations per c) against its distortion.

On the Table 1 models the chapters use (trained or loaded from the model cache, as the
chapters do) and the class-balanced sample of digits "Blind spots" searches, runs
`search_correctly_classified` with the book's budget (10 values of c, 100 iterations)
and with smaller ones, and prints per model and budget the time, the failures, the mean
distortion, its change against the book's budget and the sampling error of that mean
(its standard error over the digits), after an untimed search that compiles the search
for the model. The distortion is Table 1's, as "Blind spots" reports it
(`attacks.readings.table1_distortion`, random wrong labels). A smaller budget is safe
where its change stays well inside the sampling error. Prints figures; asserts nothing.

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/search_budget.py --source auto --n 2000
    python benchmarks/search_budget.py --n 200 --models FC100-100-10     # embedded digits
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from nbhelpers import attacks  # noqa: E402
from nbhelpers.data import load_mnist  # noqa: E402
from nbhelpers.models import TABLE1_MODELS  # noqa: E402
from nbhelpers.training import TrainingSettings, trained_model  # noqa: E402

BOOK = (10, 100)  # c_steps, max_iterations: minimal_distortion's defaults
BUDGETS = [BOOK, (6, 100), (5, 100), (4, 100), (10, 50), (6, 50), (6, 30)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", default="embedded")
    p.add_argument("--n", type=int, default=2000, help="digits searched per model")
    p.add_argument("--models", default=",".join(TABLE1_MODELS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    data = load_mnist(args.source, seed=args.seed)
    xs, ys = data.sample("train", args.n, seed=args.seed)
    print(f"data: {data.describe()}; {len(xs):,} training digits per model, random wrong labels")
    settings = TrainingSettings(max_iterations=200)
    print(
        f"{'model':14s} {'c steps':>7s} {'iters':>5s} {'seconds':>8s} {'failed':>6s} "
        f"{'distortion':>10s} {'change':>8s} {'std. error':>10s}"
    )
    for name in args.models.split(","):
        model = trained_model(name, data, seed=args.seed, settings=settings, verbose=False)
        base = None
        attacks.search_correctly_classified(  # compiles the search for this model, untimed
            model, xs[:50], ys[:50], "random", seed=args.seed, progress=False
        )
        for c_steps, iters in BUDGETS:
            t0 = time.perf_counter()
            res = attacks.search_correctly_classified(
                model,
                xs,
                ys,
                "random",
                seed=args.seed,
                c_steps=c_steps,
                max_iterations=iters,
                progress=False,
            )
            seconds = time.perf_counter() - t0
            d = res.distortion[res.success]
            mean = attacks.readings.table1_distortion(res, "random")
            se = float(np.std(d) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
            base = mean if base is None else base
            print(
                f"{name:14s} {c_steps:7d} {iters:5d} {seconds:8.1f} {res.n_failed:6d} "
                f"{mean:10.5f} {100 * (mean / base - 1):+7.2f}% {se:10.5f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
