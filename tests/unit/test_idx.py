"""Tests for nbhelpers.data.idx: the IDX format and a folder of MNIST's four IDX files."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from nbhelpers import data
from nbhelpers.data import idx


def _idx(a):
    """The bytes of an unsigned-byte IDX file holding a."""
    a = np.asarray(a, dtype=np.uint8)
    return bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, dtype=">i4").tobytes() + a.tobytes()


@pytest.fixture
def small(tmp_path):
    """A folder of the four files with 5x4 'images' and labels 0..2 (not MNIST's sizes)."""
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 5, 4), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 0, 1, 2], dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 5, 4), dtype=np.uint8),
        "y_test": np.array([2, 1, 0], dtype=np.uint8),
    }
    for role, name in idx.IDX_FILES.items():
        raw = _idx(arrays[role])
        if role == "x_test":  # one gzipped file among plain ones
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    return tmp_path, arrays


def test_idx_stands_alone():
    """No cycle: the format module imports nothing of the package; the loader builds on it."""
    source = Path(idx.__file__).read_text()
    assert "from ." not in source and "import nbhelpers" not in source


def test_data_shares_the_tables():
    assert data.IDX_FILES is idx.IDX_FILES and data.PUBLISHED_IDX is idx.PUBLISHED_IDX
    # the published image files hold images of the package's MNIST size
    for role in ("x_train", "x_test"):
        assert idx.PUBLISHED_IDX[role][0][1:] == data.IMAGE_SHAPE


def test_read_mnist_folder_uses_the_sizes_it_is_given(small):
    folder, arrays = small
    got = idx.read_mnist_folder(folder, image_shape=(5, 4), n_classes=3)
    assert list(got) == list(idx.IDX_FILES)
    for role, a in arrays.items():
        assert got[role].dtype == np.uint8
        np.testing.assert_array_equal(got[role], a)
    with pytest.raises(
        ValueError, match=r"expected images of shape \(n, 28, 28\), found \(6, 5, 4\)"
    ):
        idx.read_mnist_folder(folder, image_shape=(28, 28), n_classes=3)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: expected labels 0..1, found"):
        idx.read_mnist_folder(folder, image_shape=(5, 4), n_classes=2)


def test_read_mnist_folder_checks_the_published_table_it_is_given(small):
    folder, arrays = small
    table = {r: (a.shape, hashlib.md5(_idx(a)).hexdigest()) for r, a in arrays.items()}
    idx.read_mnist_folder(folder, image_shape=(5, 4), n_classes=3, published=table)
    table["x_test"] = (arrays["x_test"].shape, "0" * 32)
    with pytest.raises(
        ValueError, match=r"t10k-images-idx3-ubyte.gz: has the size of the published"
    ):
        idx.read_mnist_folder(folder, image_shape=(5, 4), n_classes=3, published=table)
