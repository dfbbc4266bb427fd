"""Page "Teaching with this book": the exercises it lists are every chapter's, as they are."""

import nbformat
import pytest

from bookkit import editions, toc

pytestmark = pytest.mark.book


def test_the_page_lists_every_chapter_with_exercises(results):
    listed = set(results["per_chapter"])
    expected = {p.stem for p in editions.with_exercises(toc.chapters())}
    assert listed == expected


def test_the_counts_are_the_chapters_own(results):
    for stem, row in results["per_chapter"].items():
        found = editions.exercises(nbformat.read(toc.ROOT / "book" / f"{stem}.ipynb", 4))
        assert row["exercises"] == len(found), stem
        assert row["graded"] == sum(e["question"] is not None for e in found), stem
        assert 3 <= row["exercises"] <= 5 and row["graded"] >= 1 and row["points"] >= 1, stem
