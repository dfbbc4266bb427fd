"""nbhelpers.units: activations, top-k images of units and directions, purity, rotations (§3)."""

import numpy as np
import pytest

from nbhelpers import units
from nbhelpers.models import build


@pytest.fixture(scope="module")
def convnet():
    return build("ConvNet", seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((7, 784)).astype(np.float32)


# --------------------------------------------------------------------------- activations
def test_activations_of_a_dense_layer_match_a_submodel(images):
    import keras

    model = build("FC100-100-10", seed=0)
    acts = units.activations(model, "hidden2", images, batch_size=3)
    sub = keras.Model(model.input, model.get_layer("hidden2").output)
    assert acts.shape == (7, 100)
    np.testing.assert_allclose(acts, np.asarray(sub(images)), rtol=1e-6)


def test_activations_of_a_conv_layer_per_channel_or_flattened(convnet, images):
    import keras

    full = np.asarray(keras.Model(convnet.input, convnet.get_layer("conv1").output)(images))
    assert full.shape == (7, 26, 26, 32)
    for reduce, expected in (
        ("max", full.max(axis=(1, 2))),
        ("mean", full.mean(axis=(1, 2))),
        ("flatten", full.reshape(7, -1)),
    ):
        got = units.activations(convnet, "conv1", images, reduce=reduce, batch_size=4)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=reduce)


def test_activations_name_the_bad_parameter(convnet, images):
    with pytest.raises(ValueError, match=r"layer must be one of .*'conv1'.*got 'conv9'"):
        units.activations(convnet, "conv9", images)
    with pytest.raises(TypeError, match="layer must be a str"):
        units.activations(convnet, 1, images)
    with pytest.raises(ValueError, match="reduce must be one of"):
        units.activations(convnet, "conv1", images, reduce="sum")
    with pytest.raises(ValueError, match=r"x must have pixel values in \[0, 1\]"):
        units.activations(convnet, "conv1", images * 255)
    with pytest.raises(TypeError, match="model must be a Keras model"):
        units.activations("ConvNet", "conv1", images)
    assert units.layer_names(convnet)[-1] == "logits"


def test_live_units_are_those_that_vary():
    acts = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 3.0]])
    assert units.live_units(acts).tolist() == [False, False, True]


# --------------------------------------------------------------------------- directions
def test_random_directions_are_unit_vectors_and_reproducible():
    v = units.random_directions(50, 20, seed=3)
    assert v.shape == (20, 50)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1)
    np.testing.assert_array_equal(v, units.random_directions(50, 20, seed=3))
    assert not np.array_equal(v, units.random_directions(50, 20, seed=4))
    assert (v < 0).any()  # Gaussian: both signs
    assert (units.random_directions(50, 20, kind="uniform") >= 0).all()
    with pytest.raises(ValueError, match="kind must be one of"):
        units.random_directions(5, 2, kind="normal")
    with pytest.raises(ValueError, match="d must be >= 1"):
        units.random_directions(0, 2)


@pytest.mark.parametrize("d", [1, 2, 3, 7, 40])
def test_fractional_rotation_runs_from_identity_to_q(d):
    q = units.random_rotation(d, seed=d)
    assert np.linalg.det(q) == pytest.approx(1)
    np.testing.assert_allclose(units.fractional_rotation(q, 0), np.eye(d), atol=1e-9)
    np.testing.assert_allclose(units.fractional_rotation(q, 1), q, atol=1e-9)
    for alpha in (0.25, 0.5, 0.8):
        r = units.fractional_rotation(q, alpha)
        assert r.dtype == np.float64
        np.testing.assert_allclose(r.T @ r, np.eye(d), atol=1e-9)
    half = units.fractional_rotation(q, 0.5)
    np.testing.assert_allclose(half @ half, q, atol=1e-9)
    np.testing.assert_allclose(
        units.fractional_rotation(q, 0.3) @ units.fractional_rotation(q, 0.7), q, atol=1e-9
    )


def test_fractional_rotation_of_a_half_turn_and_a_plane_rotation():
    np.testing.assert_allclose(
        units.fractional_rotation(-np.eye(2), 0.5) @ units.fractional_rotation(-np.eye(2), 0.5),
        -np.eye(2),
        atol=1e-12,
    )
    theta = 0.6
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    half = units.fractional_rotation(rot, 0.5)
    np.testing.assert_allclose(half, [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])


def test_fractional_rotation_refuses_what_is_no_rotation():
    with pytest.raises(ValueError, match="determinant -1"):
        units.fractional_rotation(np.diag([1.0, -1.0]), 0.5)
    with pytest.raises(ValueError, match="q must be orthogonal"):
        units.fractional_rotation(np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="q must be a square matrix"):
        units.fractional_rotation(np.ones((2, 3)), 0.5)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        units.fractional_rotation(np.eye(2), "half")


# --------------------------------------------------------------------------- top-k and purity
def test_top_k_orders_images_by_projection_for_many_directions():
    acts = np.array([[1.0, 0.0], [3.0, 1.0], [2.0, 5.0], [0.0, 4.0]])
    top = units.top_k(acts, np.eye(2), 3)
    assert top.tolist() == [[1, 2, 0], [2, 3, 1]]
    v = np.array([[1.0, -1.0]]) / np.sqrt(2)
    assert units.top_k(acts, v, 2).tolist() == [[1, 0]]


def test_tied_at_top_counts_images_level_with_the_kth():
    acts = np.array([[1.0, 5.0], [1.0, 4.0], [1.0, 3.0], [0.0, 2.0]])
    assert units.tied_at_top(acts, 2).tolist() == [3, 2]
    assert units.tied_at_top(acts, 4).tolist() == [4, 4]
    with pytest.raises(ValueError, match="k must be >= 1 and <= 4"):
        units.tied_at_top(acts, 5)


def test_top_k_names_a_bad_k_or_direction():
    acts = np.zeros((4, 2))
    with pytest.raises(ValueError, match="k must be >= 1 and <= 4, got 5"):
        units.top_k(acts, np.eye(2), 5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        units.top_k(acts, np.eye(2), 0)
    with pytest.raises(TypeError, match="k must be an int"):
        units.top_k(acts, np.eye(2), 2.0)
    with pytest.raises(ValueError, match="directions must have 2 columns"):
        units.top_k(acts, np.eye(3), 2)
    with pytest.raises(ValueError, match="acts must be finite"):
        units.top_k(np.full((4, 2), np.nan), np.eye(2), 2)


def test_purity_and_entropy_of_label_sets():
    labels = np.array([0, 0, 1, 2, 3, 3])
    top = np.array([[0, 1, 2, 3], [0, 1, 4, 5], [0, 1, 0, 1]])
    np.testing.assert_allclose(units.purity(labels, top), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(units.label_entropy(labels, top), [1.5, 1.0, 0.0])
    assert units.dominant_labels(labels, top).tolist() == [0, 0, 0]
    assert units.dominant_labels(labels, np.array([[4, 5, 2], [2, 3, 4]])).tolist() == [3, 1]
    with pytest.raises(ValueError, match="top must index the 6 labels"):
        units.purity(labels, np.array([[0, 6]]))
    with pytest.raises(ValueError, match="top must be an int array"):
        units.purity(labels, np.array([0.0, 1.0]))


def test_random_sets_are_distinct_images():
    sets = units.random_sets(100, 10, 5, seed=1)
    assert sets.shape == (5, 10)
    assert all(len(set(s)) == 10 for s in sets)
    np.testing.assert_array_equal(sets, units.random_sets(100, 10, 5, seed=1))
    with pytest.raises(ValueError, match="k must be >= 1 and <= 100"):
        units.random_sets(100, 101, 5)


# --------------------------------------------------------------------------- statistics
def test_mean_ci_is_the_t_interval():
    ci = units.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert ci["mean"] == 2.5 and ci["n"] == 4
    assert ci["high"] - 2.5 == pytest.approx(3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2)
    with pytest.raises(ValueError, match="values must hold at least 2 finite numbers"):
        units.mean_ci([1.0])


def test_compare_samples_matches_welch_and_mann_whitney():
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(40) + 0.5
    got = units.compare_samples(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert (got["low"], got["high"]) == pytest.approx((ci.low, ci.high))
    assert got["p_mannwhitney"] == pytest.approx(stats.mannwhitneyu(a, b).pvalue)
    assert got["p_mannwhitney"] < 1e-4 and got["high"] < 0
    same = units.compare_samples(np.ones(5), np.ones(6))
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0, "p_mannwhitney": 1.0}


# --------------------------------------------------------------------------- one layer
def _clustered(n=600, d=10, seed=0):
    """Units each tuned to one class: a unit is pure, a random direction mixes classes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    acts = np.eye(10)[labels][:, :d] + 0.3 * rng.random((n, d))
    return np.c_[acts, np.zeros(n)], labels  # and a dead unit


def test_compare_layer_finds_pure_units_and_the_chance_baseline():
    acts, labels = _clustered()
    c = units.compare_layer(acts, labels, 20, seed=0)
    assert (c.n_units, c.n_live, c.k) == (11, 10, 20)
    assert set(c.purity) == {"units", "random directions", "uniform directions", "random images"}
    assert c.purity["units"].tolist() == [1.0] * 10
    assert c.purity["random images"].mean() < 0.4
    assert c.top["units"].shape == (10, 20)
    summary = c.summary()
    assert summary["units"]["purity"]["mean"] == 1.0
    assert summary["units"]["entropy"]["mean"] == 0.0
    assert summary["units"]["classes"] == 10  # each unit its own class
    assert summary["units"]["top_class_share"] == 0.1
    assert summary["units"]["top_class"] == 0  # a tie: the smallest class
    assert sorted(c.dominant["units"]) == list(range(10))
    test = c.test("units", "random images")
    assert test["purity"]["difference"] > 0.5 and test["purity"]["p_mannwhitney"] < 1e-3
    with pytest.raises(ValueError, match="a must be one of"):
        c.test("neurons")


def test_compare_layer_checks_its_inputs():
    acts, labels = _clustered()
    with pytest.raises(ValueError, match=r"labels must have shape \(600,\)"):
        units.compare_layer(acts, labels[:10], 5)
    with pytest.raises(ValueError, match="k must be >= 1 and <= 600"):
        units.compare_layer(acts, labels, 601)
    with pytest.raises(ValueError, match="at least one unit"):
        units.compare_layer(np.zeros((5, 3)), labels[:5], 2)


def test_rotation_sweep_starts_at_the_units_and_is_deterministic():
    acts, labels = _clustered()
    sweep = units.rotation_sweep(acts, labels, [0, 0.5, 1], 20, seed=1, n_rotations=2)
    assert sweep.purity.shape == (3, 20)
    np.testing.assert_array_equal(sweep.purity[0], 1.0)  # α = 0: the units themselves
    summary = sweep.summary()
    assert list(summary) == ["0", "0.5", "1"]
    assert summary["0"]["share_pure"] == 1.0
    assert summary["1"]["mean"] < summary["0"]["mean"]
    again = units.rotation_sweep(acts, labels, [0, 0.5, 1], 20, seed=1, n_rotations=2)
    np.testing.assert_array_equal(sweep.purity, again.purity)
    with pytest.raises(ValueError, match="alphas must be a finite number >= 0 and <= 1, got .*2"):
        units.rotation_sweep(acts, labels, [0, 2], 20)


# --------------------------------------------------------------------------- the chapter's figure
def test_histogram_panels_draw_one_panel_per_layer():
    import matplotlib

    matplotlib.use("Agg")
    from nbhelpers import plots

    rng = np.random.default_rng(0)
    panels = {f"layer {i}": {"units": rng.random(20), "directions": rng.random(30)} for i in "abcd"}
    fig = plots.histogram_panels(panels, bins=5, xlabel="purity", ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(panels)
    assert len(fig.axes) == 6  # two rows of three, the last two hidden
    heights = [p.get_xy()[:, 1].max() for p in visible[0].patches]
    assert max(heights) <= 1.0  # shares, not counts
    with pytest.raises(ValueError, match="value_range must be"):
        plots.histogram_panels(panels, value_range=(1, 0))
    with pytest.raises(TypeError, match="panels must be a non-empty dict"):
        plots.histogram_panels({})


def test_prose_helpers_say_what_the_numbers_say():
    assert units.verdict({"low": 0.1, "high": 0.3}) == "purer than"
    assert units.verdict({"low": -0.3, "high": -0.1}) == "less pure than"
    assert units.verdict({"low": -0.1, "high": 0.1}) == "as pure as"
    assert units.interval_text({"mean": 0.705, "low": 0.65, "high": 0.77}) == "0.70 [0.65, 0.77]"
    diff = {"difference": -0.2, "low": -0.3, "high": -0.1}
    assert units.interval_text(diff, "{:+.1f}") == "-0.2 [-0.3, -0.1]"
    text = units.picks_text({"classes": 4, "top_class_share": 0.6875})
    assert text == "4 classes, the most frequent in 69% of them"
    assert units.picks_text({"classes": 1, "top_class_share": 1.0}).startswith("1 class, ")
