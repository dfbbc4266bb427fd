"""How minimal is Table 1's "minimum distortion"? Bounds on it from both sides.

- `exact`: the exact minimum of a softmax regression (a convex problem, by its dual);
- `bounds`: certified lower bounds for the deep models;
- `searches`: DeepFool and Carlini–Wagner, searches from above;
- `compare`: the methods side by side, the figure and the tables.

Each bound comes with what certifies it: the exact minimum with its dual's lower bound,
the lower bounds by construction, the searches with the digits they reached.
"""

from .bounds import certified_radius
from .compare import (
    EFFORT_FMT,
    EFFORT_HEADERS,
    RATIO_HEADERS,
    best_found,
    compared,
    effort_row,
    equal_effort,
    methods_of,
    ratio_fmt,
    ratio_table,
    sandwich_figure,
)
from .exact import LinearMinimum, linear_minimum, softmax_weights
from .searches import CarliniWagnerResult, DeepFoolResult, carlini_wagner, deepfool

__all__ = [
    "RATIO_HEADERS",
    "CarliniWagnerResult",
    "DeepFoolResult",
    "EFFORT_FMT",
    "EFFORT_HEADERS",
    "LinearMinimum",
    "certified_radius",
    "best_found",
    "carlini_wagner",
    "compared",
    "deepfool",
    "effort_row",
    "equal_effort",
    "linear_minimum",
    "methods_of",
    "ratio_fmt",
    "ratio_table",
    "sandwich_figure",
    "softmax_weights",
]
