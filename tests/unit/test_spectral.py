"""nbhelpers.spectral: operator norms and Lipschitz bounds (§4.3), checked against the truth."""

import math

import numpy as np
import pytest

from nbhelpers import spectral
from nbhelpers.spectral import norms


def _keras_conv(kernel, stride, padding):
    import keras

    k = np.asarray(kernel, np.float32)
    return lambda x: keras.ops.conv(x, k, strides=stride, padding=padding)


def _kernel(k, c=2, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(k, k, c, d)) / k


# ---------------------------------------------------------------- dense


def test_dense_norm_is_the_largest_singular_value():
    w = np.random.default_rng(1).normal(size=(7, 5))
    assert spectral.dense_norm(w) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])
    assert spectral.dense_norm(np.diag([3.0, -4.0])) == pytest.approx(4.0)


# ---------------------------------------------------------------- convolution formula


def test_printed_formula_is_too_small_by_the_stride():
    """The reader's check: a 1×1 identity kernel of stride 4 has norm 1; as printed, 0.25."""
    identity = np.ones((1, 1, 1, 1))
    assert spectral.conv_norm_circular(identity, 4, 8) == pytest.approx(1.0)
    assert spectral.conv_norm_circular(identity, 4, 8, printed=True) == pytest.approx(0.25)
    assert spectral.dense_matrix_norm(_keras_conv(identity, 4, "valid"), (8, 8, 1)) == 1.0


@pytest.mark.parametrize(("k", "stride"), [(1, 1), (3, 1), (3, 2), (5, 4), (11, 4), (2, 2)])
def test_formula_is_exact_for_the_circular_convolution(k, stride):
    kernel = _kernel(k, seed=k + stride)
    n = 12 if k < 11 else 16
    exact = spectral.dense_matrix_norm(
        lambda x: spectral.circular_convolution(x, kernel, stride), (n, n, 2)
    )
    assert spectral.conv_norm_circular(kernel, stride, n) == pytest.approx(exact, rel=1e-6)


def test_frequency_grid_is_the_inputs_not_the_kernels():
    kernel = np.zeros((3, 3, 1, 1))
    kernel[0, 0], kernel[1, 0] = 1.0, -1.0  # a difference: |ŵ(ω)| = 2|sin(ω/2)|, largest at π
    on_input = spectral.conv_norm_circular(kernel, 1, 12)
    exact = spectral.dense_matrix_norm(
        lambda x: spectral.circular_convolution(x, kernel, 1), (12, 12, 1)
    )
    on_kernel = spectral.conv_norm_circular(kernel, 1, 3)  # the kernel's 3×3 grid misses π
    assert on_input == pytest.approx(exact, rel=1e-6) and exact == pytest.approx(2.0)
    assert on_kernel == pytest.approx(math.sqrt(3))


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(("k", "stride"), [(1, 4), (3, 1), (3, 2), (5, 2), (11, 1), (11, 4)])
def test_bound_holds_for_keras_zero_padded_convolution(k, stride, padding):
    kernel = _kernel(k, seed=2 * k + stride)
    op = _keras_conv(kernel, stride, padding)
    true = spectral.dense_matrix_norm(op, (16, 16, 2))
    bound = spectral.conv_upper_bound(kernel, stride, 16, padding)
    assert bound >= true * (1 - 1e-6)
    if k <= 5:  # and not loose, where the border is small beside the 16×16 input
        assert bound <= 1.3 * true


def test_bound_grid_covers_the_zero_border():
    assert spectral.conv_bound_grid(3, 1, 12, "valid") == (12, 12)
    assert spectral.conv_bound_grid(3, 1, 12, "same") == (14, 14)
    assert spectral.conv_bound_grid(11, 4, 24, "same") == (32, 32)  # padded 31, rounded to 4
    with pytest.raises(ValueError, match="smaller than the kernel"):
        spectral.conv_bound_grid(5, 1, 3, "valid")


def test_power_iteration_matches_the_dense_matrix():
    kernel = _kernel(5, seed=9)
    op = _keras_conv(kernel, 2, "same")
    true = spectral.dense_matrix_norm(op, (12, 12, 2))
    estimate = spectral.power_iteration(op, (12, 12, 2), iterations=2000, tol=0)
    assert estimate <= true * (1 + 1e-5)  # a lower bound ...
    assert estimate == pytest.approx(true, rel=1e-3)  # ... that converges
    assert spectral.power_iteration(op, (12, 12, 2), seed=3) == pytest.approx(true, rel=1e-2)


def test_dense_matrix_columns_are_the_operator_on_basis_images():
    w = np.arange(6.0).reshape(3, 2)
    m = spectral.dense_matrix(lambda x: x @ w.astype(np.float32), (3,))
    np.testing.assert_allclose(m, w.T)
    with pytest.raises(ValueError, match="more than"):
        spectral.dense_matrix(lambda x: x, (200, 200, 1))


def test_pool_bound():
    assert spectral.pool_bound(2) == 1.0
    assert spectral.pool_bound(2, 2) == 1.0
    assert spectral.pool_bound(3, 2) == pytest.approx(2.0)  # AlexNet's overlapping pool
    assert spectral.pool_bound((3, 1), (1, 1)) == pytest.approx(math.sqrt(3))


def test_check_grid_and_its_summary():
    records = spectral.check_grid(kernel_sizes=(1, 3), strides=(1, 2), size=8, iterations=200)
    assert len(records) == 8
    gaps = spectral.worst_gaps(records)
    assert gaps["formula_gap"] < 1e-6
    assert gaps["power_gap"] < 1e-2
    assert gaps["bound_slack"] > -1e-6
    assert gaps["printed_factor_matches_stride"]
    with pytest.raises(ValueError, match="multiple of every stride"):
        spectral.check_grid(strides=(4,), size=10)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="kernel must be a non-empty 4-d"):
        spectral.conv_norm_circular(np.ones((3, 3)), 1, 4)
    with pytest.raises(ValueError, match="grid must be multiples"):
        spectral.conv_norm_circular(np.ones((3, 3, 1, 1)), 2, 5)
    with pytest.raises(TypeError, match="stride"):
        spectral.conv_norm_circular(np.ones((3, 3, 1, 1)), 1.5, 6)
    with pytest.raises(ValueError, match="padding"):
        spectral.conv_upper_bound(np.ones((3, 3, 1, 1)), 1, 6, "full")
    with pytest.raises(ValueError, match="finite"):
        spectral.dense_norm(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="input_shape"):
        spectral.power_iteration(lambda x: x, 5)


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def small_convnet():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    h = layers.Reshape((8, 8, 1))(inputs)
    h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c1")(h)
    h = layers.MaxPooling2D(2, name="p1")(h)
    h = layers.Conv2D(3, 2, activation="tanh", name="c2")(h)
    h = layers.AveragePooling2D(1, name="a1")(h)
    h = layers.Flatten()(h)
    out = layers.Dense(5, activation="sigmoid", name="d1")(h)
    return keras.Model(inputs, out)


def test_layer_table_rows_bound_the_true_norms(small_convnet):
    rows = spectral.layer_table(small_convnet, iterations=1000)
    assert [r["layer"] for r in rows] == ["c1", "p1", "c2", "a1", "d1"]
    assert [r["kind"] for r in rows] == ["conv", "max_pool", "conv", "avg_pool", "dense"]
    c1 = rows[0]
    assert (c1["size"], c1["stride"], c1["input"]) == ("1×3×3×4", 2, "8×8×1")
    assert rows[-1]["activation_bound"] == 0.25 and rows[2]["activation"] == "tanh"
    kernel = np.asarray(small_convnet.get_layer("c1").kernel)
    exact = spectral.dense_matrix_norm(_keras_conv(kernel, 2, "same"), (8, 8, 1))
    assert c1["true_norm"] == pytest.approx(exact, rel=1e-3)
    for row in rows:
        assert row["upper_bound"] >= row["true_norm"] * (1 - 1e-4), row["layer"]
    product = np.prod([r["upper_bound"] * r["activation_bound"] for r in rows])
    assert spectral.model_bound(rows) == pytest.approx(product)
    assert spectral.model_bound(rows, activations=False) > spectral.model_bound(rows)


def test_amplification_is_capped_by_the_bounds(small_convnet):
    rows = spectral.layer_table(small_convnet, iterations=300)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 64)).astype(np.float32)
    r = spectral.same_size_random(rng.normal(size=(30, 64)) * 0.01, seed=1)
    amp = spectral.amplification(small_convnet, x, r)
    assert amp["layers"] == [row["layer"] for row in rows]
    assert amp["step"].shape == amp["total"].shape == (30, 5)
    caps = np.array([row["upper_bound"] * row["activation_bound"] for row in rows])
    assert np.all(np.nan_to_num(amp["step"]) <= caps * (1 + 1e-4))
    assert np.all(amp["total"][:, -1] <= spectral.model_bound(rows) * (1 + 1e-4))
    np.testing.assert_allclose(np.nanprod(amp["step"], axis=1), amp["total"][:, -1], rtol=1e-4)


def test_same_size_random_keeps_each_size():
    r = np.random.default_rng(0).normal(size=(4, 10)) * np.arange(1, 5)[:, None]
    g = spectral.same_size_random(r, seed=2)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), np.linalg.norm(r, axis=1), rtol=1e-5)
    assert not np.allclose(g, r)
    np.testing.assert_array_equal(g, spectral.same_size_random(r, seed=2))


def test_unknown_layer_is_a_clear_error():
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((4,)), layers.BatchNormalization(name="bn")])
    with pytest.raises(ValueError, match="layer 'bn' is a BatchNormalization"):
        spectral.layer_table(model)
    odd = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="elu", name="e")])
    with pytest.raises(ValueError, match="activation 'elu'"):
        spectral.layer_table(odd)
    with pytest.raises(TypeError, match="Keras model"):
        spectral.layer_table(object())


def test_vgg16_table_on_random_weights():
    """The code path of the chapter's ImageNet table, on VGG16's architecture untrained."""
    import keras

    keras.utils.set_random_seed(0)
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    rows = spectral.vgg16_table(vgg, 32, blocks=1, iterations=30)  # deeper blocks: minutes
    assert len(rows) == 2 + 1  # block 1: two convolutions, a max-pool, no top here
    assert rows[0]["size"] == "3×3×3×64" and rows[0]["input"] == "32×32×3"
    for row in rows:
        assert row["upper_bound"] >= row["true_norm"] * (1 - 1e-4), row["layer"]


def test_pretrained_vgg16_offline_says_why(monkeypatch):
    monkeypatch.setattr(
        "nbhelpers.data.network.reachable", lambda origin, timeout: (False, "offline")
    )
    model, why = spectral.pretrained_vgg16()
    assert model is None and "offline" in why


def test_pretrained_vgg16_without_dns_says_so_in_words(monkeypatch):
    raw = (
        "storage.googleapis.com:443 unreachable "
        "(gaierror: [Errno -3] Temporary failure in name resolution)"
    )
    monkeypatch.setattr("nbhelpers.data.network.reachable", lambda origin, timeout: (False, raw))
    model, why = spectral.pretrained_vgg16()
    assert model is None and "gaierror" not in why
    assert "no network (the name storage.googleapis.com did not resolve)" in why


# ---------------------------------------------------------------- the penalty


def test_spectral_penalty_value_and_gradient():
    import keras
    import tensorflow as tf

    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="a"), keras.layers.Dense(2, name="b")]
    )
    model.get_layer("a").kernel.assign(np.diag([3.0, 1.0])[[0, 1, 1]] * [1, 1])
    model.get_layer("b").kernel.assign(np.eye(2) * 2)
    with tf.GradientTape() as tape:
        value = spectral.spectral_penalty(model, 0.5)
    assert float(value) == pytest.approx(0.25 * (9 + 4), rel=1e-5)
    grad = tape.gradient(value, model.get_layer("b").kernel)
    assert np.linalg.norm(np.asarray(grad)) > 0
    with pytest.raises(ValueError, match="strength"):
        spectral.spectral_penalty(model, -1.0)


def test_trained_penalised_shrinks_the_norms_and_caches(embedded, tmp_path, monkeypatch):
    from nbhelpers.training import TrainingSettings

    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    data = embedded.subset(300, 50, seed=0)
    settings = TrainingSettings(method="adam", epochs=3)
    kw = dict(seed=0, settings=settings, progress=False, verbose=False)
    plain = spectral.trained_penalised("FC100-100-10", data, 0.0, **kw)
    strong, info = spectral.trained_penalised("FC100-100-10", data, 1.0, return_info=True, **kw)
    assert info["penalty"]["strength"] == 1.0
    assert spectral.model_bound(spectral.layer_table(strong, true_norms=False)) < (
        spectral.model_bound(spectral.layer_table(plain, true_norms=False))
    )
    again = spectral.trained_penalised("FC100-100-10", data, 1.0, **kw)  # from the cache
    for a, b in zip(strong.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="fully connected"):
        spectral.trained_penalised("ConvNet", data, 1.0, **kw)


def test_norms_module_is_independent_of_models():
    assert "models" not in norms.__dict__


def test_as_frame_writes_strides_as_the_paper_does(small_convnet):
    frame = spectral.as_frame(spectral.layer_table(small_convnet, true_norms=False))
    assert list(frame["stride"]) == ["2", "2", "1", "1", "—"]
    assert list(frame.index) == ["c1", "p1", "c2", "a1", "d1"]
    assert "upper bound" in frame.columns and "upper_bound" not in frame.columns
