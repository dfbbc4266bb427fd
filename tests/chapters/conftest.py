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


@pytest.fixture(scope="module")
def page_text(request, built_book):
    """Everything the requesting module's executed chapter shows as text: its Markdown
    cells and its code cells' Markdown and plain-text outputs, in order."""
    import nbformat

    stem = Path(request.module.__file__).stem.removeprefix("test_")
    nb = nbformat.read(built_book / "source" / "book" / f"{stem}.ipynb", as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            parts.append(data.get("text/markdown") or data.get("text/plain") or out.get("text", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def recorded_run(request):
    """The recording of the requesting module's chapter (`nbhelpers.recording.recorded`)."""
    from nbhelpers import recording

    stem = Path(request.module.__file__).stem.removeprefix("test_")
    run = recording.recorded(stem)
    assert run is not None, f"{stem} has no recording: python -m bookkit record {stem}"
    return run


@pytest.fixture(scope="module")
def shows_recorded(written, page_text):
    """Whether the page shows the recorded run's tables: a small-sample build does; a build
    at the paper's scale shows its own tables instead, and none of the recorded run's
    (checked here), so the same claims tests pass on both."""
    if written["data"]["is_full"]:
        assert "**At the paper's scale.**" not in page_text
        return False
    return True
