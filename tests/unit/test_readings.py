"""The readings of Table 1's "average minimum distortion" (§4.1), each checked on a tiny model."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers.attacks import minimal_distortion, readings  # noqa: E402
from nbhelpers.evaluate import predict_labels  # noqa: E402


@pytest.fixture(scope="module")
def tiny(softmax_regression, shuffled_digits):
    """The shared softmax regression, and 24 digits it was not trained on (a few misclassified)."""
    x, y = shuffled_digits
    return softmax_regression, x[1000:1024], y[1000:1024]


def test_targets_for_the_two_chapter_readings():
    assert readings.targets_for("random") == "random"
    assert readings.targets_for("nearest") is None
    with pytest.raises(ValueError, match="reading must be one of"):
        readings.targets_for("all nine")
    assert readings.other_reading("random") == "nearest"
    assert readings.other_reading("nearest") == "random"


def test_every_reading_on_the_same_digits(tiny):
    model, x, y = tiny
    right = predict_labels(model, x) == y
    assert 0 < right.sum() < len(y)  # some digits are already misclassified
    out = readings.distortion_readings(model, x, y, seed=0)
    assert set(out) == set(readings.READINGS)
    for name, r in out.items():
        assert r["failed"] == 0, name
        # misclassified digits count as 0: the mean over all digits is the smaller
        ratio = len(y) / right.sum()
        assert r["correct_only"] == pytest.approx(r["misclassified_as_zero"] * ratio), name
    # the nearest wrong label is never farther than a random one, nor than the mean of all nine
    assert out["nearest"]["correct_only"] < out["random"]["correct_only"]
    assert out["nearest"]["correct_only"] < out["all nine"]["correct_only"]
    # a coarse c grid without pull-back leaves each digit past the boundary: never closer
    for base in (10, 2):
        assert out[f"random, c on powers of {base}"]["correct_only"] >= out["random"][
            "correct_only"
        ] * (1 - 1e-6)


def test_random_reading_matches_the_plain_search(tiny):
    model, x, y = tiny
    right = predict_labels(model, x) == y
    plain = minimal_distortion(model, x[right], y[right], "random", seed=3, progress=False)
    out = readings.distortion_readings(model, x, y, seed=3)
    assert out["random"]["correct_only"] == pytest.approx(float(np.mean(plain.distortion)))


def test_coarse_grid_takes_the_largest_successful_c(tiny):
    model, x, y = tiny
    right = predict_labels(model, x) == y
    xr, yr = x[right][:4], y[right][:4]
    t = (yr + 1) % 10
    d = readings.coarse_c_search(model, xr, yr, t, 10, range(-2, 2), progress=False)
    at_c = {
        k: minimal_distortion(
            model, xr, yr, t, c_init=10.0**k, c_steps=1, refine=0, kkt=False, progress=False
        )
        for k in range(-2, 2)
    }
    for i in range(len(xr)):
        wins = [k for k in range(-2, 2) if at_c[k].success[i]]
        assert d[i] == pytest.approx(at_c[max(wins)].distortion[i]) if wins else np.isnan(d[i])


def test_a_model_that_gets_nothing_right_is_refused(tiny):
    model, x, y = tiny
    wrong = (predict_labels(model, x) + 1) % 10
    with pytest.raises(ValueError, match="none of the digits"):
        readings.distortion_readings(model, x, wrong)


def test_table1_distortion_per_reading(tiny):
    from nbhelpers.attacks import search_correctly_classified

    model, x, y = tiny
    random = search_correctly_classified(model, x, y, "random", progress=False)
    nearest = search_correctly_classified(model, x, y, None, progress=False)
    assert readings.table1_distortion(random, "random") == random.mean_distortion()
    assert readings.table1_distortion(nearest, "nearest") == nearest.distortion_to_zero_accuracy()
    assert readings.table1_distortion(nearest, "nearest") < nearest.mean_distortion()
    with pytest.raises(ValueError):
        readings.table1_distortion(random, "all nine")


def test_closest_reading_orders_by_the_gap_to_the_paper():
    measured = {
        m: {r: {"correct_only": v} for r, v in zip(readings.READINGS, vals, strict=True)}
        for m, vals in {
            "A": (0.06, 0.03, 0.061, 0.07, 0.065),
            "B": (0.1, 0.05, 0.1, 0.2, 0.12),
        }.items()
    }
    gaps = readings.closest_reading(measured, {"A": 0.06, "B": 0.1})
    assert list(gaps)[0] == "random" and gaps["random"] == pytest.approx(0.0)
    assert list(gaps)[-1] == "nearest" and gaps["nearest"] == pytest.approx(np.log(2))


def test_readings_table_has_a_column_per_reading_and_the_papers():
    one = {"correct_only": 0.06, "misclassified_as_zero": 0.05, "failed": 1}
    measured = {"A": dict.fromkeys(readings.READINGS, one)}
    table = readings.readings_table(measured, {"A": 0.062})
    assert list(table.columns) == [
        *readings.READINGS,
        "random, misclassified as 0",
        "nearest, misclassified as 0",
        "failed",
        "paper",
    ]
    assert table.loc["A", "paper"] == 0.062 and table.loc["A", "failed"] == len(readings.READINGS)
    assert table.loc["A", "nearest, misclassified as 0"] == 0.05
