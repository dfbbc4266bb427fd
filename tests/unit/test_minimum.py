"""Exact minimum distortion of a softmax regression: the dual's certificate, checked against
an independent solver, a closed form, and the book's search (an upper bound)."""

import numpy as np
import pytest

from nbhelpers import minimum


def _problem(seed=0, pixels=12, classes=4, n=6):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(pixels, classes))
    b = rng.normal(size=classes)
    x = rng.uniform(size=(n, pixels))
    labels = (x @ w + b).argmax(axis=1)
    targets = (labels + 1 + rng.integers(0, classes - 1, size=n)) % classes
    return w, b, x, targets


def _trust_constr(w, b, x, t):
    """The same problem in the primal, solved by scipy's trust-constr (a different method)."""
    from scipy.optimize import Bounds, LinearConstraint, minimize

    others = [j for j in range(w.shape[1]) if j != t]
    g = np.array([w[:, t] - w[:, j] for j in others])
    c = np.array([b[t] - b[j] for j in others])
    res = minimize(
        lambda r: 0.5 * r @ r,
        np.zeros_like(x),
        jac=lambda r: r,
        hess=lambda r: np.eye(len(r)),
        constraints=[LinearConstraint(g, -(g @ x + c), np.inf)],
        bounds=Bounds(-x, 1 - x),
        method="trust-constr",
        options={"gtol": 1e-12, "xtol": 1e-12, "maxiter": 5000},
    )
    assert res.status in (1, 2), res.message
    return np.sqrt(res.x @ res.x / len(x))


def test_the_minimum_matches_an_independent_solver_and_is_certified():
    w, b, x, targets = _problem()
    found = minimum.linear_minimum(w, b, x, targets)
    assert found.feasible.all()
    for i, t in enumerate(targets):
        assert found.distortion[i] == pytest.approx(_trust_constr(w, b, x[i], t), rel=1e-4)
    assert (found.lower <= found.distortion + 1e-12).all()
    assert (found.gap < 1e-6 * found.distortion).all()  # certified to six digits
    logits = (x + found.r) @ w + b  # on the boundary: the target ties the runner-up
    top = np.take_along_axis(logits, targets[:, None], axis=1)[:, 0]
    assert (top >= logits.max(axis=1) - 1e-9).all()
    assert ((x + found.r >= -1e-12) & (x + found.r <= 1 + 1e-12)).all()


def test_without_the_box_one_constraint_gives_the_projection_onto_a_half_space():
    # two classes, a small weight vector: the nearest point of the half-space stays inside
    w = np.zeros((4, 2))
    w[:, 1] = [0.1, -0.2, 0.3, 0.05]
    x = np.full((1, 4), 0.5)
    b = np.array([0.2, 0.0])  # class 0 wins at x by 0.2 − 0.5·0.25 = 0.075
    found = minimum.linear_minimum(w, b, x, [1])
    g = w[:, 1] - w[:, 0]
    s = g @ x[0] + b[1] - b[0]
    assert s < 0
    expected = -s / np.linalg.norm(g) / np.sqrt(4)  # ‖r‖ = |s| / ‖g‖, as an RMS
    assert found.distortion[0] == pytest.approx(expected, rel=1e-7)


def test_a_digit_already_of_the_target_needs_nothing():
    w, b, x, _ = _problem(seed=1)
    own = (x @ w + b).argmax(axis=1)
    found = minimum.linear_minimum(w, b, x, own)
    assert found.feasible.all() and np.allclose(found.distortion, 0.0)


def test_a_target_out_of_reach_of_the_box_is_reported_not_guessed():
    w = np.zeros((3, 2))
    w[0, 1] = 1.0  # class 1's logit: pixel 0 alone, at most 1
    b = np.array([0.0, -5.0])  # class 1 would need pixel 0 at 5
    found = minimum.linear_minimum(w, b, np.zeros((1, 3)), [1])
    assert not found.feasible[0] and np.isnan(found.distortion[0]) and found.lower[0] == np.inf
    assert np.isnan(found.r[0]).all()


def test_a_margin_makes_the_minimum_larger():
    w, b, x, targets = _problem(seed=2)
    plain = minimum.linear_minimum(w, b, x, targets)
    strict = minimum.linear_minimum(w, b, x, targets, margin=0.5)
    ok = plain.feasible & strict.feasible
    assert ok.sum() >= 3 and (strict.distortion[ok] > plain.distortion[ok]).all()
    logits = (x + strict.r)[ok] @ w + b
    top = np.take_along_axis(logits, targets[ok][:, None], axis=1)[:, 0]
    runner = np.where(np.eye(w.shape[1], dtype=bool)[targets[ok]], -np.inf, logits).max(axis=1)
    assert (top - runner >= 0.5 - 1e-7).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": np.zeros((2, 5))}, "x has 5 pixels per image, weights 12"),
        ({"targets": [0, 9, 1, 1, 1, 1]}, "targets"),
        ({"bias": np.zeros(3)}, r"weights must be \(pixels, classes\)"),
        ({"margin": -1.0}, "margin"),
    ],
)
def test_bad_input_is_refused_before_any_work(kwargs, message):
    w, b, x, targets = _problem()
    args = {"weights": w, "bias": b, "x": x, "targets": targets, **kwargs}
    if "x" in kwargs:
        args["targets"] = targets[: len(kwargs["x"])]
    with pytest.raises(ValueError, match=message):
        minimum.linear_minimum(**args)


def _right_digits(model, digits, start, stop):
    """The digits ``start:stop`` of ``digits`` the softmax regression gets right, each
    with a wrong target, and the model's weights."""
    x, y = digits
    xs, ys = x[start:stop], y[start:stop]
    w, b = minimum.softmax_weights(model)
    right = (xs @ w + b).argmax(axis=1) == ys
    xs, ys = xs[right], ys[right]
    return xs, ys, (ys + 1 + np.arange(len(ys)) % 9) % 10, w, b


def test_the_books_search_never_goes_below_the_exact_minimum(softmax_regression, shuffled_digits):
    """The box-constrained L-BFGS search is an upper bound; the exact minimum, certified,
    lies below every distortion it finds, and not far below on a softmax regression."""
    from nbhelpers import attacks

    xs, ys, targets, w, b = _right_digits(softmax_regression, shuffled_digits, 1000, 1040)
    searched = attacks.minimal_distortion(softmax_regression, xs, ys, targets, progress=False)
    exact = minimum.linear_minimum(w, b, xs, targets)
    ok = searched.success & exact.feasible
    assert ok.sum() >= 0.9 * len(xs)
    assert (searched.distortion[ok] >= exact.lower[ok] - 1e-4).all()
    assert np.median(searched.distortion[ok] / exact.distortion[ok]) < 1.5


def test_softmax_weights_refuses_a_model_with_hidden_layers():
    import keras

    deep = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="softmax regression.*2 Dense layers"):
        minimum.softmax_weights(deep)


def _sigmoid_chain(units=(30, 20), seed=0, pixels=784):
    """A Keras chain of sigmoid Dense layers and linear logits, random weights."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((pixels,))]
    layers += [keras.layers.Dense(u, activation="sigmoid") for u in units]
    return keras.Sequential([*layers, keras.layers.Dense(10)])


def _difference(model, x, y, t):
    logits = np.asarray(model(x.astype(np.float32)), dtype=np.float64)
    rows = np.arange(len(x))
    return logits[rows, y] - logits[rows, t]


def test_no_perturbation_within_the_certified_radius_reaches_the_target(shuffled_digits):
    """Random directions and the gradient's own direction, at 99% of the local radius:
    the label's logit stays above the target's for every digit."""
    x, _ = shuffled_digits
    model = _sigmoid_chain()
    xs = x[:30].astype(np.float64)
    logits = np.asarray(model(xs.astype(np.float32)))
    y = logits.argmax(axis=1)
    t = (y + 1) % 10
    bound = minimum.certified_radius(model, xs, y, t)
    assert (bound["local"] >= bound["global"]).all() and (bound["global"] > 0).all()
    radius = 0.99 * bound["local"] * np.sqrt(784)
    rng = np.random.default_rng(0)
    import tensorflow as tf

    xt = tf.constant(xs, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt)
        diff = tf.gather(out, y, batch_dims=1) - tf.gather(out, t, batch_dims=1)
    grad = tape.gradient(diff, xt).numpy().astype(np.float64)
    directions = [-grad] + [rng.normal(size=xs.shape) for _ in range(20)]
    for direction in directions:
        r = direction / np.linalg.norm(direction, axis=1, keepdims=True) * radius[:, None]
        assert (_difference(model, xs + r, y, t) > 0).all()


def test_saturated_sigmoids_make_the_local_bound_the_larger():
    """Around a digit whose hidden units sit far out on the sigmoid, the slopes on a small
    ball are far below 1/4: the local bound certifies a larger radius than the global one."""
    model = _sigmoid_chain(units=(30,), pixels=20)
    w, b = model.layers[0].get_weights()
    model.layers[0].set_weights([0.1 * w, np.full_like(b, 6.0)])
    xs = np.random.default_rng(1).uniform(size=(10, 20))
    logits = np.asarray(model(xs.astype(np.float32)))
    y = logits.argmax(axis=1)
    bound = minimum.certified_radius(model, xs, y, (y + 1) % 10)
    assert (bound["local"] > 1.5 * bound["global"]).all()


def test_without_hidden_layers_the_bound_is_the_half_space_distance_below_the_exact_minimum(
    softmax_regression, shuffled_digits
):
    x, y = shuffled_digits
    xs, ys = x[1000:1020].astype(np.float64), y[1000:1020]
    w, b = minimum.softmax_weights(softmax_regression)
    right = (xs @ w + b).argmax(axis=1) == ys
    xs, ys = xs[right], ys[right]
    targets = (ys + 3) % 10
    bound = minimum.certified_radius(softmax_regression, xs, ys, targets)
    a = w[:, ys] - w[:, targets]
    margin = (xs @ w + b)[np.arange(len(xs)), ys] - (xs @ w + b)[np.arange(len(xs)), targets]
    expected = margin / np.linalg.norm(a, axis=0) / np.sqrt(784)
    assert bound["global"] == pytest.approx(expected, rel=1e-9)
    assert bound["local"] == pytest.approx(expected, rel=1e-6)
    exact = minimum.linear_minimum(w, b, xs, targets)
    assert (bound["local"][exact.feasible] <= exact.lower[exact.feasible] + 1e-9).all()


def test_certified_radius_refuses_what_it_cannot_bound():
    import keras

    conv = keras.Sequential(
        [keras.Input((784,)), keras.layers.Reshape((28, 28, 1)), keras.layers.Conv2D(2, 3)]
    )
    x = np.zeros((2, 784))
    with pytest.raises(TypeError, match="chain of Dense layers.*Reshape"):
        minimum.certified_radius(conv, x, [0, 1], [1, 0])
    with pytest.raises(ValueError, match="targets must differ from labels"):
        minimum.certified_radius(_sigmoid_chain(), x, [0, 1], [0, 2])


def test_deepfool_on_a_softmax_regression_lands_near_the_exact_minimum(
    softmax_regression, shuffled_digits
):
    """On a linear model DeepFool's targeted step is the projection onto the target's
    boundary: never below the exact minimum, and close above it."""
    xs, ys, targets, w, b = _right_digits(softmax_regression, shuffled_digits, 1000, 1030)
    fooled = minimum.deepfool(softmax_regression, xs, ys, targets)
    exact = minimum.linear_minimum(w, b, xs, targets)
    ok = fooled.success & exact.feasible
    assert ok.mean() > 0.9 and (fooled.reached[fooled.success] == targets[fooled.success]).all()
    assert (fooled.distortion[ok] >= exact.lower[ok] - 1e-6).all()
    assert np.median(fooled.distortion[ok] / exact.distortion[ok]) < 1.2


def test_untargeted_deepfool_changes_the_label_and_respects_the_certified_radius(
    shuffled_digits,
):
    x, _ = shuffled_digits
    model = _sigmoid_chain()
    xs = x[:20]
    y = np.asarray(model(xs.astype(np.float32))).argmax(axis=1)
    fooled = minimum.deepfool(model, xs, y)
    assert fooled.success.mean() > 0.9
    assert (fooled.reached[fooled.success] != y[fooled.success]).all()
    assert ((fooled.x_adv >= 0) & (fooled.x_adv <= 1)).all()
    # no target is reached below the certified radius of its (label, target) pair
    s = fooled.success
    bound = minimum.certified_radius(model, xs[s], y[s], fooled.reached[s])
    assert (fooled.distortion[s] >= bound["local"] - 1e-6).all()


def test_compared_sets_each_method_beside_the_search_on_the_digits_both_reached():
    methods = {
        "search": (np.array([0.1, 0.2, 0.4, np.nan]), np.array([True, True, True, False])),
        "exact": (np.array([0.1, 0.1, 0.2, 0.3]), np.array([True, True, True, True])),
        "deepfool": (np.array([0.2, 0.4, np.nan, 0.5]), np.array([True, True, False, True])),
    }
    out = minimum.compared(methods)
    assert out["search"]["median ratio"] == 1.0 and out["search"]["digits"] == 3
    assert out["exact"]["digits"] == 3 and out["exact"]["median ratio"] == pytest.approx(0.5)
    assert out["exact"]["reached"] == 100.0 and out["exact"]["mean"] == pytest.approx(0.4 / 3)
    deep = out["deepfool"]  # the first two digits: the only ones both reached
    assert deep["digits"] == 2 and deep["reached"] == 75.0
    assert deep["mean"] == pytest.approx(0.3) and deep["reference mean"] == pytest.approx(0.15)
    assert deep["median ratio"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="reference 'search'"):
        minimum.compared({"exact": methods["exact"]})
    with pytest.raises(ValueError, match="one distortion per digit"):
        minimum.compared({**methods, "bad": (np.zeros(3), np.ones(3, bool))})


def test_the_best_found_is_per_digit_the_smallest_any_search_reached():
    methods = {
        "search": (np.array([0.3, 0.2, np.nan]), np.array([True, True, False])),
        "deepfool": (np.array([0.1, 0.5, 0.1]), np.array([True, True, True])),
        "fgsm": (np.array([0.05, 0.6, 0.2]), np.array([False, True, True])),
    }
    assert list(minimum.best_found(methods)) == [0.1, 0.2]  # the search's digits only


def test_the_sandwich_figure_has_a_panel_per_model():
    import matplotlib

    matplotlib.use("Agg")
    d = np.array([0.3, 0.1, 0.2])
    fig = minimum.sandwich_figure({f"m{i}": {"search": d, "bound": d / 2} for i in range(4)})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["m0", "m1", "m2", "m3"]
    assert list(visible[0].lines[0].get_ydata()) == [0.1, 0.2, 0.3]  # sorted by the search
    with pytest.raises(ValueError, match="no 'search'"):
        minimum.sandwich_figure({"m": {"bound": d}})


def test_methods_of_one_model_and_the_ratio_table():
    from types import SimpleNamespace as NS

    search = NS(distortion=np.array([0.1, 0.0, 0.2]), success=np.array([True, False, True]))
    asked = np.array([True, False, True])  # the middle digit was misclassified already
    bounds = {"global": np.array([0.02, 0.05]), "local": np.array([0.04, 0.05])}
    exact = NS(distortion=np.array([0.09, 0.2]), feasible=np.array([True, True]))
    deepfool = NS(distortion=np.array([0.1, 0.3]), success=np.array([True, False]))
    methods = minimum.methods_of(search, asked, bounds, exact, {"DeepFool": deepfool})
    assert list(methods) == ["search", "bound (global)", "bound (local)", "exact", "DeepFool"]
    assert list(methods["search"][0]) == [0.1, 0.2] and methods["bound (local)"][1].all()
    table = minimum.ratio_table({"m": minimum.compared(methods)})["m"]
    assert table["search"] == pytest.approx(0.15)
    assert table["local bound"] == pytest.approx(0.325)  # median of 0.4 and 0.25
    assert table["exact"] == pytest.approx(0.95) and table["DeepFool"] == pytest.approx(1.0)
    assert table["DeepFool reached (%)"] == 50.0 and "FGSM reached (%)" not in table


def test_carlini_wagner_on_a_softmax_regression_lands_near_the_exact_minimum(
    softmax_regression, shuffled_digits
):
    """A strong search from above: never below the certified minimum, within a few per
    cent of it on the median digit, in the box, and every success reaches its target."""
    xs, ys, targets, w, b = _right_digits(softmax_regression, shuffled_digits, 1000, 1030)
    cw = minimum.carlini_wagner(softmax_regression, xs, ys, targets)
    exact = minimum.linear_minimum(w, b, xs, targets)
    ok = cw.success & exact.feasible
    assert ok.mean() > 0.9
    assert (cw.distortion[ok] >= exact.lower[ok] - 1e-6).all()
    assert np.median(cw.distortion[ok] / exact.distortion[ok]) < 1.05
    reached = np.asarray(softmax_regression(cw.x_adv[cw.success])).argmax(axis=1)
    assert (reached == targets[cw.success]).all()
    assert ((cw.x_adv[cw.success] >= 0) & (cw.x_adv[cw.success] <= 1)).all()
    assert (cw.evaluations == 9 * 300).all() and (cw.c[cw.success] > 0).all()


def test_carlini_wagner_reports_failures_per_digit_and_is_deterministic(
    softmax_regression, shuffled_digits
):
    """Too small a budget fails some digits: reported (inf, NaN image), not replaced."""
    xs, ys, targets, *_ = _right_digits(softmax_regression, shuffled_digits, 1000, 1030)
    weak = minimum.carlini_wagner(
        softmax_regression, xs, ys, targets, binary_steps=1, iterations=3, c_init=1e-3
    )
    assert not weak.success.all()
    assert np.isinf(weak.distortion[~weak.success]).all()
    assert np.isnan(weak.x_adv[~weak.success]).all()
    again = minimum.carlini_wagner(
        softmax_regression, xs, ys, targets, binary_steps=1, iterations=3, c_init=1e-3
    )
    np.testing.assert_array_equal(weak.distortion, again.distortion)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"binary_steps": 0}, "binary_steps"),
        ({"iterations": 0}, "iterations"),
        ({"c_init": 0.0}, "c_init"),
        ({"learning_rate": -1.0}, "learning_rate"),
    ],
)
def test_carlini_wagner_refuses_bad_settings(softmax_regression, kwargs, message):
    x = np.full((2, 784), 0.5, np.float32)
    with pytest.raises(ValueError, match=message):
        minimum.carlini_wagner(softmax_regression, x, [0, 1], [1, 0], **kwargs)
    with pytest.raises(ValueError, match="targets must differ"):
        minimum.carlini_wagner(softmax_regression, x, [0, 1], [0, 2])


def test_equal_effort_splits_the_search_s_evaluations_over_the_values_of_c():
    assert minimum.equal_effort(300.0, 3) == 100
    assert minimum.equal_effort(2.0, 3) == 1  # never no step at all
    with pytest.raises(ValueError, match="binary_steps"):
        minimum.equal_effort(300.0, 0)


def test_effort_row_sets_carlini_wagner_beside_the_search():
    from types import SimpleNamespace as NS

    search = NS(
        distortion=np.array([0.1, 0.0, 0.2, 0.4]),
        success=np.array([True, False, True, True]),
        evaluations=np.array([100, 0, 300, 200]),
    )
    asked = np.array([True, False, True, True])
    same = NS(
        distortion=np.array([0.2, np.inf, np.inf]),
        success=np.array([True, False, False]),
        evaluations=np.full(3, 200),
    )
    full = NS(
        distortion=np.array([0.1, 0.1, 0.2]), success=np.ones(3, bool), evaluations=np.full(3, 900)
    )
    row = minimum.effort_row(search, asked, full, same)
    assert row["search evaluations"] == 200.0 and row["search reached (%)"] == 100.0
    assert row["C&W same effort reached (%)"] == pytest.approx(100 / 3)
    assert row["C&W same effort ratio"] == pytest.approx(2.0)
    assert row["C&W full ratio"] == pytest.approx(0.5) and row["C&W full evaluations"] == 900.0


def test_ratio_fmt_formats_the_columns_a_table_has():
    table = {"m": {"search": 0.1, "exact": 1.1, "DeepFool reached (%)": 90.0}}
    assert minimum.ratio_fmt(table) == {"search": "{:.4f}", "DeepFool reached (%)": "{:.0f}"}
