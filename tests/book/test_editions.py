"""The course edition on the built book: the student edition holds no solution, and otter's
round trip on a chapter grades its reference solutions in full and blanks at zero."""

import html
import os
import re

import nbformat
import pytest

from bookkit import build, course, editions, toc

pytestmark = pytest.mark.book
OTTER_CHAPTER = "01_framework"  # the cheapest chapter on its own: its models load from the cache


def _visible_text(page: str) -> str:
    """A page's text without tags or entities, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = text.translate(str.maketrans("‘’“”–", "''\"\"-"))  # Sphinx's smart quotes
    return " ".join(text.split())


@pytest.fixture(scope="module")
def student_site(built_book):
    return build.render_html(built_book, sources=False, edition="student")


@pytest.fixture(scope="module")
def executed(built_book):
    folder = built_book / "source" / "book"
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def _solution_lines(nb) -> set[str]:
    """The distinctive lines of a chapter's solutions and checks: long enough to be their
    own, and found nowhere else in the chapter (an import the chapter makes too is not)."""
    rest = " ".join(
        " ".join("".join(cell.source).split()) for cell in editions.student_notebook(nb).cells
    )
    lines = set()
    for text in editions.solution_texts(nb):
        for line in text.splitlines():
            line = " ".join(line.split())
            if (
                len(line) >= 24
                and not line.startswith(("```", ":class:", "#"))
                and line not in rest
            ):
                lines.add(line)
    return lines


def test_the_student_pages_show_the_exercises_and_no_solution(student_site, executed):
    checked = 0
    for stem, nb in executed.items():
        found = editions.exercises(nb)
        if not found:
            continue
        page = _visible_text((student_site / "book" / f"{stem}.html").read_text())
        for e in found:
            assert _visible_text(e["title"]) in page, f"{stem}: exercise {e['title']!r} missing"
        leaked = [line for line in _solution_lines(nb) if line in page]
        assert not leaked, f"{stem}: solution text in the student edition: {leaked[:3]}"
        assert "solution dropdown" not in (student_site / "book" / f"{stem}.html").read_text()
        checked += 1
    assert checked >= 4, f"only {checked} chapters with exercises"


def test_the_full_edition_shows_the_solutions(built_book, executed):
    site = built_book / "_build" / "html"
    stem, nb = next((s, nb) for s, nb in executed.items() if editions.solution_texts(nb))
    page = _visible_text((site / "book" / f"{stem}.html").read_text())
    assert any(line in page for line in _solution_lines(nb))


def test_the_full_edition_shows_no_grading_machinery(built_book, executed):
    """Solutions without otter's marks, and no check's code: readers see the answer only."""
    site = built_book / "_build" / "html"
    checked = 0
    for stem, nb in executed.items():
        if not editions.exercises(nb):
            continue
        page = _visible_text((site / "book" / f"{stem}.html").read_text())
        for mark in ("# BEGIN SOLUTION", "# END SOLUTION", "# SOLUTION", "# HIDDEN"):
            assert mark not in page, f"{stem}: {mark!r} shown"
        assert "def test_" not in page, f"{stem}: a check's code is shown"
        checked += 1
    assert checked >= 4


def test_the_reader_notebook_strips_the_marks_and_hides_the_checks():
    C, R = nbformat.v4.new_code_cell, nbformat.v4.new_raw_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        R("# BEGIN QUESTION\nname: q\npoints: 1"),
        R("# BEGIN SOLUTION"),
        C("# BEGIN SOLUTION\nx = 1  # SOLUTION\ny = 2\n# END SOLUTION\nprint(x)"),
        R("# END SOLUTION"),
        R("# BEGIN TESTS"),
        C("# HIDDEN\ndef test_x(x):\n    assert x == 1\n\n\ntest_x(x)"),
        R("# END TESTS"),
        R("# END QUESTION"),
        C("z = 3  # SOLUTIONS are not marks"),
    ]
    out = editions.reader_notebook(nb)
    assert out.cells[2].source == "x = 1\ny = 2\nprint(x)"
    assert out.cells[5].metadata["tags"] == ["remove-cell"]  # not shown, still run
    assert out.cells[8].source == nb.cells[8].source
    assert nb.cells[2].source.startswith("# BEGIN SOLUTION")  # the original is untouched
    with pytest.raises(TypeError, match="read it first"):
        editions.reader_notebook("book/01_framework.ipynb")


def test_the_student_notebooks_hold_no_solution(built_book, student_site, executed):
    folder = built_book / "student" / "source" / "book"
    for stem, nb in executed.items():
        student = (folder / f"{stem}.ipynb").read_text()
        for text in editions.solution_texts(nb):
            assert json_escaped(text) not in student, f"{stem}: a solution is left in"


def json_escaped(text: str) -> str:
    import json

    return json.dumps(text)[1:-1]


def test_otter_grades_the_reference_solutions_in_full_and_blanks_at_zero(
    built_book, tmp_path, monkeypatch
):
    chapter = toc.ROOT / "book" / f"{OTTER_CHAPTER}.ipynb"
    questions = [
        e["question"] for e in editions.exercises(nbformat.read(chapter, 4)) if e["question"]
    ]
    assert questions, f"{OTTER_CHAPTER} has no graded exercise"
    parameters = build.profile_parameters("smoke", chapter)
    cache = os.environ.get("NBHELPERS_CACHE") or str(built_book / "cache")  # the build's models
    monkeypatch.setenv("NBHELPERS_CACHE", cache)
    url = toc.repository_url()
    paths = course.assign(chapter, tmp_path / "dist", url=url, parameters=parameters)
    full = course.grade(paths["autograder"], paths["solution"], tmp_path / "solution")
    blank = course.grade(paths["autograder"], paths["student"], tmp_path / "student")
    assert set(questions) <= set(full)
    for q in questions:
        assert full[q][0] == full[q][1] > 0, f"{q}: the reference solution scored {full[q]}"
        assert blank[q][0] == 0, f"{q}: a blank submission scored {blank[q]}"
