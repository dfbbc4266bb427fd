"""Continuous batching of the batched search: slots, the loop of optimizer calls, warm starts.

Asynchronous calls. Each optimizer call (`solver`) runs a few iterations on every
live problem; after it, each problem either stays at its c (its solve is not
complete), moves to a new c (`c_update`), or is done. So problems move on at their
own pace, and no problem waits for the slowest one to finish a whole solve.

Continuous batching. ``chunk_size`` slots are solved together; a finished problem's
slot takes the next problem in the queue, so the batch stays full until the queue
is empty and then shrinks, padded to a few fixed sizes (`bucket_sizes`) so that
compiled code is reused.

Warm starts. Each new c starts from the previous solution moved along the
first-order prediction of the new minimiser (``predictor``). A failure that barely
improved on the previous one restarts from the solution at its largest successful
c, or from x (``restart_failures="stuck"``): on flat models (AE400-10) warm starts
down a failing path can stall on a plateau the cold start avoids.

Candidates. Every success's boundary point (or, without ``kkt``, its clipped
solution) is a candidate; each problem keeps its candidate of smallest distortion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..perturbations import rms_difference
from .c_update import (
    bracket_update,
    informative,
    into_bracket,
    kkt_step,
    kkt_usable,
    limit_step,
    root_step,
    search_done,
    solve_complete,
)
from .objective import margins, safe_margin
from .solver import StageResult, run_stage, stage_function

__all__ = ["SearchOutcome", "bucket_sizes", "search_tfp"]


def bucket_sizes(n_slots: int, ratio: float) -> list[int]:
    """Batch sizes the compacted batch is padded to: n0, then n0 / ratio, ... (multiples of 8)."""
    sizes = [n_slots]
    while sizes[-1] > 16:
        sizes.append(max(16, int(math.ceil(sizes[-1] / ratio / 8)) * 8))
    return sorted(set(sizes))


@dataclass
class SearchOutcome:
    """Per problem: the best candidate ``z`` (NaN rows: none), ``success``, its ``c``,
    the objective ``evaluations`` spent on it; and ``total_evaluations`` (padding
    rows included) and optimizer ``calls`` for the whole search."""

    z: np.ndarray
    success: np.ndarray
    c: np.ndarray
    evaluations: np.ndarray
    total_evaluations: int
    calls: int


class _Slots:
    """Per-slot state of the problems being solved, numpy arrays indexed by slot.

    ``problem`` (-1: free slot), ``z`` (the next start), ``z_lo`` (the solution at the
    largest successful c), the L-BFGS pairs ``s``, ``y``, ``c`` and ``c_hist`` (the c
    the pairs belong to), the bracket ``lo``, ``hi`` with the margins ``margin_lo``,
    ``margin_hi`` at its ends, the previous point of the root step ``previous_log_c``,
    ``previous_margin``, ``reset`` (drop the pairs), ``steps`` (values of c solved)
    and ``iterations_at_c``.
    """

    _PER_C = ("lo", "hi", "margin_lo", "margin_hi", "previous_log_c", "previous_margin")

    def __init__(self, n_slots, d, m):
        self.problem = np.full(n_slots, -1, np.int64)
        self.z = np.zeros((n_slots, d), np.float32)
        self.z_lo = np.full((n_slots, d), np.nan, np.float32)
        self.s = np.zeros((m, n_slots, d), np.float32)
        self.y = np.zeros((m, n_slots, d), np.float32)
        for name in ("c", "c_hist") + self._PER_C:
            setattr(self, name, np.full(n_slots, np.nan))
        self.reset = np.ones(n_slots, bool)
        self.steps = np.zeros(n_slots, np.int64)
        self.iterations_at_c = np.zeros(n_slots, np.int64)

    def refill(self, queue: int, images, image_of, c_init) -> int:
        """Load the next problems of the queue into the free slots; the new queue position."""
        free = np.flatnonzero(self.problem < 0)
        k = min(len(free), len(image_of) - queue)
        if k <= 0:
            return queue
        slots, problems = free[:k], np.arange(queue, queue + k)
        self.problem[slots] = problems
        self.z[slots] = images[image_of[problems]]
        self.z_lo[slots] = np.nan
        self.s[:, slots] = 0.0
        self.y[:, slots] = 0.0
        self.c[slots] = c_init
        self.c_hist[slots] = c_init
        for name in self._PER_C:
            getattr(self, name)[slots] = np.nan
        self.reset[slots] = True
        self.steps[slots] = 0
        self.iterations_at_c[slots] = 0
        return queue + k


class _Best:
    """Each problem's best candidate so far: distortion, point and c."""

    def __init__(self, n, d):
        self.distortion = np.full(n, np.inf)
        self.z = np.full((n, d), np.nan, np.float32)
        self.c = np.full(n, np.nan)

    def offer(self, problems, candidates, x, success, c):
        """Keep the successful candidates that are closer to x than the best so far."""
        dist = rms_difference(x, candidates)
        better = success & (dist < self.distortion[problems])
        improved = problems[better]
        self.distortion[improved] = dist[better]
        self.z[improved] = candidates[better]
        self.c[improved] = c[better]


def _call_stage(fn, slots, live, sizes, images, image_of, targets, options):
    """One optimizer call on the live slots, padded (with copies of the first) to a bucket size.

    Returns the call's `StageResult` and the padded batch size.
    """
    n_live = len(live)
    size = min(s for s in sizes if s >= n_live)
    padded = np.concatenate([live, np.full(size - n_live, live[0])])
    problems = slots.problem[padded]
    out = run_stage(
        fn,
        images[image_of[problems]],
        targets[problems],
        slots.c[padded],
        slots.c_hist[padded],
        slots.reset[padded],
        slots.z[padded],
        slots.s[:, padded],
        slots.y[:, padded],
        options.stage_iterations,
        n_live,
        options.stage_fraction,
    )
    return out, size


def _warm_start(position, out, x, log_step, move, finite, success, progress, z_lo, options):
    """Where each moving problem's next solve starts.

    ``predictor``: at ``z + dz/dlog c * dlog c``, the first-order prediction of the
    new minimiser (kept near the box). ``restart_failures``: a failure goes back to
    ``z_lo`` (its solution at its largest successful c) or to x; with ``"stuck"``
    only when its previous margin was negative too and it gained less than
    ``stuck_slope`` margin per unit of log c (``progress``).
    """
    if options.predictor:
        predicted = position + out.dz * log_step[:, None].astype(np.float32)
        good = (move & finite)[:, None] & np.all(np.isfinite(predicted), axis=1, keepdims=True)
        position = np.where(good, np.clip(predicted, -0.1, 1.1), position)
    if options.restart_failures:
        back = move & ~success
        if options.restart_failures == "stuck":
            previous_margin, gain = progress
            back &= (previous_margin < 0) & (gain < options.stuck_slope)
        has = np.all(np.isfinite(z_lo), axis=1)
        position = np.where((back & has)[:, None], z_lo, np.where(back[:, None], x, position))
    return position


def _next_c(slots, live, out, margin, success, finite, usable, move, position, x, options):
    """Move the problems in ``move`` to their next c; return where their solves start.

    The proposal (`c_update`): the KKT estimate for successes that have one, else a
    root step on the margin; limited in size and kept inside the bracket.
    """
    log_c = np.log(slots.c[live])
    previous_margin = slots.previous_margin[live].copy()
    previous_log_c = slots.previous_log_c[live]
    step = root_step(margin, log_c, previous_margin, previous_log_c, out.slope, success, options)
    if options.kkt:
        step = np.where(usable, kkt_step(out.c_kkt, log_c, usable, options.kkt_aim), step)
    step = limit_step(step, success, options.max_log_step)
    bracket = (slots.lo[live], slots.hi[live], slots.margin_lo[live], slots.margin_hi[live])
    target = np.where(move, into_bracket(log_c + step, *bracket), log_c)
    slots.previous_log_c[live[move]] = log_c[move]
    slots.previous_margin[live[move]] = margin[move]
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (margin - previous_margin) / np.abs(log_c - previous_log_c)
    position = _warm_start(
        position,
        out,
        x,
        target - log_c,
        move,
        finite,
        success,
        (previous_margin, gain),
        slots.z_lo[live],
        options,
    )
    slots.c[live] = np.exp(target)
    slots.iterations_at_c[live[move]] = 0
    return position


def _assess(out: StageResult, x, targets):
    """Each row's start for the next call, whether it is finite, its margin and success.

    A row with a non-finite solution, logit or boundary point restarts from x and
    counts as a failure. Success is judged on the clipped solution's logits, by the
    safe margin (`objective`).
    """
    finite = (
        np.all(np.isfinite(out.position), axis=1)
        & np.all(np.isfinite(out.logits), axis=1)
        & np.all(np.isfinite(out.boundary), axis=1)
    )
    position = np.where(finite[:, None], out.position, x)
    logits = np.where(finite[:, None], out.logits, 0.0)
    margin = margins(logits, targets)
    return position, finite, margin, finite & (margin >= safe_margin(logits))


def _after_call(slots, live, out, images, image_of, targets, best, limits, options):
    """Everything a call's results decide for its live problems; the mask of those done.

    Records candidates, decides whose solve at its c is complete, updates brackets,
    tests whether the search over c is over, moves the others on (`_next_c`).
    ``limits`` = (max_iterations, c_steps).
    """
    max_iterations, c_steps = limits
    problems = slots.problem[live]
    x, t, c = images[image_of[problems]], targets[problems], slots.c[live]
    slots.s[:, live], slots.y[:, live], slots.c_hist[live] = out.s, out.y, c
    position, finite, margin, success = _assess(out, x, t)
    best.offer(
        problems, out.boundary if options.kkt else np.clip(position, 0.0, 1.0), x, success, c
    )

    start_margin = margins(np.where(finite[:, None], out.start_logits, 0.0), t)
    iterations = slots.iterations_at_c[live]
    complete = solve_complete(
        out.converged,
        out.failed,
        finite,
        success,
        margin,
        start_margin,
        iterations,
        max_iterations,
        options,
    )
    told = informative(complete, finite, success, out.failed)
    set_lo, set_hi = bracket_update(slots.lo[live], slots.hi[live], c, success, told)
    slots.lo[live[set_lo]], slots.margin_lo[live[set_lo]] = c[set_lo], margin[set_lo]
    slots.z_lo[live[set_lo]] = position[set_lo]
    slots.hi[live[set_hi]], slots.margin_hi[live[set_hi]] = c[set_hi], margin[set_hi]
    slots.steps[live[complete]] += 1

    usable = kkt_usable(complete, success, out.c_kkt)
    done = search_done(
        complete,
        success,
        margin,
        slots.lo[live],
        slots.hi[live],
        slots.steps[live],
        c,
        out.c_kkt,
        usable,
        c_steps,
        options,
    )
    move = complete & ~done & told
    if move.any():
        position = _next_c(
            slots, live, out, margin, success, finite, usable, move, position, x, options
        )
    slots.z[live] = position
    slots.reset[live] = out.failed | ~finite
    slots.problem[live[done]] = -1
    return done


def search_tfp(model, input_shape, images, image_of, targets, options, limits, chunk_size, bar):
    """Batched search over all problems: image ``images[image_of[i]]`` to target ``targets[i]``.

    ``images`` are flat rows; ``options`` a resolved `SearchOptions`; ``limits`` =
    (c_init, c_steps, max_iterations). `chunk_size` slots are solved together, refilled
    from the queue as problems finish (module docstring). ``bar``: a progress bar or None.
    """
    c_init, c_steps, max_iterations = limits
    n, d = len(image_of), images.shape[1]
    fn = stage_function(model, input_shape, options)
    n_slots = min(n, chunk_size)
    sizes = bucket_sizes(n_slots, options.bucket_ratio)
    targets = targets.astype(np.int32)
    slots = _Slots(n_slots, d, options.num_correction_pairs)
    best = _Best(n, d)
    evaluations = np.zeros(n, np.int64)
    total, calls, queue = 0, 0, 0
    while True:
        queue = slots.refill(queue, images, image_of, c_init)
        live = np.flatnonzero(slots.problem >= 0)
        if len(live) == 0:
            break
        out, size = _call_stage(fn, slots, live, sizes, images, image_of, targets, options)
        calls += 1
        per_problem = out.evaluations + 2  # + the restart and the margin gradient
        evaluations[slots.problem[live]] += per_problem
        total += per_problem * size
        slots.iterations_at_c[live] += out.iterations
        done = _after_call(
            slots, live, out, images, image_of, targets, best, (max_iterations, c_steps), options
        )
        if bar is not None and done.any():
            bar.update(int(done.sum()))
    return SearchOutcome(
        z=best.z,
        success=np.isfinite(best.distortion),
        c=best.c,
        evaluations=evaluations,
        total_evaluations=total,
        calls=calls,
    )
