"""The search over c of the batched method: pure numpy, one entry per problem.

Which c?  The paper says it searches for the "minimum c > 0" whose minimiser of (1)
reaches the target. Read literally that gives the *largest* perturbation: ``c``
weighs the size of ``r``, so a small ``c`` lets the cross-entropy term push ``r``
far past the decision boundary. The smallest ``r`` comes from the **largest c whose
minimiser still reaches the target**, call it ``c*``; that is the reading followed
here, the only one that makes (1) an approximation of the minimal-distortion
problem the paper states first.

Each problem keeps a bracket ``[lo, hi]``: the largest c whose solve succeeded and
the smallest whose solve failed, so ``lo <= c* <= hi``. After each complete solve
at c, with margin ``m(c)`` (target logit minus best other, `objective.margins`):

* a success proposes the c for which its boundary point is stationary, the KKT
  multiplier estimate ``c_kkt`` (computed in the graph, `solver`);
* a failure (or a success without a usable estimate) takes a root step on
  ``m(log c) = margin_tol / 2`` (secant or Newton, `root_step`);
* the proposal is limited to ``max_log_step`` and kept inside the bracket
  (`into_bracket`);
* the problem is done once c is pinned down (`search_done`).

These functions hold no state: they take the arrays of the live problems and
return masks and new values; `scheduler` applies them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "solve_complete",
    "informative",
    "bracket_update",
    "kkt_usable",
    "search_done",
    "root_step",
    "kkt_step",
    "limit_step",
    "into_bracket",
]


def solve_complete(
    converged,
    line_search_failed,
    finite,
    success,
    margin,
    start_margin,
    iterations_at_c,
    max_iterations: int,
    options,
) -> np.ndarray:
    """Whether a problem's solve at its current c is over (it may then move to a new c).

    Over when the optimizer converged, its line search gave up, the iterate is not
    finite, or ``max_iterations`` were spent at this c; or, after one full call
    (``stage_iterations``), when the margin decides the side of ``c*`` already:
    a success with ``m > decided_margin`` (it will not fall back across the
    boundary), and, with ``decide_failures``, a failure with ``m < -decided_margin``
    that gained less than ``decided_margin`` over the call (slow problems fail for
    many iterations before they succeed); and always after ``patience`` full calls.
    """
    full_call = iterations_at_c >= options.stage_iterations
    complete = converged | line_search_failed | ~finite | (iterations_at_c >= max_iterations)
    complete |= full_call & success & (margin > options.decided_margin)
    if options.decide_failures:
        complete |= (
            full_call
            & ~success
            & (margin < -options.decided_margin)
            & (margin - start_margin < options.decided_margin)
        )
    complete |= iterations_at_c >= options.patience * options.stage_iterations
    return complete


def informative(complete, finite, success, line_search_failed) -> np.ndarray:
    """Complete solves that say on which side of ``c*`` their c lies.

    A failed line search without success says nothing about c (the optimizer gave
    up, the minimiser may still reach the target), nor does a non-finite iterate.
    """
    return complete & finite & (success | ~line_search_failed)


def bracket_update(lo, hi, c, success, informative) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the problems whose bracket end moves to c: ``(new lo, new hi)``.

    ``lo = max{c : success}``, ``hi = min{c : failure}`` over informative solves;
    an end still unknown (NaN) is always replaced.
    """
    set_lo = informative & success & ~(lo >= c)
    set_hi = informative & ~success & ~(hi <= c)
    return set_lo, set_hi


def kkt_usable(complete, success, c_kkt) -> np.ndarray:
    """Complete successes with a finite, positive KKT estimate ``c_kkt``."""
    return complete & success & np.isfinite(c_kkt) & (c_kkt > 0)


def search_done(complete, success, margin, lo, hi, steps, c, c_kkt, usable, c_steps, options):
    """Whether the search over c of each problem is over (its best candidate is final).

    Over after a complete solve when: its success sits on the boundary,
    ``0 < m <= margin_tol``; the bracket is narrow, ``hi <= lo (1 + c_rtol)``;
    ``c_steps`` values of c were solved; or (``kkt``) c agrees with the estimate of
    ``c*`` from its boundary point, ``|log(c_kkt / c)| <= kkt_tol``.
    """
    both = np.isfinite(lo) & np.isfinite(hi)
    done = complete & success & (margin <= options.margin_tol)
    done |= complete & both & (hi <= lo * (1.0 + options.c_rtol))
    done |= complete & (steps >= c_steps)
    if options.kkt:
        with np.errstate(divide="ignore", invalid="ignore"):
            agree = np.abs(np.log(np.where(usable, c_kkt, 1.0) / c)) <= options.kkt_tol
        done |= usable & agree
    return done


def root_step(margin, log_c, previous_margin, previous_log_c, newton_slope, success, options):
    """Step in ``log c`` towards the root of ``m(log c) = margin_tol / 2`` (NaN: no step).

    ``step = (margin_tol / 2 - m) / s`` with the slope ``s = dm / dlog c``: the secant
    ``(m - m_prev) / (log c - log c_prev)`` through the problem's previous point when
    that is finite and negative (the margin falls as c grows), else the Newton slope
    ``grad m . dz/dlog c`` with ``dz/dlog c = -2c H^-1 (z - x)`` (`solver`). No step
    where ``s >= 0``. The margin is concave in log c, so a Newton step taken from the
    success side overshoots: it is shortened by ``newton_damping``.
    """
    dlog = log_c - previous_log_c
    with np.errstate(divide="ignore", invalid="ignore"):
        secant = np.where(np.abs(dlog) > 1e-6, (margin - previous_margin) / dlog, np.nan)
        have_secant = np.isfinite(secant) & (secant < 0)
        slope = np.where(have_secant, secant, newton_slope)
        step = np.where(slope < 0, (0.5 * options.margin_tol - margin) / slope, np.nan)
    return np.where(success & ~have_secant, options.newton_damping * step, step)


def kkt_step(c_kkt, log_c, usable, aim: float) -> np.ndarray:
    """``log c_kkt - aim - log c``: the step to just below the KKT estimate (success side).

    Only meaningful where ``usable``; elsewhere the value is that of ``c_kkt = 1``.
    """
    return np.log(np.where(usable, c_kkt, 1.0)) - aim - log_c


def limit_step(step, success, max_log_step: float) -> np.ndarray:
    """``step`` clipped to ``[-max_log_step, max_log_step]``; no step: the largest one.

    A success without a step goes up (``+max_log_step``, a larger c, a smaller
    perturbation), a failure down.
    """
    step = np.clip(step, -max_log_step, max_log_step)
    return np.where(np.isfinite(step), step, np.where(success, max_log_step, -max_log_step))


def into_bracket(target, lo, hi, margin_lo, margin_hi) -> np.ndarray:
    """The proposed ``log c`` kept strictly inside a known bracket ``[log lo, log hi]``.

    A proposal outside the middle 90% of the bracket ``[a, b] = [log lo, log hi]`` is
    replaced by regula falsi on the margins at the ends,
    ``a + w (b - a)`` with ``w = m_lo / (m_lo - m_hi)`` clipped to ``[0.1, 0.9]``.
    Problems without both ends keep their proposal.
    """
    both = np.isfinite(lo) & np.isfinite(hi)
    a, b = np.log(lo), np.log(hi)
    inside = (target > a + 0.05 * (b - a)) & (target < b - 0.05 * (b - a))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.clip(margin_lo / (margin_lo - margin_hi), 0.1, 0.9)
    return np.where(both & ~inside, a + w * (b - a), target)
