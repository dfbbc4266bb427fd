"""Chapter "The models and the data": the claims of its prose, on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book

FC10 = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)")


@pytest.fixture(scope="module")
def table1(results):
    return results["table1"]


def test_reports_table1_on_the_embedded_digits(written, table1):
    assert written["data"]["is_full"] is False and "embedded" in written["data"]["source"]
    assert set(table1) == set(written["paper"]["table1"])
    for name, row in table1.items():
        assert 0 <= row["train_error"] <= 100 and 0 <= row["test_error"] <= 100, name


def test_hidden_layers_beat_softmax_regression(table1):
    best_fc10 = min(table1[n]["test_error"] for n in FC10)
    for deep in ("FC100-100-10", "FC200-200-10"):
        assert table1[deep]["test_error"] < best_fc10, deep


def test_weight_decay_raises_softmax_regressions_training_error(table1):
    errors = [table1[n]["train_error"] for n in FC10]
    assert errors[0] <= errors[1] < errors[2], errors


def test_gap_to_the_paper_is_the_larger_of_the_two_errors_gaps(written, results, table1):
    gap = results["gap_points"]
    assert set(gap) == set(table1)
    for name, row in table1.items():
        paper = written["paper"]["table1"][name]
        want = max(abs(row[k] - paper[k]) for k in ("train_error", "test_error"))
        assert gap[name] == pytest.approx(want), name
    assert written["parameters"]["method"] == "adam_lbfgs"
