"""Fixtures of the chapters' claims tests: the numbers the chapter a test module is named
after wrote in the smoke build (tests/chapters/test_03_blind_spots.py reads what
book/03_blind_spots.ipynb wrote, 03_blind_spots.json).

Every test here needs the smoke build: each module says so with
``pytestmark = pytest.mark.book``, so that ``pytest -m "not book"`` never builds the book.
"""

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def written(request, chapter_results):
    """The whole JSON of the requesting module's chapter: chapter, data, parameters,
    results and paper."""
    stem = Path(request.module.__file__).stem.removeprefix("test_")
    return chapter_results(stem)


@pytest.fixture(scope="module")
def results(written):
    """The chapter's own numbers, ``written["results"]``."""
    return written["results"]
