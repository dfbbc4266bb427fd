"""Tests for nbhelpers.robustness: a trained model's robustness (paper §4.2) and the seeds'
spread, on FC10(1e-4) trained for a few seconds on 300 digits and measured on 30."""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers import robustness as R  # noqa: E402
from nbhelpers.attacks import fgsm  # noqa: E402
from nbhelpers.data import load_mnist  # noqa: E402
from nbhelpers.evaluate import error_rate, predict_labels  # noqa: E402
from nbhelpers.training import TrainingSettings, train  # noqa: E402

EPSILON = 0.02  # small enough that one FGSM step leaves some digits right
KEYS = {"distortion", "failed", "error_within_budget", "fgsm_error"}


@pytest.fixture(scope="module")
def digits():
    return load_mnist("embedded", verbose=False).subset(300, 100, seed=0)


@pytest.fixture(scope="module")
def model(digits):
    """FC10(1e-4), 20 Adam epochs at 0.01 (2-5 s): about 20% test error."""
    settings = TrainingSettings(method="adam", epochs=20, learning_rate=0.01)
    return train(
        "FC10(1e-4)", digits.x_train, digits.y_train, seed=0, settings=settings, progress=False
    ).model


@pytest.fixture(scope="module")
def xy(digits):
    return digits.x_test[:30], digits.y_test[:30]


@pytest.fixture(scope="module")
def measured(model, xy):
    """``(numbers, search)`` at the defaults but a smaller FGSM step (the first search traces)."""
    x, y = xy
    result = R.robustness(model, x, y, fgsm_epsilon=EPSILON)
    assert isinstance(result, R.Robustness)
    numbers, search = result.numbers, result.search
    # the fixture must exercise both kinds of digit, or the hand counts below prove little
    assert 0 < search.already_wrong.sum() < len(x)
    assert search.success.sum() >= 10
    return numbers, search


# --- robustness -------------------------------------------------------------------------


def test_reports_the_documented_numbers(measured, xy):
    numbers, search = measured
    assert set(numbers) == KEYS
    assert set(numbers) - {"failed"} <= set(R.METRICS)
    assert isinstance(numbers["failed"], int)
    assert all(isinstance(numbers[k], float) for k in KEYS - {"failed"})
    x, y = xy
    assert search.n == len(x) and np.array_equal(search.labels, y)
    # the search runs towards random wrong labels, on the digits the model gets right only
    right = ~np.asarray(search.already_wrong)
    assert search.requested is not None
    assert np.all(search.requested[right] != y[right])
    assert np.all(search.requested[~right] == -1)


def test_search_matches_the_models_own_predictions(model, measured, xy):
    _, search = measured
    x, y = xy
    assert np.array_equal(search.already_wrong, predict_labels(model, x) != y)


def test_distortion_is_the_mean_over_successful_searches(measured):
    numbers, search = measured
    assert numbers["distortion"] == search.mean_distortion(warn=False)
    assert numbers["distortion"] == pytest.approx(np.mean(search.distortion[search.success]))
    assert 0 < numbers["distortion"] < 1
    assert numbers["failed"] == search.n_failed


def within_by_hand(search, budget):
    d = np.asarray(search.distortion)
    ok = np.asarray(search.success) & (np.nan_to_num(d, nan=np.inf) <= budget)
    return 100 * float(np.mean(np.asarray(search.already_wrong) | ok))


BUDGETS = [1e-4, 0.01, 0.05, 0.08, 0.1, 0.2, 10.0]


@pytest.fixture(scope="module")
def by_budget(model, xy):
    x, y = xy
    results = [R.robustness(model, x, y, budget=b, fgsm_epsilon=EPSILON) for b in BUDGETS]
    return [(r.numbers, r.search) for r in results]


def test_error_within_budget_is_the_hand_count(by_budget):
    for budget, (numbers, search) in zip(BUDGETS, by_budget, strict=True):
        assert numbers["error_within_budget"] == pytest.approx(within_by_hand(search, budget))


def test_error_within_budget_grows_with_the_budget(by_budget):
    errors = [numbers["error_within_budget"] for numbers, _ in by_budget]
    assert all(a <= b for a, b in zip(errors, errors[1:], strict=False))
    assert errors[0] < errors[-1]  # not flat: the budget matters on these digits
    search = by_budget[0][1]
    # a budget below every distortion counts only the digits misclassified already;
    # one above every distortion counts every digit but the failed searches
    assert errors[0] == pytest.approx(100 * np.mean(search.already_wrong))
    assert errors[-1] == pytest.approx(100 * (1 - search.n_failed / search.n))


def test_the_budget_changes_nothing_else(by_budget):
    first = by_budget[0][0]
    for numbers, _ in by_budget[1:]:
        for key in ("distortion", "failed", "fgsm_error"):
            assert numbers[key] == first[key]


def test_failed_searches_are_not_counted_within_the_budget(model, xy):
    """A cut-down search (two c, five iterations) fails on some digits: those stay right."""
    x, y = xy
    measured = R.robustness(
        model, x, y, budget=10.0, fgsm_epsilon=EPSILON, c_steps=2, max_iterations=5
    )
    numbers, search = measured.numbers, measured.search
    assert 0 < search.n_failed < search.n_searched
    assert numbers["failed"] == search.n_failed
    assert numbers["error_within_budget"] == pytest.approx(within_by_hand(search, 10.0))
    assert numbers["error_within_budget"] == pytest.approx(100 * (1 - search.n_failed / search.n))
    assert numbers["distortion"] == pytest.approx(np.mean(search.distortion[search.success]))


def test_every_search_failing(model, xy):
    """c so large that the first solve stays at x: no distortion, the clean error only."""
    x, y = xy
    measured = R.robustness(model, x, y, fgsm_epsilon=EPSILON, c_steps=1, c_init=1000.0)
    numbers, search = measured.numbers, measured.search
    assert not search.success.any()
    assert numbers["failed"] == search.n_searched > 0
    assert math.isnan(numbers["distortion"])
    assert numbers["error_within_budget"] == pytest.approx(100 * error_rate(model, x, y))


@pytest.mark.parametrize("epsilon", [0.0, EPSILON, 0.1])
def test_fgsm_error_is_one_fgsm_step(model, xy, epsilon):
    x, y = xy
    numbers = R.robustness(model, x, y, fgsm_epsilon=epsilon).numbers
    assert numbers["fgsm_error"] == pytest.approx(100 * fgsm(model, x, y, epsilon).error_rate)
    if epsilon == 0.0:  # no step: the clean error
        assert numbers["fgsm_error"] == pytest.approx(100 * error_rate(model, x, y))


def test_fgsm_error_grows_with_epsilon(model, xy):
    x, y = xy
    errors = [
        R.robustness(model, x, y, fgsm_epsilon=e).numbers["fgsm_error"] for e in (0, 0.02, 0.1)
    ]
    assert errors[0] < errors[1] < errors[2]


def test_no_transfer_error_without_transferred(measured):
    assert "transfer_error" not in measured[0]


def test_transfer_error_is_the_error_on_the_given_pairs(model, xy, digits):
    x, y = xy
    numbers = R.robustness(model, x, y, fgsm_epsilon=EPSILON, transferred=(x, y)).numbers
    assert set(numbers) == KEYS | {"transfer_error"}
    assert numbers["transfer_error"] == pytest.approx(100 * error_rate(model, x, y))
    other = (digits.x_test[30:], digits.y_test[30:])
    numbers = R.robustness(model, x, y, fgsm_epsilon=EPSILON, transferred=other).numbers
    assert numbers["transfer_error"] == pytest.approx(100 * error_rate(model, *other))


def test_the_models_own_examples_all_transfer(model, measured, xy):
    """A success is checked by running the model on x_adv: it is the (wrong) target's class."""
    _, search = measured
    ok = np.asarray(search.success)
    x, y = xy
    own = (search.x_adv[ok], search.labels[ok])
    numbers = R.robustness(model, x, y, fgsm_epsilon=EPSILON, transferred=own).numbers
    assert numbers["transfer_error"] == 100.0
    # the same rows as successful() gives, less the originals
    numbers = R.robustness(
        model, x, y, fgsm_epsilon=EPSILON, transferred=tuple(search.successful()[1:])
    ).numbers
    assert numbers["transfer_error"] == 100.0


def test_same_seed_same_numbers(model, measured, xy):
    x, y = xy
    again = R.robustness(model, x, y, fgsm_epsilon=EPSILON)
    numbers, search = again.numbers, again.search
    assert numbers == measured[0]
    assert np.array_equal(search.distortion, measured[1].distortion, equal_nan=True)
    assert np.array_equal(search.requested, measured[1].requested)


def test_the_seed_draws_the_targets(model, measured, xy):
    x, y = xy
    other = R.robustness(model, x, y, fgsm_epsilon=EPSILON, seed=1)
    numbers, search = other.numbers, other.search
    assert not np.array_equal(search.requested, measured[1].requested)
    assert numbers["distortion"] != measured[0]["distortion"]
    assert numbers["fgsm_error"] == measured[0]["fgsm_error"]  # FGSM draws nothing


def test_search_keywords_reach_the_search(model, xy):
    x, y = xy
    with pytest.raises(TypeError, match="no_such_setting"):
        R.robustness(model, x, y, no_such_setting=1)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"budget": 0}, ValueError, "budget must be a finite number > 0"),
        ({"budget": -0.05}, ValueError, "budget must be a finite number > 0"),
        ({"budget": float("inf")}, ValueError, "budget"),
        ({"budget": float("nan")}, ValueError, "budget"),
        ({"budget": "0.05"}, TypeError, "budget must be a real number"),
        ({"fgsm_epsilon": -0.1}, ValueError, "fgsm_epsilon must be a finite number >= 0"),
        ({"fgsm_epsilon": None}, TypeError, "fgsm_epsilon"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_settings_are_named(model, xy, kwargs, error, words):
    x, y = xy
    with pytest.raises(error, match=words):
        R.robustness(model, x, y, **kwargs)


@pytest.mark.parametrize(
    "transferred",
    [
        "list",  # a list of two arrays is not the documented pair
        "triple",  # search.successful() itself: (x, x_adv, labels)
        "array",
    ],
)
def test_transferred_must_be_a_pair(model, measured, xy, transferred):
    x, y = xy
    _, search = measured
    bad = {
        "list": [x, y],
        "triple": search.successful(),
        "array": x,
    }[transferred]
    with pytest.raises(TypeError, match=r"transferred must be a pair \(x_adv, labels\)"):
        R.robustness(model, x, y, fgsm_epsilon=EPSILON, transferred=bad)


def test_metrics_name_every_reported_number():
    assert list(R.METRICS) == [
        "test_error",
        "distortion",
        "error_within_budget",
        "fgsm_error",
        "transfer_error",
    ]
    assert all(isinstance(v, str) and v for v in R.METRICS.values())


# --- over_seeds -------------------------------------------------------------------------


PER_SEED = {
    "weight decay": [
        {"test_error": 2.0, "distortion": 0.10},
        {"test_error": 3.5, "distortion": 0.07},
        {"test_error": 2.25, "distortion": 0.12},
    ],
    "pool": [{"test_error": 1.5, "distortion": 0.2}],
}


def test_over_seeds_against_numpy():
    out = R.over_seeds(PER_SEED)
    assert list(out) == ["weight decay", "pool"]
    assert list(out["weight decay"]) == ["test_error", "distortion"]
    for key in ("test_error", "distortion"):
        values = np.array([r[key] for r in PER_SEED["weight decay"]])
        s = out["weight decay"][key]
        assert s["mean"] == pytest.approx(values.mean())
        assert s["std"] == pytest.approx(values.std(ddof=1))
        assert s["std"] != pytest.approx(values.std(ddof=0))  # the sample std, not the population
        assert s["min"] == values.min() and s["max"] == values.max()
        assert s["n"] == 3
    s = out["weight decay"]["test_error"]
    assert all(type(s[k]) is float for k in ("mean", "std", "min", "max")) and type(s["n"]) is int


def test_over_seeds_one_seed_has_no_spread():
    s = R.over_seeds(PER_SEED)["pool"]["distortion"]
    assert s == {"mean": 0.2, "std": 0.0, "min": 0.2, "max": 0.2, "n": 1}


def test_over_seeds_takes_any_sequence_of_runs():
    runs = ({"e": np.float32(1.0)}, {"e": 3})
    out = R.over_seeds({"a": runs})
    assert out["a"]["e"]["mean"] == 2.0 and out["a"]["e"]["n"] == 2
    assert out == R.over_seeds({"a": list(runs)})


def test_over_seeds_bad_input_names_the_row():
    with pytest.raises(ValueError, match=r"per_seed\['pool'\] must hold at least one seed"):
        R.over_seeds({"weight decay": PER_SEED["weight decay"], "pool": []})
    with pytest.raises(ValueError, match="every seed of 'a' must report the same metrics"):
        R.over_seeds({"a": [{"e": 1.0, "d": 0.1}, {"e": 2.0}]})
    with pytest.raises(TypeError, match=r"per_seed must be a dict \{row: \[numbers per seed\]\}"):
        R.over_seeds([("a", [{"e": 1.0}])])
    with pytest.raises(TypeError, match="per_seed must be a dict"):
        R.over_seeds(None)


@pytest.mark.parametrize("runs", [[1.0, 2.0], {"e": 1.0}, 5])
def test_over_seeds_rows_that_are_not_lists_of_dicts_are_named(runs):
    with pytest.raises((TypeError, ValueError), match="'a'"):
        R.over_seeds({"a": runs})


# --- paired_difference ------------------------------------------------------------------


A = [2.1, 1.8, 2.6, 2.0, 2.4]
B = [1.9, 1.9, 2.0, 1.6, 2.2]


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.5])
def test_paired_difference_against_scipy(confidence):
    from scipy import stats

    d = np.subtract(A, B)
    half = stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    out = R.paired_difference(A, B, confidence)
    assert out["n"] == 5
    assert out["mean"] == pytest.approx(d.mean())
    assert out["low"] == pytest.approx(d.mean() - half)
    assert out["high"] == pytest.approx(d.mean() + half)
    assert out["low"] < out["mean"] < out["high"]


def test_paired_difference_pairs_by_position():
    """Unpaired, the difference of the means is the same; the interval is not (paired is
    narrower when the seeds move both variants together)."""
    out = R.paired_difference(A, B)
    shuffled = R.paired_difference(A, B[::-1])
    assert out["mean"] == pytest.approx(shuffled["mean"])
    assert out["high"] - out["low"] != pytest.approx(shuffled["high"] - shuffled["low"])


def test_paired_difference_wider_at_higher_confidence_and_antisymmetric():
    a, b = R.paired_difference(A, B, 0.8), R.paired_difference(A, B, 0.99)
    assert b["low"] < a["low"] < a["high"] < b["high"]
    forth, back = R.paired_difference(A, B), R.paired_difference(B, A)
    assert back["mean"] == pytest.approx(-forth["mean"])
    assert back["low"] == pytest.approx(-forth["high"])
    assert back["high"] == pytest.approx(-forth["low"])


def test_paired_difference_one_seed_has_no_interval():
    out = R.paired_difference([2.5], [2.0])
    assert out["mean"] == 0.5 and out["n"] == 1
    assert math.isnan(out["low"]) and math.isnan(out["high"])


def test_paired_difference_constant_difference_is_certain():
    out = R.paired_difference([1.5, 2.5, 3.5], [1.0, 2.0, 3.0])
    assert out == {"mean": 0.5, "low": 0.5, "high": 0.5, "n": 3}


@pytest.mark.parametrize(
    "a, b",
    [([1.0, 2.0], [1.0]), ([], []), ([[1.0, 2.0]], [[1.0, 2.0]]), (1.0, 1.0)],
)
def test_paired_difference_shapes_must_match(a, b):
    with pytest.raises(ValueError, match="a and b must be non-empty 1-D sequences of the same"):
        R.paired_difference(a, b)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.5, float("nan")])
def test_paired_difference_confidence_is_a_fraction(confidence):
    with pytest.raises(ValueError, match="confidence must be a finite number"):
        R.paired_difference(A, B, confidence)


def test_a_bad_transferred_is_refused_before_any_search():
    # model=None would fail in the search: the pair is checked first, at the door
    with pytest.raises(TypeError, match=r"transferred must be a pair \(x_adv, labels\)"):
        R.robustness(None, np.zeros((2, 784)), np.zeros(2, int), transferred=[1, 2, 3])


# --- verdict ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (-0.9, -0.1, "better"),
        (0.1, 0.9, "worse"),
        (-0.5, 0.5, "no different"),
        (0.0, 0.4, "no different"),  # touching zero is not beyond the spread
        (float("nan"), float("nan"), "no different"),  # one seed: no interval
    ],
)
def test_verdict_reads_the_interval(low, high, expected):
    assert R.verdict({"mean": (low + high) / 2, "low": low, "high": high, "n": 3}) == expected


def test_verdict_of_a_paired_difference():
    worse = R.paired_difference([2.8, 2.9, 2.85], [2.1, 2.2, 2.0])
    assert R.verdict(worse) == "worse"
    assert R.verdict(R.paired_difference([2.1, 2.2, 2.0], [2.8, 2.9, 2.85])) == "better"
    assert R.verdict(R.paired_difference([2.1, 2.9, 2.0], [2.8, 2.2, 2.5])) == "no different"


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([0.1, 0.2], TypeError, "difference must be a paired_difference dict"),
        ({"mean": 0.1}, ValueError, r"missing \['high', 'low'\]"),
    ],
)
def test_verdict_says_what_it_needs(bad, error, match):
    with pytest.raises(error, match=match):
        R.verdict(bad)
