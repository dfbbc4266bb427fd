"""Shared fixtures: the smoke build of the whole book, made once per test session."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Execute every chapter with the smoke profile and build the HTML book (minutes).

    Run as `make book` runs it, in a process of its own without pytest's environment:
    ipykernel stops copying file descriptor 2 into cell outputs when it sees
    PYTEST_CURRENT_TEST, which would hide from the tests what readers would see.
    With NBHELPERS_TEST_REUSE=1 and NBHELPERS_TEST_BUILD naming an earlier build (or a
    folder where `python -m bookkit execute ... --out <it>/source/book` ran one
    chapter), the tests read that build instead of making a new one: for working on one
    chapter.
    """
    out = Path(os.environ.get("NBHELPERS_TEST_BUILD") or tmp_path_factory.mktemp("book"))
    if os.environ.get("NBHELPERS_TEST_REUSE") == "1" and (out / "source" / "book").is_dir():
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
def chapter_results(built_book):
    """The JSON of numbers each chapter wrote, by notebook stem."""

    def load(stem):
        path = built_book / "source" / "book" / f"{stem}.json"
        assert path.exists(), f"{stem} wrote no results file at {path}"
        return json.loads(path.read_text())

    return load


SCREENSHOTS = pytest.StashKey[Path]()


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
    folder = config.stash.get(SCREENSHOTS, None)
    if folder is not None:
        shots = sorted(folder.glob("*.png"))
        terminalreporter.write_line(f"screenshots of {len(shots)} pages: {folder}")
