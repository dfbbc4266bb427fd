"""Batched box-constrained L-BFGS (TFP) against the per-image L-BFGS-B reference (§4.1).

On one trained FC100-100-10 and the same images and random wrong targets, runs both
searches in this process and prints images per second, success rate, mean distortion
and objective evaluations per image, and their ratios; then measures the untargeted
shortcut (the k most likely wrong classes) against trying all nine. Prints figures;
asserts nothing.

    python benchmarks/adversarial_speed.py [--n-images 300] [--n-reference 60] [--n-untargeted 100]
"""

import argparse
import time

import numpy as np

from nbhelpers import adversarial
from nbhelpers.data import load_mnist
from nbhelpers.evaluate import predict_labels
from nbhelpers.training import trained_model


def row(name, res, n):
    ok = res.success
    ev = res.total_evaluations / max(res.n, 1)
    print(f"  {name:9s} {n / res.seconds:9.1f} img/s  success {ok.mean():6.1%}  mean distortion {np.mean(res.distortion[ok]):.5f}  evaluations/image {ev:7.0f}  ({res.seconds:.1f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=300)
    ap.add_argument("--n-reference", type=int, default=60, help="the reference runs on the first N of the images (it is slow)")
    ap.add_argument("--n-untargeted", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    data = load_mnist("embedded", verbose=False)
    model = trained_model("FC100-100-10", data, seed=args.seed, verbose=False)
    right = np.flatnonzero(predict_labels(model, data.x_train) == data.y_train)
    idx = np.random.default_rng(args.seed).choice(right, size=args.n_images, replace=False)
    x, y = data.x_train[idx], data.y_train[idx]
    t = (y + np.random.default_rng(args.seed + 1).integers(1, 10, len(y))) % 10
    print(f"FC100-100-10 trained on {data.describe()}; {len(x)} training digits, random wrong targets")

    cold = adversarial.minimal_distortion(model, x, y, targets=t, progress=False)  # includes XLA compilation
    fast = adversarial.minimal_distortion(model, x, y, targets=t, progress=False)  # compiled: steady state
    k = min(args.n_reference, len(x))
    ref = adversarial.minimal_distortion(model, x[:k], y[:k], targets=t[:k], method="scipy", progress=False)
    print("\ntargeted search")
    row("tfp cold", cold, len(x))
    row("tfp", fast, len(x))
    row("scipy", ref, k)
    both = fast.success[:k] & ref.success
    thr = (len(x) / fast.seconds) / (k / ref.seconds)
    dist = np.mean(fast.distortion[:k][both]) / np.mean(ref.distortion[both])
    cold_thr = (len(x) / cold.seconds) / (k / ref.seconds)
    print(f"  throughput ratio tfp/scipy: {thr:.1f}x compiled ({cold_thr:.1f}x on the first call, compilation included)")
    print(f"  distortion ratio tfp/scipy on the {both.sum()} shared images: {dist:.4f}")

    n = min(args.n_untargeted, len(x))
    print(f"\nuntargeted shortcut on {n} images (k most likely wrong classes vs all 9)")
    def untargeted(kk):
        adversarial.minimal_distortion(model, x[:n], y[:n], untargeted_candidates=kk, progress=False)  # compile
        return adversarial.minimal_distortion(model, x[:n], y[:n], untargeted_candidates=kk, progress=False)

    exact = untargeted(9)
    for kk in (1, 2, 3, 5):
        short = untargeted(kk)
        ok = short.success & exact.success
        ratio = np.mean(short.distortion[ok]) / np.mean(exact.distortion[ok])
        print(f"  k={kk}: mean distortion {ratio:.4f} x the all-targets minimum, {short.seconds:.1f} s (all 9: {exact.seconds:.1f} s)")


if __name__ == "__main__":
    main()
