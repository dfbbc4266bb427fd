"""What a minimal-distortion search found: one immutable record per set of images."""

from __future__ import annotations

import dataclasses
import types
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AdversarialResult", "freeze_owned", "read_only"]


def read_only(value):
    """``value`` as an array nobody can write to: frozen in place when it owns read-only
    data already, else a read-only copy (so a caller's array is never frozen nor shared)."""
    a = np.asarray(value)
    base = a
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            a = a.copy()
            a.flags.writeable = False
            return a
        base = base.base
    return a


def freeze_owned(*arrays) -> None:
    """Mark arrays made for a result (and the arrays they view) read-only, without copying.

    For the search's own fresh arrays only: `AdversarialResult` then keeps them as
    they are instead of copying them.
    """
    for a in arrays:
        while isinstance(a, np.ndarray):
            a.flags.writeable = False
            a = a.base


def _frozen_info(info) -> types.MappingProxyType:
    items = {k: read_only(v) if isinstance(v, np.ndarray) else v for k, v in dict(info).items()}
    return types.MappingProxyType(items)


@dataclass(frozen=True, eq=False)
class AdversarialResult:
    """What `minimal_distortion` (or `search_correctly_classified`) found, one entry per image.

    x            the original images, as passed in
    x_adv        the adversarial images, same shape; rows where the search failed are
                 NaN (never the unperturbed input); rows of ``already_wrong`` images
                 are the image itself (it is misclassified already: distortion 0)
    distortion   per-image RMS perturbation (NaN where failed, 0.0 where already wrong)
    success      a search ran and the model's class on x_adv is the target (targeted)
                 or differs from the label (untargeted), checked by running the model
    targets      the class reached (-1 where failed; the model's own wrong class where
                 already wrong)
    labels       the true labels passed in
    requested    the targets asked for (None for an untargeted search)
    c            the c of the returned minimiser (NaN where failed or not searched)
    evaluations  objective value-and-gradient evaluations spent per image (for the
                 batched method: every evaluation of a batch the image was in)
    total_evaluations  all value-and-gradient evaluations of single images, padding
                 rows of the batched method included
    seconds      wall time of the search
    method       "tfp" or "scipy"
    info         read-only mapping: ``distortion_unrefined`` (before the final
                 pull-back), for "tfp" ``jit_compile`` and ``optimizer_calls``
    already_wrong  images the model misclassifies before any perturbation; not
                 searched, neither successes nor failures (all False for
                 `minimal_distortion`)

    Immutable: the arrays are read-only; `dataclasses.replace` makes a changed copy.
    """

    x: np.ndarray
    x_adv: np.ndarray
    distortion: np.ndarray
    success: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    requested: np.ndarray | None
    c: np.ndarray
    evaluations: np.ndarray
    total_evaluations: int
    seconds: float
    method: str
    info: types.MappingProxyType = field(default_factory=dict)
    already_wrong: np.ndarray | None = None

    def __post_init__(self):
        if self.already_wrong is None:
            object.__setattr__(self, "already_wrong", np.zeros(len(self.success), bool))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, f.name, read_only(value))
        object.__setattr__(self, "info", _frozen_info(self.info))

    @property
    def n(self) -> int:
        """Number of images (searched or already wrong)."""
        return int(len(self.success))

    @property
    def n_searched(self) -> int:
        """Images searched: those not already misclassified."""
        return int(np.sum(~self.already_wrong))

    @property
    def n_failed(self) -> int:
        """Searches that found no adversarial image (already-wrong images are not failures)."""
        return int(np.sum(~self.success & ~self.already_wrong))

    @property
    def success_rate(self) -> float:
        """Successes per image searched (NaN if none was)."""
        return float(np.sum(self.success) / self.n_searched) if self.n_searched else float("nan")

    @property
    def images_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def _warn_failures(self, what: str) -> None:
        warnings.warn(
            f"{what}: {self.n_failed} of {self.n_searched} searches failed and are left out",
            stacklevel=3,
        )

    def mean_distortion(self, warn: bool = True) -> float:
        """Mean distortion over the successful images (failures are left out, and said so)."""
        if self.n_failed and warn:
            self._warn_failures("mean_distortion")
        if not self.success.any():
            return float("nan")
        return float(np.mean(self.distortion[self.success]))

    def distortion_to_zero_accuracy(self, warn: bool = True) -> float:
        """Table 1's distortion: the mean distortion that brings accuracy on all images to 0%.

        The mean over every image of the distortion it needs to be misclassified:
        images the model gets wrong already need 0, the others their adversarial
        distortion. Failed searches are left out of the mean (never averaged in as 0
        or as anything else), counted in `n_failed` and, with ``warn``, said so.
        NaN when every search failed.
        """
        if self.n_failed and warn:
            self._warn_failures("distortion_to_zero_accuracy")
        needed = np.where(self.already_wrong, 0.0, self.distortion)  # NaN where failed
        if np.isnan(needed).all():
            return float("nan")
        return float(np.nanmean(needed))

    def successful(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, x_adv, labels)`` of the successful searches: the rows transfer tables use."""
        ok = self.success
        return self.x[ok], self.x_adv[ok], self.labels[ok]

    def summary(self) -> str:
        kind = "untargeted" if self.requested is None else "targeted"
        md = self.mean_distortion(warn=False)
        n_wrong = self.n - self.n_searched
        wrong = f"; {n_wrong} misclassified already, not searched" if n_wrong else ""
        lines = [
            f"{kind} minimal-distortion search ({self.method}) on {self.n} images{wrong}",
            f"  success: {self.n_searched - self.n_failed}/{self.n_searched} "
            f"({self.success_rate:.1%})"
            + (f", {self.n_failed} failed (NaN rows)" if self.n_failed else ""),
            f"  mean distortion (successes only): {md:.4f}",
            f"  objective evaluations per image: {self.total_evaluations / max(self.n, 1):.0f}",
            f"  time: {self.seconds:.2f} s ({self.images_per_second:.1f} images/s)",
        ]
        if n_wrong:
            lines.insert(
                3,
                "  distortion to bring accuracy to 0%: "
                f"{self.distortion_to_zero_accuracy(warn=False):.4f}",
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        kind = "untargeted" if self.requested is None else "targeted"
        return (
            f"AdversarialResult({kind}, method={self.method!r}, n={self.n}, "
            f"success={self.success_rate:.1%}, "
            f"mean_distortion={self.mean_distortion(warn=False):.4f}, seconds={self.seconds:.2f})"
        )
