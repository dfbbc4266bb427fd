"""The operator norm of one layer (§4.3): dense, strided convolution, pooling, and the truth.

Kernels are in Keras's layout: a Dense kernel is ``(inputs, units)``, a Conv2D kernel
``(kh, kw, C, D)`` (channels last). The truth comes two ways: the dense matrix of the
operator, built by applying it to every basis image (small inputs only), and power
iteration on the operator itself with autodiff (Virmaux and Scaman, NeurIPS 2018).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validation as _v

__all__ = [
    "dense_norm",
    "conv_norm_circular",
    "conv_bound_grid",
    "conv_upper_bound",
    "circular_convolution",
    "pool_bound",
    "dense_matrix",
    "dense_matrix_norm",
    "power_iteration",
]

MAX_DENSE_INPUTS = 20_000  # the dense matrix has one column per input value


def _check_kernel(kernel, name: str, ndim: int) -> np.ndarray:
    """A kernel (or weight matrix) as a finite float64 array of `ndim` dimensions."""
    return _v.check_array(kernel, name, ndim=ndim)


def _pair(value, name: str, low: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= low, as a pair (height, width)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return tuple(_v.check_int(v, name, low=low) for v in value)
    v = _v.check_int(value, name, low=low)
    return (v, v)


def dense_norm(kernel) -> float:
    """||W||, the largest singular value of a fully connected layer's kernel (§4.3): exact."""
    k = _check_kernel(kernel, "kernel", 2)
    return float(np.linalg.norm(k, 2))


def conv_norm_circular(kernel, stride=1, grid=None, *, printed: bool = False) -> float:
    """The exact norm of a strided circular convolution on a ``grid`` (§4.3's formula, corrected).

    For each output frequency ξ on the grid ``n/Δ``, ``A(ξ)`` is the D × C·Δ² matrix of
    the kernel's Fourier coefficients ŵ_{c,d}(ξ + l·n/Δ) at the Δ² aliased frequencies,
    ``n`` the grid (the input's, not the kernel's). Then ``||W|| = Δ⁻¹ max_ξ ||A(ξ)||``
    (``Δ⁻¹ = (Δ_h Δ_w)^(-1/2)``). The paper prints Δ⁻² inside A(ξ), which is too small by
    a factor Δ: ``printed=True`` gives that value. With stride 1 this is Sedghi, Gupta and
    Long (ICLR 2019). ``grid``: an int or (h, w), multiples of the stride and at least
    the kernel; default the kernel's size rounded up to the stride.
    """
    k = _check_kernel(kernel, "kernel", 4)
    sh, sw = _pair(stride, "stride")
    kh, kw, c, d = k.shape
    if grid is None:
        grid = (sh * math.ceil(kh / sh), sw * math.ceil(kw / sw))
    gh, gw = _pair(grid, "grid")
    if gh % sh or gw % sw or gh < kh or gw < kw:
        raise ValueError(
            f"grid must be multiples of the stride {(sh, sw)} and at least the kernel "
            f"{(kh, kw)}, got {(gh, gw)}"
        )
    _v.check_bool(printed, "printed")
    w_hat = np.fft.fft2(k, s=(gh, gw), axes=(0, 1))  # (gh, gw, C, D)
    # frequency u = l·(g/Δ) + ξ: split each axis into (l, ξ)
    w_hat = w_hat.reshape(sh, gh // sh, sw, gw // sw, c, d)
    a = w_hat.transpose(1, 3, 5, 0, 2, 4).reshape(-1, d, sh * sw * c)  # one A(ξ) per ξ
    sigma = float(np.max(np.linalg.svd(a, compute_uv=False)[:, 0]))
    return sigma / (sh * sw) if printed else sigma / math.sqrt(sh * sw)


def conv_bound_grid(kernel_size, stride, input_size, padding: str) -> tuple[int, int]:
    """The smallest circular grid of which Keras's zero-padded convolution is a sub-operator.

    'valid' reads the input alone, 'same' the input and its zero border (TensorFlow's
    rule); embedded at the top left of a grid at least that large and a multiple of
    the stride, no output reads across the wrap, so the zero-padded operator is the
    circular one with inputs and outputs restricted: its norm is at most the circular's.
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    nh, nw = _pair(input_size, "input_size")
    padding = _v.check_choice(padding, "padding", ("valid", "same"))
    grid = []
    for n, k, s in ((nh, kh, sh), (nw, kw, sw)):
        if padding == "valid" and n < k:
            raise ValueError(f"input_size {(nh, nw)} is smaller than the kernel {(kh, kw)}")
        total = n if padding == "valid" else n + max((math.ceil(n / s) - 1) * s + k - n, 0)
        grid.append(s * math.ceil(max(total, k) / s))
    return tuple(grid)


def conv_upper_bound(kernel, stride, input_size, padding: str) -> float:
    """An upper bound on the norm of Keras's Conv2D (cross-correlation, zero padding).

    The circular norm (:func:`conv_norm_circular`) on :func:`conv_bound_grid`'s grid.
    Cross-correlation conjugates the Fourier coefficients, which leaves singular values alone.
    """
    k = _check_kernel(kernel, "kernel", 4)
    grid = conv_bound_grid(k.shape[:2], stride, input_size, padding)
    return conv_norm_circular(k, stride, grid)


def circular_convolution(x, kernel, stride=1):
    """Keras's Conv2D with circular instead of zero padding: the operator the formula is exact for.

    ``x``: (n, h, w, C) with h, w multiples of the stride and at least the kernel's size
    less one (the wrap reads that many rows and columns), C the kernel's input channels;
    output (n, h/Δ, w/Δ, D).
    """
    import keras

    k = _check_kernel(kernel, "kernel", 4)
    sh, sw = _pair(stride, "stride")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] % sh or x.shape[2] % sw:
        raise ValueError(f"x must be (n, h, w, C), h and w multiples of the stride, got {x.shape}")
    kh, kw, c = k.shape[:3]
    if x.shape[3] != c:
        raise ValueError(
            f"x must have as many channels as the kernel's inputs: x has shape {x.shape} "
            f"(C = {x.shape[3]}), kernel has shape {k.shape} (kh, kw, C = {c}, D)"
        )
    if x.shape[1] < kh - 1 or x.shape[2] < kw - 1:
        raise ValueError(
            f"x's height and width must be at least the kernel's less one, {(kh - 1, kw - 1)}, "
            f"for the circular wrap: x has shape {x.shape}, kernel has shape {k.shape}"
        )
    wrapped = np.concatenate([x, x[:, : kh - 1]], axis=1)  # x[(i + j) mod h]
    wrapped = np.concatenate([wrapped, wrapped[:, :, : kw - 1]], axis=2)
    return keras.ops.conv(wrapped, k.astype(np.float32), strides=(sh, sw), padding="valid")


def pool_bound(pool_size, strides=None) -> float:
    """Upper Lipschitz constant of max-pooling (§4.3): 1 when its windows do not overlap.

    With overlapping windows an input sits in up to ⌈k/s⌉ windows per axis, and the
    L2 bound is the square root of that count (AlexNet pools 3×3 with stride 2: 2).
    """
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), "strides")
    return math.sqrt(math.ceil(ph / sh) * math.ceil(pw / sw))


def _check_shape(input_shape) -> tuple[int, ...]:
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise TypeError(f"input_shape must be a non-empty tuple of ints, got {input_shape!r}")
    return tuple(_v.check_int(s, "input_shape", low=1) for s in input_shape)


def dense_matrix(operator, input_shape) -> np.ndarray:
    """The matrix M of a linear ``operator`` (batch in, batch out): column i is M applied to e_i.

    ``input_shape``: one input without its batch axis. For small inputs only
    (at most MAX_DENSE_INPUTS values): the exact norm of a layer is then the largest
    singular value of M, whatever its padding or stride.
    """
    shape = _check_shape(input_shape)
    size = math.prod(shape)
    if size > MAX_DENSE_INPUTS:
        raise ValueError(f"input_shape {shape} has {size} values, more than {MAX_DENSE_INPUTS}")
    columns = []
    for start in range(0, size, 1024):
        basis = np.eye(size, dtype=np.float32)[start : start + 1024]
        out = np.asarray(operator(basis.reshape(-1, *shape)), dtype=np.float64)
        columns.append(out.reshape(len(basis), -1))
    return np.concatenate(columns).T


def dense_matrix_norm(operator, input_shape) -> float:
    """The exact norm of a linear operator: the largest singular value of its dense matrix."""
    import scipy.linalg

    m = dense_matrix(operator, input_shape)
    gram = m.T @ m if m.shape[1] <= m.shape[0] else m @ m.T  # σ_max² is its top eigenvalue
    top = scipy.linalg.eigh(gram, eigvals_only=True, subset_by_index=[len(gram) - 1] * 2)
    return float(np.sqrt(max(top[0], 0.0)))


def power_iteration(operator, input_shape, iterations: int = 500, seed: int = 0, tol=1e-8):
    """The norm of a linear ``operator`` by power iteration on MᵀM, Mᵀ by autodiff.

    Virmaux and Scaman (NeurIPS 2018): v ← ∇_v ½||M v||² / ||·||, for any operator
    Keras or TensorFlow can differentiate, at any input size. Returns ||M v|| for the
    last v, a lower bound that converges to ||M|| (stops once it changes by < tol).

    The zero operator has norm 0, and 0.0 is returned (not the NaN of 0/0): M v = 0 for
    the random Gaussian start v happens, with probability 1, only when M = 0. An output
    that turns NaN or infinite (an operator that is not linear) is a ValueError.
    """
    import tensorflow as tf

    if not callable(operator):
        raise TypeError(
            f"operator must be a function of a batch of inputs (a Keras layer or model, a "
            f"lambda), got {type(operator).__name__} {operator!r}"
        )
    shape = _check_shape(input_shape)
    iterations = _v.check_int(iterations, "iterations", low=1)
    tol = _v.check_real(tol, "tol", low=0)
    v = tf.constant(np.random.default_rng(_v.check_seed(seed)).normal(size=(1, *shape)), tf.float32)

    @tf.function
    def step(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            half = 0.5 * tf.reduce_sum(tf.square(operator(v)))
        # an operator that ignores its input (the zero operator) has a zero gradient
        g = tape.gradient(half, v, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return g / tf.norm(g), tf.sqrt(2.0 * half)

    v = v / tf.norm(v)
    previous = 0.0
    for _ in range(iterations):
        v, sigma = step(v)
        sigma = float(sigma)
        if sigma == 0.0:  # M v = 0: the zero operator (the next v would be 0/0)
            return 0.0
        if not math.isfinite(sigma):
            raise ValueError(
                f"operator's output is not finite (||M v|| = {sigma}): expected a linear "
                "operator with finite outputs"
            )
        if abs(sigma - previous) <= tol * max(sigma, 1e-30):
            break
        previous = sigma
    return float(tf.norm(operator(v)))
