"""§4.3's convolution formula against the truth, on a grid of kernels, strides and paddings.

The printed formula is easy to get wrong (its Δ⁻² makes it too small by Δ; its
frequency grid is the input's), so every value is checked two ways: the dense
matrix of the operator built from basis images, and power iteration with autodiff.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import _validation as _v
from .norms import (
    circular_convolution,
    conv_norm_circular,
    conv_upper_bound,
    dense_matrix_norm,
    power_iteration,
)

__all__ = ["check_grid", "worst_gaps"]


def _one_case(kernel, stride, padding, size, iterations, seed) -> dict:
    import keras

    k32 = kernel.astype(np.float32)
    shape = (size, size, kernel.shape[2])

    def zero_padded(x):  # the layer as Keras computes it
        return keras.ops.conv(x, k32, strides=stride, padding=padding)

    return {
        "kernel": kernel.shape[0],
        "stride": stride,
        "padding": padding,
        "input": f"{size}×{size}×{kernel.shape[2]}",
        # circular convolution on the input's own grid: the formula, exact for it
        "formula": conv_norm_circular(kernel, stride, size),
        "printed": conv_norm_circular(kernel, stride, size, printed=True),
        "circular_dense": dense_matrix_norm(
            lambda x: circular_convolution(x, kernel, stride), shape
        ),
        # Keras's zero-padded convolution: its bound and its true norm, two ways
        "bound": conv_upper_bound(kernel, stride, size, padding),
        "true_dense": dense_matrix_norm(zero_padded, shape),
        "power": power_iteration(zero_padded, shape, iterations, seed=seed),
    }


def check_grid(
    kernel_sizes=(1, 3, 5, 11),
    strides=(1, 2, 4),
    paddings=("same", "valid"),
    *,
    size: int = 16,
    channels=(2, 3),
    iterations: int = 500,
    seed: int = 0,
) -> list[dict]:
    """One record per (kernel size, stride, padding): random kernels (C, D = ``channels``)
    on ``size``×``size`` inputs (a multiple of every stride, at least every kernel).

    Keys: formula (the corrected formula on the input's grid), printed (the paper's
    Δ⁻² as printed), circular_dense (the exact norm of the circular convolution),
    bound (:func:`conv_upper_bound`), true_dense and power (the exact and the
    power-iteration norm of Keras's zero-padded convolution).
    """
    sizes = [_v.check_int(k, "kernel_sizes", low=1) for k in kernel_sizes]
    steps = [_v.check_int(s, "strides", low=1) for s in strides]
    pads = [_v.check_choice(p, "paddings", ("same", "valid")) for p in paddings]
    size = _v.check_int(size, "size", low=1)
    if any(size % s for s in steps) or any(size < k for k in sizes):
        raise ValueError(
            f"size must be a multiple of every stride {steps} and at least every kernel "
            f"{sizes}, got {size}"
        )
    c, d = (_v.check_int(n, "channels", low=1) for n in channels)
    rng = np.random.default_rng(_v.check_seed(seed))
    records = []
    for k, stride, padding in itertools.product(sizes, steps, pads):
        kernel = rng.normal(size=(k, k, c, d)) / k
        records.append(_one_case(kernel, stride, padding, size, iterations, seed))
    return records


# check_grid's keys as the chapter's table heads them
CHECK_HEADERS = {
    "formula": "corrected formula",
    "printed": "as printed",
    "circular_dense": "circular, exact",
    "bound": "upper bound",
    "true_dense": "zero-padded, exact",
    "power": "zero-padded, power iteration",
}


def worst_gaps(records) -> dict:
    """The summary the chapter states: worst relative gaps over a :func:`check_grid`.

    formula_gap: |formula − circular_dense| / circular_dense (the formula is exact for
    the circular operator); power_gap: |power − true_dense| / true_dense; bound_slack:
    the smallest bound / true_dense − 1 (negative would be a violated bound);
    bound_ratio_max: the loosest bound / true_dense; printed_factor: the range of
    formula / printed, which is Δ.
    """
    if not records:
        raise ValueError("records must hold at least one check, got none")
    arr = {
        key: np.array([r[key] for r in records], dtype=float)
        for key in records[0]
        if key not in ("padding", "input")
    }
    ratio = arr["bound"] / arr["true_dense"]
    factor = arr["formula"] / arr["printed"]
    return {
        "formula_gap": float(
            np.max(np.abs(arr["formula"] - arr["circular_dense"]) / arr["circular_dense"])
        ),
        "power_gap": float(np.max(np.abs(arr["power"] - arr["true_dense"]) / arr["true_dense"])),
        "bound_slack": float(np.min(ratio) - 1.0),
        "bound_ratio_max": float(np.max(ratio)),
        "bound_ratio_median": float(np.median(ratio)),
        "printed_factor_matches_stride": bool(np.allclose(factor, arr["stride"], rtol=1e-9)),
        "cases": len(records),
    }
