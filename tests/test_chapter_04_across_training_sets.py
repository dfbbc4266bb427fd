"""Chapter "Across training sets": the claims its prose makes, checked on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def results(chapter_results):
    return chapter_results("04_across_training_sets")["results"]


def test_transfer_across_training_sets(results):
    s = results["summary"]
    assert all(v == 100.0 for v in s["diagonal"][:3])  # unmagnified: by construction
    assert min(s["diagonal"]) >= 95  # magnified and clipped: still the model's own
    assert s["same_training_set"] > s["other_training_set"]  # weaker across training sets
    assert s["transfer_magnified"] > s["transfer"] + 10  # magnification raises transfer
    assert s["transfer_magnified"] > 2 * s["noise_magnified"]  # far above noise of that size


def test_table3_each_model_fits_its_own_half(results):
    t3 = results["table3"]
    assert set(t3) == {"FC100-100-10", "FC123-456-10", "FC100-100-10'"}
    assert t3["FC100-100-10"]["p1_error"] < t3["FC100-100-10"]["p2_error"]  # trained on P1
    assert t3["FC100-100-10'"]["p2_error"] < t3["FC100-100-10'"]["p1_error"]  # trained on P2
