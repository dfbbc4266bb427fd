"""The contract of nbhelpers.adversarial.minimal_distortion that the chapters rely on (§4.1)."""

import numpy as np
import pytest

from nbhelpers import adversarial
from nbhelpers.data import load_mnist
from nbhelpers.evaluate import predict_labels
from nbhelpers.training import TrainingSettings, train


@pytest.fixture(scope="module")
def setup():
    data = load_mnist("embedded", verbose=False).subset(600, 100, seed=0)
    model = train("FC10(1e-2)", data.x_train, data.y_train, settings=TrainingSettings(max_iterations=60)).model
    right = np.flatnonzero(predict_labels(model, data.x_test) == data.y_test)[:12]
    return model, data.x_test[right], data.y_test[right]


def test_targeted_contract(setup):
    model, x, y = setup
    t = (y + 3) % 10
    res = adversarial.minimal_distortion(model, x, y, targets=t, progress=False)
    assert res.x_adv.shape == x.shape and res.success.shape == (len(x),)
    ok = res.success
    assert ok.mean() >= 0.9
    assert np.all(res.x_adv[ok] >= 0) and np.all(res.x_adv[ok] <= 1)  # the box is exact
    assert np.array_equal(predict_labels(model, res.x_adv[ok]), t[ok])  # verified success
    assert np.array_equal(res.targets[ok], t[ok])
    np.testing.assert_allclose(res.distortion[ok], np.sqrt(np.mean((res.x_adv[ok] - x[ok]) ** 2, axis=1)), rtol=1e-5)
    assert np.all(np.isnan(res.x_adv[~ok])) and np.all(np.isnan(res.distortion[~ok]))


def test_batched_matches_reference(setup):
    """Same images and targets: the batched search is within 5% of per-image L-BFGS-B."""
    model, x, y = setup
    x, y = x[:6], y[:6]
    t = (y + 1) % 10
    fast = adversarial.minimal_distortion(model, x, y, targets=t, method="tfp", progress=False)
    ref = adversarial.minimal_distortion(model, x, y, targets=t, method="scipy", progress=False)
    both = fast.success & ref.success
    assert both.sum() >= 5
    assert np.mean(fast.distortion[both]) <= 1.05 * np.mean(ref.distortion[both])


def test_untargeted_reaches_a_wrong_label_no_farther_than_each_target(setup):
    model, x, y = setup
    x, y = x[:5], y[:5]
    un = adversarial.minimal_distortion(model, x, y, progress=False, untargeted_candidates=9)
    assert un.success.all()
    assert np.all(predict_labels(model, un.x_adv) != y) and np.all(un.targets != y)
    for shift in (1, 5):
        tg = adversarial.minimal_distortion(model, x, y, targets=(y + shift) % 10, progress=False)
        ok = tg.success
        assert np.all(un.distortion[ok] <= tg.distortion[ok] * 1.05)


def test_failure_is_reported_not_replaced(setup):
    model, x, y = setup
    res = adversarial.minimal_distortion(model, x[:4], y[:4], targets=(y[:4] + 2) % 10, progress=False, c_steps=1, max_iterations=1, c_init=1e6)
    assert (~res.success).any()
    bad = ~res.success
    assert np.all(np.isnan(res.x_adv[bad])) and np.all(res.targets[bad] == -1)


def test_deterministic(setup):
    model, x, y = setup
    a = adversarial.minimal_distortion(model, x[:4], y[:4], progress=False)
    b = adversarial.minimal_distortion(model, x[:4], y[:4], progress=False)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=np.full((2, 784), 1.5, np.float32)), r"\[0, 1\]"),
        (dict(labels=np.array([0, 11])), "label"),
        (dict(targets=np.array([3, 3]), labels=np.array([3, 4])), "differ"),
        (dict(method="adam"), "unknown method"),
    ],
)
def test_bad_input(setup, kwargs, match):
    model, x, y = setup
    args = dict(x=x[:2], labels=y[:2], targets=None, method="tfp")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        adversarial.minimal_distortion(model, args["x"], args["labels"], targets=args["targets"], method=args["method"], progress=False)


def test_noise_and_magnify(setup):
    _, x, _ = setup
    n = adversarial.gaussian_noise(x, 0.1, seed=0)
    assert n.min() >= 0 and n.max() <= 1 and n.shape == x.shape
    np.testing.assert_array_equal(n, adversarial.gaussian_noise(x, 0.1, seed=0))
    x_adv = np.clip(x + 0.01, 0, 1)
    m = adversarial.magnify(x, x_adv, 0.1)
    assert m.min() >= 0 and m.max() <= 1
    assert np.all(adversarial.distortion(x, m) > adversarial.distortion(x, x_adv))


def test_successes_hold_under_keras_own_predict(setup):
    """Refined examples are left just past the boundary, so any forward pass agrees on them."""
    model, x, y = setup
    res = adversarial.minimal_distortion(model, x, y, progress=False)
    ok = res.success
    for batch in (1, 5, 2048):
        pred = np.concatenate([np.argmax(model.predict(res.x_adv[ok][i : i + batch], verbose=0), axis=1) for i in range(0, ok.sum(), batch)])
        assert np.all(pred != y[ok]), batch
