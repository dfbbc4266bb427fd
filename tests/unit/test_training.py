"""Tests for nbhelpers.training: training the paper's models (§2) and the cache of trained ones."""

import dataclasses
import hashlib
import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from nbhelpers import models as M
from nbhelpers import training as T
from nbhelpers.cache import cache_dir, cache_key
from nbhelpers.evaluate import error_rate, predict_labels
from nbhelpers.models import build, spec
from nbhelpers.training import TrainingSettings, train, trained_model

LBFGS40 = TrainingSettings(method="lbfgs", max_iterations=40)
FAST = TrainingSettings(method="adam", epochs=1)  # for the cache tests: the cache does not care how


@pytest.fixture(scope="module")
def data(few_digits):
    """300 training and 100 test digits (tests/conftest.py)."""
    return few_digits


@pytest.fixture(scope="module")
def fc10(data):
    """FC10(1e-4) trained by L-BFGS, 40 iterations, seed 0, on 300 digits."""
    return train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=LBFGS40)


def _weights(model):
    return model.get_weights()


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- #
# TrainingSettings
# --------------------------------------------------------------------------- #
def test_settings_defaults_and_as_dict():
    s = TrainingSettings()
    assert s.method == T.DEFAULT_METHOD == "adam_lbfgs"
    assert s.as_dict() == {
        "method": "adam_lbfgs",
        "warm_epochs": 5,
        "batch_size": 128,
        "learning_rate": 0.001,
        "max_iterations": 200,
    }
    a = TrainingSettings(
        method="adam", epochs=4, batch_size=32, learning_rate=0.01, max_iterations=7
    )
    assert a.as_dict() == {"method": "adam", "epochs": 4, "batch_size": 32, "learning_rate": 0.01}
    # settings the method does not use do not change the dict, nor the cache key
    assert (
        TrainingSettings(max_iterations=9, epochs=1).as_dict()
        == TrainingSettings(max_iterations=9, epochs=99).as_dict()
    )
    assert (
        TrainingSettings(method="adam", max_iterations=1).as_dict()
        == TrainingSettings(method="adam", max_iterations=999).as_dict()
    )
    assert (
        TrainingSettings(max_iterations=9).as_dict()
        != TrainingSettings(max_iterations=10).as_dict()
    )
    assert json.loads(json.dumps(a.as_dict())) == a.as_dict()
    assert isinstance(TrainingSettings(max_iterations=np.int64(5)).as_dict()["max_iterations"], int)


def test_settings_adam_then_lbfgs():
    """ "adam_lbfgs" is `warm_epochs` of Adam, then L-BFGS; its key holds both methods' settings."""
    s = TrainingSettings(method="adam_lbfgs", warm_epochs=3, max_iterations=50, epochs=99)
    assert s.as_dict() == {
        "method": "adam_lbfgs",
        "warm_epochs": 3,
        "batch_size": 128,
        "learning_rate": 0.001,
        "max_iterations": 50,
    }
    adam, lbfgs = s.stages()
    assert (adam.method, adam.epochs) == ("adam", 3)
    assert (lbfgs.method, lbfgs.max_iterations) == ("lbfgs", 50)
    assert TrainingSettings(method="adam").stages() == (TrainingSettings(method="adam"),)
    assert s.as_dict() != TrainingSettings(method="adam_lbfgs", warm_epochs=4).as_dict()


@pytest.mark.parametrize("method", ["sgd", "LBFGS", "", None])
def test_settings_unknown_method(method):
    with pytest.raises(
        ValueError, match=r"method must be one of \('lbfgs', 'adam', 'adam_lbfgs'\), got"
    ):
        TrainingSettings(method=method)


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("max_iterations", 0, ValueError),
        ("max_iterations", -5, ValueError),
        ("max_iterations", 2.5, TypeError),
        ("max_iterations", True, TypeError),
        ("max_iterations", "10", TypeError),
        ("epochs", 0, ValueError),
        ("epochs", 1.0, TypeError),
        ("batch_size", 0, ValueError),
        ("batch_size", None, TypeError),
        ("warm_epochs", 0, ValueError),
        ("warm_epochs", 2.0, TypeError),
    ],
)
def test_settings_need_positive_integers(field, value, error):
    got = rf"got (\w+ )?{re.escape(repr(value))}$"
    want = "be >= 1" if error is ValueError else "be an int"
    with pytest.raises(error, match=rf"^{field} must {want}, {got}"):
        TrainingSettings(**{field: value})


@pytest.mark.parametrize("lr", [0, -1e-3, float("nan")])
def test_settings_learning_rate(lr):
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number > 0"):
        TrainingSettings(method="adam", learning_rate=lr)


@pytest.mark.parametrize("lr", ["0.01", True, None])
def test_settings_learning_rate_type(lr):
    with pytest.raises(TypeError, match=r"learning_rate must be a real number"):
        TrainingSettings(method="adam", learning_rate=lr)


def test_settings_frozen():
    s = TrainingSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.max_iterations = 3


# --------------------------------------------------------------------------- #
# train: bad input
# --------------------------------------------------------------------------- #
IMAGES, LABELS = r"x \(training images\)", r"y \(labels\)"


@pytest.mark.parametrize(
    "case, error, pattern",
    [
        ("images_2d", ValueError, IMAGES + r" must have shape \(n, 784\), got \(300, 28, 28\)"),
        ("flat_vector", ValueError, IMAGES + r" must be a batch .*got shape \(235200,\)"),
        ("too_few_pixels", ValueError, IMAGES + r" must have shape \(n, 784\), got \(300, 783\)"),
        ("pixels_255", ValueError, r"pixel values in \[0, 1\], got values in \[0, 255\]"),
        ("negative", ValueError, r"pixel values in \[0, 1\], got values in \[-0\.5, 1\]"),
        ("nan", ValueError, IMAGES + r" contains NaN; expected pixel values in \[0, 1\]"),
        ("inf", ValueError, r"pixel values in \[0, 1\], got values in \[0, inf\]"),
        ("label_10", ValueError, LABELS + r" must lie in \[0, 9\] .*got values in \[0, 10\]"),
        ("label_neg", ValueError, LABELS + r" must lie in \[0, 9\] .*got values in \[-1, 9\]"),
        (
            "label_fraction",
            TypeError,
            LABELS + r" must hold integer class indices, got dtype float64",
        ),
        ("short_labels", ValueError, LABELS + r" must have shape \(300,\) .*got shape \(299,\)"),
        ("empty", ValueError, IMAGES + r" must hold at least one image, got none"),
        ("not_an_array", TypeError, IMAGES + r" must be an array of images"),
    ],
)
def test_train_rejects_bad_data(data, case, error, pattern):
    x = np.array(data.x_train)
    y = np.array(data.y_train)
    if case == "images_2d":
        x = x.reshape(-1, 28, 28)
    elif case == "flat_vector":
        x = x.ravel()
        y = y[:1].repeat(x.size)
    elif case == "too_few_pixels":
        x = x[:, :783]
    elif case == "pixels_255":
        x = np.round(x * 255)
    elif case == "negative":
        x[0, 0] = -0.5
    elif case == "nan":
        x[3, 100] = np.nan
    elif case == "inf":
        x[3, 100] = np.inf
    elif case == "label_10":
        y[5] = 10
    elif case == "label_neg":
        y[5] = -1
    elif case == "label_fraction":
        y = y + 0.5
    elif case == "not_an_array":
        x = {"pixels": x}
    elif case == "short_labels":
        y = y[:-1]
    elif case == "empty":
        x, y = x[:0], y[:0]
    with pytest.raises(error, match=pattern):
        train("FC10(1e-4)", x, y, settings=FAST)


def test_train_takes_whole_float_labels(data, monkeypatch):
    """Labels read back as floats (JSON) are class indices when whole, as everywhere else."""
    seen = {}

    def fit(model, x, y, settings, seed, progress=False, label=None):
        seen["y"] = y
        return {}

    monkeypatch.setattr(T, "fit_classifier", fit)
    train("FC10(1e-4)", data.x_train, data.y_train.astype(np.float64), settings=FAST)
    assert seen["y"].dtype == np.int64 and np.array_equal(seen["y"], data.y_train)


@pytest.mark.parametrize("seed", [1.5, "0", None, True])
def test_train_rejects_non_integer_seed(data, seed):
    with pytest.raises(TypeError, match=rf"seed must be an int, got \w+ {re.escape(repr(seed))}"):
        train("FC10(1e-4)", data.x_train, data.y_train, seed=seed, settings=FAST)


def test_train_rejects_negative_seed(data):
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        train("FC10(1e-4)", data.x_train, data.y_train, seed=-1, settings=FAST)


@pytest.mark.parametrize("settings", [{"method": "adam"}, "adam", 3])
def test_train_rejects_settings_of_wrong_type(data, settings):
    with pytest.raises(TypeError, match=r"settings must be a TrainingSettings or None"):
        train("FC10(1e-4)", data.x_train, data.y_train, settings=settings)


def test_train_unknown_model(data):
    with pytest.raises(
        ValueError, match=r"name: unknown name\(s\) \['FC7'\]; expected some of .*AE400-10"
    ):
        train("FC7", data.x_train, data.y_train, settings=FAST)


def test_train_rejects_column_labels(data):
    with pytest.raises(ValueError, match=r"label"):
        train("FC10(1e-4)", data.x_train, data.y_train.reshape(-1, 1), settings=FAST)


# --------------------------------------------------------------------------- #
# train: L-BFGS
# --------------------------------------------------------------------------- #
def test_lbfgs_learns(fc10, data):
    info = fc10.info
    # it really reaches 0% training error on these 300 digits; chance is 90%
    assert info["train_error"] < 0.05
    assert info["train_error"] == error_rate(fc10.model, data.x_train, data.y_train)
    # and generalises far above chance on 100 held-out digits (really ~19%)
    assert error_rate(fc10.model, data.x_test, data.y_test) < 0.35
    c = info["classifier"]
    assert 1 <= c["iterations"] <= 40 and c["evaluations"] >= c["iterations"]
    assert isinstance(c["converged"], bool)
    assert c["final_loss"] < 0.5 * math.log(10)  # cross-entropy + decay, from about ln 10
    assert info["model"] == "FC10(1e-4)" and info["seed"] == 0 and info["n_train"] == 300
    assert info["settings"] == {"method": "lbfgs", "max_iterations": 40}
    assert info["seconds"] >= 0
    assert "autoencoder" not in info
    json.dumps(info)  # the info is stored as JSON in the cache


def test_lbfgs_changes_the_initial_weights(fc10):
    init = build("FC10(1e-4)", seed=0)
    assert not _same(_weights(init), _weights(fc10.model))
    assert all(layer.trainable for layer in fc10.model.layers)


def test_lbfgs_deterministic(fc10, data):
    again = train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=LBFGS40)
    assert _same(_weights(fc10.model), _weights(again.model))
    assert again.info["classifier"] == fc10.info["classifier"]
    other = train("FC10(1e-4)", data.x_train, data.y_train, seed=1, settings=LBFGS40)
    assert not _same(_weights(fc10.model), _weights(other.model))


def test_lbfgs_in_chunks_follows_one_long_run(data):
    """Run in chunks (for the progress bar) from the book's own initial state, L-BFGS takes
    the very iterates of TensorFlow Probability's one long run."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    m = build("FC100-100-10", seed=0)
    info = T._lbfgs(m.trainable_variables, lambda: ce(y, m(x)), 30, chunk=7)
    ours = m.get_weights()

    ref = build("FC100-100-10", seed=0)
    variables = ref.trainable_variables
    sizes = [int(np.prod(v.shape)) for v in variables]

    def value_and_gradients(theta):
        for v, part in zip(variables, tf.split(theta, sizes), strict=True):
            v.assign(tf.reshape(part, v.shape))
        with tf.GradientTape() as tape:
            loss = ce(y, ref(x))
        return loss, tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, variables)], 0)

    theta0 = tf.concat([tf.reshape(v, [-1]) for v in variables], axis=0)
    one = tf.function(tfp.optimizer.lbfgs_minimize)(
        value_and_gradients,
        initial_position=theta0,
        max_iterations=30,
        num_correction_pairs=20,
        tolerance=1e-7,
        f_relative_tolerance=1e-9,
    )
    value_and_gradients(one.position)
    assert info["iterations"] == int(one.num_iterations) > 2 * 7  # several chunks ran
    assert info["evaluations"] == int(one.num_objective_evaluations)
    assert info["final_loss"] == float(one.objective_value)
    assert _same(ours, ref.get_weights())


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_training_shows_progress_unless_told_not_to(data, capsys, monkeypatch, method):
    """A bar per stage with the loss on stderr; none with progress=False or NBHELPERS_PROGRESS=0."""
    s = TrainingSettings(method=method, max_iterations=5, epochs=2)
    monkeypatch.delenv("NBHELPERS_PROGRESS", raising=False)
    train("FC10(1e-4)", data.x_train, data.y_train, settings=s)
    err = capsys.readouterr().err
    assert f"training FC10(1e-4) ({method})" in err and "loss=" in err
    train("FC10(1e-4)", data.x_train, data.y_train, settings=s, progress=False)
    monkeypatch.setenv("NBHELPERS_PROGRESS", "0")
    train("FC10(1e-4)", data.x_train, data.y_train, settings=s)
    assert capsys.readouterr().err == ""


def test_decay_form_reaches_the_model(data):
    """train(decay_form=...) builds the model with that form of weight decay."""
    default = train("FC10(1)", data.x_train, data.y_train, seed=0, settings=FAST)
    per_unit = train(
        "FC10(1)", data.x_train, data.y_train, seed=0, settings=FAST, decay_form="per_unit"
    )
    # the default form is "half_biases": λ/2 on weights and biases (λ = 1 for FC10(1))
    logits = default.model.get_layer("logits")
    assert float(logits.kernel_regularizer.l2) == pytest.approx(0.5)
    assert float(logits.bias_regularizer.l2) == pytest.approx(0.5)
    assert float(per_unit.model.get_layer("logits").kernel_regularizer.l2) == pytest.approx(
        1.0 / 10
    )
    with pytest.raises(ValueError, match="decay_form must be one of .*, got 'bogus'"):
        train("FC10(1)", data.x_train, data.y_train, settings=FAST, decay_form="bogus")


# --------------------------------------------------------------------------- #
# train: Adam
# --------------------------------------------------------------------------- #
def test_adam_learns_and_is_deterministic(data):
    s = TrainingSettings(method="adam", epochs=3, learning_rate=1e-2)
    r = train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=s)
    assert r.info["train_error"] < 0.5  # really ~12% after 3 epochs; chance is 90%
    assert r.info["classifier"]["epochs"] == 3
    assert r.info["settings"] == s.as_dict()
    assert np.isfinite(r.info["classifier"]["final_loss"])
    again = train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=s)
    assert _same(_weights(r.model), _weights(again.model))
    other = train("FC10(1e-4)", data.x_train, data.y_train, seed=2, settings=s)
    assert not _same(_weights(r.model), _weights(other.model))


def test_adam_then_lbfgs_runs_both_and_is_deterministic(data):
    s = TrainingSettings(method="adam_lbfgs", warm_epochs=2, max_iterations=15)
    r = train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=s)
    info = r.info["classifier"]
    assert info["adam"]["epochs"] == 2 and 0 < info["lbfgs"]["iterations"] <= 15
    assert info["final_loss"] == info["lbfgs"]["final_loss"]
    adam_only = train(
        "FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=s.stages()[0], progress=False
    )
    assert not _same(_weights(r.model), _weights(adam_only.model))  # L-BFGS moved on from there
    again = train("FC10(1e-4)", data.x_train, data.y_train, seed=0, settings=s)
    assert _same(_weights(r.model), _weights(again.model))


# --------------------------------------------------------------------------- #
# train: AE400-10, two stages
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "settings, n",
    [
        (TrainingSettings(method="adam", epochs=2, max_iterations=3), 300),
        (TrainingSettings(method="lbfgs", max_iterations=3), 100),
        (TrainingSettings(warm_epochs=1, max_iterations=3), 100),
    ],
    ids=["adam", "lbfgs", "adam_lbfgs"],
)
def test_autoencoder_two_stages(data, monkeypatch, settings, n):
    snapshot = {}
    real = T.fit_autoencoder

    def spy(model, x, y, s, seed, progress=False):
        out = real(model, x, y, s, seed, progress)
        snapshot["encoder"] = [w.copy() for w in model.get_layer("encoder").get_weights()]
        snapshot["logits"] = [w.copy() for w in model.get_layer("logits").get_weights()]
        return out

    monkeypatch.setattr(T, "fit_autoencoder", spy)
    r = train("AE400-10", data.x_train[:n], data.y_train[:n], seed=0, settings=settings)
    info = r.info
    assert {"autoencoder", "classifier", "train_error"} <= set(info)
    assert np.isfinite(info["autoencoder"]["final_loss"]) and np.isfinite(
        info["classifier"]["final_loss"]
    )
    init = build("AE400-10", seed=0)
    enc = r.model.get_layer("encoder").get_weights()
    # stage 1 moved the encoder away from its initial weights ...
    assert not _same(init.get_layer("encoder").get_weights(), enc)
    # ... and left the classifier alone; stage 2 trained the classifier on the frozen encoder
    assert _same(init.get_layer("logits").get_weights(), snapshot["logits"])
    assert _same(snapshot["encoder"], enc)
    assert not _same(snapshot["logits"], r.model.get_layer("logits").get_weights())
    # the autoencoder trained by full-batch L-BFGS (UFLDL's recipe) whatever the settings,
    # for twice their L-BFGS iterations at most
    assert info["autoencoder"]["iterations"] <= 2 * settings.max_iterations
    assert info["autoencoder"]["digits"] == n
    # the returned model is plain: every layer trainable again, no decoder
    assert all(layer.trainable for layer in r.model.layers)
    assert "decoder" not in [layer.name for layer in r.model.layers]
    assert info["train_error"] == error_rate(r.model, data.x_train[:n], data.y_train[:n])


def test_autoencoder_follows_ufldl_on_a_balanced_sample(data, monkeypatch):
    """UFLDL's recipe: full-batch L-BFGS for twice the settings' iterations, whatever their
    method, on a class-balanced sample of at most `autoencoder_digits` training digits."""
    got = T.autoencoder_settings(TrainingSettings(method="adam", max_iterations=7))
    assert (got.method, got.max_iterations) == ("lbfgs", 14)
    s = spec("AE400-10")
    monkeypatch.setitem(
        M.MODELS, "AE400-10", dataclasses.replace(s, extra={**s.extra, "autoencoder_digits": 50})
    )
    seen = {}
    real = T.minimise

    def spy(variables, loss, arrays, settings, *args):
        seen["n"], seen["settings"] = len(arrays[0]), settings
        return real(variables, loss, arrays, settings, *args)

    monkeypatch.setattr(T, "minimise", spy)
    model = build("AE400-10", seed=0)
    info = T.fit_autoencoder(
        model, data.x_train, data.y_train, TrainingSettings(max_iterations=2), 0
    )
    assert seen["n"] == info["digits"] == 50
    assert (seen["settings"].method, seen["settings"].max_iterations) == ("lbfgs", 4)
    assert info["iterations"] <= 4


# --------------------------------------------------------------------------- #
# the cache
# --------------------------------------------------------------------------- #
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    """Counts the trainings trained_model starts (it still trains for real)."""
    count = []
    real = T.train

    def counting(*a, **k):
        count.append(k.get("seed"))
        return real(*a, **k)

    monkeypatch.setattr(T, "train", counting)
    return count


def _no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("trained although the cache holds this model")

    monkeypatch.setattr(T, "train", boom)


def _files(folder):
    """The cache's entries' files; each entry's lock file (cache.entry_lock) stays beside it."""
    return sorted(p.name for p in Path(folder).iterdir() if p.suffix != ".lock")


def _entry(folder):
    (npz,) = Path(folder).glob("*.npz")
    (meta,) = Path(folder).glob("*.json")
    return npz, meta


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NBHELPERS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "nbhelpers" / "models"


def test_cache_round_trip(cache, calls, data, monkeypatch, capsys):
    monkeypatch.setenv("NBHELPERS_PROGRESS", "1")  # the cache says what it does
    s = TrainingSettings(max_iterations=20)
    m1, info1 = trained_model("FC10(1e-4)", data, seed=0, settings=s, return_info=True)
    assert len(calls) == 1
    assert "training FC10(1e-4) on 300 digits (adam_lbfgs)" in capsys.readouterr().out
    names = _files(cache)
    assert len(names) == 2, names  # no temporary files left behind
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".lock", ".npz"]
    assert (
        names[0].startswith("FC10_1e_4-")
        and names[0].endswith(".json")
        and names[1].endswith(".npz")
    )
    assert names[0][:-5] == names[1][:-4]
    assert not any(n.startswith(".") or n.endswith(".tmp") for n in names)
    meta = json.loads((cache / names[0]).read_text())
    assert meta["key"] == cache_key("FC10(1e-4)", data.fingerprint, 0, s)
    assert meta["sha256"] == hashlib.sha256((cache / names[1]).read_bytes()).hexdigest()
    assert info1["train_error"] == meta["info"]["train_error"] < 0.1

    _no_training(monkeypatch)
    m2, info2 = trained_model("FC10(1e-4)", data, seed=0, settings=s, return_info=True)
    assert "loaded FC10(1e-4) from the cache" in capsys.readouterr().out
    assert m2 is not m1
    assert _same(_weights(m1), _weights(m2))
    np.testing.assert_array_equal(np.asarray(m1(data.x_test)), np.asarray(m2(data.x_test)))
    np.testing.assert_array_equal(predict_labels(m1, data.x_test), predict_labels(m2, data.x_test))
    assert info2 == info1
    assert _files(cache) == names
    # quiet when asked
    trained_model("FC10(1e-4)", data, seed=0, settings=s, verbose=False)
    assert capsys.readouterr().out == ""


def test_cache_return_info_and_retrain(cache, calls, data):
    m = trained_model("FC10(1e-2)", data, settings=FAST, verbose=False)
    assert not isinstance(m, tuple) and m.output_shape == (None, 10)
    model, info = trained_model("FC10(1e-2)", data, settings=FAST, verbose=False, return_info=True)
    assert len(calls) == 1
    assert 0 <= info["train_error"] <= 1 and info["settings"] == FAST.as_dict()
    assert info["model"] == "FC10(1e-2)"
    trained_model("FC10(1e-2)", data, settings=FAST, verbose=False, retrain=True)
    assert len(calls) == 2
    assert len(_files(cache)) == 2  # retraining overwrote the same entry


def test_cache_key_covers_seed_settings_and_data(cache, calls, data, monkeypatch):
    base = trained_model("FC10(1e-4)", data, seed=0, settings=FAST, verbose=False)
    other_seed = trained_model("FC10(1e-4)", data, seed=1, settings=FAST, verbose=False)
    trained_model(
        "FC10(1e-4)",
        data,
        seed=0,
        settings=TrainingSettings(method="adam", epochs=2),
        verbose=False,
    )
    trained_model("FC10(1e-4)", data.subset(200, 50, seed=1), seed=0, settings=FAST, verbose=False)
    trained_model("FC10(1)", data, seed=0, settings=FAST, verbose=False)
    assert calls == [0, 1, 0, 0, 0]
    names = _files(cache)
    assert len(names) == 10 and len({n.rsplit(".", 1)[0] for n in names}) == 5
    assert not _same(_weights(base), _weights(other_seed))
    # unused settings do not split the cache; each entry loads back
    _no_training(monkeypatch)
    same = TrainingSettings(method="adam", epochs=1, max_iterations=3)
    again = trained_model("FC10(1e-4)", data, seed=0, settings=same, verbose=False)
    assert _same(_weights(base), _weights(again))
    trained_model("FC10(1e-4)", data, seed=1, settings=FAST, verbose=False)
    assert len(_files(cache)) == 10


def _damage(kind, npz, meta):
    if kind == "truncated_npz":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif kind == "garbage_npz":
        npz.write_bytes(b"\x00" * npz.stat().st_size)
    elif kind == "missing_npz":
        npz.unlink()
    elif kind == "missing_json":
        meta.unlink()
    elif kind == "corrupt_json":
        meta.write_text(meta.read_text()[:-20])
    elif kind == "json_list":
        meta.write_text("[1, 2, 3]")
    elif kind == "other_weights":
        # a perfectly readable npz of the right shapes, but not the file the JSON vouches for
        with np.load(npz) as f:
            zeros = {k: np.zeros_like(f[k]) for k in f.files}
        np.savez(npz, **zeros)
    elif kind == "wrong_shapes_matching_sha":
        np.savez(npz, w0=np.zeros((3, 3), np.float32), w1=np.zeros(3, np.float32))
        m = json.loads(meta.read_text())
        m["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
        meta.write_text(json.dumps(m))
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated_npz",
        "garbage_npz",
        "missing_npz",
        "missing_json",
        "corrupt_json",
        "json_list",
        "other_weights",
        "wrong_shapes_matching_sha",
    ],
)
def test_cache_damaged_entry_retrains(cache, calls, data, kind):
    first = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    npz, meta = _entry(cache)
    _damage(kind, npz, meta)
    with pytest.warns(UserWarning, match=r"cached FC10\(1e-4\) at .* is damaged .*; retraining"):
        second = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    assert len(calls) == 2
    # never the damaged weights: the retrained model is the seed-0 model again
    assert _same(_weights(first), _weights(second))
    assert all(np.any(w != 0) for w in _weights(second)[:1])
    # and the entry is repaired: it loads cleanly now
    assert len(_files(cache)) == 2
    trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    assert len(calls) == 2


def test_cache_stale_entry_retrains(cache, calls, data):
    first = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    npz, meta = _entry(cache)
    m = json.loads(meta.read_text())
    m["key"]["seed"] = 99
    meta.write_text(json.dumps(m))
    with pytest.warns(
        UserWarning, match=r"cached FC10\(1e-4\) at .* is stale \(its key differs\); retraining"
    ):
        second = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    assert len(calls) == 2
    assert _same(_weights(first), _weights(second))
    assert json.loads(meta.read_text())["key"]["seed"] == 0


class _Touch:
    """Unpickling this creates the file `path`: a stand-in for code run from a cache file."""

    def __init__(self, path):
        self.path = Path(path)

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("form", ["npz_object_array", "raw_pickle"])
def test_cache_never_unpickles(cache, calls, data, tmp_path_factory, form):
    trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    npz, meta = _entry(cache)
    marker = tmp_path_factory.mktemp("marker") / "pwned"
    payload = np.array([_Touch(marker)], dtype=object)
    if form == "npz_object_array":
        with np.load(npz) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["w0"] = payload
        np.savez(npz, **arrays)
    else:
        npz.write_bytes(pickle.dumps(payload))
    m = json.loads(meta.read_text())
    m["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()  # the checksum vouches for the file
    meta.write_text(json.dumps(m))

    # the payload is live: loading it with pickles allowed would create the marker
    probe = tmp_path_factory.mktemp("probe") / npz.name
    probe.write_bytes(npz.read_bytes())
    if form == "npz_object_array":
        with np.load(probe, allow_pickle=True) as f:
            f["w0"]
    else:
        np.load(probe, allow_pickle=True)
    assert marker.exists()
    marker.unlink()

    # refused for holding pickled data (the checksum matched), not for anything else
    with pytest.warns(
        UserWarning, match=r"is damaged \(.*([Pp]ickle|Object arrays).*\); retraining"
    ):
        model = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    assert not marker.exists()
    assert len(calls) == 2
    assert model.get_weights()[0].dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [None, (np.zeros((3, 784)), np.zeros(3)), {"x_train": 1}, "embedded", np.zeros((3, 784))],
    ids=["none", "tuple", "dict", "str", "array"],
)
def test_cache_needs_mnist(cache, calls, bad):
    with pytest.raises(
        TypeError, match=r"expected an nbhelpers.data.MNIST \(with 'x_train'\), got "
    ):
        trained_model("FC10(1e-4)", bad, settings=FAST)
    assert calls == [] and _files(cache) == []


def test_cache_unknown_model(cache, calls, data):
    with pytest.raises(ValueError, match="unknown name"):
        trained_model("FC11", data, settings=FAST)
    assert calls == [] and _files(cache) == []


def test_cache_rejects_non_integer_seed(cache, calls, data):
    trained_model("FC10(1e-4)", data, seed=0, settings=FAST, verbose=False)
    with pytest.raises(TypeError, match=r"seed must be an int, got float 0.5"):
        trained_model("FC10(1e-4)", data, seed=0.5, settings=FAST, verbose=False)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"seed": -1}, ValueError, r"seed must be >= 0"),
        ({"settings": "adam"}, TypeError, r"settings must be a TrainingSettings"),
        ({"verbose": 1}, TypeError, r"verbose must be True or False"),
        ({"retrain": "yes"}, TypeError, r"retrain must be True or False"),
        ({"return_info": None}, TypeError, r"return_info must be True or False"),
    ],
)
def test_cache_rejects_bad_arguments(cache, calls, data, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        trained_model("FC10(1e-4)", data, **{"settings": FAST, **kwargs})
    assert calls == [] and _files(cache) == []


def test_cache_key_rejects_bad_seed(data):
    with pytest.raises(TypeError, match=r"seed must be an int"):
        cache_key("FC10(1e-4)", data.fingerprint, 1.5, FAST)


def test_the_same_digits_from_another_source_share_the_cache(data, monkeypatch, tmp_path):
    """Full MNIST through Keras or from a local copy: the same digits, one trained model."""
    import dataclasses

    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    first = trained_model("FC10(1e-4)", data, settings=FAST, verbose=False)
    elsewhere = dataclasses.replace(data, source="idx:/somewhere/else")
    assert elsewhere.fingerprint == data.fingerprint
    _no_training(monkeypatch)
    again = trained_model("FC10(1e-4)", elsewhere, settings=FAST, verbose=False)
    assert _same(_weights(first), _weights(again))


@pytest.mark.parametrize("form, biases", [("half", False), ("half_biases", True)])
def test_regularization_sums_each_layers_decay(form, biases):
    """regularization(model) is Σ λ/2·Σw² over the trainable layers, plus λ/2·Σb² in the
    "half_biases" form (FC100-100-10, λ = 1e-5, 1e-5, 1e-6), against NumPy."""
    model = build("FC100-100-10", seed=0, decay_form=form)
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:
        layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    expected = sum(
        lam / 2 * (np.sum(np.asarray(d.kernel) ** 2) + biases * np.sum(np.asarray(d.bias) ** 2))
        for d, lam in zip(model.layers[1:], spec("FC100-100-10").decay, strict=True)
    )
    assert float(T.regularization(model)) == pytest.approx(expected, rel=1e-5)
    model.get_layer("hidden1").trainable = False  # a frozen layer's decay is not counted
    d, lam = model.get_layer("hidden1"), spec("FC100-100-10").decay[0]
    frozen = (
        lam / 2 * (np.sum(np.asarray(d.kernel) ** 2) + biases * np.sum(np.asarray(d.bias) ** 2))
    )
    assert float(T.regularization(model)) == pytest.approx(expected - frozen, rel=1e-5)
