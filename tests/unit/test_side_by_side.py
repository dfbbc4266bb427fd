"""Training side by side: worker processes fill the cache, the caller loads the very networks
it would have trained itself."""

import numpy as np
import pytest

from nbhelpers import side_by_side
from nbhelpers.side_by_side import Call
from nbhelpers.training import TrainingSettings, trained_model

SETTINGS = TrainingSettings(method="adam", epochs=1)  # cheap: the test is about where it trains


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_two_workers_train_each_network_once_and_as_this_process_would(
    few_digits, tmp_path, monkeypatch
):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path / "workers"))
    calls = {
        name: Call(trained_model, name, few_digits, seed=0, settings=SETTINGS, verbose=False)
        for name in ("FC10(1e-4)", "FC10(1)")
    }
    got = side_by_side.run(calls, workers=2, progress=False)
    assert list(got) == list(calls)
    entries = sorted(p.name for p in (tmp_path / "workers").glob("*.npz"))
    assert len(entries) == 2, entries  # one entry each, written by the workers

    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path / "here"))
    for name in calls:
        here = trained_model(name, few_digits, seed=0, settings=SETTINGS, verbose=False)
        for a, b in zip(_weights(got[name]), _weights(here), strict=True):
            np.testing.assert_array_equal(a, b)


def test_one_worker_runs_the_calls_here_in_order(monkeypatch):
    monkeypatch.setenv(side_by_side.WORKERS_ENV, "1")
    seen = []
    calls = {k: Call(seen.append, k) for k in ("b", "a")}  # not picklable to a worker: fine
    assert side_by_side.run(calls) == {"b": None, "a": None}
    assert seen == ["b", "a"]


def test_a_failing_call_names_its_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    calls = {"fine": Call(int, "1"), "broken": Call(int, "one")}
    with pytest.raises(RuntimeError, match="training 'broken' failed: ValueError: invalid literal"):
        side_by_side.run(calls, workers=2, progress=False)


@pytest.mark.parametrize(
    ("setting", "expected"), [("1", 1), ("3", 3), ("0", "NBHELPERS_WORKERS"), ("two", "two")]
)
def test_the_workers_setting(setting, expected, monkeypatch):
    monkeypatch.setenv(side_by_side.WORKERS_ENV, setting)
    if isinstance(expected, int):
        assert side_by_side.default_workers() == expected
    else:
        with pytest.raises(ValueError, match=expected):
            side_by_side.default_workers()


def test_bad_calls_are_refused_before_any_work():
    with pytest.raises(TypeError, match="mapping of keys to Call"):
        side_by_side.run([Call(int, "1")])
    with pytest.raises(TypeError, match=r"every value of calls must be a Call, got \{'x': 'int'\}"):
        side_by_side.run({"x": 1})
    with pytest.raises(TypeError, match="needs a function first"):
        Call("trained_model")
    with pytest.raises(ValueError, match="workers"):
        side_by_side.run({}, workers=0)
