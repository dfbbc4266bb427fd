"""Adversarial examples by box-constrained L-BFGS (paper §4.1).

The entry points are `minimal_distortion` (the smallest perturbation of each image
that makes the model output a chosen class, or any wrong class) and
`search_correctly_classified` (the same over a whole set, skipping the images the
model gets wrong already, as Table 1 needs); both return an `AdversarialResult`.
`SearchOptions` holds the advanced settings of the batched method.

Where the pieces live:

* `objective`  the objective (1) of §4.1, the margin and the safe margin;
* `c_update`   the search over c (which c, KKT estimate, root steps, bracket);
* `solver`     one batched optimizer call (TFP L-BFGS, the box, warm-start memory);
* `scheduler`  continuous batching of the problems over slots, warm starts;
* `boundary`   bisection to the decision boundary, the final pull-back;
* `reference`  the per-image scipy L-BFGS-B reference;
* `problems`   the problems a search solves, its input checks;
* `_compiled`  the compiled functions, shared by the models of one architecture;
* `readings`   the readings of Table 1's "average minimum distortion", side by side;
* `search`     the two public searches; `result` their result; `options` the settings.

After the paper (chapter "After the paper"):

* `fgsm`       the fast gradient sign method (Goodfellow et al. 2015), `FGSMResult`;
* `templates`  fooling a softmax regression with its weight templates (Karpathy 2015);
* `regions`    Gaussian probes around adversarial examples (Tabacof and Valle 2016).
"""

from . import _compiled, readings, regions, templates
from .fgsm import FGSMResult, fgsm, fgsm_sweep, smallest_epsilon
from .options import AUTO_JIT_PROBLEMS, SearchOptions
from .result import AdversarialResult
from .search import (
    DEFAULT_UNTARGETED_CANDIDATES,
    METHODS,
    minimal_distortion,
    search_correctly_classified,
)


def forget_compiled() -> None:
    """Forget every compiled function of the search, so that the next search traces and
    compiles again (as the first in a fresh process does): for timing a first call."""
    _compiled.clear()


__all__ = [
    "forget_compiled",
    "readings",
    "minimal_distortion",
    "search_correctly_classified",
    "AdversarialResult",
    "SearchOptions",
    "METHODS",
    "DEFAULT_UNTARGETED_CANDIDATES",
    "AUTO_JIT_PROBLEMS",
    "regions",
    "templates",
    "FGSMResult",
    "fgsm",
    "fgsm_sweep",
    "smallest_epsilon",
]
