"""Unit tests of nbhelpers.attacks.c_update: the search over c, pure numpy, by hand."""

import math

import numpy as np
import pytest

from nbhelpers.attacks import SearchOptions, c_update

OPTIONS = SearchOptions()
T, F = True, False


def a(*values):
    return np.array(values)


def test_solve_complete_rules():
    # rows: converged; line search failed; not finite; budget spent; a success well past the
    # boundary after a full call; the same after a partial call; a failure after a full call;
    # a failure after `patience` full calls
    converged = a(T, F, F, F, F, F, F, F)
    failed = a(F, T, F, F, F, F, F, F)
    finite = a(T, T, F, T, T, T, T, T)
    success = a(F, F, F, F, T, T, F, F)
    margin = a(-1.0, -1.0, 0.0, -1.0, 0.5, 0.5, -1.0, -1.0)
    start = np.zeros(8)
    its = a(1, 1, 1, 100, 10, 5, 10, 30)
    got = c_update.solve_complete(
        converged, failed, finite, success, margin, start, its, 100, OPTIONS
    )
    np.testing.assert_array_equal(got, [T, T, T, T, T, F, F, T])


def test_solve_complete_decides_stalled_failures_only_when_asked():
    args = (a(F, F), a(F, F), a(T, T), a(F, F), a(-1.0, -1.0), a(-1.1, -2.0), a(10, 10), 100)
    np.testing.assert_array_equal(c_update.solve_complete(*args, OPTIONS), [F, F])
    # with decide_failures: a failure far short of the boundary that gained < 0.25 moves on
    stalled = SearchOptions(decide_failures=True)
    np.testing.assert_array_equal(c_update.solve_complete(*args, stalled), [T, F])


def test_informative_and_bracket():
    complete, finite = a(T, T, T, T, F), a(T, T, T, F, T)
    success, ls_failed = a(T, F, F, T, T), a(F, F, T, F, F)
    told = c_update.informative(complete, finite, success, ls_failed)
    # a failure whose line search gave up, a non-finite iterate, an incomplete solve: no
    np.testing.assert_array_equal(told, [T, T, F, F, F])
    lo, hi = a(np.nan, 1.0, np.nan), a(np.nan, 4.0, 2.0)
    c = a(2.0, 3.0, 1.5)
    set_lo, set_hi = c_update.bracket_update(lo, hi, c, a(T, F, T), a(T, T, T))
    # a first success sets lo; a failure below hi lowers hi; a success under hi raises lo
    np.testing.assert_array_equal(set_lo, [T, F, T])
    np.testing.assert_array_equal(set_hi, [F, T, F])
    # lo only ever grows, hi only shrinks
    set_lo, set_hi = c_update.bracket_update(a(2.0), a(3.0), a(1.0), a(T), a(T))
    assert not set_lo[0] and not set_hi[0]
    set_lo, set_hi = c_update.bracket_update(a(2.0), a(3.0), a(5.0), a(F), a(T))
    assert not set_hi[0]


def test_kkt_usable():
    got = c_update.kkt_usable(a(T, T, T, T, F), a(T, T, T, F, T), a(2.0, np.nan, -1.0, 2.0, 2.0))
    np.testing.assert_array_equal(got, [T, F, F, F, F])


def _done(**kw):
    row = dict(
        complete=a(T),
        success=a(T),
        margin=a(1.0),
        lo=a(1.0),
        hi=a(np.nan),
        steps=a(1),
        c=a(1.0),
        c_kkt=a(np.nan),
        usable=a(F),
        c_steps=10,
        options=OPTIONS,
    )
    row.update(kw)
    return bool(c_update.search_done(**row)[0])


def test_search_done_rules():
    assert not _done()  # a success well past the boundary, no bracket, no estimate
    assert not _done(complete=a(F), margin=a(0.01))
    assert _done(margin=a(0.01))  # on the boundary: 0 < m <= margin_tol
    assert _done(hi=a(1.015))  # bracket narrower than 2%
    assert not _done(hi=a(1.03))
    assert _done(steps=a(10))  # c_steps spent
    # the KKT estimate agrees with c: |log(c_kkt / c)| <= kkt_tol
    assert _done(c_kkt=a(1.04), usable=a(T))
    assert not _done(c_kkt=a(1.2), usable=a(T))
    assert not _done(c_kkt=a(1.04), usable=a(T), options=SearchOptions(kkt=False))


def test_root_step_secant():
    """Secant through the previous point: m = -1 at log c = 0, m = 1 at log c = -1."""
    margin, log_c, prev_m, prev_log_c = a(-1.0), a(0.0), a(1.0), a(-1.0)
    step = c_update.root_step(margin, log_c, prev_m, prev_log_c, a(np.nan), a(F), OPTIONS)
    # slope -2: step to m = margin_tol / 2 = 0.025 is (0.025 + 1) / -2
    assert step[0] == pytest.approx((0.025 + 1.0) / -2.0)


def test_root_step_newton_and_damping():
    # no previous point: the Newton slope; a failure takes the full step
    step = c_update.root_step(a(-1.0), a(0.0), a(np.nan), a(np.nan), a(-4.0), a(F), OPTIONS)
    assert step[0] == pytest.approx((0.025 + 1.0) / -4.0)
    # a success: the Newton step is damped (the margin is concave in log c)
    step = c_update.root_step(a(1.0), a(0.0), a(np.nan), a(np.nan), a(-4.0), a(T), OPTIONS)
    assert step[0] == pytest.approx(0.6 * (0.025 - 1.0) / -4.0)
    # a secant of the wrong sign falls back to Newton; a non-negative slope: no step
    step = c_update.root_step(a(-1.0), a(0.0), a(-2.0), a(-1.0), a(-4.0), a(F), OPTIONS)
    assert step[0] == pytest.approx((0.025 + 1.0) / -4.0)
    step = c_update.root_step(a(-1.0), a(0.0), a(np.nan), a(np.nan), a(0.5), a(F), OPTIONS)
    assert np.isnan(step[0])


def test_kkt_step_and_limit():
    assert c_update.kkt_step(a(math.e), a(0.0), a(T), 0.02)[0] == pytest.approx(1.0 - 0.02)
    big = math.log(3.0)
    np.testing.assert_allclose(
        c_update.limit_step(a(5.0, -5.0, 0.1, np.nan, np.nan), a(T, F, T, T, F), big),
        [big, -big, 0.1, big, -big],  # no step: up for a success, down for a failure
    )


def test_into_bracket():
    lo, hi = a(1.0, 1.0, np.nan), a(math.e, math.e, math.e)
    m_lo, m_hi = a(1.0, 1.0, np.nan), a(-3.0, -3.0, -3.0)
    got = c_update.into_bracket(a(0.5, 2.0, 2.0), lo, hi, m_lo, m_hi)
    assert got[0] == 0.5  # inside the middle 90% of [0, 1]: kept
    assert got[1] == pytest.approx(0.25)  # outside: regula falsi, w = 1 / (1 + 3)
    assert got[2] == 2.0  # no bracket yet: kept
    # the weight is kept within [0.1, 0.9]
    assert c_update.into_bracket(a(5.0), a(1.0), a(math.e), a(0.001), a(-10.0))[0] == pytest.approx(
        0.1
    )
