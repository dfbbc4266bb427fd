"""Stored searches (nbhelpers.attacks.stored): the same search asked twice runs once."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nbhelpers.attacks import search_correctly_classified  # noqa: E402


@pytest.fixture(scope="module")
def model_and_digits(softmax_regression, shuffled_digits):
    """The shared softmax regression, and 12 digits it was not trained on, to search."""
    x, y = shuffled_digits
    return softmax_regression, np.array(x[1000:1012]), np.array(y[1000:1012])


def _fields(res):
    return {k: getattr(res, k) for k in ("x_adv", "distortion", "success", "targets", "c")}


def test_a_stored_search_is_the_search_itself(model_and_digits, tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    model, x, y = model_and_digits
    plain = search_correctly_classified(model, x, y, "random", max_iterations=20, seed=3)
    first = search_correctly_classified(
        model, x, y, "random", max_iterations=20, seed=3, cache=True
    )
    again = search_correctly_classified(
        model, x, y, "random", max_iterations=20, seed=3, cache=True
    )
    assert "stored" not in first.info and again.info["stored"] is True
    for k, v in _fields(plain).items():
        np.testing.assert_array_equal(_fields(again)[k], v, err_msg=k)
        np.testing.assert_array_equal(_fields(first)[k], v, err_msg=k)
    assert again.seconds == first.seconds and again.n_failed == plain.n_failed
    assert not again.x_adv.flags.writeable  # as immutable as a fresh result
    np.testing.assert_array_equal(
        again.info["distortion_unrefined"], plain.info["distortion_unrefined"]
    )
    assert len(list(tmp_path.glob("search*.npz"))) == 1


def test_what_changes_the_result_changes_the_entry(model_and_digits, tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    model, x, y = model_and_digits

    def search(m=model, xs=x, ys=y, targets="random", **kwargs):
        res = search_correctly_classified(
            m, xs, ys, targets, max_iterations=5, c_steps=2, cache=True, **kwargs
        )
        return res.info.get("stored", False), len(list(tmp_path.glob("search*.npz")))

    assert search(seed=3) == (False, 1)
    assert search(seed=3, c_init=1.0, progress=False) == (True, 1)  # a default, and no effect
    assert search(xs=x.copy(), seed=3) == (True, 1)  # the same digits in another array
    assert search(seed=4) == (False, 2)
    assert search(xs=x[::-1], ys=y[::-1], seed=3) == (False, 3)
    assert search(targets=None, seed=3) == (False, 4)
    changed = keras_clone(model)
    changed.set_weights([w + 1e-3 for w in model.get_weights()])
    assert search(m=changed, seed=3) == (False, 5)


def keras_clone(model):
    import keras

    return keras.models.clone_model(model)


def test_bad_input_is_refused_before_the_cache_is_touched(model_and_digits, tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path / "never"))
    model, x, y = model_and_digits
    with pytest.raises(ValueError, match="labels"):
        search_correctly_classified(model, x, y[:3], "random", cache=True)
    with pytest.raises(TypeError, match="cache"):
        search_correctly_classified(model, x, y, "random", cache="yes")
    assert not (tmp_path / "never").exists()


# Two processes ask for the same search at once: one searches, the other waits and loads.
WORKER = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from nbhelpers.attacks import search_correctly_classified
    from nbhelpers.data import load_mnist

    data = load_mnist("embedded", seed=0)
    x, y = data.x_train[:8], data.y_train[:8]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    res = search_correctly_classified(model, x, y, "random", max_iterations=10, cache=True)
    np.save(sys.argv[1], res.distortion)
    print("stored" if res.info.get("stored") else "searched")
    """
)


def test_two_concurrent_requests_search_once(tmp_path):
    env = {**os.environ, "NBHELPERS_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"d{i}.npy")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sorted(o[-1] for o in outputs) == ["searched", "stored"], outputs
    np.testing.assert_array_equal(np.load(tmp_path / "d0.npy"), np.load(tmp_path / "d1.npy"))
