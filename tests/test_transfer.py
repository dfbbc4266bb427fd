"""Transfer matrices (Tables 2 and 4) on models whose answers are known by construction."""

import numpy as np
import pytest

from nbhelpers.models import build
from nbhelpers.transfer import mean_transfer, off_diagonal, rows_mean, transfer_matrix


def constant_model(label):
    """A softmax regression that answers `label` for every image (zero weights, one bias)."""
    m = build("FC10(1)")
    w, b = m.get_weights()
    b = np.zeros_like(b)
    b[label] = 5.0
    m.set_weights([np.zeros_like(w), b])
    return m


@pytest.fixture(scope="module")
def models():
    return {"says0": constant_model(0), "says1": constant_model(1)}


def test_cells_are_error_rates_in_percent(models):
    x = np.full((4, 784), 0.5, np.float32)
    y = np.array([0, 0, 0, 1])
    m = transfer_matrix({"row": (x, y)}, models)
    assert list(m.columns) == ["says0", "says1"] and list(m.index) == ["row"]
    assert m.loc["row", "says0"] == pytest.approx(25.0)
    assert m.loc["row", "says1"] == pytest.approx(75.0)


def test_off_diagonal_and_means(models):
    x = np.zeros((2, 784), np.float32)
    m = transfer_matrix(
        {
            "for says0": (x, np.array([1, 1])),
            "for says1": (x, np.array([0, 1])),
            "noise": (x, np.array([0, 0])),
        },
        models,
    )
    pairs = {"for says0": "says0", "for says1": "says1"}
    assert m.loc["for says0", "says0"] == 100.0
    assert off_diagonal(m, pairs) == [0.0, 50.0]
    assert off_diagonal(m, pairs, keep=lambda own, col: own == "says1") == [50.0]
    assert off_diagonal(m, pairs, keep=lambda own, col: False) == []
    assert mean_transfer(m, pairs) == pytest.approx(25.0)
    assert rows_mean(m, ["noise"]) == pytest.approx(50.0)
    assert rows_mean(m, ["noise"], ["says1"]) == pytest.approx(100.0)


def test_bad_rows_are_clear_errors(models):
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        transfer_matrix({"r": (x, np.array([0, 1, 2]))}, models)
    with pytest.raises(ValueError, match="NaN"):
        transfer_matrix({"r": (np.full((1, 784), np.nan, np.float32), np.array([0]))}, models)
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        transfer_matrix({"r": (x + 2, np.array([0, 1]))}, models)
    with pytest.raises(ValueError, match="no images"):
        transfer_matrix({"r": (x[:0], np.array([], int))}, models)
    with pytest.raises(ValueError, match="at least one model"):
        transfer_matrix({"r": (x, np.array([0, 1]))}, {})
    m = transfer_matrix({"r": (x, np.array([0, 1]))}, models)
    with pytest.raises(ValueError, match="expected row 'missing'"):
        off_diagonal(m, {"missing": "says0"})
