"""Unit tests of nbhelpers.attacks.regions: Gaussian probes around adversarial examples
(Tabacof and Valle 2016), on a linear model whose answer is known by hand."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers import attacks, plots  # noqa: E402
from nbhelpers.attacks.regions import LEVELS, RegionResult, probe_regions  # noqa: E402


@pytest.fixture(scope="module")
def lit_pixel_model():
    """784 -> 10 logits, logit k = 2 * pixel k: the brightest of pixels 0..9 is the class."""
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    w = np.zeros((784, 10), np.float32)
    w[np.arange(10), np.arange(10)] = 2.0
    model.layers[0].set_weights([w, np.zeros(10, np.float32)])
    return model


@pytest.fixture(scope="module")
def examples():
    """Digit k: pixel k at 0.7; its adversarial copy lights pixel (k + 3) % 10 at 1.0."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    x = np.zeros((len(labels), 784), np.float32)
    x[np.arange(len(labels)), labels] = 0.7
    x_adv = x.copy()
    x_adv[np.arange(len(labels)), (labels + 3) % 10] = 1.0
    return x, x_adv, labels


def test_small_noise_stays_large_noise_scatters(lit_pixel_model, examples):
    x, x_adv, labels = examples
    res = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=50, seed=1)
    assert isinstance(res, RegionResult) and res.n == len(x)
    assert res.adversarial.shape == res.original.shape == (len(x), len(LEVELS))
    assert np.all(res.adversarial + res.original <= 1)
    # distortion 1/28: 2^-5 of it moves a logit by ~0.003, the margin is 0.6
    assert np.all(res.adversarial[:, 0] == 1) and np.all(res.original[:, 0] == 0)
    # 2^5 of it (σ ≈ 1.1 per pixel) makes the class nearly a draw among ten
    assert res.adversarial[:, -1].mean() < 0.4
    assert res.original[:, -1].mean() > 0.02
    assert np.allclose(res.sigma, (1 / 28) * 2.0 ** np.array(LEVELS)[None, :])


def test_deterministic_and_independent_of_chunks(lit_pixel_model, examples):
    x, x_adv, labels = examples
    a = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=20, seed=3, chunk=1)
    b = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=20, seed=3, chunk=5)
    assert np.array_equal(a.adversarial, b.adversarial)
    assert np.array_equal(a.original, b.original)
    c = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=20, seed=4)
    assert not np.array_equal(a.adversarial, c.adversarial)


def test_clipped_probes(lit_pixel_model, examples):
    x, x_adv, labels = examples
    res = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=30, clip=True, levels=[0, 4])
    assert res.clip and list(res.levels) == [0, 4]
    # clipped noise can only raise the dark pixels 0..9: the lit ones still win more often
    unclipped = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=30, levels=[0, 4])
    assert res.adversarial[:, 1].mean() != unclipped.adversarial[:, 1].mean()


def test_curve_and_table(lit_pixel_model, examples):
    x, x_adv, labels = examples
    res = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=40)
    curve = res.curve("adversarial")
    assert np.array_equal(curve["level"], LEVELS)
    assert np.allclose(curve["mean"], res.adversarial.mean(axis=0))
    assert np.all(curve["low"] <= curve["mean"] + 1e-12)
    assert np.all(curve["mean"] <= curve["high"] + 1e-12)
    assert np.any(curve["high"] - curve["low"] > 0)
    table = res.table()
    assert len(table) == len(LEVELS) and table.index[0] == "2^-5"
    assert table["adversarial (%)"].iloc[0] == 100.0
    with pytest.raises(ValueError, match="which"):
        res.curve("third")
    fig = plots.curves(
        2.0 ** curve["level"], {"adversarial": curve["mean"]}, bands={"adversarial": (0, 1)}
    )
    assert len(fig.axes[0].lines) == 1


def test_bad_inputs_are_refused(lit_pixel_model, examples):
    x, x_adv, labels = examples
    with pytest.raises(ValueError, match="adversarial"):
        probe_regions(lit_pixel_model, x, x_adv, (labels + 3) % 10)
    with pytest.raises(ValueError, match="zero distortion"):
        probe_regions(lit_pixel_model, x, x, labels)
    with pytest.raises(ValueError, match="same shape"):
        probe_regions(lit_pixel_model, x, x_adv[:3], labels)
    with pytest.raises(ValueError, match="n_probes"):
        probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=0)
    with pytest.raises(ValueError, match="levels"):
        probe_regions(lit_pixel_model, x, x_adv, labels, levels=[])
    with pytest.raises(TypeError, match="clip"):
        probe_regions(lit_pixel_model, x, x_adv, labels, clip="no")


def test_result_is_read_only(lit_pixel_model, examples):
    x, x_adv, labels = examples
    res = probe_regions(lit_pixel_model, x, x_adv, labels, n_probes=5)
    with pytest.raises(ValueError):
        res.adversarial[0, 0] = 0.0
    assert attacks.regions.probe_regions is probe_regions
