"""Chapter "Across models": the claims its prose makes, checked on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book

MODELS = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")


@pytest.fixture(scope="module")
def results(chapter_results):
    return chapter_results("03_across_models")["results"]


def test_diagonal_is_full(results):
    for name in MODELS:
        assert results["matrix"][name][name] == 100.0, name


def test_adversarial_transfer_beats_larger_noise(results):
    adv_size = max(results["distortion"][name] for name in MODELS)
    for row, err in results["mean_noise_error"].items():
        assert results["distortion"][row] >= adv_size  # the noise is at least as large
        assert results["mean_adversarial_transfer"] > 1.5 * err, (
            row,
            err,
            results["mean_adversarial_transfer"],
        )
