"""Operator norms and upper Lipschitz bounds of layers (§4.3, Table 5).

The paper bounds how far a network's output can move, ``||φ(x + r) − φ(x)|| ≤ L ||r||``,
by the product ``L = Π_k L_k`` of per-layer upper Lipschitz constants: the largest
singular value ``||W||`` of a fully connected layer, a bound from the kernel's Fourier
transform for a convolution, 1 for half-rectification and non-overlapping max-pooling.

- :mod:`.norms`: the norm of one linear operator: dense (exact), strided convolution
  through its Fourier transform, pooling; and the two checks against the truth, the
  dense matrix of the operator and power iteration with autodiff.
- :mod:`.layers`: any Keras model of Dense / Conv2D / pooling layers, layer by layer
  (Table 5), the product bound, and the measured amplification of perturbations.
- :mod:`.checks`: the formula against the truth on a grid of kernels, strides, paddings.
- :mod:`.penalty`: training with a penalty on the layers' spectral norms, the paper's
  suggestion, with a cache of its own entries.

``norms``, ``layers`` and ``checks`` take any Keras model and know nothing of
:mod:`nbhelpers.models`; ``penalty`` trains the paper's models, so it alone uses
:mod:`nbhelpers.models`, :mod:`nbhelpers.training` and :mod:`nbhelpers.cache`.
"""

from .checks import CHECK_HEADERS, check_grid, worst_gaps
from .layers import (
    ACTIVATION_BOUNDS,
    amplification,
    amplification_summary,
    as_frame,
    layer_outputs,
    layer_table,
    model_bound,
    pretrained_vgg16,
    same_size_random,
    vgg16_table,
)
from .norms import (
    circular_convolution,
    conv_bound_grid,
    conv_norm_circular,
    conv_upper_bound,
    dense_matrix,
    dense_matrix_norm,
    dense_norm,
    pool_bound,
    power_iteration,
)
from .penalty import PENALTY_FORM, spectral_penalty, trained_penalised

__all__ = [
    "CHECK_HEADERS",
    "ACTIVATION_BOUNDS",
    "PENALTY_FORM",
    "amplification",
    "amplification_summary",
    "as_frame",
    "check_grid",
    "circular_convolution",
    "conv_bound_grid",
    "conv_norm_circular",
    "conv_upper_bound",
    "dense_matrix",
    "dense_matrix_norm",
    "dense_norm",
    "layer_outputs",
    "layer_table",
    "model_bound",
    "pool_bound",
    "power_iteration",
    "pretrained_vgg16",
    "same_size_random",
    "spectral_penalty",
    "trained_penalised",
    "vgg16_table",
    "worst_gaps",
]
