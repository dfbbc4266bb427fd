"""Every chapter's exercises follow the course edition's convention (bookkit.editions).

Three to five exercises per chapter, each with a solution, at least one of them an otter
question; every check cell one test function and its call (what otter reads, and what
makes papermill fail the chapter on a wrong solution); the exercises after the cell that
writes the chapter's numbers, so that they cannot change them; labels unique in the book.
"""

import ast

import nbformat
import pytest

from bookkit import editions, toc

CHAPTERS = editions.with_exercises(toc.chapters())  # the pages about them set none


def _read(path):
    return nbformat.read(path, as_version=4)


def _check_cells(nb):
    """The code cells between ``# BEGIN TESTS`` and ``# END TESTS``."""
    cells, inside = [], False
    for cell in nb.cells:
        mark = editions.marker(cell)
        inside = {"BEGIN TESTS": True, "END TESTS": False}.get(mark, inside)
        if inside and cell.cell_type == "code":
            cells.append(cell)
    return cells


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_three_to_five_exercises_with_solutions(chapter):
    found = editions.exercises(_read(chapter))  # raises where the convention is broken
    labels = [e["label"] for e in found]
    assert 3 <= len(found) <= 5, f"{chapter.name}: expected 3-5 exercises, got {labels}"
    unsolved = [e["label"] for e in found if not e["solution"]]
    assert not unsolved, f"{chapter.name}: exercises without a solution: {unsolved}"
    graded = [e for e in found if e["question"]]
    assert graded, f"{chapter.name}: expected at least one otter question, got none of {labels}"
    renamed = [(e["label"], e["question"]) for e in graded if e["question"] != e["label"]]
    assert not renamed, f"{chapter.name}: expected each question named as its label: {renamed}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_check_is_one_test_function_and_its_call(chapter):
    for cell in _check_cells(_read(chapter)):
        body = ast.parse(cell.source).body
        ok = (
            len(body) == 2
            and isinstance(body[0], ast.FunctionDef)
            and body[0].name.startswith("test_")
            and isinstance(body[1], ast.Expr)
            and isinstance(body[1].value, ast.Call)
            and getattr(body[1].value.func, "id", None) == body[0].name
            and [getattr(a, "id", None) for a in body[1].value.args]
            == [a.arg for a in body[0].args.args]
        )
        assert ok, (
            f"{chapter.name}: a check cell must be `def test_...(names)` and its call with the "
            f"same names (otter passes the notebook's values by name):\n{cell.source}"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_come_after_the_chapters_numbers(chapter):
    cells = _read(chapter).cells
    heading = [i for i, c in enumerate(cells) if c.source.lstrip().startswith("## Exercises")]
    writes = [
        i for i, c in enumerate(cells) if c.cell_type == "code" and "write_results(" in c.source
    ]
    assert len(heading) == 1, f"{chapter.name}: expected one '## Exercises' section"
    assert writes and max(writes) < heading[0], (
        f"{chapter.name}: expected the cell writing the chapter's numbers (cell {writes}) before "
        f"the exercises (cell {heading[0]})"
    )


def test_exercise_labels_are_unique_in_the_book():
    labels = [e["label"] for chapter in CHAPTERS for e in editions.exercises(_read(chapter))]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    assert not repeated, f"expected unique exercise labels across the book, repeated: {repeated}"
