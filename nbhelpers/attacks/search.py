"""The public searches: `minimal_distortion` and `search_correctly_classified` (paper §4.1).

Both methods end alike: each image's best candidate is pulled back along its
perturbation to just past the decision boundary (`boundary.shrink`, ``refine``
bisection steps, by the safe margin of `objective`), and success is verified by
running the model on the returned images. ``benchmarks/adversarial_speed.py``
measures both methods against each other.
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from .._validation import check_bool, check_images, check_labels
from ..evaluate import deterministic_ops, logits, predict_labels
from ..perturbations import rms_difference
from ..progress import check_progress, progress_bar
from .boundary import shrink
from .options import SearchOptions
from .problems import (
    METHODS,
    best_per_image,
    check_settings,
    check_targets,
    probe_model,
    untargeted_problems,
)
from .reference import search_scipy
from .result import AdversarialResult, freeze_owned
from .scheduler import search_tfp

__all__ = [
    "METHODS",
    "DEFAULT_UNTARGETED_CANDIDATES",
    "minimal_distortion",
    "search_correctly_classified",
]

# Default number of candidate targets for untargeted searches (the k wrong classes the
# model ranks highest at x). Chosen by benchmarks/adversarial_speed.py: see its output.
DEFAULT_UNTARGETED_CANDIDATES = 3


def _progress_bar(total, desc):
    """A tqdm bar over search problems (see nbhelpers.progress)."""
    return progress_bar(total, desc, "problem")


def _check_inputs(model, x, labels, targets, seed):
    """``(x, labels, targets, K)`` checked against each other and the model (K classes)."""
    x = check_images(x, "x")
    num_classes = probe_model(model, x)
    labels = check_labels(labels, "labels", n=len(x), num_classes=num_classes)
    return x, labels, check_targets(targets, labels, num_classes, seed), num_classes


def _problems(model, x, labels, targets, untargeted_candidates, num_classes):
    """``(image of each problem, its target)``: one per image, or the k best wrong classes."""
    if targets is not None:
        return np.arange(len(x)), targets
    k = min(untargeted_candidates, num_classes - 1)
    return untargeted_problems(logits(model, x), labels, k)


def _verify(model, input_shape, x_adv, chosen, labels, targets):
    """Success and class reached (-1: none), by running the model on the returned images."""
    reached = np.full(len(labels), -1, np.int64)
    if chosen.any():
        reached[chosen] = predict_labels(model, x_adv[chosen].reshape((-1,) + input_shape))
    if targets is not None:
        success = chosen & (reached == targets)
    else:
        success = chosen & (reached != labels) & (reached >= 0)
    reached[~success] = -1
    return success, reached


def _finish(model, x, labels, targets, problems, outcome, refine):
    """Per image: the best problem's candidate, pulled back (``refine``) and verified.

    Returns the fields of the result that depend on the images: x_adv (flat rows),
    distortion, success, targets reached, c, evaluations, and the unrefined distortion.
    """
    input_shape = tuple(x.shape[1:])
    xf = x.reshape(len(x), -1)
    image_of = problems[0]
    pick = best_per_image(xf, image_of, outcome.z, outcome.success)
    x_adv = outcome.z[pick].copy()
    chosen = outcome.success[pick]
    x_adv[~chosen] = np.nan
    unrefined = np.full(len(x), np.nan)
    unrefined[chosen] = rms_difference(xf[chosen], x_adv[chosen])
    if refine and chosen.any():
        rows = np.flatnonzero(chosen)
        classes = targets[rows] if targets is not None else labels[rows]
        targeted = targets is not None
        x_adv[rows] = shrink(model, input_shape, xf[rows], x_adv[rows], classes, targeted, refine)
    x_adv = np.clip(x_adv, 0.0, 1.0)  # the box, exactly (NaN rows stay NaN)
    success, reached = _verify(model, input_shape, x_adv, chosen, labels, targets)
    x_adv[~success] = np.nan
    dist = np.where(success, rms_difference(xf, np.where(success[:, None], x_adv, xf)), np.nan)
    c = np.where(success, outcome.c[pick], np.nan)
    evaluations = np.bincount(image_of, weights=outcome.evaluations, minlength=len(x))
    return x_adv, dist, success, reached, c, evaluations.astype(np.int64), unrefined


def xla_compilable(model) -> bool:
    """Whether XLA can compile the model's input gradient under TensorFlow's deterministic
    kernels, which the search turns on: not through max-pooling, whose deterministic
    gradient XLA lacks (a ConvNet's search then runs without XLA)."""
    import keras

    pools = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if isinstance(layer, pools):
            return False
        stack.extend(getattr(layer, "layers", []))
    return True


def _run(method, model, x, problems, options, limits, chunk_size, progress):
    """Solve every problem with the chosen method; ``(SearchOutcome, info)``."""
    input_shape = tuple(x.shape[1:])
    xf = x.reshape(len(x), -1)
    image_of, targets = problems
    bar = _progress_bar(len(image_of), f"adversarial search ({method})") if progress else None
    try:
        if method == "scipy":
            return search_scipy(model, input_shape, xf, image_of, targets, limits, bar), {}
        options = options.resolved(len(image_of), xla=xla_compilable(model))
        outcome = search_tfp(
            model, input_shape, xf, image_of, targets, options, limits, chunk_size, bar
        )
        return outcome, {"jit_compile": options.jit_compile, "optimizer_calls": outcome.calls}
    finally:
        if bar is not None:
            bar.close()


def minimal_distortion(
    model,
    x,
    labels,
    targets=None,
    method: str = "tfp",
    *,
    c_init: float = 1.0,
    c_steps: int = 10,
    max_iterations: int = 100,
    chunk_size: int = 1024,
    untargeted_candidates: int = DEFAULT_UNTARGETED_CANDIDATES,
    progress: bool | None = None,
    seed: int = 0,
    refine: int = 16,
    options: SearchOptions | None = None,
    **option_keywords,
) -> AdversarialResult:
    """Smallest perturbations that make `model` output a chosen label (paper §4.1).

    Minimises ``c ||r||^2 + CE(model(x + r), target)`` over ``r`` with ``x + r`` in
    ``[0, 1]`` for a sequence of ``c`` (`objective`), and keeps per image the successful
    solution of smallest distortion, that of the **largest c that still reaches the
    target**: the paper's "minimum c" read as "smallest perturbation" (`c_update`).

    model: Keras model mapping images (n, *input_shape) to logits (n, K), not to
    softmax probabilities. x: images in [0, 1], shape (n, *input_shape), e.g. (n, 784)
    or (n, 28, 28, 1). labels: (n,) true labels. targets: (n,) target classes, each
    different from its label; ``"random"``, uniformly random wrong labels drawn with
    ``seed``; or ``None``, untargeted: the smallest distortion over the
    ``untargeted_candidates`` wrong classes the model ranks highest at x (K - 1 tries
    them all and is exact; the default 3 was measured within 1% of that on average,
    benchmarks/adversarial_speed.py). method: ``"tfp"``, batched and fast
    (`scheduler`, `solver`), or ``"scipy"``, the reference (L-BFGS-B per image, every
    c solved from r = 0, `reference`).

    c_init: the first c tried. c_steps: most values of c solved per problem (the
    reference always solves this many; the batched search stops earlier once c is
    pinned down). max_iterations: most L-BFGS iterations at one c. chunk_size: problems
    solved together by the batched method (about 30 KB of memory each). progress: a
    tqdm bar over the problems; ``None``: shown unless the environment variable
    ``NBHELPERS_PROGRESS`` is ``0`` (as in the book's build). seed: of
    ``targets="random"``; the search itself uses no randomness, the same inputs give
    the same outputs. refine: bisection steps of the final pull-back of each result
    towards x along its own perturbation, to just past the decision boundary (0 =
    off), both methods alike. options: the advanced settings of the batched method,
    a `SearchOptions`; ``**option_keywords``: the same one by one (they change
    ``options``), e.g. ``jit_compile=True``. Unknown names, or any with
    ``method="scipy"``: TypeError.

    Returns an `AdversarialResult`: ``c`` is the c whose solution was pulled back to
    give ``x_adv``; ``info`` holds ``distortion_unrefined`` (before the pull-back) and,
    for "tfp", ``jit_compile`` and ``optimizer_calls``.
    """
    t_start = time.perf_counter()
    deterministic_ops()
    method, limits, chunk_size, untargeted_candidates, refine, seed, options = check_settings(
        method,
        (c_init, c_steps, max_iterations),
        chunk_size,
        untargeted_candidates,
        refine,
        seed,
        (options, option_keywords),
    )
    progress = check_progress(progress)
    x_checked, labels, targets, num_classes = _check_inputs(model, x, labels, targets, seed)
    problems = _problems(model, x_checked, labels, targets, untargeted_candidates, num_classes)
    outcome, info = _run(method, model, x_checked, problems, options, limits, chunk_size, progress)
    found = _finish(model, x_checked, labels, targets, problems, outcome, refine)
    return _result(x, x_checked, labels, targets, found, outcome, method, info, t_start)


def _result(x, x_checked, labels, targets, found, outcome, method, info, t_start):
    """The `AdversarialResult` of `minimal_distortion` (its own arrays frozen, not copied)."""
    x_adv, dist, success, reached, c, evaluations, unrefined = found
    x_kept = x_checked.copy() if np.may_share_memory(x_checked, x) else x_checked
    freeze_owned(x_kept, x_adv, dist, success, reached, c, evaluations, unrefined, labels, targets)
    return AdversarialResult(
        x=x_kept,
        x_adv=x_adv.reshape(x_checked.shape),
        distortion=dist,
        success=success,
        targets=reached,
        labels=labels,
        requested=targets,
        c=c,
        evaluations=evaluations,
        total_evaluations=int(outcome.total_evaluations),
        seconds=time.perf_counter() - t_start,
        method=method,
        info={"distortion_unrefined": unrefined, **info},
    )


def _spread(values, rows, fill) -> np.ndarray:
    """An array over all images: ``values`` at ``rows``, ``fill`` elsewhere."""
    values = np.asarray(values)
    out = np.full((len(rows),) + values.shape[1:], fill, values.dtype)
    out[rows] = values
    return out


def _check_arguments(model, x, labels, targets, method, kwargs) -> dict:
    """`minimal_distortion`'s checks of its settings, for a call that may not reach it;
    its settings, defaults included (all but the images, labels, targets and method)."""
    bound = inspect.signature(minimal_distortion).bind(model, x, labels, targets, method, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    check_settings(
        a["method"],
        (a["c_init"], a["c_steps"], a["max_iterations"]),
        a["chunk_size"],
        a["untargeted_candidates"],
        a["refine"],
        a["seed"],
        (a["options"], a["option_keywords"]),
    )
    check_progress(a["progress"])
    settings = {k: v for k, v in a.items() if k not in ("model", "x", "labels", "targets")}
    settings.update(settings.pop("option_keywords"))
    return settings


def _nothing_searched(x_empty, method, targeted) -> AdversarialResult:
    """The result of searching no image (every image was misclassified already)."""
    empty_int = np.zeros(0, np.int64)
    return AdversarialResult(
        x=x_empty,
        x_adv=x_empty,
        distortion=np.zeros(0),
        success=np.zeros(0, bool),
        targets=empty_int,
        labels=empty_int,
        requested=empty_int if targeted else None,
        c=np.zeros(0),
        evaluations=empty_int,
        total_evaluations=0,
        seconds=0.0,
        method=method,
        info={"distortion_unrefined": np.zeros(0)},
    )


def search_correctly_classified(
    model, x, labels, targets=None, method: str = "tfp", *, cache: bool = False, **kwargs
) -> AdversarialResult:
    """`minimal_distortion` over all n images, searching only those the model gets right.

    Table 1 asks for the distortion that brings the model's accuracy on a set of
    images to 0%: the images it misclassifies already need none. Those are not
    searched and are marked ``already_wrong``: their ``x_adv`` is the image itself,
    ``distortion`` 0.0, ``success`` False, ``targets`` the model's own (wrong) class,
    ``requested`` -1, ``c`` NaN, ``evaluations`` 0; they are neither successes nor
    failures (`AdversarialResult.n_failed` leaves them out), and
    `AdversarialResult.distortion_to_zero_accuracy` counts them as needing 0.

    ``targets``: as for `minimal_distortion`, over all n images (each different from
    its label); ``"random"`` draws them for the searched images only, as
    `minimal_distortion` on those images would. ``kwargs``: the other arguments of
    `minimal_distortion`. ``seconds`` includes the first prediction.

    ``cache``: keep the result in the model cache and return it from there when the same
    search (model weights, images, targets, arguments, code) was run before, in this
    process or another (`stored`); a loaded result says so in ``info["stored"]``, and
    its ``seconds`` are those of the search that made it.
    """
    t_start = time.perf_counter()
    check_bool(cache, "cache")
    if isinstance(targets, str):  # "random": drawn by minimal_distortion, for the right ones
        x_checked, labels, _, _ = _check_inputs(model, x, labels, None, 0)
    else:
        x_checked, labels, targets, _ = _check_inputs(model, x, labels, targets, 0)
    settings = _check_arguments(model, x, labels, targets, method, kwargs)

    def search():
        return _search_checked(model, x, x_checked, labels, targets, method, kwargs, t_start)

    if not cache:
        return search()
    from .stored import stored_search

    return stored_search(search, model, x_checked, labels, targets, settings)


def _search_checked(model, x, x_checked, labels, targets, method, kwargs, t_start):
    """`search_correctly_classified` once its arguments are checked (`x` as passed in,
    `x_checked` the checked images)."""
    predicted = predict_labels(model, x_checked)
    right = predicted == labels
    if right.any():
        subset = targets[right] if isinstance(targets, np.ndarray) else targets
        sub = minimal_distortion(model, x_checked[right], labels[right], subset, method, **kwargs)
    else:
        sub = _nothing_searched(x_checked[:0], method, targeted=targets is not None)
    info = dict(sub.info)
    info["distortion_unrefined"] = _spread(sub.info["distortion_unrefined"], right, 0.0)
    x_kept = x_checked.copy() if np.may_share_memory(x_checked, x) else x_checked
    x_adv = x_kept.copy()
    x_adv[right] = sub.x_adv
    freeze_owned(x_kept, x_adv)
    requested = None if sub.requested is None else _spread(sub.requested, right, -1)
    return AdversarialResult(
        x=x_kept,
        x_adv=x_adv,
        distortion=_spread(sub.distortion, right, 0.0),
        success=_spread(sub.success, right, False),
        targets=np.where(right, _spread(sub.targets, right, -1), predicted),
        labels=labels,
        requested=requested,
        c=_spread(sub.c, right, np.nan),
        evaluations=_spread(sub.evaluations, right, 0),
        total_evaluations=sub.total_evaluations,
        seconds=time.perf_counter() - t_start,
        method=sub.method,
        info=info,
        already_wrong=~right,
    )
