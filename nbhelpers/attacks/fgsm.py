"""The fast gradient sign method (Goodfellow, Shlens and Szegedy, ICLR 2015), after the paper.

Goodfellow et al. explain adversarial examples by linearity: for a linear score
``w·x`` a perturbation ``η = ε·sign(w)``, no pixel moved by more than ε, changes
the score by ``ε·‖w‖₁``, which grows with the dimension. Their attack takes one
such step along the sign of the loss's input gradient,

    x' = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1)

(towards a chosen target ``t``: ``x' = clip(x - ε·sign(∇ₓ CE(f(x), t)))``). It takes
the search's models (a Keras model mapping ``(n, 784)`` pixels in ``[0, 1]`` to
logits) and returns an `FGSMResult`, the one-step cousin of `AdversarialResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_bool, check_images, check_int, check_labels, check_real, check_seed
from ..evaluate import input_gradient, logits
from ..perturbations import rms_difference
from .result import read_only

__all__ = [
    "GOODFELLOW_2015",
    "FGSMResult",
    "step_result",
    "fgsm",
    "fgsm_sweep",
    "smallest_step",
    "smallest_epsilon",
    "linear_score_change",
    "distortion_ratio",
]

# Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial examples. ICLR 2015,
# arXiv:1412.6572, §4: "Using ε = .25, we cause a shallow softmax classifier to have an
# error rate of 99.9% with an average confidence of 79.3% on the MNIST test set."
GOODFELLOW_2015 = {
    "citation": "Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial "
    "examples. ICLR 2015, arXiv:1412.6572.",
    "shallow softmax, MNIST test set": {"epsilon": 0.25, "error": 99.9, "confidence": 79.3},
}


@dataclass(frozen=True, eq=False)
class FGSMResult:
    """What one fast-gradient-sign step did to each image.

    x, x_adv    the images and their perturbed copies (``x_adv`` in ``[0, 1]``)
    labels      the true labels; ``targets`` the classes aimed at (None: untargeted)
    epsilon     the step ε per image (one value repeated, or each image's own)
    predicted   the model's class on ``x_adv``; ``confidence`` its softmax probability
    success     untargeted: ``predicted != labels``; targeted: ``predicted == targets``
    distortion  the paper's per-pixel RMS of ``x_adv - x`` (Table 1's measure)

    Immutable: the arrays are read-only.
    """

    x: np.ndarray
    x_adv: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None
    epsilon: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    distortion: np.ndarray
    seconds: float

    def __post_init__(self):
        for name in ("x", "x_adv", "labels", "targets", "epsilon", "predicted"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, read_only(value))
        for name in ("confidence", "success", "distortion"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def error_rate(self) -> float:
        """Fraction of the perturbed images the model misclassifies (Goodfellow's error rate)."""
        return float(np.mean(self.predicted != self.labels))

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success))

    def mean_confidence(self) -> float:
        """Mean softmax probability of the model's (wrong) class on the misclassified images."""
        wrong = self.predicted != self.labels
        return float(np.mean(self.confidence[wrong])) if wrong.any() else float("nan")

    def successful(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, x_adv, labels)`` of the successful images, as `AdversarialResult.successful`."""
        ok = self.success
        return self.x[ok], self.x_adv[ok], self.labels[ok]

    def __repr__(self) -> str:
        kind = "untargeted" if self.targets is None else "targeted"
        return (
            f"FGSMResult({kind}, n={self.n}, error={self.error_rate:.1%}, "
            f"success={self.success_rate:.1%}, mean_distortion={np.mean(self.distortion):.4f})"
        )


def _inputs(model, x, labels, targets):
    x = check_images(x, "x")
    labels = check_labels(labels, "labels", n=len(x))
    if targets is not None:
        targets = check_labels(targets, "targets", n=len(x))
        if np.any(targets == labels):
            raise ValueError("targets must differ from labels (a wrong class for each image)")
    return x, labels, targets


def _signs(model, x, labels, targets, batch_size) -> np.ndarray:
    """``sign(∇ₓ CE(y))`` (untargeted, ascend) or ``-sign(∇ₓ CE(t))`` (targeted, descend)."""
    if targets is None:
        return np.sign(input_gradient(model, x, labels, batch_size))
    return -np.sign(input_gradient(model, x, targets, batch_size))


def _step(x, signs, epsilon, box: bool) -> np.ndarray:
    """``x + ε·signs`` (ε per image), clipped to the box ``[0, 1]`` as Goodfellow et al. did."""
    eps = np.asarray(epsilon, dtype=np.float32).reshape(-1, *([1] * (x.ndim - 1)))
    out = x + eps * signs
    return np.clip(out, 0.0, 1.0) if box else out


def step_result(model, x, x_adv, labels, targets, eps, started, batch_size, box) -> FGSMResult:
    """The `FGSMResult` of images ``x`` moved to ``x_adv`` by steps of size ``eps``: the
    model's labels and confidence there, success (untargeted or towards ``targets``)
    and the RMS distortion; shared by every attack that takes one signed or template step."""
    out = logits(model, x_adv, batch_size, box=box)
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    predicted = np.argmax(out, axis=1).astype(np.int64)
    success = predicted != labels if targets is None else predicted == targets
    return FGSMResult(
        x=x,
        x_adv=x_adv,
        labels=labels,
        targets=targets,
        epsilon=np.broadcast_to(np.asarray(eps, dtype=np.float64), (len(x),)).copy(),
        predicted=predicted,
        confidence=p[np.arange(len(x)), predicted].astype(np.float64),
        success=success,
        distortion=rms_difference(x, x_adv),
        seconds=time.perf_counter() - started,
    )


def fgsm(model, x, labels, epsilon, *, targets=None, box: bool = True, batch_size: int = 2048):
    """One fast-gradient-sign step of size ``epsilon`` (max-norm) on every image: an `FGSMResult`.

    ``x' = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1)`` (Goodfellow et al. 2015, eq. 3);
    with ``targets``, a step down the target's loss instead. ``epsilon``: one value, or
    one per image. ``box=False`` leaves the pixels unclipped.
    """
    return fgsm_sweep(model, x, labels, [epsilon], targets=targets, box=box, batch_size=batch_size)[
        0
    ]


def fgsm_sweep(model, x, labels, epsilons, *, targets=None, box=True, batch_size=2048) -> list:
    """`fgsm` at each ε of ``epsilons``, the gradient computed once: error against ε."""
    started = time.perf_counter()
    x, labels, targets = _inputs(model, x, labels, targets)
    box = check_bool(box, "box")
    batch_size = check_int(batch_size, "batch_size", low=1)
    if isinstance(epsilons, (str, bytes)) or not hasattr(epsilons, "__len__") or not len(epsilons):
        raise TypeError(f"epsilons must be a non-empty list of numbers, got {epsilons!r}")
    signs = _signs(model, x, labels, targets, batch_size)
    results = []
    for k, eps in enumerate(epsilons):
        if np.ndim(eps) == 0:
            eps = check_real(eps, f"epsilons[{k}]", low=0)
        else:
            eps = np.asarray(eps, dtype=np.float64)
            if eps.shape != (len(x),) or not np.all(np.isfinite(eps) & (eps >= 0)):
                raise ValueError(f"epsilon must be >= 0, one number or one per image ({len(x)})")
        x_adv = _step(x, signs, eps, box)
        results.append(step_result(model, x, x_adv, labels, targets, eps, started, batch_size, box))
    return results


def smallest_step(flips, n: int, high: float, grid: int = 50, refine: int = 12) -> np.ndarray:
    """Per image, the smallest step ``s`` in ``(0, high]`` with ``flips(s)`` true: NaN if none.

    ``flips`` maps an array of ``n`` steps to ``n`` booleans (does image i change class at
    its step?). The first of ``grid`` equal steps that flips, then ``refine`` bisections
    between it and the grid step below: an answer within ``high / grid / 2**refine`` of
    the first flip on the grid (a flip need not persist at larger steps).
    """
    n, grid = check_int(n, "n", low=1), check_int(grid, "grid", low=1)
    refine, high = (
        check_int(refine, "refine", low=0),
        check_real(high, "high", low=0, low_open=True),
    )
    steps = np.linspace(0.0, high, grid + 1)[1:]
    found = np.full(n, np.nan)
    for s in steps:
        todo = np.isnan(found)
        if not todo.any():
            break
        found[todo & flips(np.full(n, s))] = s
    ok = ~np.isnan(found)
    lo, hi = np.where(ok, found - high / grid, 0.0), np.where(ok, found, high)
    for _ in range(refine):
        mid = (lo + hi) / 2
        flipped = flips(mid) & ok
        hi, lo = np.where(flipped, mid, hi), np.where(flipped | ~ok, lo, mid)
    return np.where(ok, hi, np.nan)


def smallest_epsilon(
    model, x, labels, *, targets=None, high=0.5, grid=50, refine=12, batch_size=2048
) -> FGSMResult:
    """Per image, FGSM at the smallest ε (up to ``high``) that flips it (`smallest_step`).

    The one-step attack's counterpart of the minimal-distortion search of §4.1: its
    ``distortion`` beside the search's on the same images says how far from minimal one
    step is. Images no ε up to ``high`` flips keep ε = NaN, ``x_adv = x``, success False.
    """
    started = time.perf_counter()
    x, labels, targets = _inputs(model, x, labels, targets)
    signs = _signs(model, x, labels, targets, batch_size)
    aim = labels if targets is None else targets

    def flips(eps):
        predicted = np.argmax(logits(model, _step(x, signs, eps, True), batch_size), axis=1)
        return predicted != aim if targets is None else predicted == aim

    eps = smallest_step(flips, len(x), high, grid, refine)
    x_adv = _step(x, signs, np.nan_to_num(eps), True)
    return step_result(model, x, x_adv, labels, targets, eps, started, batch_size, True)


def linear_score_change(dims, epsilon: float = 0.25, seed: int = 0) -> dict:
    """Goodfellow et al.'s argument: how much a max-norm-ε change moves a linear score ``w·x``.

    For weights ``w ~ N(0, 1)`` of each dimension ``n`` in ``dims``: the worst case
    ``η = ε·sign(w)`` changes ``w·x`` by ``ε‖w‖₁`` (grows like n), a random sign
    pattern of the same max-norm by ``|w·η|`` (grows like √n). Returns arrays by name.
    """
    epsilon, rng = check_real(epsilon, "epsilon", low=0), np.random.default_rng(check_seed(seed))
    dims = [check_int(d, "dims", low=1) for d in dims]
    worst, random = [], []
    for n in dims:
        w = rng.standard_normal(n)
        worst.append(epsilon * np.abs(w).sum())
        random.append(abs(w @ (epsilon * rng.choice([-1.0, 1.0], n))))
    return {
        "dimension": np.array(dims),
        "sign of w": np.array(worst),
        "random sign": np.array(random),
    }


def distortion_ratio(minimal, one_step) -> dict:
    """How far from minimal a one-step attack is, on the images both attacks flipped.

    ``minimal``: an `AdversarialResult` (the search of §4.1); ``one_step``: an
    `FGSMResult` on the same images, or on those the search searched (the digits the
    model gets right; e.g. `smallest_epsilon` aimed at the search's targets). Returns the images
    compared, the one-step attack's success rate, both mean distortions (Table 1's
    RMS measure; the L2 norm is it times √784, so the ratios are the L2 ratios too),
    the ratio of the means and the median of the per-image ratios.
    """
    searched = ~np.asarray(minimal.already_wrong)
    x_min, success, d_min = (
        np.asarray(a) for a in (minimal.x, minimal.success, minimal.distortion)
    )
    if len(one_step.x) == int(searched.sum()) < len(x_min):  # only the searched images
        x_min, success, d_min = x_min[searched], success[searched], d_min[searched]
        searched = np.ones(len(x_min), bool)
    if not np.array_equal(x_min, np.asarray(one_step.x)):
        raise ValueError(
            "minimal and one_step must be attacks on the same images, in order "
            "(one_step: all of minimal's images, or only those it searched)"
        )
    both = success & np.asarray(one_step.success) & searched
    if not both.any():
        raise ValueError("no image was flipped by both attacks: nothing to compare")
    d_min, d_one = d_min[both], np.asarray(one_step.distortion)[both]
    return {
        "n": int(both.sum()),
        "one_step_success": float(np.mean(np.asarray(one_step.success)[searched])),
        "minimal": float(d_min.mean()),
        "one_step": float(d_one.mean()),
        "ratio_of_means": float(d_one.mean() / d_min.mean()),
        "median_ratio": float(np.median(d_one / d_min)),
    }
