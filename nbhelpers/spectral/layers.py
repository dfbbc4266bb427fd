"""A Keras model's layers one by one (§4.3, Table 5): bounds, true norms, the product, and
how much real perturbations are amplified through each layer.

A layer's row bounds its *linear* part (the paper's column) and, apart, its activation:
half-rectification and the identity do not expand, tanh neither, a sigmoid at most by
1/4 (its largest slope). The whole network's bound is the product of both over layers.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validation as _v
from .norms import conv_upper_bound, dense_norm, pool_bound, power_iteration

__all__ = [
    "ACTIVATION_BOUNDS",
    "layer_table",
    "model_bound",
    "layer_outputs",
    "amplification",
    "same_size_random",
]

# Largest slope of each activation: its Lipschitz constant (softmax's L2 constant is <= 1).
ACTIVATION_BOUNDS = {"linear": 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25, "softmax": 1.0}
_PASS_THROUGH = ("InputLayer", "Flatten", "Reshape", "Dropout")  # isometries, or the identity
_KNOWN = ("Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Activation", *_PASS_THROUGH)


def _activation(layer) -> tuple[str, float]:
    fn = getattr(layer, "activation", None)
    name = "linear" if fn is None else getattr(fn, "__name__", str(fn))
    if name not in ACTIVATION_BOUNDS:
        raise ValueError(
            f"layer {layer.name!r} has activation {name!r}; "
            f"spectral knows {tuple(ACTIVATION_BOUNDS)}"
        )
    return name, ACTIVATION_BOUNDS[name]


def _stride(strides):
    sh, sw = strides
    return int(sh) if sh == sw else f"{sh}×{sw}"


def _conv_row(layer, in_shape, iterations):
    import keras

    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1):
        raise ValueError(f"layer {layer.name!r}: only channels_last, undilated Conv2D is supported")
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"layer {layer.name!r}: grouped convolutions are not supported")
    kernel = np.asarray(layer.kernel)
    kh, kw, c, d = kernel.shape
    strides, padding = tuple(layer.strides), layer.padding
    bound = conv_upper_bound(kernel, strides, in_shape[:2], padding)

    def op(x):
        return keras.ops.conv(x, layer.kernel, strides=strides, padding=padding)

    true = power_iteration(op, in_shape, iterations) if iterations else None
    return "conv", f"{c}×{kh}×{kw}×{d}", _stride(strides), bound, true


def _linear_row(layer, in_shape, iterations):
    """kind, size, stride, upper bound and true norm of the layer's linear part."""
    cls = type(layer).__name__
    if cls == "Dense":
        if len(in_shape) != 1:
            raise ValueError(f"layer {layer.name!r}: Dense on a {len(in_shape)}-d input")
        kernel = np.asarray(layer.kernel)
        op = lambda x: x @ layer.kernel  # noqa: E731
        true = power_iteration(op, in_shape, iterations) if iterations else None
        return "dense", f"{kernel.shape[0]}×{kernel.shape[1]}", None, dense_norm(kernel), true
    if cls == "Conv2D":
        return _conv_row(layer, in_shape, iterations)
    pool, strides = tuple(layer.pool_size), tuple(layer.strides)
    if cls == "MaxPooling2D":  # non-overlapping: moving a window's maximum moves the output
        bound = pool_bound(pool, strides)
        return (
            "max_pool",
            "×".join(map(str, pool)),
            _stride(strides),
            bound,
            bound if bound == 1 else None,
        )
    # AveragePooling2D: a depthwise convolution with a uniform kernel, channels apart
    ones = np.full((*pool, 1, 1), 1.0 / math.prod(pool))
    bound = conv_upper_bound(ones, strides, in_shape[:2], layer.padding)
    true = power_iteration(layer, in_shape, iterations) if iterations else None
    return "avg_pool", "×".join(map(str, pool)), _stride(strides), bound, true


def layer_table(model, *, true_norms: bool = True, iterations: int = 500) -> list[dict]:
    """One row per Dense, Conv2D, pooling or Activation layer of ``model``: Table 5's columns.

    Keys: layer, kind, size (dense "in×out", convolution "C×kh×kw×D" as the paper
    writes it), stride (None for dense), input (the shape the layer sees), upper_bound
    (of the linear part: ||W||, :func:`conv_upper_bound`, :func:`pool_bound`), true_norm
    (power iteration on the layer's own Keras operation, zero padding and all; None if
    ``true_norms`` is False or the layer has no operator norm), activation and
    activation_bound. Flatten, Reshape, Dropout and the input pass through; any other
    layer is an error naming it.
    """
    _v.check_bool(true_norms, "true_norms")
    iterations = _v.check_int(iterations, "iterations", low=1) if true_norms else 0
    rows = []
    for layer in getattr(model, "layers", None) or _not_a_model(model):
        cls = type(layer).__name__
        if cls not in _KNOWN:
            raise ValueError(
                f"layer {layer.name!r} is a {cls}; spectral bounds only {', '.join(_KNOWN)}"
            )
        if cls in _PASS_THROUGH:
            continue
        in_shape = tuple(int(s) for s in layer.input.shape[1:])
        act, act_bound = _activation(layer)
        if cls == "Activation":
            kind, size, stride, bound, true = "activation", "", None, 1.0, 1.0
        else:
            kind, size, stride, bound, true = _linear_row(layer, in_shape, iterations)
        rows.append(
            {
                "layer": layer.name,
                "kind": kind,
                "size": size,
                "stride": stride,
                "input": "×".join(map(str, in_shape)),
                "upper_bound": float(bound),
                "true_norm": None if true is None or not true_norms else float(true),
                "activation": act,
                "activation_bound": act_bound,
            }
        )
    return rows


def _not_a_model(model):
    raise TypeError(f"model must be a Keras model with layers, got {type(model).__name__}")


def model_bound(rows, *, column: str = "upper_bound", activations: bool = True) -> float:
    """Π_k L_k (§4.3): the product of a :func:`layer_table`'s ``column`` over its rows,
    times each layer's activation bound unless ``activations`` is False."""
    column = _v.check_choice(column, "column", ("upper_bound", "true_norm"))
    _v.check_bool(activations, "activations")
    product = 1.0
    for row in rows:
        value = row[column]
        if value is None:  # no operator norm (overlapping max-pool): fall back to its bound
            value = row["upper_bound"]
        product *= value * (row["activation_bound"] if activations else 1.0)
    return float(product)


def layer_outputs(model):
    """A Keras model mapping ``model``'s input to the output of every row of :func:`layer_table`
    (after its activation): φ_1(x), φ_2(φ_1(x)), …, the last being the network's output."""
    import keras

    names = [row["layer"] for row in layer_table(model, true_norms=False)]
    outputs = [model.get_layer(name).output for name in names]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_layers"), names


def amplification(model, x, r, batch_size: int = 512) -> dict:
    """How much each layer amplifies the perturbation r of x (§4.3, measured).

    Returns ``{"layers": names, "step": (n, K), "total": (n, K)}``: step[i, k] is
    ||φ_k(x+r) − φ_k(x)|| / ||φ_{k-1}(x+r) − φ_{k-1}(x)|| (φ_0 the input), what layer
    k's bound caps; total[i, k] is ||φ_k(x+r) − φ_k(x)|| / ||r||, what the product of
    the first k bounds caps. NaN where the previous difference is 0.
    """
    x = np.asarray(x, dtype=np.float32)
    r = np.asarray(r, dtype=np.float32)
    if x.shape != r.shape or x.ndim < 2 or len(x) == 0:
        raise ValueError(
            f"x and r must be the same non-empty batch shape, got {x.shape}, {r.shape}"
        )
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(r)):
        raise ValueError("x and r must be finite")
    batch_size = _v.check_int(batch_size, "batch_size", low=1)
    probe, names = layer_outputs(model)
    norms = [np.linalg.norm(r.reshape(len(r), -1), axis=1)]
    diffs = [[] for _ in names]
    for start in range(0, len(x), batch_size):
        xb, rb = x[start : start + batch_size], r[start : start + batch_size]
        clean, moved = probe(xb), probe(xb + rb)
        clean, moved = (clean, moved) if len(names) > 1 else ([clean], [moved])
        for k, (a, b) in enumerate(zip(clean, moved, strict=True)):
            diffs[k].append(
                np.linalg.norm(np.reshape(np.asarray(b) - np.asarray(a), (len(xb), -1)), axis=1)
            )
    norms += [np.concatenate(d) for d in diffs]
    norms = np.stack(norms, axis=1).astype(np.float64)  # (n, K + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(norms[:, :-1] > 0, norms[:, 1:] / norms[:, :-1], np.nan)
        total = np.where(norms[:, :1] > 0, norms[:, 1:] / norms[:, :1], np.nan)
    return {"layers": names, "step": step, "total": total}


def same_size_random(r, seed: int = 0) -> np.ndarray:
    """Random perturbations of the same L2 size as each row of r: Gaussian directions rescaled."""
    r = np.asarray(r, dtype=np.float64)
    if r.ndim < 2 or len(r) == 0 or not np.all(np.isfinite(r)):
        raise ValueError(f"r must be a non-empty finite batch, got shape {r.shape}")
    g = np.random.default_rng(_v.check_seed(seed)).normal(size=r.shape)
    size = np.linalg.norm(r.reshape(len(r), -1), axis=1) / np.linalg.norm(
        g.reshape(len(g), -1), axis=1
    )
    return (g * size.reshape(-1, *([1] * (r.ndim - 1)))).astype(np.float32)


VGG16_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"


def pretrained_vgg16(timeout: float = 10.0):
    """``(model, None)``: VGG16 with its ImageNet weights, downloaded through Keras (which
    checks the file's hash); ``(None, reason)`` where that cannot be done (no network)."""
    import keras

    from ..data.network import reachable

    ok, why = reachable(VGG16_ORIGIN, _v.check_real(timeout, "timeout", low=0, low_open=True))
    if not ok:
        return None, f"its ImageNet weights could not be downloaded: {_offline_words(why)}"
    try:
        return keras.applications.VGG16(weights="imagenet"), None
    except Exception as exc:  # noqa: BLE001 - a failed download is reported, not raised
        return None, f"the ImageNet weights could not be loaded: {type(exc).__name__}: {exc}"


def _offline_words(why: str) -> str:
    """``reachable``'s reason in a reader's words: a name that does not resolve (the usual
    offline case) is said as such, not as the socket's error."""
    if "gaierror" in why or "name resolution" in why or "Name or service" in why:
        host = why.split(" ", 1)[0].rsplit(":", 1)[0]
        return f"this machine has no network (the name {host} did not resolve)"
    return why


def vgg16_table(model, input_size: int = 32, *, blocks: int = 5, iterations: int = 500):
    """:func:`layer_table` of a VGG16 (``keras.applications``): the convolutions and pools of
    its first ``blocks`` blocks at ``input_size``×``input_size`` inputs (at 224 the Fourier
    bound of every layer would not fit in memory here; a convolution's norm grows with its
    input towards the bound), then, with all five blocks, its fully connected layers, exact."""
    import keras

    input_size = _v.check_int(input_size, "input_size", low=32)
    blocks = _v.check_int(blocks, "blocks", low=1, high=5)
    convs = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(input_size, input_size, 3)
    )
    convs = keras.Model(convs.inputs, convs.get_layer(f"block{blocks}_pool").output)
    for layer in convs.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    rows = layer_table(convs, iterations=iterations)
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    top = dense if blocks == 5 else []
    for layer in top:
        kernel = np.asarray(layer.kernel)
        act, act_bound = _activation(layer)
        norm = dense_norm(kernel)
        rows.append(
            {
                "layer": layer.name,
                "kind": "dense",
                "size": f"{kernel.shape[0]}×{kernel.shape[1]}",
                "stride": None,
                "input": str(kernel.shape[0]),
                "upper_bound": norm,
                "true_norm": norm,  # exact: the largest singular value
                "activation": act,
                "activation_bound": act_bound,
            }
        )
    return rows


def amplification_summary(rows, measured: dict) -> dict:
    """Per layer of a :func:`layer_table`: its bound (activation included) beside the median
    and largest amplification of each kind of perturbation in ``measured`` ({kind:
    :func:`amplification`}); a last row "network" compares the product bound with the
    whole network's amplification ||φ(x+r) − φ(x)|| / ||r||."""
    _v.check_mapping(measured, "measured", non_empty=True)
    names = [row["layer"] for row in rows]
    out = {}
    for k, row in enumerate(rows):
        cells = {"bound": row["upper_bound"] * row["activation_bound"]}
        for kind, amp in measured.items():
            if amp["layers"] != names:
                raise ValueError(f"measured[{kind!r}] is for layers {amp['layers']}, not {names}")
            cells[f"{kind} median"] = float(np.nanmedian(amp["step"][:, k]))
            cells[f"{kind} max"] = float(np.nanmax(amp["step"][:, k]))
        out[row["layer"]] = cells
    network = {"bound": model_bound(rows)}
    for kind, amp in measured.items():
        network[f"{kind} median"] = float(np.nanmedian(amp["total"][:, -1]))
        network[f"{kind} max"] = float(np.nanmax(amp["total"][:, -1]))
    out["network"] = network
    return out


def as_frame(rows, digits: int = 3):
    """A :func:`layer_table` as a DataFrame indexed by layer, for display: numbers rounded,
    strides as written (a dash for dense layers) rather than floats, headers in words."""
    import pandas as pd

    columns = ["size", "stride", "upper_bound", "true_norm", "activation", "activation_bound"]
    rows = list(rows)
    frame = pd.DataFrame(rows).set_index("layer")[columns]
    frame["stride"] = [("—" if row["stride"] is None else str(row["stride"])) for row in rows]
    return frame.round(_v.check_int(digits, "digits", low=0)).rename(columns=FRAME_HEADERS)


# as_frame's column headers, in words (the rows' keys stay the JSON's)
FRAME_HEADERS = {
    "upper_bound": "upper bound",
    "true_norm": "true norm",
    "activation_bound": "activation's bound",
}
