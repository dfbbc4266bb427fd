"""Unit tests of nbhelpers.attacks: the minimal-distortion search (§4.1) and its result.

A tiny sigmoid network (784-32-10) is trained once per module on 1,000 embedded
digits; every property is checked on the model's own forward pass.
"""

import dataclasses
import logging
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers import attacks  # noqa: E402
from nbhelpers.attacks import (  # noqa: E402
    AdversarialResult,
    SearchOptions,
    minimal_distortion,
    search_correctly_classified,
)
from nbhelpers.evaluate import predict_labels  # noqa: E402
from nbhelpers.perturbations import distortion  # noqa: E402


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
def digits(shuffled_digits):
    """1,200 embedded digits: 1,000 to train on, 200 held out."""
    x, y = shuffled_digits
    return x[:1200], y[:1200]


@pytest.fixture(scope="module")
def trained(digits):
    """The tiny model and the 200 held-out digits."""
    import keras

    x, y = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(32, activation="sigmoid"), keras.layers.Dense(10)]
    )
    _train(model, x[:1000], y[:1000], epochs=8)
    return model, x[1000:], y[1000:]


@pytest.fixture(scope="module")
def setup(trained):
    model, xt, yt = trained
    right = np.flatnonzero(predict_labels(model, xt) == yt)[:12]
    assert len(right) == 12
    return model, xt[right], yt[right]


def targets_of(y, shift):
    return (y + shift) % 10


def fresh_copy(model):
    """The same network as a new Keras object (it shares the compiled functions of its
    architecture, see `test_models_of_one_architecture_share_one_compilation`)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


# ----------------------------------------------------------------------------------
# the targeted search


def test_targeted_result_contract(setup):
    model, x, y = setup
    t = targets_of(y, 3)
    res = minimal_distortion(model, x, y, targets=t, progress=False)
    n = len(x)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == np.float32
    for name in ("distortion", "success", "targets", "c", "evaluations", "already_wrong"):
        assert getattr(res, name).shape == (n,), name
    assert res.success.all() and not res.already_wrong.any()
    # the box is exact: every returned pixel lies in [0, 1]
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    # success is the model's own verdict on the returned images
    assert np.array_equal(predict_labels(model, res.x_adv), t)
    assert np.array_equal(res.targets, t) and np.array_equal(res.requested, t)
    # the originals are kept
    np.testing.assert_array_equal(res.x, x)
    # distortion is the per-pixel RMS of the perturbation
    np.testing.assert_allclose(
        res.distortion, np.sqrt(np.mean((res.x_adv - x) ** 2, axis=1)), rtol=1e-5
    )
    np.testing.assert_allclose(res.distortion, distortion(x, res.x_adv), rtol=1e-6)
    assert np.all(res.distortion > 0) and np.all(res.c > 0) and np.all(res.evaluations > 0)
    assert res.total_evaluations >= res.evaluations.sum() and res.seconds > 0
    assert res.mean_distortion() == pytest.approx(res.distortion.mean())
    assert res.distortion_to_zero_accuracy() == pytest.approx(res.distortion.mean())
    assert res.n == n and res.n_failed == 0
    assert "12/12" in res.summary() and "targeted" in repr(res)


def test_batched_matches_reference(setup):
    """Same images and targets: the batched search is within 5% of per-image L-BFGS-B."""
    model, x, y = setup
    t = targets_of(y, 1)
    fast = minimal_distortion(model, x, y, targets=t, method="tfp", progress=False)
    ref = minimal_distortion(model, x, y, targets=t, method="scipy", progress=False)
    assert fast.success.all() and ref.success.all()
    assert np.array_equal(predict_labels(model, ref.x_adv), t)
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
    assert np.array_equal(predict_labels(model, small.x_adv), t)
    assert small.mean_distortion() <= 1.05 * full.mean_distortion()


def test_xla_compiled_optimizer(setup):
    model, x, y = setup
    t = targets_of(y[:8], 6)
    res = minimal_distortion(model, x[:8], y[:8], targets=t, jit_compile=True, progress=False)
    ref = minimal_distortion(model, x[:8], y[:8], targets=t, progress=False)
    assert res.success.all() and res.info["jit_compile"] is True
    assert np.array_equal(predict_labels(model, res.x_adv), t)
    assert res.mean_distortion() <= 1.05 * ref.mean_distortion()


def test_options_object_and_keywords_agree(setup):
    """``options=SearchOptions(...)`` and the same settings as keywords give the same search."""
    model, x, y = setup
    t = targets_of(y[:4], 3)
    a = minimal_distortion(
        model, x[:4], y[:4], targets=t, options=SearchOptions(kkt=False), progress=False
    )
    b = minimal_distortion(model, x[:4], y[:4], targets=t, kkt=False, progress=False)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    # keywords change the options given
    c = minimal_distortion(
        model, x[:4], y[:4], targets=t, options=SearchOptions(kkt=False), kkt=True, progress=False
    )
    d = minimal_distortion(model, x[:4], y[:4], targets=t, progress=False)
    np.testing.assert_array_equal(c.x_adv, d.x_adv)


# ----------------------------------------------------------------------------------
# compiled functions: traced once per architecture, never retraced


def _count_traces(monkeypatch):
    """Count the graph builds: `boundary_fraction` runs once in every trace of each function."""
    from nbhelpers.attacks import boundary, solver

    calls = {"n": 0}
    original = boundary.boundary_fraction

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(boundary, "boundary_fraction", counting)
    monkeypatch.setattr(solver, "boundary_fraction", counting)
    return calls


@pytest.mark.parametrize("jit_compile", ["objective", True])
def test_no_retracing_across_batch_sizes(setup, monkeypatch, caplog, jit_compile):
    """Calls 2 and 3 on the same model with other batch sizes trace nothing new."""
    model, x, y = setup
    attacks.forget_compiled()  # this architecture's functions were compiled by earlier tests
    calls = _count_traces(monkeypatch)
    kw = dict(progress=False, jit_compile=jit_compile)
    minimal_distortion(model, x[:3], y[:3], targets=targets_of(y[:3], 1), **kw)
    assert calls["n"] == 2  # the optimizer call and the final pull-back, once each
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        minimal_distortion(model, x[:7], y[:7], targets=targets_of(y[:7], 2), **kw)
        minimal_distortion(model, x[:2], y[:2], **kw)  # untargeted, another size again
    assert calls["n"] == 2
    assert "retracing" not in caplog.text


def _perturbed(model, scale, seed):
    """A model of the same architecture with other weights (each weight moved by noise)."""
    other = fresh_copy(model)
    rng = np.random.default_rng(seed)
    other.set_weights([w + scale * rng.normal(size=w.shape) for w in model.get_weights()])
    return other


def test_models_of_one_architecture_share_one_compilation(setup, monkeypatch):
    """A second model of an architecture traces nothing, and each model is searched with its
    own weights: the shared functions give what a search compiled for the model alone gives."""
    model, x, y = setup
    other = _perturbed(model, 0.3, 1)
    kw = dict(targets=targets_of(y[:5], 3), progress=False)
    attacks.forget_compiled()
    alone = minimal_distortion(other, x[:5], y[:5], **kw)
    attacks.forget_compiled()
    calls = _count_traces(monkeypatch)
    first = minimal_distortion(model, x[:5], y[:5], **kw)
    traced = calls["n"]
    shared = minimal_distortion(other, x[:5], y[:5], **kw)
    again = minimal_distortion(model, x[:5], y[:5], **kw)
    assert traced == 2 and calls["n"] == traced  # nothing traced for the second model
    np.testing.assert_array_equal(shared.x_adv, alone.x_adv)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    assert not np.array_equal(shared.x_adv, first.x_adv)  # other weights, other answers
    assert np.array_equal(predict_labels(other, shared.x_adv), kw["targets"])


def test_the_shared_template_never_touches_the_callers_models(setup):
    """The weights are copied into a clone, never from one caller's model into another's."""
    model, x, y = setup
    other = _perturbed(model, 0.3, 2)
    before = [w.copy() for w in model.get_weights()]
    minimal_distortion(other, x[:3], y[:3], progress=False)
    minimal_distortion(model, x[:3], y[:3], progress=False)
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)


def test_architecture_names_the_structure_not_the_instance(setup):
    """Clones and retrained copies have one architecture; another width has another."""
    import keras

    from nbhelpers.attacks._compiled import architecture

    model, _, _ = setup
    wider = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(33, activation="sigmoid"), keras.layers.Dense(10)]
    )
    assert architecture(fresh_copy(model)) == architecture(_perturbed(model, 1.0, 3))
    assert architecture(model) == architecture(fresh_copy(model))
    assert architecture(wider) != architecture(model)


def test_a_model_the_template_does_not_reproduce_keeps_its_own_functions(setup):
    """Same configuration, different computation (a subclass's own call): no sharing."""
    import keras

    from nbhelpers.attacks import _compiled

    model, x, y = setup

    class Doubled(keras.Sequential):
        def call(self, inputs, training=None, mask=None):
            return 2.0 * super().call(inputs, training=training, mask=mask)

    doubled = Doubled(
        [keras.Input((784,)), keras.layers.Dense(32, activation="sigmoid"), keras.layers.Dense(10)]
    )
    doubled.set_weights(model.get_weights())
    assert _compiled._template(doubled) is doubled
    res = minimal_distortion(doubled, x[:3], y[:3], targets=targets_of(y[:3], 4), progress=False)
    assert np.array_equal(predict_labels(doubled, res.x_adv), targets_of(y[:3], 4))


def test_no_retracing_warning_across_models(setup, caplog):
    """A chapter searches six models in a row: TensorFlow sees no retracing to warn about."""
    model, x, y = setup
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(7):
            minimal_distortion(fresh_copy(model), x[:2], y[:2], progress=False)
    assert "retracing" not in caplog.text


# ----------------------------------------------------------------------------------
# untargeted, failures, other input shapes


def test_untargeted_is_no_farther_than_any_target(setup):
    model, x, y = setup
    x, y = x[:6], y[:6]
    un = minimal_distortion(model, x, y, untargeted_candidates=9, progress=False)
    assert un.success.all() and un.requested is None
    pred = predict_labels(model, un.x_adv)
    assert np.all(pred != y) and np.array_equal(pred, un.targets)
    for shift in (1, 5, 8):
        tg = minimal_distortion(model, x, y, targets=targets_of(y, shift), progress=False)
        ok = tg.success
        # the exact untargeted search tries every wrong class, this one included
        assert np.all(un.distortion[ok] <= tg.distortion[ok] * 1.02), shift
    short = minimal_distortion(model, x, y, untargeted_candidates=2, progress=False)
    assert short.success.all() and np.all(predict_labels(model, short.x_adv) != y)
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
    with pytest.warns(UserWarning, match="6 of 6"):
        assert np.isnan(res.distortion_to_zero_accuracy())
    assert "6 failed" in res.summary() and res.n_failed == 6
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
    success, dist = res.success.copy(), res.distortion.copy()
    success[0], dist[0] = False, np.nan
    res = dataclasses.replace(res, success=success, distortion=dist)
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
    keep = predict_labels(model, xi) == yi
    xi, yi = xi[keep], yi[keep]
    t = targets_of(yi, 1)
    res = minimal_distortion(model, xi, yi, targets=t, progress=False)
    assert res.x_adv.shape == xi.shape and res.x.shape == xi.shape
    assert res.success.all()
    assert np.array_equal(predict_labels(model, res.x_adv), t)
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    np.testing.assert_allclose(res.distortion, distortion(xi, res.x_adv), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(n, 28, 28, 1\)"):
        minimal_distortion(model, xi.reshape(len(xi), 784), yi, targets=t, progress=False)


# ----------------------------------------------------------------------------------
# the whole set: search_correctly_classified and Table 1's distortion


@pytest.fixture(scope="module")
def mixed(trained):
    """10 digits the model gets right and 2 it gets wrong, interleaved."""
    model, xt, yt = trained
    pred = predict_labels(model, xt)
    right, wrong = np.flatnonzero(pred == yt)[:10], np.flatnonzero(pred != yt)[:2]
    assert len(wrong) == 2
    idx = np.concatenate([right[:3], wrong[:1], right[3:8], wrong[1:], right[8:]])
    return model, xt[idx], yt[idx]


def test_search_correctly_classified_skips_the_wrong(mixed):
    model, x, y = mixed
    res = search_correctly_classified(model, x, y, progress=False)
    wrong = predict_labels(model, x) != y
    assert res.n == 12 and np.array_equal(res.already_wrong, wrong)
    assert res.success[~wrong].all() and not res.success[wrong].any()
    assert res.n_failed == 0 and res.n_searched == 10  # the already wrong are not failures
    # already wrong: the image itself, distortion 0, the model's own class
    np.testing.assert_array_equal(res.x_adv[wrong], x[wrong])
    assert np.all(res.distortion[wrong] == 0.0) and np.all(res.evaluations[wrong] == 0)
    np.testing.assert_array_equal(res.targets[wrong], predict_labels(model, x[wrong]))
    np.testing.assert_array_equal(res.x, x)
    # the searched rows are those minimal_distortion gives on the right ones
    alone = minimal_distortion(model, x[~wrong], y[~wrong], progress=False)
    np.testing.assert_array_equal(res.x_adv[~wrong], alone.x_adv)
    np.testing.assert_array_equal(res.distortion[~wrong], alone.distortion)
    # the whole attacked set is misclassified: accuracy 0
    assert np.all(predict_labels(model, res.x_adv) != y)
    assert "2 misclassified already" in res.summary()


def test_distortion_to_zero_accuracy_is_table1s_definition(mixed):
    """As chapter 2 computed it: zeros for the wrong, the distortion for the right, NaN failed."""
    model, x, y = mixed
    t = targets_of(y, 3)
    res = search_correctly_classified(model, x, y, targets=t, progress=False)
    right = ~res.already_wrong
    # one failed search, by hand: its distortion NaN, its success False
    first = np.flatnonzero(right)[0]
    success, dist = res.success.copy(), res.distortion.copy()
    success[first], dist[first] = False, np.nan
    res = dataclasses.replace(res, success=success, distortion=dist)
    d_all = np.zeros(len(x))
    d_all[right] = dist[right]  # NaN where the search failed
    with pytest.warns(UserWarning, match="1 of 10"):
        assert res.distortion_to_zero_accuracy() == np.nanmean(d_all)
    assert res.n_failed == 1
    # the failure is left out of the mean, never averaged in
    expected = dist[right & success].sum() / (len(x) - 1)
    assert res.distortion_to_zero_accuracy(warn=False) == pytest.approx(expected)
    assert res.mean_distortion(warn=False) == pytest.approx(np.mean(dist[success]))
    assert np.array_equal(res.requested[right], t[right]) and np.all(res.requested[~right] == -1)


def test_successful_rows(mixed):
    model, x, y = mixed
    res = search_correctly_classified(model, x, y, progress=False)
    xs, xa, ls = res.successful()
    ok = res.success
    assert len(xs) == ok.sum() == 10
    np.testing.assert_array_equal(xs, x[ok])
    np.testing.assert_array_equal(xa, res.x_adv[ok])
    np.testing.assert_array_equal(ls, y[ok])
    assert not np.isnan(xa).any() and np.all(predict_labels(model, xa) != ls)


def test_nothing_to_search(mixed):
    model, x, y = mixed
    wrong = predict_labels(model, x) != y
    res = search_correctly_classified(model, x[wrong], y[wrong], progress=False)
    assert res.already_wrong.all() and res.n_failed == 0 and res.total_evaluations == 0
    assert res.distortion_to_zero_accuracy() == 0.0 and np.isnan(res.mean_distortion())
    with pytest.raises(ValueError, match="c_steps must be >= 1"):
        search_correctly_classified(model, x[wrong], y[wrong], c_steps=0, progress=False)


def test_result_is_immutable(setup):
    model, x, y = setup
    x_in = x[:3].copy()
    res = minimal_distortion(model, x_in, y[:3], targets=targets_of(y[:3], 1), progress=False)
    for name in ("x", "x_adv", "distortion", "success", "targets", "labels", "c", "already_wrong"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(res, name)[0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.success = np.zeros(3, bool)
    with pytest.raises(TypeError):
        res.info["jit_compile"] = False
    with pytest.raises(ValueError, match="read-only"):
        res.info["distortion_unrefined"][0] = 0.0
    # the caller's images are neither frozen nor shared
    x_in[0] = 0.5
    assert not np.all(res.x[0] == 0.5)
    # a changed copy leaves the caller's arrays writeable
    mine = np.ones(3, bool)
    dataclasses.replace(res, success=mine)
    mine[0] = False


# ----------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def softmax_model():
    import keras

    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(x=np.full((3, 784), 1.5, np.float32)), ValueError, r"pixel values in \[0, 1\].*1\.5"),
        (dict(x=np.full((3, 784), -0.1, np.float32)), ValueError, r"pixel values in \[0, 1\]"),
        (dict(x=np.full((3, 784), np.nan, np.float32)), ValueError, "NaN"),
        (dict(x=np.zeros(784, np.float32)), ValueError, r"shape \(n, \.\.\.\)"),
        (dict(x=np.zeros((0, 784), np.float32)), ValueError, "at least one image"),
        (
            dict(x=np.zeros((3, 28, 28), np.float32)),
            ValueError,
            r"expects inputs of shape \(n, 784\)",
        ),
        (dict(labels=np.array([0, 1])), ValueError, r"labels must have shape \(3,\)"),
        (dict(labels=np.array([0, 1, 10])), ValueError, r"labels must lie in \[0, 9\].*10"),
        (dict(labels=np.array([0.5, 1, 2])), TypeError, "integer"),
        (dict(targets=np.array([1, 2])), ValueError, r"targets must have shape \(3,\)"),
        (dict(targets=np.array([1, 2, -1])), ValueError, r"targets must lie in \[0, 9\]"),
        (dict(targets="next"), ValueError, "'random' or None"),
        (dict(targets="same"), ValueError, "differ from labels"),
        (dict(method="adam"), ValueError, r"method must be one of \('tfp', 'scipy'\).*'adam'"),
        (dict(c_steps=0), ValueError, "c_steps must be >= 1"),
        (dict(c_steps=2.0), TypeError, "c_steps must be an int"),
        (dict(max_iterations=-3), ValueError, "max_iterations must be >= 1"),
        (dict(chunk_size=0), ValueError, "chunk_size must be >= 1"),
        (dict(c_init=0.0), ValueError, "c_init must be a finite number > 0"),
        (dict(c_init=float("inf")), ValueError, "c_init must be a finite number > 0"),
        (dict(c_init="1"), TypeError, "c_init must be a real number"),
        (dict(untargeted_candidates=0), ValueError, "untargeted_candidates must be >= 1"),
        (dict(refine=-1), ValueError, "refine must be >= 0"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
        (dict(num_correction_pairs=0), ValueError, "num_correction_pairs must be >= 1"),
        (dict(jit_compile="yes"), ValueError, "jit_compile must be one of"),
        (dict(stage_fraction=1.5), ValueError, "stage_fraction must be a finite number"),
        (dict(kkt=1), TypeError, "kkt must be True or False"),
        (dict(options={"kkt": False}), TypeError, "options must be a SearchOptions"),
        (dict(method="scipy", kkt=False), TypeError, r"apply to method='tfp' only"),
        (dict(method="scipy", options=SearchOptions()), TypeError, "apply to method='tfp' only"),
        (dict(progress="yes"), TypeError, "progress must be True or False or None"),
    ],
)
def test_bad_input_is_explained(setup, change, error, match):
    model, x, y = setup
    args = dict(x=x[:3], labels=y[:3], targets=targets_of(y[:3], 1), progress=False)
    args.update(change)
    if isinstance(args["targets"], str) and args["targets"] == "same":
        args["targets"] = args["labels"]
    with pytest.raises(error, match=match):
        minimal_distortion(model, args.pop("x"), args.pop("labels"), **args)


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
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\] \(4 classes\)"):
        minimal_distortion(four, x[:3], np.array([0, 5, 1]), progress=False)
    seq = keras.Sequential(
        [keras.Input((784,)), keras.layers.Reshape((28, 28)), keras.layers.Dense(10)]
    )
    with pytest.raises(ValueError, match=r"logits of shape \(n, K\)"):
        minimal_distortion(seq, x[:3], y[:3], progress=False)


# ----------------------------------------------------------------------------------
# options, margins, progress


def test_search_options_validate_and_key_the_compiled_graph():
    default = SearchOptions()
    assert dataclasses.replace(default, kkt_tol=0.1).compile_key == default.compile_key
    assert dataclasses.replace(default, mu=5.0).compile_key != default.compile_key
    assert SearchOptions(mu=5).mu == 5.0 and isinstance(SearchOptions(mu=5).mu, float)
    assert default.resolved(10).jit_compile == "objective"
    assert default.resolved(attacks.AUTO_JIT_PROBLEMS).jit_compile is True
    assert SearchOptions(jit_compile=False).resolved(10**6).jit_compile is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.mu = 1.0
    with pytest.raises(ValueError, match="bucket_ratio must be a finite number > 1"):
        SearchOptions(bucket_ratio=1.0)
    with pytest.raises(ValueError, match="box must be one of"):
        SearchOptions(box="clip")
    with pytest.raises(TypeError, match="unknown option"):
        SearchOptions.from_keywords(tolerence=1e-3)


def test_margins():
    from nbhelpers.attacks.objective import margins, safe_margin

    lg = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    np.testing.assert_allclose(margins(lg, [1, 0]), [1.0, -5.0])
    np.testing.assert_allclose(safe_margin(lg), [1e-3 + 3e-4, 1e-3 + 5e-4])


def test_margins_tf_is_the_numpy_margin():
    import tensorflow as tf

    from nbhelpers.attacks.objective import margins, margins_tf, safe_margin, safe_margin_tf

    rng = np.random.default_rng(0)
    lg = rng.normal(0, 5, (50, 10)).astype(np.float32)
    t = rng.integers(0, 10, 50)
    got = margins_tf(tf.constant(lg), tf.constant(t, tf.int32)).numpy()
    np.testing.assert_allclose(got, margins(lg, t), rtol=1e-6)
    np.testing.assert_allclose(safe_margin_tf(tf.constant(lg)).numpy(), safe_margin(lg), rtol=1e-6)


def test_no_warnings_on_a_clean_run(setup):
    model, x, y = setup
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        res = minimal_distortion(model, x[:4], y[:4], targets=targets_of(y[:4], 1), progress=False)
        res.mean_distortion()
        res.distortion_to_zero_accuracy()


def test_progress_bar_follows_argument_and_environment(setup, capsys, monkeypatch):
    """A bar on stderr by default; none with progress=False or NBHELPERS_PROGRESS=0 (the book)."""
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


def test_public_names():
    assert set(attacks.__all__) >= {
        "minimal_distortion",
        "search_correctly_classified",
        "AdversarialResult",
        "SearchOptions",
    }
    assert attacks.AdversarialResult is AdversarialResult


def test_a_model_with_max_pooling_is_searched_without_xla():
    """XLA has no deterministic max-pooling gradient: "auto" then compiles nothing, and the
    search of a pooling network succeeds instead of failing to compile."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((784,))
    h = keras.layers.Reshape((28, 28, 1))(inputs)
    h = keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(4, 3, activation="relu")(h))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(h)))
    x = np.random.default_rng(0).random((3, 784)).astype("float32")
    y = np.argmax(model.predict(x, verbose=0), axis=1)
    assert not attacks.search.xla_compilable(model)
    res = attacks.minimal_distortion(model, x, y, progress=False)
    assert res.success.all() and res.info["jit_compile"] is False
    dense = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    assert attacks.search.xla_compilable(dense)
