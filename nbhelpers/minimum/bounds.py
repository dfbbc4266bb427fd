"""Certified lower bounds on the distortion that moves a digit to a target, for the Table 1
models (chains of sigmoid Dense layers): §4.3's Lipschitz bounds put to use, globally and
on a ball around each digit. No perturbation smaller than these can do it."""

from __future__ import annotations

import numpy as np

from .._validation import check_images, check_int, check_labels


def _dense_chain(model) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """``[(W, b, activation), ...]`` of a chain of Dense layers on the pixels (every Table 1
    model: sigmoid hidden layers, linear logits); a TypeError for any other layer."""
    chain = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind != "Dense":
            raise TypeError(
                f"expected a chain of Dense layers (a Table 1 model), got {model.name!r} with "
                f"a {kind} layer {layer.name!r}"
            )
        activation = layer.get_config()["activation"]
        if activation not in ("sigmoid", "linear"):
            raise TypeError(f"{layer.name!r}: expected sigmoid or linear, got {activation!r}")
        w, b = (np.asarray(v, dtype=np.float64) for v in layer.get_weights())
        chain.append((w, b, activation))
    if not chain or chain[-1][2] != "linear":
        raise TypeError(f"{model.name!r}: expected linear logits as its last Dense layer")
    return chain


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _slope_bound(lo, hi):
    """The largest slope of the sigmoid on [lo, hi] (elementwise): 1/4 where the interval
    holds 0, else the slope at its end nearer 0."""
    nearest = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    s = _sigmoid(nearest)
    return s * (1.0 - s)


def _local_lipschitz(eps, flat, hidden, a, norms, lipschitz):
    """Per digit, a Lipschitz constant of the logit difference (rows ``a`` on the last
    hidden layer) on the ball of radius ``eps`` around ``flat``: the sigmoids' slopes
    bounded by interval propagation over the ball; never above the global ``lipschitz``."""
    if not hidden:
        return np.linalg.norm(a, axis=1)
    lo = hi = flat
    slopes = []
    for k, (w, b, _) in enumerate(hidden):
        if k == 0:
            centre = flat @ w + b
            radius = eps[:, None] * np.linalg.norm(w, axis=0)[None, :]
        else:
            mid, half = (lo + hi) / 2, (hi - lo) / 2
            centre = mid @ w + b
            radius = half @ np.abs(w)
        pre_lo, pre_hi = centre - radius, centre + radius
        slopes.append(_slope_bound(pre_lo, pre_hi))
        lo, hi = _sigmoid(pre_lo), _sigmoid(pre_hi)
    # |aᵀ D_L W_L … D_1 W_1 r| ≤ ‖c‖ ‖W_1‖ ‖r‖, c = s_1 ⊙ |W_2| (s_2 ⊙ … |a|)
    c = np.abs(a) * slopes[-1]
    for k in range(len(hidden) - 1, 0, -1):
        c = (c @ np.abs(hidden[k][0]).T) * slopes[k - 1]
    chained = np.linalg.norm(c, axis=1) * norms[0]
    return np.minimum(chained, lipschitz)


def certified_radius(model, x, labels, targets, *, bisections: int = 40) -> dict:
    """Certified lower bounds on the distortion (per-pixel RMS) needed to move each digit
    from its label to its target, for a chain of sigmoid Dense layers (§4.3's bounds put to
    use): no perturbation smaller than these can do it, box or no box.

    ``"global"``: the margin ``z_label − z_target`` over a Lipschitz constant of that
    logit difference, ``‖w_label − w_target‖`` times each hidden layer's operator norm
    and the sigmoid's slope bound 1/4 (Table 5's product, its last layer taken exactly).
    ``"local"``: the largest radius ε (bisection) at which the margin still exceeds ε times
    a Lipschitz constant valid on the ball of radius ε around the digit, the sigmoids'
    slopes bounded by interval propagation over the ball; never below ``"global"``.
    A digit whose margin is not positive (the model does not give it its label) gets 0.
    """
    chain = _dense_chain(model)
    check_images(x, "x")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    classes = chain[-1][0].shape[1]
    y = check_labels(labels, "labels", n=len(flat), num_classes=classes)
    t = check_labels(targets, "targets", n=len(flat), num_classes=classes)
    if np.any(y == t):
        raise ValueError("targets must differ from labels for every digit")
    bisections = check_int(bisections, "bisections", low=1)
    d = flat.shape[1]
    hidden = chain[:-1]
    w_out, b_out, _ = chain[-1]
    # the margin at the digit
    h = flat
    for w, b, _ in hidden:
        h = _sigmoid(h @ w + b)
    logits = h @ w_out + b_out
    rows = np.arange(len(flat))
    margin = np.maximum(logits[rows, y] - logits[rows, t], 0.0)
    a = (w_out[:, y] - w_out[:, t]).T  # (n, last hidden units): the logit difference's row
    norms = [np.linalg.norm(w, 2) for w, _, _ in hidden]
    product = np.prod([0.25 * n for n in norms]) if hidden else 1.0
    lipschitz = np.linalg.norm(a, axis=1) * product
    global_radius = margin / lipschitz

    low, high = global_radius.copy(), np.maximum(2.0 * global_radius, 1e-12)
    for _ in range(20):  # an upper end the local bound does not certify (or 2^20 × global)
        ok = margin > high * _local_lipschitz(high, flat, hidden, a, norms, lipschitz)
        if not ok.any():
            break
        low = np.where(ok, high, low)
        high = np.where(ok, 2.0 * high, high)
    for _ in range(bisections):
        mid = (low + high) / 2
        ok = margin > mid * _local_lipschitz(mid, flat, hidden, a, norms, lipschitz)
        low = np.where(ok, mid, low)
        high = np.where(ok, high, mid)
    local_radius = np.where(margin > 0, np.maximum(low, global_radius), 0.0)
    return {
        "global": global_radius / np.sqrt(d),
        "local": local_radius / np.sqrt(d),
        "margin": margin,
        "lipschitz": lipschitz,
    }
