"""The batched search's advanced settings, as one frozen and validated dataclass.

Most readers never touch them: `minimal_distortion`'s defaults are the measured
choices (``benchmarks/adversarial_speed.py``). Each field says which part of the
search it steers; `SearchOptions.compile_key` names those that change the compiled
optimizer call (the others only steer the Python loop between calls).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .._validation import check_bool, check_choice, check_int, check_real

__all__ = ["SearchOptions", "AUTO_JIT_PROBLEMS", "JIT_CHOICES"]

# "auto": from this many problems on, whole-call XLA compilation (some 20 s per model
# on 2 cores) pays for itself against the compiled objective
AUTO_JIT_PROBLEMS = 25_000  # measured: benchmarks/adversarial_speed.py, "first call on a new model"
JIT_CHOICES = ("auto", True, False, "objective")

# the fields that change the compiled optimizer call (see `SearchOptions.compile_key`)
_COMPILED_FIELDS = (
    "mu",
    "mu_rel",
    "jit_compile",
    "tolerance",
    "f_relative_tolerance",
    "box",
    "num_correction_pairs",
    "shrink_steps",
)


@dataclass(frozen=True)
class SearchOptions:
    """Settings of ``method="tfp"`` (the batched box-constrained L-BFGS of §4.1).

    The objective and the optimizer
        box: ``"active"``, pixels on a bound whose gradient points out of the box are
        held there for one optimizer call; ``"penalty"``, the penalty alone keeps z
        near the box. mu, mu_rel: weight ``min(mu, mu_rel c)`` of the penalty outside
        the box. num_correction_pairs: L-BFGS memory (more pairs: fewer iterations,
        each much dearer). tolerance: gradient sup-norm; f_relative_tolerance.
        stage_iterations: most L-BFGS iterations per optimizer call; stage_fraction:
        a call stops once this fraction of its members has converged. jit_compile:
        True XLA-compiles each whole call; ``"objective"`` only the objective; False
        neither; ``"auto"``: True from `AUTO_JIT_PROBLEMS` problems on, else
        ``"objective"``. bucket_ratio: the shrinking batch is padded to sizes
        n0, n0 / ratio, ... so compiled code is reused.
    When a member's solve at its c counts as done
        decided_margin: after a full call, a success this far past the boundary moves
        on; decide_failures: also a stalled failure this far short of it. patience:
        after this many full calls at one c, the current iterate decides.
    The search over c (see `c_update`)
        kkt: successes take their next c from the multiplier of their boundary point;
        kkt_tol: done when ``|log(c_kkt / c)|`` is below it; kkt_aim: aim this far
        (in log c) below c_kkt, on the success side. shrink_steps: bisection steps to
        each success's boundary point. margin_tol: a success with a margin below it
        is on the boundary, done. c_rtol: bracket [success, failure] narrower than
        this ratio, done. max_log_step: largest change of log c in one step.
        newton_damping: Newton steps from the success side are shortened by it (the
        margin is concave in log c). predictor: warm start at the first-order
        prediction of the new minimiser. restart_failures: True / ``"stuck"`` /
        False, restart failures from the last success or x; stuck_slope: for
        ``"stuck"``, the margin gained per unit of log c below which a failure is stuck.
    """

    box: str = "active"
    mu: float = 10.0
    mu_rel: float = 10.0
    num_correction_pairs: int = 3
    tolerance: float = 1e-4
    f_relative_tolerance: float = 1e-5
    stage_iterations: int = 10
    stage_fraction: float = 0.5
    jit_compile: bool | str = "auto"
    bucket_ratio: float = 4.0
    decided_margin: float = 0.25
    decide_failures: bool = False
    patience: int = 3
    kkt: bool = True
    kkt_tol: float = 0.05
    kkt_aim: float = 0.02
    shrink_steps: int = 16
    margin_tol: float = 0.05
    c_rtol: float = 0.02
    max_log_step: float = math.log(3.0)
    newton_damping: float = 0.6
    predictor: bool = True
    restart_failures: bool | str = "stuck"
    stuck_slope: float = 0.25

    def __post_init__(self):
        checked = {}
        for name in (
            "mu",
            "mu_rel",
            "tolerance",
            "margin_tol",
            "c_rtol",
            "max_log_step",
            "kkt_tol",
            "decided_margin",
        ):
            checked[name] = check_real(getattr(self, name), name, low=0, low_open=True)
        checked["stage_fraction"] = check_real(
            self.stage_fraction, "stage_fraction", low=0, high=1, low_open=True
        )
        checked["f_relative_tolerance"] = check_real(
            self.f_relative_tolerance, "f_relative_tolerance", low=0
        )
        checked["bucket_ratio"] = check_real(
            self.bucket_ratio, "bucket_ratio", low=1, low_open=True
        )
        checked["newton_damping"] = check_real(
            self.newton_damping, "newton_damping", low=0, high=1, low_open=True
        )
        checked["kkt_aim"] = check_real(self.kkt_aim, "kkt_aim", low=0)
        checked["stuck_slope"] = check_real(self.stuck_slope, "stuck_slope")
        for name in ("num_correction_pairs", "stage_iterations", "patience", "shrink_steps"):
            checked[name] = check_int(getattr(self, name), name, low=1)
        for name in ("decide_failures", "kkt", "predictor"):
            checked[name] = check_bool(getattr(self, name), name)
        checked["box"] = check_choice(self.box, "box", ("active", "penalty"))
        checked["jit_compile"] = check_choice(self.jit_compile, "jit_compile", JIT_CHOICES)
        checked["restart_failures"] = check_choice(
            self.restart_failures, "restart_failures", (True, False, "stuck")
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_keywords(cls, base: SearchOptions | None = None, **keywords) -> SearchOptions:
        """``base`` (default: the defaults) with the given fields changed.

        Unknown names raise TypeError, as unknown keyword arguments do.
        """
        if base is not None and not isinstance(base, cls):
            raise TypeError(f"options must be a SearchOptions or None, got {type(base).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(keywords) - set(known))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; expected some of {sorted(known)}")
        return dataclasses.replace(base if base is not None else cls(), **keywords)

    def resolved(self, n_problems: int, xla: bool = True) -> SearchOptions:
        """These options with ``jit_compile="auto"`` decided for ``n_problems`` problems.

        XLA-compiling the whole optimizer takes some 20 s per model; it pays off from
        `AUTO_JIT_PROBLEMS` problems on, below which only the objective is compiled. With
        ``xla=False`` (a model XLA cannot differentiate deterministically) nothing is.
        """
        if self.jit_compile != "auto":
            return self
        if not xla:
            return dataclasses.replace(self, jit_compile=False)
        mode = True if n_problems >= AUTO_JIT_PROBLEMS else "objective"
        return dataclasses.replace(self, jit_compile=mode)

    @property
    def compile_key(self) -> tuple:
        """The values of the fields that change the compiled optimizer call (its cache key)."""
        return tuple(getattr(self, name) for name in _COMPILED_FIELDS)
