"""The pools of adversarial examples of §4.2: how minibatches mix clean digits with pool
examples, the maps that put a pool at a hidden layer, and the refreshes that keep a pool
made of the current network's own minimal-distortion examples (§4.1).

`trainers` trains with them; the settings are its `PoolSettings`.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as _v
from ..data import N_PIXELS
from ..evaluate import predict_labels

__all__ = [
    "batch_plan",
    "assemble_batch",
    "dense_layers",
    "layer_maps",
    "new_pools",
    "refresh",
    "refresh_history",
]

# ---------------------------------------------------------------------------
# minibatches that mix clean digits and pool examples


def batch_plan(n_clean: int, filled, batch_size: int, mix: float, rng) -> list:
    """One epoch's minibatches as ``(clean indices, [pool indices per pool])``.

    ``filled``: how many examples each pool holds. Each full batch holds
    ``round(mix * batch_size)`` pool examples, split evenly between the non-empty pools
    (none while all are empty) and drawn at random, without replacement where a pool is
    large enough; the rest are clean digits, shuffled, each seen once per epoch.
    ``mix`` in [0, 1) must leave room for clean digits; ``rng`` is a numpy Generator.
    """
    n_clean = _v.check_int(n_clean, "n_clean", low=1)
    batch_size = _v.check_int(batch_size, "batch_size", low=1)
    mix = _v.check_real(mix, "mix", low=0, high=1, high_open=True)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__} {rng!r}"
        )
    if isinstance(filled, (str, bytes)) or not hasattr(filled, "__iter__"):
        raise TypeError(f"filled must be a list of pool sizes, got {type(filled).__name__}")
    filled = [_v.check_int(f, "filled", low=0) for f in filled]
    live = [f > 0 for f in filled]
    k = round(mix * batch_size) if any(live) else 0
    if k >= batch_size:
        raise ValueError(
            f"mix * batch_size must leave room for clean digits, got mix={mix} "
            f"with batch_size={batch_size}"
        )
    shares = np.zeros(len(filled), dtype=int)
    if k:
        idx = np.flatnonzero(live)
        shares[idx] = k // len(idx)
        shares[idx[: k % len(idx)]] += 1
    order = rng.permutation(n_clean)
    plan = []
    for start in range(0, n_clean, batch_size - k):
        clean = order[start : start + batch_size - k]
        scale = 1.0 if len(clean) == batch_size - k else len(clean) / (batch_size - k)
        pools = [
            rng.choice(f, size=round(s * scale), replace=round(s * scale) > f)
            if s
            else np.zeros(0, np.int64)
            for f, s in zip(filled, shares, strict=True)
        ]
        plan.append((clean, [np.asarray(p, dtype=np.int64) for p in pools]))
    return plan


def assemble_batch(x, y, pools, clean, chosen):
    """The minibatch: clean ``(images, labels)`` and, per pool, its chosen ``(inputs,
    labels)``, each pool example labelled with its original digit's label."""
    xb, yb = x[clean].astype(np.float32), y[clean].astype(np.int64)
    extra = tuple(
        (p["x"][i].astype(np.float32), p["y"][i].astype(np.int64))
        for p, i in zip(pools, chosen, strict=True)
    )
    return xb, yb, extra


# ---------------------------------------------------------------------------
# the pools


def dense_layers(model) -> list:
    """The Dense layers of an FC model, input to output."""
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def layer_maps(model, layer: int):
    """``(lower, upper)`` for a pool at `layer` of an FC model: `lower` maps pixels to that
    layer's outputs (a numpy function), `upper` is a Keras model from those outputs to the
    logits made of the model's own layers above it, so training it trains them (§4.2)."""
    import keras

    dense = dense_layers(model)
    layer = _v.check_int(layer, "layer", low=0, high=len(dense) - 1)
    if layer == 0:
        return (lambda x: np.asarray(x, np.float32)), model
    below, above = dense[:layer], dense[layer:]

    def lower(x, batch_size: int = 8192):
        out = []
        for start in range(0, len(x), batch_size):
            h = np.asarray(x[start : start + batch_size], np.float32)
            for d in below:
                h = d(h)
            out.append(np.asarray(h))
        return np.concatenate(out) if out else np.zeros((0, below[-1].units), np.float32)

    inputs = keras.Input((below[-1].units,), name=f"{below[-1].name}_outputs")
    h = inputs
    for d in above:
        h = d(h)
    return lower, keras.Model(inputs, h, name=f"above_{below[-1].name}")


def _new_examples(maps, model, x, y, count: int, rng, settings, seed: int):
    """Up to `count` minimal-distortion examples (§4.1) at one layer of the current model,
    searched on `count` random training digits it gets right (failed searches are left
    out): ``(layer inputs, original labels, their distortions)``."""
    from ..attacks.readings import targets_for
    from ..attacks.search import minimal_distortion

    lower, upper = maps
    right = np.flatnonzero(predict_labels(model, x) == y)
    rows = np.sort(rng.choice(right, size=min(count, len(right)), replace=False))
    if len(rows) == 0:
        return lower(x[:0]), y[:0], np.zeros(0)
    found = minimal_distortion(
        upper,
        lower(x[rows]),
        y[rows],
        targets_for(settings.reading),
        max_iterations=settings.search_iterations,
        c_steps=settings.c_steps,
        seed=seed,
        progress=False,
    )
    ok = np.flatnonzero(found.success)
    return np.asarray(found.x_adv)[ok], y[rows][ok], np.asarray(found.distortion)[ok]


def refresh(pool: dict, model, x, y, rng, settings, seed: int) -> dict:
    """Fill an empty pool; later replace `refresh_fraction` of it with new examples, empty
    slots (left by failed searches) first, then random ones. A slot whose search failed
    keeps its old example (or stays empty)."""
    filled, size = pool["filled"], settings.pool_size
    first = filled == 0
    n = size if first else max(1, round(settings.refresh_fraction * size))
    empty = np.arange(filled, min(size, filled + n))
    old = rng.choice(filled, size=n - len(empty), replace=False) if n > len(empty) else empty[:0]
    slots = np.concatenate([empty, old])
    xa, ya, dist = _new_examples(pool["maps"], model, x, y, len(slots), rng, settings, seed)
    asked, slots = len(slots), slots[: len(xa)]
    pool["x"][slots], pool["y"][slots] = xa, ya
    pool["filled"] = filled + min(len(empty), len(xa))
    return {
        "layer": pool["layer"],
        "kind": "fill" if first else "replace",
        "asked": int(asked),
        "new": int(len(xa)),
        "mean_distortion": float(dist.mean()) if len(dist) else None,
    }


def new_pools(model, settings) -> list:
    """One empty pool per layer in ``settings.layers``, with its `layer_maps`."""
    dense = dense_layers(model)
    if settings.layers[-1] >= len(dense):
        raise ValueError(
            f"layers must be below the output layer: this model has pools at 0 (the pixels) "
            f"to {len(dense) - 1}, got {settings.layers}"
        )
    pools = []
    for k in settings.layers:
        width = N_PIXELS if k == 0 else dense[k - 1].units
        pools.append(
            {
                "layer": k,
                "maps": layer_maps(model, k),
                "x": np.zeros((settings.pool_size, width), np.float32),
                "y": np.zeros(settings.pool_size, np.int64),
                "filled": 0,
            }
        )
    return pools


def refresh_history(epochs) -> dict:
    """From a pool training's ``info["epochs"]``: the epochs with a refresh and, per pool
    (``"layer k"``), the mean distortion of that refresh's new examples (NaN if none)."""
    with_refresh = [e for e in epochs if e.get("refresh")]
    out = {"epoch": [e["epoch"] for e in with_refresh]}
    for e in with_refresh:
        for r in e["refresh"]:
            value = r["mean_distortion"]
            out.setdefault(f"layer {r['layer']}", []).append(np.nan if value is None else value)
    return out
