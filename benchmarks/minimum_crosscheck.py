"""How minimal is Table 1's minimum? The book's search against exact minima, certified lower
bounds, DeepFool and an established attack library's minimal-norm attacks, digit by digit.

On the Table 1 models the chapters use (trained or loaded from the model cache, as the
chapters do) and the class-balanced sample of training digits "Blind spots" searches, with
Table 1's reading (one random wrong label per digit, over the digits the model gets right),
prints per model and method the mean distortion (per-pixel RMS) over the digits every
method reached, the success rate, the median ratio to the book's search and the seconds:

- ``search``: the book's box-constrained L-BFGS search (`attacks.search_correctly_classified`);
- ``exact`` (FC10 models only): the true minimum (`minimum.linear_minimum`, certified);
- ``bound``: the certified lower bound (`minimum.certified_radius`, local);
- ``deepfool``: `minimum.deepfool`, targeted;
- ``cw``: `minimum.carlini_wagner`, the book's own Carlini–Wagner (9 values of c, 300 steps);
- ``foolbox-*``: foolbox 3's L2 Carlini–Wagner, DDN and FMN attacks, targeted at the same
  labels (an independent implementation; not a dependency of the book:
  ``pip install foolbox==3.3.4``; left out, with a line saying so, where it is missing).

Prints figures; asserts nothing.

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/minimum_crosscheck.py --source auto --n 500
    python benchmarks/minimum_crosscheck.py --n 100 --models "FC10(1e-4),FC100-100-10"
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from nbhelpers import attacks, minimum  # noqa: E402
from nbhelpers.data import load_mnist  # noqa: E402
from nbhelpers.models import TABLE1_MODELS  # noqa: E402
from nbhelpers.training import TrainingSettings, trained_model  # noqa: E402

FOOLBOX = {  # name: (class name, keyword arguments): each library's own defaults otherwise
    "foolbox-cw": ("L2CarliniWagnerAttack", {"binary_search_steps": 9, "steps": 1000}),
    "foolbox-ddn": ("DDNAttack", {"steps": 1000}),
    "foolbox-fmn": ("L2FMNAttack", {"steps": 1000}),
}


def foolbox_attacks(model, x, targets, names):
    """``{name: (distortion, success, seconds)}`` of foolbox's attacks; {} without foolbox."""
    try:
        import foolbox as fb
    except ImportError:
        print("  foolbox is not installed (pip install foolbox==3.3.4): its attacks left out")
        return {}
    import tensorflow as tf

    fmodel = fb.TensorFlowModel(model, bounds=(0.0, 1.0))
    xt = tf.constant(np.asarray(x, np.float32))
    # int64, as argmax gives: eagerpy 0.30 casts mixed dtypes with a function NumPy 2 removed
    criterion = fb.criteria.TargetedMisclassification(tf.constant(targets, tf.int64))
    out = {}
    for name in names:
        cls, kwargs = FOOLBOX[name]
        attack = getattr(fb.attacks, cls)(**kwargs)
        tf.random.set_seed(0)  # DDN and FMN draw noise; the book runs with op determinism on
        t0 = time.perf_counter()
        _, clipped, success = attack(fmodel, xt, criterion, epsilons=None)
        seconds = time.perf_counter() - t0
        r = np.asarray(clipped, np.float64) - np.asarray(x, np.float64)
        out[name] = (np.sqrt(np.mean(r * r, axis=1)), np.asarray(success, bool), seconds)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", default="embedded")
    p.add_argument("--n", type=int, default=500, help="training digits per model")
    p.add_argument("--models", default=",".join(TABLE1_MODELS))
    p.add_argument("--foolbox", default=",".join(FOOLBOX), help="foolbox attacks ('' for none)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    try:
        from importlib.metadata import version

        fb_version = version("foolbox")
    except Exception:  # noqa: BLE001 - only for the header
        fb_version = "not installed"
    data = load_mnist(args.source, seed=args.seed)
    xs, ys = data.sample("train", args.n, seed=args.seed)
    print(f"data: {data.describe()}; {len(xs):,} training digits, random wrong labels")
    print(f"foolbox: {fb_version}")
    settings = TrainingSettings(max_iterations=200)
    for name in args.models.split(","):
        model = trained_model(name, data, seed=args.seed, settings=settings, verbose=False)
        t0 = time.perf_counter()
        res = attacks.search_correctly_classified(
            model, xs, ys, attacks.readings.targets_for("random"), seed=args.seed, progress=False
        )
        searched = time.perf_counter() - t0
        right = ~res.already_wrong
        x, y, t = xs[right], ys[right], res.requested[right]
        methods = {"search": (res.distortion[right], res.success[right], searched)}
        t0 = time.perf_counter()
        bound = minimum.certified_radius(model, x, y, t)
        methods["bound"] = (bound["local"], np.ones(len(x), bool), time.perf_counter() - t0)
        if name.startswith("FC10("):
            w, b = minimum.softmax_weights(model)
            t0 = time.perf_counter()
            exact = minimum.linear_minimum(w, b, x, t)
            methods["exact"] = (exact.distortion, exact.feasible, time.perf_counter() - t0)
        t0 = time.perf_counter()
        fooled = minimum.deepfool(model, x, y, t)
        methods["deepfool"] = (fooled.distortion, fooled.success, time.perf_counter() - t0)
        t0 = time.perf_counter()
        cw = minimum.carlini_wagner(model, x, y, t)
        methods["cw"] = (cw.distortion, cw.success, time.perf_counter() - t0)
        names = [n for n in args.foolbox.split(",") if n]
        methods.update(foolbox_attacks(model, x, t, names))
        every = np.logical_and.reduce([ok for _, ok, _ in methods.values()])
        base = methods["search"][0]
        print(f"\n{name}: {len(x):,} digits it gets right, {every.sum():,} reached by every method")
        print(
            f"{'method':13s} {'mean':>8s} {'reached':>8s} {'median / search':>16s} {'seconds':>8s}"
        )
        for method, (dist, ok, seconds) in methods.items():
            ratio = np.median(dist[every] / base[every]) if every.any() else float("nan")
            print(
                f"{method:13s} {dist[every].mean():8.4f} {100 * ok.mean():7.1f}% "
                f"{ratio:16.3f} {seconds:8.1f}"
            )


if __name__ == "__main__":
    main()
