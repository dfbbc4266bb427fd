"""Chapter "Blind spots": the claims its prose makes, checked on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def results(chapter_results):
    return chapter_results("02_blind_spots")["results"]


def test_every_adversarial_example_is_misclassified(results):
    figure7 = results["figure7"]
    assert all(figure7["adversarial_success"]) and figure7["adversarial_correct"] == 0
    assert all(results["one_digit"]["success"])
    for name, row in results["table1"].items():
        assert row["n_success"] > 0, name
        assert row["accuracy_adversarial"] == 0.0, name
        assert row["n_failed"] <= 0.05 * row["n_correct"], (
            f"{name}: {row['n_failed']} of {row['n_correct']} searches failed"
        )


def test_noise_of_larger_stddev_is_mostly_harmless(results):
    """The prose: noise as large as the adversarial perturbations barely moves the models,
    and three times as large still leaves most digits correctly classified."""
    for name, row in results["table1"].items():
        assert row["accuracy_noise_same_stddev"] >= 95, name
        assert row["accuracy_noise_3x_stddev"] >= 80, name


def test_table1_distortions(chapter_results, results):
    assert set(results["table1"]) == set(chapter_results("02_blind_spots")["paper"]["table1"])
    d = {n: row["distortion_to_zero_accuracy"] for n, row in results["table1"].items()}
    assert all(0 < v < 0.3 for v in d.values()), d
    # The prose compares the FC10 models' order with the paper's: stronger decay, larger distortion.
    assert d["FC10(1e-4)"] < d["FC10(1e-2)"] < d["FC10(1)"]
