"""Chapter "How unstable is each layer?": the claims its prose makes, checked on its numbers."""

import math

import pytest

from nbhelpers import paper

pytestmark = pytest.mark.book

TABLE1_MODELS = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")


def test_formula_checked_against_the_truth(results):
    gaps = results["gaps"]
    assert gaps["cases"] == 24  # kernels 1, 3, 5, 11 × strides 1, 2, 4 × 'same', 'valid'
    assert gaps["formula_gap"] < 1e-6  # exact for the circular convolution
    assert gaps["printed_factor_matches_stride"]  # as printed: too small by Δ
    assert gaps["power_gap"] < 1e-2  # power iteration agrees with the dense matrix
    assert gaps["bound_slack"] > -1e-6  # never below the zero-padded truth
    assert 1 <= gaps["bound_ratio_median"] < 1.1 <= gaps["bound_ratio_max"] < 2
    worst = max(results["checks"], key=lambda r: r["bound"] / r["true_dense"])
    assert worst["kernel"] == 11  # "the worst being the large kernels"
    for case in results["checks"]:
        assert case["formula"] == pytest.approx(case["printed"] * case["stride"], rel=1e-9)


def test_the_stride_sentence_states_what_the_checks_found(results, page_text):
    """No bare True/False in the prose: the sentence says in words what the checks show."""
    said = "as printed it is smaller by exactly the stride in every case."
    assert (said in page_text) == results["gaps"]["printed_factor_matches_stride"]
    assert "stride: True" not in page_text and "stride: False" not in page_text


def test_table5_of_the_books_networks(results):
    tables = results["tables"]
    assert set(tables) == {"ConvNet", *TABLE1_MODELS}
    kinds = [row["kind"] for row in tables["ConvNet"]]
    assert kinds == ["conv", "max_pool", "conv", "max_pool", "dense", "dense"]
    for name, rows in tables.items():
        for row in rows:
            assert row["upper_bound"] >= row["true_norm"] * (1 - 1e-4), (name, row["layer"])
            if row["kind"] == "dense":  # exact
                assert row["true_norm"] == pytest.approx(row["upper_bound"], rel=1e-3)
    sigmoid = [r for r in tables["FC100-100-10"] if r["activation"] == "sigmoid"]
    assert len(sigmoid) == 2 and all(r["activation_bound"] == 0.25 for r in sigmoid)


def test_products(results, written):
    for name, row in results["products"].items():
        with_activations = row["product with activations"]
        assert with_activations <= row["product of bounds"] * (1 + 1e-9), name
        assert row["product of true norms"] <= with_activations * (1 + 1e-4), name
    fc = results["products"]["FC100-100-10"]
    assert fc["product with activations"] == pytest.approx(fc["product of bounds"] / 16)
    alexnet = math.prod(row["upper_bound"] for row in paper.TABLE5.values())
    assert written["paper"]["alexnet_product"] == pytest.approx(alexnet)
    assert written["paper"]["table5"] == paper.TABLE5


def test_vgg16_run_or_skipped_with_a_reason(results):
    if results["vgg16"] is None:
        assert "could not be" in results["vgg16_skipped"]
    else:
        assert len(results["vgg16"]) == 13 + 5 + 3


def test_amplification_within_the_bounds_and_the_prose(results):
    for name, summary in results["amplification"].items():
        kinds = {row["layer"]: row["kind"] for row in results["tables"][name]}
        for layer, cells in summary.items():
            assert cells["adversarial max"] <= cells["bound"] * (1 + 1e-3), (name, layer)
            assert cells["random max"] <= cells["bound"] * (1 + 1e-3), (name, layer)
            # "at every convolution and fully connected layer, adversarial perturbations are
            # amplified more than random ones of the same size"
            if kinds.get(layer) in ("conv", "dense"):
                assert cells["adversarial median"] > cells["random median"], (name, layer)
        layers = [cells for layer, cells in summary.items() if layer != "network"]
        # "at some layers they come close to the layer's bound"
        assert max(c["adversarial median"] / c["bound"] for c in layers) > 0.5, name
        net = summary["network"]
        assert net["bound"] > net["adversarial max"]  # the product stays above
        assert net["adversarial median"] > 2 * net["random median"]


def test_penalty_experiment(results, written):
    table = results["penalty"]
    strengths = [row["strength"] for row in table.values()]
    assert strengths == [0.0, *written["parameters"]["penalty_strengths"]]
    bounds = [row["bound"] for row in table.values()]
    assert bounds == sorted(bounds, reverse=True)  # "the penalty shrinks the product bound"
    for row in table.values():
        assert 0 <= row["test_error"] < 50
        assert 0 < row["distortion"] < 1


def test_the_paper_scale_layer_table_is_the_recordings(page_text, recorded_run, shows_recorded):
    """The smoke build shows the ConvNet's layer table of the recorded run."""
    if not shows_recorded:
        return
    assert "**At the paper's scale.** The ConvNet's layers" in page_text
    assert recorded_run.provenance["data"]["n_train"] == 60_000
    assert recorded_run.results["tables"]["ConvNet"][0]["layer"] == "conv1"


def test_no_recording_object_is_shown(page_text):
    """The cells that show the recorded run show its tables and note, not its Python repr."""
    assert "Recorded(stem=" not in page_text
