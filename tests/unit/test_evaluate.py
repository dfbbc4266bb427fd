"""Unit tests of nbhelpers.evaluate on a hand-made linear model (exact answers, no training)."""

import numpy as np
import pytest

from nbhelpers.evaluate import accuracy, error_rate, input_gradient, logits, predict_labels


@pytest.fixture(scope="module")
def linear():
    """784 -> 10 logits, logit k = 2 * pixel k + k / 100 (an image with pixel k lit is class k)."""
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    w = np.zeros((784, 10), np.float32)
    w[np.arange(10), np.arange(10)] = 2.0
    b = np.arange(10, dtype=np.float32) / 100
    model.set_weights([w, b])
    return model, w, b


@pytest.fixture(scope="module")
def lit():
    classes = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8])
    x = np.zeros((len(classes), 784), np.float32)
    x[np.arange(len(classes)), classes] = 0.7
    return x, classes


def test_logits_and_labels(linear, lit):
    model, w, b = linear
    x, classes = lit
    out = logits(model, x, batch_size=5)
    assert out.shape == (12, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-6)
    np.testing.assert_array_equal(predict_labels(model, x), classes)
    np.testing.assert_array_equal(predict_labels(model, x, batch_size=5), classes)
    np.testing.assert_array_equal(predict_labels(model, x.tolist(), batch_size=1), classes)
    assert predict_labels(model, np.zeros((0, 784), np.float32)).shape == (0,)
    assert logits(model, np.zeros((0, 784), np.float32)).shape == (0, 10)


def test_predict_labels_and_accuracy(linear, lit):
    model, _, _ = linear
    x, y = lit
    assert np.array_equal(predict_labels(model, x, batch_size=5), y)
    assert accuracy(model, x, y) == 1.0
    xn = x.copy()
    xn[0] = np.nan  # failed rows are left out
    assert accuracy(model, xn, y) == 1.0
    y_wrong = y.copy()
    y_wrong[:3] = (y_wrong[:3] + 1) % 10
    assert accuracy(model, xn, y_wrong) == pytest.approx(9 / 11)
    assert np.isnan(accuracy(model, np.full_like(x, np.nan), y))
    with pytest.raises(ValueError, match="as many labels as images"):
        accuracy(model, x, y[:3])


def test_error_rate(linear, lit):
    model, _, _ = linear
    x, y = lit
    assert error_rate(model, x, y) == 0.0
    y_wrong = y.copy()
    y_wrong[[0, 4, 11]] = (y_wrong[[0, 4, 11]] + 1) % 10
    assert error_rate(model, x, y_wrong, batch_size=5) == pytest.approx(3 / 12)
    with pytest.raises(ValueError, match="got 11 labels for 12 images"):
        error_rate(model, x, y[:-1])
    with pytest.raises(ValueError, match="expected at least one image, got none"):
        error_rate(model, np.zeros((0, 784), np.float32), [])
    with pytest.raises(ValueError, match=r"\(12, 1\)"):
        error_rate(model, x, y.reshape(-1, 1))


def test_box_false_takes_pixels_outside_the_box(linear, lit):
    """Unclipped noise leaves [0, 1]: refused by default, evaluated with box=False."""
    model, _, _ = linear
    x, y = lit
    shifted = x * 2 - 0.2  # lit pixel 1.2, the others -0.2: same classes
    for f in (error_rate, accuracy):
        with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
            f(model, shifted, y)
    assert error_rate(model, shifted, y, box=False) == 0.0
    assert accuracy(model, shifted, y, box=False) == 1.0
    np.testing.assert_array_equal(predict_labels(model, shifted, box=False), y)


def test_input_gradient_is_the_cross_entropy_gradient(linear, lit):
    """For logits W^T x + b: d CE / dx = W (softmax(logits) - onehot(y))."""
    model, w, b = linear
    x, y = lit
    z = x.astype(np.float64) @ w + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = (p - np.eye(10)[y]) @ w.T
    got = input_gradient(model, x, y, batch_size=5)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # per image: the gradient of one image's loss does not depend on the others in its batch
    np.testing.assert_allclose(input_gradient(model, x[:1], y[:1]), got[:1], atol=1e-7)


def test_image_shaped_input_gradient():
    import keras

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
    assert input_gradient(model, x, [0, 1, 2]).shape == x.shape


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x, y: predict_labels(m, x, batch_size=0), ValueError, "batch_size must be >= 1"),
        (
            lambda m, x, y: predict_labels(m, x, batch_size=2.0),
            TypeError,
            "batch_size must be an int",
        ),
        (lambda m, x, y: logits(m, x + 2), ValueError, r"pixel values in \[0, 1\]"),
        (lambda m, x, y: error_rate(m, x, y + 10), ValueError, r"labels must lie in \[0, 9\]"),
        (lambda m, x, y: accuracy(m, x, y + 0.5), TypeError, "integer class indices"),
        (lambda m, x, y: input_gradient(m, x, -y - 1), ValueError, r"labels must lie in"),
    ],
)
def test_bad_input_is_explained(linear, lit, call, error, match):
    model, _, _ = linear
    x, y = lit
    with pytest.raises(error, match=match):
        call(model, x, y)


def test_a_search_alone_turns_on_deterministic_ops():
    """Same seed, same numbers, whether or not the process trained a model first."""
    import subprocess
    import sys

    code = (
        "import numpy as np, keras\n"
        "from tensorflow.python.framework.config import is_op_determinism_enabled as on\n"
        "from nbhelpers.attacks import minimal_distortion\n"
        "assert not on()\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])\n"
        "minimal_distortion(m, np.full((2, 4), 0.5), [0, 1], progress=False)\n"
        "print(on())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("True")


def test_logits_take_pixels_outside_the_box_only_when_asked():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.array([[-0.5, 0.2, 1.5, 0.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        logits(model, x)
    np.testing.assert_allclose(logits(model, x, box=False), np.asarray(model(x)))
