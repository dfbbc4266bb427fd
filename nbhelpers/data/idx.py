"""MNIST's file format, IDX: reading one file, and the four files of a MNIST folder.

IDX is the format MNIST is published in (Y. LeCun, C. Cortes and C. J. C. Burges,
*The MNIST database of handwritten digits*, http://yann.lecun.com/exdb/mnist/,
section "File formats for the MNIST database"): a 4-byte magic number (two zero
bytes, a data-type byte, the number of dimensions), one big-endian int32 size per
dimension, then the data in C order. MNIST uses only the unsigned-byte type (0x08),
the one `read_idx` accepts.

`read_mnist_folder` finds the four standard files in a folder (each may be gzipped),
checks that a file of the published full size holds the published bytes (their md5,
``PUBLISHED_IDX``) and that images, labels and counts fit together, and returns the
raw uint8 arrays. Making them a data set is ``nbhelpers.data``'s job: this module
does not import it, and is told the image shape and number of classes instead.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np

__all__ = ["IDX_FILES", "PUBLISHED_IDX", "read_idx", "read_mnist_folder"]

# The four standard MNIST IDX files, keyed by role; each may also end in ".gz".
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# The published files (yann.lecun.com/exdb/mnist): shape (as in each file's IDX
# header) and md5 of each uncompressed file. A file of the published shape must have
# the published bytes; any other size is read as a partial MNIST and described as such.
PUBLISHED_IDX = {
    "x_train": ((60_000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"),
    "y_train": ((60_000,), "a25bea736e30d166cdddb491f175f624"),
    "x_test": ((10_000, 28, 28), "2646ac647ad5339dbf082846283269ea"),
    "y_test": ((10_000,), "27ae3e4e09519cfbb04c329615203637"),
}

# The IDX data-type byte (third byte of the magic number) and what it stands for.
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the format MNIST ships in), gzipped (.gz) or not.

    Only the unsigned-byte type (0x08) is accepted; MNIST uses nothing else.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(
                f"{path}: expected a gzip-compressed IDX file, but it cannot be decompressed ({e})"
            ) from None
    if len(raw) < 4:
        raise ValueError(
            f"{path}: truncated IDX header: expected at least 4 bytes, found {len(raw)}"
        )
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number: expected two zero bytes, found "
            f"0x{raw[0]:02X} 0x{raw[1]:02X} (not an IDX file?)"
        )
    if raw[2] != 0x08:
        found = _IDX_TYPES.get(raw[2], "unknown type")
        raise ValueError(
            f"{path}: expected IDX data type byte 0x08 (unsigned byte), "
            f"found 0x{raw[2]:02X} ({found})"
        )
    ndim = raw[3]
    if ndim == 0:
        raise ValueError(f"{path}: expected at least 1 dimension in the IDX header, found 0")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header: expected {header} bytes for "
            f"{ndim} dimensions, found {len(raw)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in dims):
        raise ValueError(f"{path}: negative size in IDX header: {dims}")
    expected = math.prod(dims)
    found = len(raw) - header
    if found < expected:
        raise ValueError(
            f"{path}: truncated data: header promises shape {dims} = "
            f"{expected:,} bytes, found {found:,}"
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected:,} trailing bytes: header promises "
            f"shape {dims} = {expected:,} bytes, found {found:,}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _idx_paths(folder: Path) -> dict[str, Path]:
    """The four MNIST IDX files in folder (plain preferred over .gz)."""
    found, missing = {}, []
    for role, name in IDX_FILES.items():
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.is_file():
                found[role] = cand
                break
        else:
            missing.append(name)
    if missing:
        accepted = ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
        raise FileNotFoundError(
            f"{folder}: missing MNIST IDX file(s): {', '.join(missing)} "
            f"(each may also end in .gz). Accepted names: {accepted}"
        )
    return found


def _check_published(path: Path, role: str, a: np.ndarray, published: dict) -> None:
    """A file of the published MNIST shape must hold the published bytes (its md5)."""
    shape, md5 = published[role]
    if a.shape != shape:
        return
    h = hashlib.md5(bytes([0, 0, 0x08, a.ndim]), usedforsecurity=False)
    h.update(np.asarray(a.shape, dtype=">i4").tobytes())
    h.update(np.ascontiguousarray(a).tobytes())
    if h.hexdigest() != md5:
        raise ValueError(
            f"{path}: has the size of the published MNIST file but not its content "
            f"(md5 of the uncompressed file {h.hexdigest()}, published {md5}): "
            f"damaged, or another data set of the same size"
        )


def read_mnist_folder(
    folder: Path,
    *,
    image_shape: tuple[int, int],
    n_classes: int,
    published: dict | None = None,
) -> dict[str, np.ndarray]:
    """The four standard MNIST IDX files in a folder, checked, as raw uint8 arrays.

    Keyed like ``IDX_FILES``: images (n, *image_shape), labels (n,) in
    0..n_classes-1, the same n for a split's images and labels. A file of the
    published full size must hold the published bytes (``published``, by default
    ``PUBLISHED_IDX``); any other size is taken as a partial MNIST.
    """
    published = PUBLISHED_IDX if published is None else published
    paths = _idx_paths(folder)
    arrays = {role: read_idx(p) for role, p in paths.items()}
    want = ", ".join(str(n) for n in image_shape)
    for role, a in arrays.items():
        _check_published(paths[role], role, a, published)
    for split in ("train", "test"):
        xp, yp = paths[f"x_{split}"], paths[f"y_{split}"]
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != tuple(image_shape):
            raise ValueError(f"{xp}: expected images of shape (n, {want}), found {x.shape}")
        if y.ndim != 1:
            raise ValueError(f"{yp}: expected a 1-D label array, found shape {y.shape}")
        if y.size and y.max() >= n_classes:
            bad = np.unique(y[y >= n_classes])
            raise ValueError(
                f"{yp}: expected labels 0..{n_classes - 1}, found values {bad[:10].tolist()}"
            )
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{xp} has {x.shape[0]:,} images but {yp} has "
                f"{y.shape[0]:,} labels; expected the same count"
            )
    return arrays
