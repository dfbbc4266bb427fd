"""Tests for nbhelpers.adversarial_training (trainers, pools): training on refreshed
pools of adversarial examples (paper §4.2), its baselines (weight decay, dropout) and FGSM
training (Goodfellow et al. 2015), on 300 digits."""

import dataclasses

import numpy as np
import pytest

from nbhelpers import adversarial_training as A
from nbhelpers.models import build

# 3 epochs: the pool is filled before epoch 2 and partly replaced before epoch 3.
TINY = A.PoolSettings(
    pool_size=10, refresh_fraction=0.5, mix=0.25, epochs=3, batch_size=64, learning_rate=0.01
)
TINY_FGSM = A.FGSMTrainingSettings(epochs=1, batch_size=64, learning_rate=0.01)
TINY_LAYERS = A.PoolSettings(
    layers=(0, 1, 2),
    pool_size=10,
    refresh_fraction=0.5,
    mix=0.25,
    epochs=3,
    batch_size=64,
    learning_rate=0.01,
)
TINY_DROPOUT = A.BaselineSettings(
    dropout_input=0.2, dropout_hidden=0.3, epochs=2, batch_size=64, learning_rate=0.01
)


@pytest.fixture(scope="module")
def data(few_digits):
    """300 training and 100 test digits (tests/conftest.py)."""
    return few_digits


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("adversarial-cache")


@pytest.fixture(scope="module")
def pooled(data, cache):
    """FC100-100-10 trained with the pool through the cache (a fresh, empty one)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBHELPERS_CACHE", str(cache))
        return A.trained_adversarial("FC100-100-10", data, seed=0, settings=TINY, verbose=False)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# --- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"pool_size": 0}, ValueError, "pool_size"),
        ({"pool_size": 2.5}, TypeError, "pool_size"),
        ({"refresh_fraction": 0}, ValueError, "refresh_fraction"),
        ({"refresh_fraction": 1.5}, ValueError, "refresh_fraction"),
        ({"refresh_every": 0}, ValueError, "refresh_every"),
        ({"mix": 1.0}, ValueError, "mix"),
        ({"mix": -0.1}, ValueError, "mix"),
        ({"mix": 0.0}, ValueError, "mix"),
        ({"layers": ()}, TypeError, "layers"),
        ({"layers": [0]}, TypeError, "layers"),
        ({"layers": (1, 0)}, ValueError, "increasing"),
        ({"layers": (0, 0)}, ValueError, "increasing"),
        ({"layers": (-1,)}, ValueError, "layers"),
        ({"layers": (0, 1, 2), "mix": 0.02, "batch_size": 100}, ValueError, "each of the 3"),
        ({"mix": "half"}, TypeError, "mix"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"reading": "nearest"}, ValueError, "reading"),
        ({"mix": 0.99, "batch_size": 10}, ValueError, "mix \\* batch_size"),
    ],
)
def test_pool_settings_are_checked_at_the_door(kwargs, error, words):
    with pytest.raises(error, match=words):
        A.PoolSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"epsilon": -0.1}, ValueError, "epsilon"),
        ({"epochs": 1.0}, TypeError, "epochs"),
    ],
)
def test_fgsm_settings_are_checked_at_the_door(kwargs, error, words):
    with pytest.raises(error, match=words):
        A.FGSMTrainingSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"dropout_input": 1.0}, ValueError, "dropout_input"),
        ({"dropout_hidden": -0.1}, ValueError, "dropout_hidden"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": "64"}, TypeError, "batch_size"),
    ],
)
def test_baseline_settings_are_checked_at_the_door(kwargs, error, words):
    with pytest.raises(error, match=words):
        A.BaselineSettings(**kwargs)


def test_as_dict_covers_every_setting_and_the_variant():
    d = TINY.as_dict()
    assert d["variant"] == "pool" and d["pool_size"] == 10 and d["mix"] == 0.25
    assert A.PoolSettings().as_dict() != A.PoolSettings(refresh_every=2).as_dict()
    assert TINY_FGSM.as_dict()["variant"] == "fgsm"
    assert TINY_DROPOUT.as_dict()["variant"] == "baseline"
    assert TINY_LAYERS.as_dict()["layers"] == [0, 1, 2]
    assert A.PoolSettings().as_dict() != A.PoolSettings(layers=(0, 1)).as_dict()


def test_bad_arguments_are_named(data):
    with pytest.raises(TypeError, match="PoolSettings"):
        A.train_with_pool("FC100-100-10", data.x_train, data.y_train, settings=TINY_FGSM)
    with pytest.raises(ValueError, match="fully connected"):
        A.train_with_pool("AE400-10", data.x_train, data.y_train, settings=TINY)
    with pytest.raises(TypeError, match="BaselineSettings, PoolSettings or FGSM"):
        A.trained_adversarial("FC100-100-10", data, settings=None)
    with pytest.raises(TypeError, match="BaselineSettings"):
        A.train_baseline("FC100-100-10", data.x_train, data.y_train, settings=TINY)
    with pytest.raises(ValueError, match="below the output layer"):
        A.train_with_pool(
            "FC10(1e-4)", data.x_train, data.y_train, settings=A.PoolSettings(layers=(0, 1))
        )
    with pytest.raises(ValueError, match="together"):
        A.train_fgsm("FC100-100-10", data.x_train, data.y_train, x_test=data.x_test)


# --- batches --------------------------------------------------------------------------


@pytest.mark.parametrize("mix", [0.25, 0.5, 0.1])
def test_each_full_batch_mixes_pool_examples_at_the_ratio(mix):
    rng = np.random.default_rng(0)
    plan = A.batch_plan(1000, [50], 40, mix, rng)
    k = round(mix * 40)
    full = [(c, p) for c, (p,) in plan if len(c) + len(p) == 40]
    assert len(full) >= len(plan) - 1 and all(len(p) == k for _, p in full)
    clean = np.concatenate([c for c, _ in plan])
    assert np.array_equal(np.sort(clean), np.arange(1000))  # each clean digit once an epoch
    assert all(len(set(p.tolist())) == len(p) for _, (p,) in plan)  # no repeats within a batch
    pool = np.concatenate([p for _, (p,) in plan])
    assert pool.min() >= 0 and pool.max() < 50
    assert abs(len(pool) / (len(pool) + len(clean)) - mix) < 0.02


def test_the_pool_share_is_split_between_the_filled_pools():
    rng = np.random.default_rng(0)
    plan = A.batch_plan(200, [30, 40, 50], 40, 0.25, rng)  # 10 pool examples: 4, 3, 3
    sizes = [[len(p) for p in pools] for c, pools in plan if len(c) == 30]
    assert sizes and all(s == [4, 3, 3] for s in sizes)
    plan = A.batch_plan(200, [0, 40, 0], 40, 0.25, rng)  # an empty pool gives its share away
    assert all([len(p) for p in pools] == [0, 10, 0] for c, pools in plan if len(c) == 30)
    for _, (p0, p1, p2) in A.batch_plan(200, [30, 40, 50], 40, 0.25, rng):
        assert p0.max() < 30 and p1.max() < 40 and p2.max() < 50


def test_empty_pools_give_clean_batches():
    plan = A.batch_plan(100, [0, 0], 32, 0.5, np.random.default_rng(0))
    assert all(len(p) == 0 for _, pools in plan for p in pools)
    assert sum(len(c) for c, _ in plan) == 100 and all(len(c) == 32 for c, _ in plan[:-1])


def test_assemble_batch_puts_clean_then_each_pool_with_original_labels():
    x, y = np.arange(12.0).reshape(6, 2), np.array([0, 1, 2, 3, 4, 5])
    pools = [
        {"x": -np.arange(8.0).reshape(4, 2), "y": np.array([9, 8, 7, 6])},
        {"x": np.full((2, 3), 0.5), "y": np.array([1, 2])},
    ]
    xb, yb, extra = A.assemble_batch(
        x, y, pools, np.array([4, 1]), [np.array([3]), np.array([1, 0])]
    )
    assert xb.dtype == np.float32 and yb.tolist() == [4, 1]
    assert np.array_equal(xb, [[8, 9], [2, 3]])
    (h0, y0), (h1, y1) = extra
    assert np.array_equal(h0, [[-6, -7]]) and y0.tolist() == [6]
    assert h1.shape == (2, 3) and h1.dtype == np.float32 and y1.tolist() == [2, 1]


# --- pools at hidden layers -----------------------------------------------------------


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_layer_maps_split_the_network_at_a_layer(data, layer):
    model = build("FC100-100-10", seed=1)
    lower, upper = A.layer_maps(model, layer)
    x = data.x_test[:20]
    h = lower(x)
    assert h.shape == (20, 784 if layer == 0 else 100)
    if layer:
        assert h.min() > 0 and h.max() < 1  # sigmoid outputs: the search's box fits them
    np.testing.assert_allclose(np.asarray(upper(h)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    # the layers above are the model's own: training upper trains them, and only them
    above = {id(v) for v in upper.trainable_variables}
    assert above <= {id(v) for v in model.trainable_variables}
    assert len(above) == 2 * (3 - layer)


def test_layer_maps_reject_the_output_layer():
    with pytest.raises(ValueError, match="layer"):
        A.layer_maps(build("FC100-100-10", seed=0), 3)


# --- the FGSM objective ---------------------------------------------------------------


def test_fgsm_loss_matches_the_hand_computation(data):
    """Softmax regression: ∇ₓ mean CE = (p − onehot) Wᵀ / n, by hand in numpy."""
    model = build("FC10(1e-4)", seed=3)
    x, y = data.x_train[:16], data.y_train[:16]
    w, b = model.get_weights()

    def ce(images):
        z = images @ w + b
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return -np.log(p[np.arange(len(y)), y]).mean(), p

    clean, p = ce(x)
    grad = (p - np.eye(10)[y]) @ w.T / len(y)
    x_adv = np.clip(x + 0.25 * np.sign(grad), 0, 1)
    decay = float(model.get_layer("logits").kernel_regularizer(w))
    expected = 0.3 * clean + 0.7 * ce(x_adv)[0] + decay
    got = float(A.fgsm_loss(model, x, y, 0.3, 0.25))
    assert got == pytest.approx(expected, rel=1e-4)
    assert got > 0.3 * clean + 0.7 * clean + decay  # the adversarial half costs more


# --- training -------------------------------------------------------------------------


def test_the_pool_is_filled_then_partly_replaced(pooled):
    info = pooled.info
    assert info["refreshes"] == 2 and "refresh" not in info["epochs"][0]
    ((fill,), (replace,)) = info["epochs"][1]["refresh"], info["epochs"][2]["refresh"]
    assert fill["kind"] == "fill" and fill["asked"] == 10 and fill["new"] > 0
    assert replace["kind"] == "replace" and replace["asked"] == 5 and replace["new"] > 0
    assert fill["layer"] == replace["layer"] == 0
    assert 0 < replace["mean_distortion"] < 1
    assert info["epochs"][0]["pool_filled"] == [0]
    assert info["epochs"][1]["pool_filled"] == [fill["new"]]
    assert all({"loss", "train_error", "test_error"} <= set(e) for e in info["epochs"])
    assert info["test_error"] == info["epochs"][-1]["test_error"]


def test_a_pool_at_every_layer(data):
    res = A.train_with_pool(
        "FC100-100-10", data.x_train, data.y_train, seed=0, settings=TINY_LAYERS, progress=False
    )
    refreshes = res.info["epochs"][1]["refresh"]
    assert [r["layer"] for r in refreshes] == [0, 1, 2]
    assert all(r["kind"] == "fill" and r["new"] > 0 for r in refreshes)
    assert res.info["epochs"][1]["pool_filled"] == [r["new"] for r in refreshes]
    history = A.refresh_history(res.info["epochs"])
    assert history["epoch"] == [2, 3] and set(history) == {"epoch", "layer 0", "layer 1", "layer 2"}
    assert history["layer 2"][0] == refreshes[2]["mean_distortion"]
    pixel_only = A.train_with_pool(
        "FC100-100-10", data.x_train, data.y_train, seed=0, settings=TINY, progress=False
    )
    assert not _same(res.model.get_weights(), pixel_only.model.get_weights())


def test_refresh_history_of_a_training_without_pool():
    assert A.refresh_history([{"epoch": 1}, {"epoch": 2}]) == {"epoch": []}


def test_same_seed_same_weights(data, pooled):
    again = A.train_with_pool(
        "FC100-100-10", data.x_train, data.y_train, seed=0, settings=TINY, progress=False
    )
    assert _same(again.model.get_weights(), pooled.model.get_weights())
    assert again.info["epochs"][2]["loss"] == pooled.info["epochs"][2]["loss"]


def test_dropout_is_seeded_and_changes_the_training(data):
    def run(settings, seed=0):
        return A.train_baseline(
            "FC100-100-10", data.x_train, data.y_train, seed=seed, settings=settings, progress=False
        )

    first, again = run(TINY_DROPOUT), run(TINY_DROPOUT)
    assert _same(first.model.get_weights(), again.model.get_weights())
    plain = run(A.BaselineSettings(epochs=2, batch_size=64, learning_rate=0.01))
    assert not _same(first.model.get_weights(), plain.model.get_weights())
    assert [e["epoch"] for e in first.info["epochs"]] == [1, 2]
    assert first.info["variant"] == "baseline" and first.info["settings"]["dropout_hidden"] == 0.3


def test_the_cache_round_trip(data, cache, pooled, monkeypatch, capsys):
    monkeypatch.setenv("NBHELPERS_CACHE", str(cache))
    loaded = A.trained_adversarial("FC100-100-10", data, seed=0, settings=TINY)
    assert "loaded" in capsys.readouterr().out
    assert _same(loaded.model.get_weights(), pooled.model.get_weights())
    assert loaded.info["refreshes"] == 2
    fgsm = A.trained_adversarial("FC100-100-10", data, seed=0, settings=TINY_FGSM, verbose=False)
    assert not _same(fgsm.model.get_weights(), pooled.model.get_weights())
    assert len(list(cache.glob("*.npz"))) == 2  # one entry per variant
    again = A.trained_adversarial("FC100-100-10", data, seed=0, settings=TINY_FGSM, verbose=False)
    assert _same(again.model.get_weights(), fgsm.model.get_weights())
    assert 0 <= fgsm.info["test_error"] <= 1 and len(fgsm.info["epochs"]) == 1
    other = dataclasses.replace(TINY, layers=(0, 1))
    assert A.trained_adversarial("FC100-100-10", data, seed=0, settings=other, verbose=False)
    assert len(list(cache.glob("*.npz"))) == 3  # the layers are part of the key


def test_a_refresh_fills_the_slots_failed_searches_left_empty_first(monkeypatch):
    """The first refresh fills the pool; one that comes back short leaves the end empty,
    and the next refresh fills those slots before it replaces any old example."""
    import nbhelpers.adversarial_training.pools as P

    settings = A.PoolSettings(pool_size=10, refresh_fraction=0.3)
    pool = {"layer": 0, "maps": None, "x": np.zeros((10, 2), np.float32), "filled": 0}
    pool["y"] = np.zeros(10, np.int64)
    found = iter([8, 3, 3])  # searches that succeed, per refresh

    def fake(maps, model, x, y, count, rng, settings, seed):
        n = min(count, next(found))
        return np.full((n, 2), seed, np.float32), np.full(n, seed), np.full(n, 0.1)

    monkeypatch.setattr(P, "_new_examples", fake)
    rng = np.random.default_rng(0)
    first = P.refresh(pool, None, None, None, rng, settings, seed=1)
    assert (first["kind"], first["asked"], first["new"], pool["filled"]) == ("fill", 10, 8, 8)
    second = P.refresh(pool, None, None, None, rng, settings, seed=2)
    assert (second["kind"], second["asked"], second["new"]) == ("replace", 3, 3)
    assert pool["filled"] == 10 and np.all(pool["x"][8:10] == 2)  # the empty end first
    assert np.sum(pool["x"][:8, 0] == 2) == 1  # then one random old example
    third = P.refresh(pool, None, None, None, rng, settings, seed=3)
    assert third["new"] == 3 and np.sum(pool["x"][:, 0] == 3) == 3 and pool["filled"] == 10


def _batch_by_batch(step, x, y):
    """The epoch loop as it was before it was traced: one traced step per minibatch."""
    import tensorflow as tf

    traced = tf.function(step)

    def run(plan, pools):
        return [float(traced(*A.assemble_batch(x, y, pools, *batch))) for batch in plan]

    return run


@pytest.mark.parametrize(
    "train, settings",
    [
        (A.train_with_pool, dataclasses.replace(TINY_LAYERS, epochs=2)),  # empty, then filled
        (A.train_baseline, TINY_DROPOUT),
        (A.train_fgsm, TINY_FGSM),
    ],
    ids=["pool per layer", "dropout", "fgsm"],
)
def test_the_traced_epoch_loop_trains_as_batch_by_batch(data, monkeypatch, train, settings):
    """The epoch's minibatches stepped in one traced loop give the very weights and losses
    of one call per minibatch (so models cached before the loop was traced stay valid)."""
    from nbhelpers.adversarial_training import trainers

    def run():
        return train("FC100-100-10", data.x_train, data.y_train, seed=1, settings=settings)

    traced = run()
    monkeypatch.setattr(trainers, "_epoch_function", _batch_by_batch)
    stepwise = run()
    assert _same(traced.model.get_weights(), stepwise.model.get_weights())
    losses = [[e["loss"] for e in r.info["epochs"]] for r in (traced, stepwise)]
    assert losses[0] == losses[1]


def test_consecutive_runs_cut_where_the_key_changes():
    """The minibatches one traced loop steps together: consecutive, with equal keys."""
    from nbhelpers.adversarial_training.trainers import consecutive_runs

    items = [(-1, 3), (-1, 3), (0, 3), (-1, 3), (-1, 2), (-1, 2)]
    assert consecutive_runs(items, lambda b: b) == [
        [(-1, 3), (-1, 3)], [(0, 3)], [(-1, 3)], [(-1, 2), (-1, 2)]
    ]  # fmt: skip
    assert consecutive_runs([], len) == []
    assert consecutive_runs(items, lambda b: b[1]) == [items[:4], items[4:]]
