"""Chapter "Units and directions": the claims its prose makes, checked on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book

LAYERS = (
    "ConvNet conv1",
    "ConvNet conv1 (mean)",
    "ConvNet conv2",
    "ConvNet conv2 (mean)",
    "ConvNet fc",
    "FC100-100-10 hidden1",
    "FC100-100-10 hidden2",
)
KINDS = ("units", "random directions", "uniform directions", "random images")
PENULTIMATE = ("ConvNet fc", "FC100-100-10 hidden2")


@pytest.fixture(scope="module")
def layers(written):
    return written["results"]["layers"]


def purity(layers, name, kind):
    return layers[name]["summary"][kind]["purity"]["mean"]


def test_every_layer_measured_for_every_kind_of_set(layers, written):
    assert tuple(layers) == LAYERS
    k = written["parameters"]["k"]
    for name, layer in layers.items():
        assert set(layer["summary"]) == set(KINDS), name
        assert 0 < layer["n_live"] <= layer["n_units"], name
        for kind in KINDS:
            s = layer["summary"][kind]
            assert s["purity"]["n"] == layer["n_live"], (name, kind)  # one per live unit
            assert 1 / k <= s["purity"]["low"] <= s["purity"]["mean"] <= s["purity"]["high"]
            assert 1 <= s["classes"] <= 10
    assert written["parameters"]["conv_unit"].startswith("channel")


def test_units_are_never_purer_than_random_directions(layers):
    """The paper's claim, and 'in no layer are the units purer than random directions'."""
    for name, layer in layers.items():
        t = layer["units_vs_directions"]
        assert t["purity"]["low"] <= 0, name  # not significantly purer
        assert t["entropy"]["high"] >= 0, name  # nor of significantly lower entropy
        assert t["purity"]["difference"] == pytest.approx(
            purity(layers, name, "units") - purity(layers, name, "random directions")
        )


def test_convolutional_layers_random_directions_purer(layers):
    """'Where the two differ, the random directions are the purer ones': the conv layers."""
    for name in ("ConvNet conv1", "ConvNet conv2"):
        t = layers[name]["units_vs_directions"]["purity"]
        assert t["high"] < 0 and t["p_mannwhitney"] < 0.01, name


def test_random_directions_beat_random_digits_everywhere(layers):
    for name in LAYERS:
        assert purity(layers, name, "random directions") > purity(layers, name, "random images")


def test_penultimate_layers_pick_mostly_one_digit(layers):
    for name in PENULTIMATE:
        assert purity(layers, name, "units") > 0.5, name
        assert purity(layers, name, "random directions") > 0.5, name


def test_conv1_channels_close_to_label_blind_directions_pick_one_class(layers):
    conv1 = layers["ConvNet conv1"]["summary"]
    assert (
        purity(layers, "ConvNet conv1", "units")
        < purity(layers, "ConvNet conv1", "random images") + 0.1
    )
    assert conv1["random directions"]["top_class_share"] > conv1["units"]["top_class_share"]


def test_uniform_directions_pick_few_classes_in_later_layers(layers):
    """'All positive, they all pick much the same digits': fewer classes than Gaussian ones."""
    for name in ("ConvNet fc", "FC100-100-10 hidden1"):
        s = layers[name]["summary"]
        assert s["uniform directions"]["classes"] < s["random directions"]["classes"], name
        assert (
            s["uniform directions"]["top_class_share"] > s["random directions"]["top_class_share"]
        )


def test_rotation_sweep_runs_from_the_units_and_does_not_lose_purity(layers, written):
    """At α=0 the sweep measures the units; rotating does not cost what Bau et al. found."""
    alphas = [f"{a:g}" for a in written["parameters"]["alphas"]]
    for name, layer in layers.items():
        sweep = layer["sweep"]
        assert list(sweep) == alphas, name
        start, end = sweep[alphas[0]], sweep[alphas[-1]]
        assert start["mean"] == pytest.approx(purity(layers, name, "units"), abs=0.02), name
        assert end["mean"] >= start["mean"] - 0.05, name
        assert end["share_pure"] >= 0.5 * start["share_pure"], name  # no 80% drop


def test_convnet_in_the_papers_range_at_full_scale(written):
    errors = written["results"]["test_error"]
    assert set(errors) == {"ConvNet", "FC100-100-10"}
    if written["data"]["is_full"]:
        assert errors["ConvNet"] < 1.5  # "about 1%"
        assert errors["FC100-100-10"] < 2.5
    assert written["paper"]["numbers"] is None  # the paper shows pictures only
