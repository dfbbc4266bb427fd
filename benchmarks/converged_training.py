"""§4.2's variants trained to convergence: how long each trains and where it stops.

Trains FC100-100-10 by each named variant until its error on held-out training digits
stops falling (`adversarial_training.convergence`), and prints per network the epochs run,
the epoch kept, the learning-rate drops, the held-out and test errors and the time; with
``--refit``, also the test error after training again on every digit for the epochs chosen.
The networks go to the model cache, so a chapter asking for the same ones loads them.
Prints figures; asserts nothing.

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/converged_training.py \
        --variants "weight decay" "pool (every layer)" --schedule alternate --refit
"""

import argparse
import json
import time

from nbhelpers.adversarial_training import BaselineSettings, PoolSettings
from nbhelpers.adversarial_training.convergence import (
    SCHEDULES,
    ConvergenceSettings,
    trained_converged,
)
from nbhelpers.data import load_mnist

VARIANTS = {
    "weight decay": {},
    "dropout (0.1, 0.2)": {"dropout": (0.1, 0.2)},
    "dropout (0, 0.5)": {"dropout": (0.0, 0.5)},
    "dropout (0.2, 0.5)": {"dropout": (0.2, 0.5)},
    "pool (pixels)": {"layers": (0,)},
    "pool (every layer)": {"layers": (0, 1, 2)},
    "pool (hidden layers)": {"layers": (1, 2)},
    "pool (top layer)": {"layers": (2,)},
}


def settings_for(variant: str, epochs: int):
    """The trainer's settings of a variant, `epochs` the cap."""
    spec = VARIANTS[variant]
    if "layers" in spec:
        return PoolSettings(layers=spec["layers"], epochs=epochs)
    rates = spec.get("dropout", (0.0, 0.0))
    return BaselineSettings(dropout_input=rates[0], dropout_hidden=rates[1], epochs=epochs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="auto")
    ap.add_argument("--variants", nargs="+", default=["weight decay"], choices=sorted(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--schedule", default="alternate", choices=SCHEDULES)
    ap.add_argument("--held-out", type=int, default=10_000)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--lr-drops", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100, help="the cap")
    ap.add_argument("--refit", action="store_true")
    ap.add_argument("--json", help="also write every network's info here")
    args = ap.parse_args()

    data = load_mnist(args.source, verbose=False)
    print(data.describe(), flush=True)
    convergence = ConvergenceSettings(
        held_out=args.held_out,
        patience=args.patience,
        lr_drops=args.lr_drops,
        refit=args.refit,
        schedule=args.schedule,
    )
    print(convergence, flush=True)
    header = f"{'variant':22s} seed  run  kept  drops     held-out  test   refit test  seconds"
    print(header, flush=True)
    infos = []
    for variant in args.variants:
        for seed in args.seeds:
            t = time.perf_counter()
            r = trained_converged(
                "FC100-100-10",
                data,
                seed=seed,
                settings=settings_for(variant, args.epochs),
                convergence=convergence,
                verbose=False,
                progress=False,
            )
            c = r.info["convergence"]
            refit = f"{r.info['test_error']:10.2%}" if args.refit else f"{'–':>10s}"
            chosen = c["epochs"][c["kept"] - 1]["test_error"]
            print(
                f"{variant:22s} {seed:4d} {len(c['epochs']):4d} {c['kept']:5d}  "
                f"{str(c['drops_after']):9s} {c['held_out_error']:7.2%} {chosen:7.2%} {refit}  "
                f"{time.perf_counter() - t:7.0f}",
                flush=True,
            )
            infos.append({"variant": variant, **r.info})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(infos, f, indent=1, default=str)


if __name__ == "__main__":
    main()
