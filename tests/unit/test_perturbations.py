"""Unit tests of nbhelpers.perturbations: distortion, Gaussian noise, magnification."""

import numpy as np
import pytest

from nbhelpers.perturbations import distortion, gaussian_noise, magnify


@pytest.fixture(scope="module")
def x(shuffled_digits):
    """12 embedded digits in [0, 1] (most pixels sit at 0 or 1)."""
    return shuffled_digits[0][:12]


def test_distortion_is_per_image_rms():
    x = np.zeros((2, 4), np.float32)
    x_adv = np.array([[1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]], np.float32)
    np.testing.assert_allclose(distortion(x, x_adv), [0.5, 0.5])
    assert np.isnan(distortion(x, np.full_like(x, np.nan))).all()
    with pytest.raises(ValueError, match="same shape"):
        distortion(x, x_adv[:1])


def test_distortion_is_computed_on_the_values_given():
    x = np.full((1, 3), 0.1, np.float64)  # 0.1 is not a float32
    x_adv = np.full((1, 3), 0.3, np.float64)
    assert distortion(x, x_adv)[0] == np.sqrt(np.mean((x_adv - x) ** 2))
    assert distortion(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)


def test_distortion_checks_its_images():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"x_adv must have pixel values in \[0, 1\]"):
        distortion(x, x + 2)
    with pytest.raises(ValueError, match=r"shape \(n, \.\.\.\)"):
        distortion(x[0], x[0])
    with pytest.raises(ValueError, match="x contains NaN"):
        distortion(np.full_like(x, np.nan), x)


def test_gaussian_noise_stddev_is_before_clipping(x):
    a = gaussian_noise(x, 0.1, seed=0)
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, gaussian_noise(x, 0.1, seed=0))
    assert not np.array_equal(a, gaussian_noise(x, 0.1, seed=1))
    mid = np.full((50, 784), 0.5, np.float32)  # no clipping: the noise's own stddev
    assert np.std(gaussian_noise(mid, 0.1, seed=0) - mid) == pytest.approx(0.1, rel=0.02)
    # on MNIST most pixels sit at 0 or 1, so clipping makes the realised stddev smaller
    assert np.std(a - x) < 0.1
    np.testing.assert_array_equal(gaussian_noise(x, 0.0), x)
    with pytest.raises(ValueError, match="stddev must be a finite number >= 0"):
        gaussian_noise(x, -0.1)
    with pytest.raises(TypeError, match="stddev must be a real number"):
        gaussian_noise(x, "0.1")
    with pytest.raises(TypeError, match="seed must be an int"):
        gaussian_noise(x, 0.1, seed=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gaussian_noise(x + 2, 0.1)


def test_gaussian_noise_unclipped_is_the_same_draw_outside_the_box(x):
    """clip=False: the same noise, not clipped; clipping is what greys the black background."""
    raw = gaussian_noise(x, 0.3, seed=4, clip=False)
    clipped = gaussian_noise(x, 0.3, seed=4)
    assert raw.dtype == np.float32 and raw.min() < 0 and raw.max() > 1
    np.testing.assert_array_equal(np.clip(raw, 0, 1), clipped)
    assert abs(float(np.mean(raw - x))) < 0.01  # zero-mean noise
    background = x == 0
    # clipped, a black pixel gets max(0, noise): mean 0.3 / sqrt(2 pi), about 0.12
    assert float(np.mean(clipped[background])) == pytest.approx(0.3 / np.sqrt(2 * np.pi), rel=0.05)
    with pytest.raises(TypeError, match="clip must be True or False"):
        gaussian_noise(x, 0.1, clip="no")


def test_magnify_sets_the_per_image_stddev(x):
    rng = np.random.default_rng(0)
    base = np.full((4, 784), 0.5, np.float32)
    x_adv = np.clip(base + rng.normal(0, 0.01, base.shape), 0, 1).astype(np.float32)
    m = magnify(base, x_adv, 0.1)
    np.testing.assert_allclose(np.std(m - base, axis=1), 0.1, rtol=0.03)  # no clipping here
    # the direction of each perturbation is kept
    r0, r1 = (x_adv - base)[0], (m - base)[0]
    assert np.dot(r0, r1) / np.linalg.norm(r0) / np.linalg.norm(r1) > 0.99
    # on real digits the rescaled images are clipped to the box afterwards
    xa = np.clip(x + rng.normal(0, 0.03, x.shape), 0, 1).astype(np.float32)
    mm = magnify(x, xa, 0.1)
    assert mm.min() >= 0 and mm.max() <= 1 and np.all(np.std(mm - x, axis=1) <= 0.1 + 1e-6)
    # failed rows (NaN) stay NaN
    xa[1] = np.nan
    out = magnify(x, xa, 0.1)
    assert np.isnan(out[1]).all() and not np.isnan(out[0]).any()
    with pytest.raises(ValueError, match="zero"):
        magnify(x, x.copy(), 0.1)
    with pytest.raises(ValueError, match="same shape"):
        magnify(x, xa[:3], 0.1)
    with pytest.raises(ValueError, match=r"x_adv must have pixel values in \[0, 1\]"):
        magnify(x, xa + 1, 0.1)
