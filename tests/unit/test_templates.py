"""Unit tests of nbhelpers.attacks.templates: fooling a softmax regression with its own
weight templates (Karpathy 2015)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers.attacks.templates import (  # noqa: E402
    fool_with_templates,
    linear_templates,
    roughness,
)
from nbhelpers.evaluate import predict_labels  # noqa: E402


@pytest.fixture(scope="module")
def setup(shuffled_digits):
    """A softmax regression with centred class-mean templates (nearest class mean) and the 40
    digits it gets right."""
    import keras

    x, y = (a[:300] for a in shuffled_digits)
    means = np.stack([x[y == k].mean(axis=0) for k in range(10)])
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    centred = means - means.mean(axis=0)  # the same classes: μ̄·x is common to all scores
    model.layers[0].set_weights([centred.T, -0.5 * (means**2).sum(1)])
    right = predict_labels(model, x) == y
    return model, (centred, -0.5 * (means**2).sum(1)), x[right][:40], y[right][:40]


def test_templates_are_the_weights(setup):
    model, (weights, biases), _, _ = setup
    w, b = linear_templates(model)
    assert w.shape == (10, 784) and b.shape == (10,)
    assert np.allclose(w, weights, atol=1e-6)
    assert np.allclose(b, biases, atol=1e-5)


def test_a_network_has_no_template():
    import keras

    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(5, activation="sigmoid"), keras.layers.Dense(10)]
    )
    with pytest.raises(ValueError, match="softmax regression"):
        linear_templates(model)


def test_roughness_tells_noise_from_smooth():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((5, 784))
    assert np.allclose(roughness(noise), 2.0, atol=0.15)
    yy, xx = np.mgrid[0:28, 0:28]
    smooth = np.exp(-((xx - 14) ** 2 + (yy - 14) ** 2) / 50.0).reshape(1, 784)
    assert roughness(smooth)[0] < 0.3
    assert roughness(np.ones((1, 784)))[0] == 0
    with pytest.raises(ValueError, match="templates"):
        roughness(np.ones((2, 100)))


def test_adding_the_template_fools(setup):
    model, _, x, y = setup
    targets = (y + 1) % 10
    res = fool_with_templates(model, x, y, targets, high=2.0)
    ok = res.success
    assert ok.mean() > 0.9
    assert np.array_equal(predict_labels(model, res.x_adv[ok]), targets[ok])
    assert np.all(res.distortion[ok] <= res.epsilon[ok] + 1e-6)  # clipping only shrinks
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    # half the step leaves most digits short of the target
    w, _ = linear_templates(model)
    unit = w / np.sqrt(np.mean(w**2, axis=1, keepdims=True))
    half = np.clip(x[ok] + (res.epsilon[ok] / 2)[:, None] * unit[targets[ok]], 0, 1)
    assert np.mean(predict_labels(model, half.astype(np.float32)) == targets[ok]) < 0.5


def test_too_small_a_budget_fools_none(setup):
    model, _, x, y = setup
    res = fool_with_templates(model, x, y, (y + 1) % 10, high=1e-4)
    assert not res.success.any()
    assert np.all(np.isnan(res.epsilon))
    assert np.array_equal(res.x_adv, x)


def test_bad_inputs_are_refused(setup):
    model, _, x, y = setup
    with pytest.raises(ValueError, match="targets must differ"):
        fool_with_templates(model, x, y, y)
    with pytest.raises(ValueError, match="high"):
        fool_with_templates(model, x, y, (y + 1) % 10, high=0)
    with pytest.raises(ValueError, match="targets"):
        fool_with_templates(model, x, y, (y + 1)[:5] % 10)
