"""The package's one exception policy, pinned once: wrong type TypeError, wrong value ValueError."""

import numpy as np
import pytest

from nbhelpers import _validation as v


@pytest.mark.parametrize("bad", ["3", 3.0, True, None, [3]])
def test_int_wrong_type_is_type_error_naming_the_parameter(bad):
    with pytest.raises(TypeError, match=r"n_search must be an int"):
        v.check_int(bad, "n_search", low=1)


def test_int_bounds_are_value_errors_and_none_only_when_allowed():
    assert v.check_int(np.int64(5), "k", low=1, high=5) == 5
    assert v.check_int(None, "k", allow_none=True) is None
    with pytest.raises(ValueError, match=r"k must be >= 1, got 0"):
        v.check_int(0, "k", low=1)
    with pytest.raises(ValueError, match=r"k must be >= 1 and <= 5, got 6"):
        v.check_int(6, "k", low=1, high=5)


def test_real_checks_type_finiteness_and_open_bounds():
    assert v.check_real(1, "c") == 1.0
    with pytest.raises(TypeError, match="c must be a real number"):
        v.check_real("1", "c")
    with pytest.raises(ValueError, match="finite"):
        v.check_real(float("nan"), "c")
    with pytest.raises(ValueError, match=r"c must be a finite number > 0, got 0"):
        v.check_real(0.0, "c", low=0, low_open=True)
    assert v.check_real(0.0, "c", low=0) == 0.0
    with pytest.raises(ValueError, match=r"< 1"):
        v.check_real(1.0, "f", high=1, high_open=True)


def test_seed_is_a_non_negative_int():
    assert v.check_seed(0) == 0
    with pytest.raises(TypeError):
        v.check_seed(1.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        v.check_seed(-1)


def test_bool_and_choice():
    assert v.check_bool(np.bool_(True), "progress") is True
    with pytest.raises(TypeError, match="progress must be True or False"):
        v.check_bool(1, "progress")
    assert v.check_choice("tfp", "method", ("tfp", "scipy")) == "tfp"
    assert v.check_choice(True, "jit", ("auto", True)) is True
    with pytest.raises(ValueError, match=r"method must be one of \('tfp', 'scipy'\), got 'x'"):
        v.check_choice("x", "method", ("tfp", "scipy"))
    with pytest.raises(ValueError):
        v.check_choice(1, "jit", ("auto", True))  # 1 is not True here


def test_images_in_the_box():
    x = v.check_images(np.zeros((2, 784)), "x", shape=(784,))
    assert x.dtype == np.float32
    with pytest.raises(TypeError, match="x must be an array of images"):
        v.check_images(object(), "x")
    with pytest.raises(ValueError, match=r"must be a batch"):
        v.check_images(np.zeros(784), "x")
    with pytest.raises(ValueError, match=r"shape \(n, 784\)"):
        v.check_images(np.zeros((2, 28, 28)), "x", shape=(784,))
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        v.check_images(np.full((1, 4), 255.0), "x")
    with pytest.raises(ValueError, match="NaN"):
        v.check_images(np.full((1, 4), np.nan), "x")
    with pytest.raises(ValueError, match="at least one image"):
        v.check_images(np.zeros((0, 4)), "x")
    rows = np.array([[np.nan, np.nan], [0.5, 1.0]])
    assert v.check_images(rows, "x_adv", allow_nan=True).shape == (2, 2)
    # box=False: outside [0, 1] is fine (unclipped noise), infinities and NaN are not
    assert v.check_images(np.array([[-0.4, 1.3]]), "x", box=False).dtype == np.float32
    with pytest.raises(ValueError, match="finite"):
        v.check_images(np.array([[-np.inf, 0.5]]), "x", box=False)
    with pytest.raises(ValueError, match="NaN"):
        v.check_images(np.array([[np.nan, 0.5]]), "x", box=False)


def test_labels():
    assert v.check_labels([1.0, 2.0], "y", n=2).dtype == np.int64
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        v.check_labels([1, 2], "y", n=3)
    with pytest.raises(TypeError, match="integer class indices"):
        v.check_labels([0.5, 1.0], "y")
    with pytest.raises(ValueError, match=r"y must lie in \[0, 9\]"):
        v.check_labels([0, 10], "y")


def test_names():
    assert v.check_names("a", "models", ["a", "b"]) == ["a"]
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['c'\]"):
        v.check_names(["a", "c"], "models", ["a", "b"])
    with pytest.raises(TypeError):
        v.check_names([1], "models", ["a"])


def test_str_and_mapping():
    assert v.check_str("x", "caption") == "x"
    assert v.check_str(None, "caption", allow_none=True) is None
    with pytest.raises(TypeError, match="caption must be a str, got int 3"):
        v.check_str(3, "caption")
    with pytest.raises(ValueError, match="non-empty"):
        v.check_str("  ", "chapter", non_empty=True)
    assert v.check_mapping({}, "results") == {}
    with pytest.raises(TypeError, match=r"pairs must be a dict \{row: model\}, got list"):
        v.check_mapping([], "pairs", what="a dict {row: model}")
    with pytest.raises(ValueError, match="models must hold at least one entry"):
        v.check_mapping({}, "models", non_empty=True)


def test_check_array_wants_a_finite_non_empty_array_of_its_dimensions():
    from nbhelpers._validation import check_array

    assert check_array([[1, 2]], "m", ndim=2).dtype == np.float64
    with pytest.raises(TypeError, match="m must be a non-empty 2-d array of numbers, got dict"):
        check_array({"a": 1}, "m", ndim=2)
    with pytest.raises(ValueError, match=r"m must be a non-empty 2-d array, got shape \(0, 3\)"):
        check_array(np.zeros((0, 3)), "m", ndim=2)
    with pytest.raises(ValueError, match=r"units must be \(n, d\), got shape \(3,\)"):
        check_array(np.zeros(3), "units", ndim=2, what="(n, d)")
    with pytest.raises(ValueError, match="m must be finite"):
        check_array([[np.inf]], "m", ndim=2)
