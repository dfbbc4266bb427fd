"""Tests for nbhelpers.adversarial_training.convergence: §4.2's variants trained until the
held-out error stops falling, the paper's alternating passes over the pools, and the refit
on every digit; tiny models on 300 digits."""

import numpy as np
import pytest

from nbhelpers import adversarial_training as A
from nbhelpers.adversarial_training import convergence as C
from nbhelpers.adversarial_training import summaries as S

FAST = A.BaselineSettings(epochs=8, batch_size=64, learning_rate=0.01)
POOLS = A.PoolSettings(
    layers=(0, 1, 2),
    pool_size=10,
    refresh_fraction=0.5,
    mix=0.25,
    epochs=3,
    batch_size=64,
    learning_rate=0.01,
)
QUICK = C.ConvergenceSettings(held_out=60, patience=1, lr_drops=1)


@pytest.fixture(scope="module")
def data(few_digits):
    """300 training and 100 test digits (tests/conftest.py)."""
    return few_digits


@pytest.fixture(scope="module")
def converged(data):
    """FC100-100-10 with weight decay, stopped by 60 held-out digits."""
    return C.train_converged(
        "FC100-100-10",
        data.x_train,
        data.y_train,
        settings=FAST,
        convergence=QUICK,
        x_test=data.x_test,
        y_test=data.y_test,
        progress=False,
    )


def _verdicts(stopper, errors):
    return [stopper.update(e) for e in errors]


# --- the stopping rules ---------------------------------------------------------------


def test_plateau_drops_after_patience_then_stops():
    errors = [5, 4, 4, 4, 3, 3, 3, 3]
    assert _verdicts(C.Plateau(patience=2, lr_drops=1), errors) == [
        "best", "best", "wait", "drop", "best", "wait", "stop", "stop"
    ]  # fmt: skip


def test_plateau_without_drops_stops_at_the_first_plateau():
    assert _verdicts(C.Plateau(patience=1, lr_drops=0), [2, 1, 1]) == ["best", "best", "stop"]


def test_replay_drops_where_told_and_stops_after_its_epochs():
    assert _verdicts(C.Replay(4, [2]), [9, 9, 9, 9]) == ["best", "drop", "best", "stop"]


# --- the epoch's plan -----------------------------------------------------------------


def test_alternate_passes_the_clean_digits_then_each_pool_once():
    plan = C.epoch_plan(10, [4, 0, 3], 3, "alternate", np.random.default_rng(0))
    sources = [s for s, _ in plan]
    assert sources == [-1, -1, -1, -1, 0, 0, 2]
    for source, n in ((-1, 10), (0, 4), (2, 3)):
        rows = np.concatenate([r for s, r in plan if s == source])
        assert sorted(rows) == list(range(n))
    assert all(len(r) <= 3 for _, r in plan)


def test_interleave_shuffles_the_same_batches():
    alternate = C.epoch_plan(100, [50, 50], 8, "alternate", np.random.default_rng(1))
    interleave = C.epoch_plan(100, [50, 50], 8, "interleave", np.random.default_rng(1))
    assert sorted(s for s, _ in interleave) == sorted(s for s, _ in alternate)
    assert [s for s, _ in interleave] != [s for s, _ in alternate]


def test_the_plan_refuses_an_unknown_schedule():
    with pytest.raises(ValueError, match="schedule"):
        C.epoch_plan(10, [], 3, "mix", np.random.default_rng(0))


# --- training -------------------------------------------------------------------------


def test_the_kept_weights_are_the_best_held_out_epoch(converged, data):
    info = converged.info["convergence"]
    epochs = info["epochs"]
    errors = [e["held_out_error"] for e in epochs]
    assert info["kept"] == 1 + int(np.argmin(errors))
    assert info["held_out_error"] == min(errors)
    assert epochs[-1]["verdict"] == "stop" or len(epochs) == FAST.epochs
    assert info["n_fit"] == 240 and converged.info["n_train"] == 300
    assert converged.info["test_error"] == pytest.approx(epochs[info["kept"] - 1]["test_error"])


def test_a_drop_lowers_the_next_epochs_learning_rate(converged):
    info = converged.info["convergence"]
    rates = [e["learning_rate"] for e in info["epochs"]]
    for epoch in info["drops_after"]:
        if epoch < len(rates):
            assert rates[epoch] == pytest.approx(rates[epoch - 1] * 0.1)
    assert rates[0] == pytest.approx(FAST.learning_rate)


def test_the_same_seed_gives_the_same_weights(converged, data):
    again = C.train_converged(
        "FC100-100-10",
        data.x_train,
        data.y_train,
        settings=FAST,
        convergence=QUICK,
        progress=False,
    )
    for a, b in zip(converged.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_refit_trains_on_every_digit_for_the_epochs_chosen(data):
    result = C.train_converged(
        "FC10(1e-4)",
        data.x_train,
        data.y_train,
        settings=A.BaselineSettings(epochs=6, batch_size=64, learning_rate=0.05),
        convergence=C.ConvergenceSettings(held_out=60, patience=1, lr_drops=1, refit=True),
        progress=False,
    )
    chosen = result.info["convergence"]
    refit = chosen["refit"]
    assert len(refit["epochs"]) == chosen["kept"] == refit["kept"]
    assert refit["drops_after"] == [e for e in chosen["drops_after"] if e < chosen["kept"]]
    assert all("held_out_error" not in e for e in refit["epochs"])


def test_pools_at_every_layer_alternate(data):
    result = C.train_converged(
        "FC100-100-10",
        data.x_train,
        data.y_train,
        settings=POOLS,
        convergence=C.ConvergenceSettings(held_out=60, patience=5),
        progress=False,
    )
    epochs = result.info["convergence"]["epochs"]
    assert "refresh" not in epochs[0]
    assert [r["layer"] for r in epochs[1]["refresh"]] == [0, 1, 2]
    assert all(r["new"] > 0 for r in epochs[1]["refresh"])
    assert len(epochs) == POOLS.epochs


def test_pools_interleaved_take_the_same_batches(data):
    result = C.train_converged(
        "FC100-100-10",
        data.x_train,
        data.y_train,
        settings=A.PoolSettings(layers=(0, 2), pool_size=10, epochs=2, batch_size=64),
        convergence=C.ConvergenceSettings(held_out=60, patience=5, schedule="interleave"),
        progress=False,
    )
    epochs = result.info["convergence"]["epochs"]
    assert [r["layer"] for r in epochs[1]["refresh"]] == [0, 2]
    assert result.info["convergence_settings"]["schedule"] == "interleave"
    assert all(np.isfinite(e["loss"]) for e in epochs)


def test_dropout_and_fgsm_train(data):
    for settings in (
        A.BaselineSettings(dropout_input=0.2, dropout_hidden=0.5, epochs=2, batch_size=64),
        A.FGSMTrainingSettings(epochs=2, batch_size=64),
    ):
        result = C.train_converged(
            "FC100-100-10",
            data.x_train,
            data.y_train,
            settings=settings,
            convergence=QUICK,
            progress=False,
        )
        assert result.info["variant"] == settings.as_dict()["variant"]
        assert np.isfinite(result.info["convergence"]["epochs"][0]["loss"])


def test_the_cache_keeps_converged_networks_apart(data, tmp_path, monkeypatch):
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    settings = A.BaselineSettings(epochs=2, batch_size=64)
    first = C.trained_converged(
        "FC10(1e-4)", data, settings=settings, convergence=QUICK, verbose=False
    )
    again = C.trained_converged(
        "FC10(1e-4)", data, settings=settings, convergence=QUICK, verbose=False
    )
    assert again.info == first.info
    fixed = A.trained_adversarial("FC10(1e-4)", data, settings=settings, verbose=False)
    assert "convergence" not in fixed.info


# --- bad input, refused before any training -------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"held_out": 0}, ValueError, "held_out"),
        ({"patience": 0}, ValueError, "patience"),
        ({"lr_drops": -1}, ValueError, "lr_drops"),
        ({"drop_factor": 1.0}, ValueError, "drop_factor"),
        ({"schedule": "mix"}, ValueError, "schedule"),
        ({"refit": "yes"}, TypeError, "refit"),
    ],
)
def test_bad_convergence_settings_are_refused(kwargs, error, words):
    with pytest.raises(error, match=words):
        C.ConvergenceSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"name": "ConvNet"}, ValueError, "fully connected"),
        ({"settings": C.ConvergenceSettings()}, TypeError, "BaselineSettings"),
        ({"convergence": FAST}, TypeError, "ConvergenceSettings"),
        ({"convergence": C.ConvergenceSettings(held_out=300)}, ValueError, "held_out=300"),
        ({"x_test": np.zeros((2, 784), np.float32)}, ValueError, "together"),
    ],
)
def test_bad_arguments_are_refused(data, kwargs, error, words):
    args = {"name": "FC100-100-10", "settings": FAST, "convergence": QUICK, **kwargs}
    with pytest.raises(error, match=words):
        C.train_converged(args.pop("name"), data.x_train, data.y_train, progress=False, **args)


def test_a_pool_trains_only_the_layers_above_its_layer():
    from nbhelpers.models import build

    model = build("FC100-100-10", seed=0)
    losses = C._losses(model, POOLS, A.new_pools(model, POOLS), seed=0)
    trained = {k: {v.path.split("/")[0] for v in pair[1]} for k, pair in losses.items()}
    every = {"hidden1", "hidden2", "logits"}
    assert trained == {-1: every, 0: every, 1: {"hidden2", "logits"}, 2: {"logits"}}


# --- what chapter 06 says of them -----------------------------------------------------


def test_how_long_reads_a_converged_network(converged):
    row = S.how_long(converged.info)
    c = converged.info["convergence"]
    assert row["epochs run"] == len(c["epochs"]) and row["epoch kept"] == c["kept"]
    assert row["stopped by"] == ("held-out rule" if c["epochs"][-1]["verdict"] == "stop" else "cap")
    assert row["test error (%)"] == pytest.approx(100 * converged.info["test_error"])
    with pytest.raises(ValueError, match="convergence"):
        S.how_long({"test_error": 0.1})


def test_lowest_held_out_chooses_without_the_test_digits(converged):
    def fake(held_out, test):
        info = {"convergence": {"held_out_error": held_out}, "test_error": test}
        return type("R", (), {"info": info})()

    assert S.lowest_held_out({"a": fake(0.03, 0.01), "b": fake(0.02, 0.05)}) == "b"
    with pytest.raises(ValueError, match="at least one"):
        S.lowest_held_out({})


def test_padded_fills_the_shorter_runs_with_nan():
    epochs, series = S.padded({"a": [{"x": 1}, {"x": 2}], "b": [{"x": 3}]}, "x")
    assert epochs == [1, 2] and series["a"] == [1, 2]
    assert series["b"][0] == 3 and np.isnan(series["b"][1])


def test_every_pool_variant_names_its_layers_and_schedule():
    for name, (layers, schedule) in S.POOL_VARIANTS.items():
        assert schedule in C.SCHEDULES
        assert ("interleaved" in name) == (schedule == "interleave")
        A.PoolSettings(layers=layers)  # valid for FC100-100-10's layers


def test_pools_words_names_the_lowest_pool_and_each_verdict():
    differences = {
        "dropout": {"mean": -1.0, "low": -2.0, "high": -0.5},
        "pool (pixels)": {"mean": 0.3, "low": 0.1, "high": 0.5},
        "pool (top layer)": {"mean": -0.1, "low": -0.4, "high": 0.2},
    }
    means = {"dropout": 1.0, "pool (pixels)": 2.3, "pool (top layer)": 1.9}
    words = S.pools_words(differences, means)
    assert words.startswith(
        "The lowest mean test error among the pools is pool (top layer)'s (1.90%)"
    )
    assert "pool (pixels) worse; pool (top layer) no different." in words
    assert "dropout" not in words
    with pytest.raises(ValueError, match="pool variants"):
        S.pools_words({"dropout": differences["dropout"]}, means)
