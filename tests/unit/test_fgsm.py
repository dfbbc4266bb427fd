"""Unit tests of nbhelpers.attacks.fgsm: the fast gradient sign method (Goodfellow et al. 2015).

The model is a softmax regression set by hand (class-mean templates, no training),
so its input gradient is known in closed form: ``W (softmax(Wᵀx + b) - onehot(y))``.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers import attacks  # noqa: E402
from nbhelpers.attacks.fgsm import (  # noqa: E402
    GOODFELLOW_2015,
    FGSMResult,
    distortion_ratio,
    fgsm,
    fgsm_sweep,
    linear_score_change,
    smallest_epsilon,
    smallest_step,
)
from nbhelpers.evaluate import predict_labels  # noqa: E402


@pytest.fixture(scope="module")
def digits(shuffled_digits):
    x, y = shuffled_digits
    return x[:300], y[:300]


def centroid_model(x, y, scale=1.0):
    """A softmax regression whose templates are the class means: logit_k = s(μ_k·x - |μ_k|²/2)."""
    import keras

    means = np.stack([x[y == k].mean(axis=0) for k in range(10)]).astype(np.float64)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    model.layers[0].set_weights(
        [
            (scale * means.T).astype(np.float32),
            (-scale * 0.5 * (means**2).sum(1)).astype(np.float32),
        ]
    )
    return model


@pytest.fixture(scope="module")
def setup(digits):
    x, y = digits
    model = centroid_model(x, y)
    right = predict_labels(model, x) == y
    assert right.mean() > 0.6
    return model, x[right][:60], y[right][:60]


def closed_form_gradient(model, x, targets):
    w, b = (np.asarray(v, np.float64) for v in model.layers[0].get_weights())
    z = x.astype(np.float64) @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(x)), targets] -= 1
    return p @ w.T


def agree_where_clear(x_adv, x, step, gradient):
    """``x_adv == clip(x + step·sign(gradient))`` on the pixels whose gradient is not ~0.

    (float32 rounding decides the sign of the others: confident digits have tiny gradients.)
    """
    clear = np.abs(gradient) > 1e-6
    expected = np.clip(x + step * np.sign(gradient), 0, 1)
    return clear.mean() > 0.3 and np.allclose(x_adv[clear], expected[clear], atol=1e-6)


def test_step_is_the_clipped_sign_of_the_gradient(setup):
    model, x, y = setup
    res = fgsm(model, x, y, 0.1)
    assert agree_where_clear(res.x_adv, x, 0.1, closed_form_gradient(model, x, y))
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert np.abs(res.x_adv - x).max() <= 0.1 + 1e-6
    assert np.array_equal(res.predicted, predict_labels(model, res.x_adv))
    assert np.array_equal(res.success, res.predicted != y)


def test_unclipped_step_leaves_the_box(setup):
    model, x, y = setup
    res = fgsm(model, x, y, 0.1, box=False)
    assert res.x_adv.min() < 0  # the background pixels pushed below 0
    moved = np.abs(res.x_adv - x)
    assert np.all(np.isclose(moved, 0.1, atol=1e-6) | (moved == 0))  # 0: a zero gradient


def test_zero_epsilon_changes_nothing(setup):
    model, x, y = setup
    res = fgsm(model, x, y, 0.0)
    assert np.array_equal(res.x_adv, x)
    assert res.error_rate == 0.0 and not res.success.any()
    assert np.all(res.distortion == 0)
    assert np.isnan(res.mean_confidence())


def test_sweep_matches_single_steps_and_error_grows(setup):
    model, x, y = setup
    epsilons = [0.0, 0.05, 0.1, 0.2, 0.5]
    sweep = fgsm_sweep(model, x, y, epsilons)
    for eps, res in zip(epsilons, sweep, strict=True):
        assert np.array_equal(res.x_adv, fgsm(model, x, y, eps).x_adv)
        assert np.all(res.epsilon == eps)
    errors = [r.error_rate for r in sweep]
    assert errors[0] == 0 and errors[-1] > 0.9
    assert all(a <= b + 0.05 for a, b in zip(errors, errors[1:], strict=False))


def test_confidence_is_the_softmax_of_the_wrong_class(setup):
    model, x, y = setup
    res = fgsm(model, x, y, 0.2)
    z = np.asarray(model(res.x_adv)).astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.allclose(res.confidence, p.max(1), atol=1e-5)
    wrong = res.predicted != y
    assert res.mean_confidence() == pytest.approx(p.max(1)[wrong].mean(), abs=1e-5)
    assert 0.1 < res.mean_confidence() <= 1


def test_targeted_step_descends_the_targets_loss(setup):
    model, x, y = setup
    targets = (y + 1) % 10
    res = fgsm(model, x, y, 0.15, targets=targets)
    assert agree_where_clear(res.x_adv, x, -0.15, closed_form_gradient(model, x, targets))
    assert np.array_equal(res.success, res.predicted == targets)
    assert res.success.any()
    with pytest.raises(ValueError, match="targets must differ"):
        fgsm(model, x, y, 0.1, targets=y)


def test_result_is_read_only_and_says_what_it_is(setup):
    model, x, y = setup
    res = fgsm(model, x, y, 0.1)
    assert isinstance(res, FGSMResult) and res.n == len(x)
    with pytest.raises(ValueError):
        res.x_adv[0, 0] = 0.5
    xs, xa, ys = res.successful()
    assert len(xs) == len(xa) == len(ys) == res.success.sum()
    assert "untargeted" in repr(res)


def test_deterministic(setup):
    model, x, y = setup
    assert np.array_equal(fgsm(model, x, y, 0.1).x_adv, fgsm(model, x, y, 0.1).x_adv)


def test_bad_inputs_are_refused(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="epsilons\\[0\\]"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(TypeError, match="epsilons\\[0\\]"):
        fgsm(model, x, y, "0.1")
    with pytest.raises(ValueError, match="labels"):
        fgsm(model, x, y[:-1], 0.1)
    with pytest.raises(ValueError, match="pixel values"):
        fgsm(model, x * 2, y, 0.1)
    with pytest.raises(TypeError, match="epsilons"):
        fgsm_sweep(model, x, y, [])
    with pytest.raises(ValueError, match="one per image"):
        fgsm(model, x, y, np.full(len(x) + 1, 0.1))


def test_smallest_step_finds_each_threshold():
    thresholds = np.array([0.013, 0.25, 0.4999, 0.7])
    found = smallest_step(lambda s: s >= thresholds, 4, high=0.5, grid=50, refine=12)
    assert np.allclose(found[:3], thresholds[:3], atol=0.5 / 50 / 2**12 + 1e-12)
    assert np.all(found[:3] >= thresholds[:3])
    assert np.isnan(found[3])  # nothing up to `high` flips it


def test_smallest_step_takes_the_first_flip_on_the_grid():
    # flips on [0.1, 0.2] and again from 0.4: the first interval is found
    found = smallest_step(lambda s: ((s >= 0.1) & (s <= 0.2)) | (s >= 0.4), 1, high=0.5)
    assert found[0] == pytest.approx(0.1, abs=1e-4)
    with pytest.raises(ValueError, match="high"):
        smallest_step(lambda s: s > 0, 1, high=0)


def test_smallest_epsilon_is_just_enough(setup):
    model, x, y = setup
    res = smallest_epsilon(model, x, y, high=0.5, grid=25, refine=10)
    ok = res.success
    assert ok.mean() > 0.9
    assert np.all(res.predicted[ok] != y[ok])
    assert np.array_equal(res.x_adv[ok], fgsm(model, x[ok], y[ok], res.epsilon[ok]).x_adv)
    # a clearly smaller step (half of it) leaves most digits with their label
    half = fgsm(model, x[ok], y[ok], res.epsilon[ok] / 2)
    assert half.error_rate < 0.5
    assert np.all(res.distortion[ok] <= res.epsilon[ok] + 1e-6)  # RMS <= max-norm
    assert np.all(np.isnan(res.epsilon[~ok]))
    assert np.array_equal(res.x_adv[~ok], x[~ok])


def test_linear_score_change_grows_with_dimension():
    dims = [10, 100, 1000, 10000]
    out = linear_score_change(dims, epsilon=0.25, seed=1)
    assert np.array_equal(out["dimension"], dims)
    worst, random = out["sign of w"], out["random sign"]
    assert np.all(worst >= random)
    # ε‖w‖₁ ≈ ε n √(2/π) for w ~ N(0, 1): linear in n
    assert np.allclose(worst / np.array(dims), 0.25 * np.sqrt(2 / np.pi), rtol=0.3)
    assert worst[-1] / random[-1] > 10  # √n apart at n = 10,000
    again = linear_score_change(dims, epsilon=0.25, seed=1)
    assert np.array_equal(again["random sign"], random)
    with pytest.raises(ValueError, match="dims"):
        linear_score_change([0])


def test_exported_and_cited():
    assert attacks.fgsm is fgsm and attacks.FGSMResult is FGSMResult
    assert GOODFELLOW_2015["shallow softmax, MNIST test set"] == {
        "epsilon": 0.25,
        "error": 99.9,
        "confidence": 79.3,
    }


def test_distortion_ratio_against_the_search(setup):
    model, x, y = setup
    minimal = attacks.minimal_distortion(model, x[:20], y[:20], None, seed=0)
    one_step = smallest_epsilon(model, x[:20], y[:20], grid=25, refine=10)
    out = distortion_ratio(minimal, one_step)
    both = minimal.success & one_step.success
    assert out["n"] == both.sum() > 10
    assert out["minimal"] == pytest.approx(minimal.distortion[both].mean())
    assert out["ratio_of_means"] == pytest.approx(out["one_step"] / out["minimal"])
    assert out["median_ratio"] > 1  # the minimal search is (nearly) never beaten by one step
    # the one-step attack on the searched digits only, aimed at the search's own targets
    wrong = np.array([3, 7])
    x_mixed, y_mixed = x[:20].copy(), y[:20].copy()
    y_mixed[wrong] = (y_mixed[wrong] + 1) % 10  # two digits the model now "misclassifies"
    mixed = attacks.search_correctly_classified(model, x_mixed, y_mixed, "random", seed=0)
    keep = ~mixed.already_wrong
    assert keep.sum() == 18
    aimed = smallest_epsilon(
        model, x_mixed[keep], y_mixed[keep], targets=mixed.requested[keep], grid=25
    )
    part = distortion_ratio(mixed, aimed)
    assert part["n"] == (mixed.success[keep] & aimed.success).sum()
    assert part["one_step_success"] == aimed.success.mean()
    with pytest.raises(ValueError, match="same images"):
        distortion_ratio(minimal, smallest_epsilon(model, x[20:40], y[20:40], grid=5))
