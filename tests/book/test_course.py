"""The course edition: the exercise convention, student notebooks, otter's round trip."""

import json

import nbformat
import pytest

from bookkit import course, editions

R, M, C = nbformat.v4.new_raw_cell, nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
SECRET = "base + 2  # SOLUTION"


def toy(question=True, extra=()):
    """A chapter with one code exercise (an otter question) and one text exercise."""
    cells = [
        M("# Toy chapter"),
        C("base = 40", metadata={"tags": ["parameters"]}),
        C("# Colab only: install the book's helper package\nimport sys"),
        M("## Exercises"),
    ]
    code = [
        M("```{exercise} Add two\n:label: toy-add\n\nSet `answer` to `base` plus two.\n```"),
        M("```{solution-start} toy-add\n:class: dropdown\n```"),
        R("# BEGIN SOLUTION"),
        C(f"answer = {SECRET}", metadata={"tags": ["solution"]}),
        R("# END SOLUTION"),
        M("```{solution-end}\n```"),
        R("# BEGIN TESTS"),
        C("def test_add(answer, base):\n    assert answer == base + 2\n\n\ntest_add(answer, base)"),
        R("# END TESTS"),
    ]
    if question:
        code = [R("# BEGIN QUESTION\nname: toy-add\npoints: 2"), *code, R("# END QUESTION")]
    else:
        code = [c for c in code if not editions.marker(c)]
    text = [
        M("```{exercise} Why\n:label: toy-why\n\nWhy two?\n```"),
        M("```{solution} toy-why\n:class: dropdown\n\nBecause the answer is 42.\n```"),
    ]
    nb = nbformat.v4.new_notebook(cells=[*cells, *code, *text, *extra])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_exercises_lists_labels_solutions_and_questions():
    found = editions.exercises(toy())
    assert [(e["label"], e["solution"], e["question"]) for e in found] == [
        ("toy-add", True, "toy-add"),
        ("toy-why", True, None),
    ]
    assert found[0]["title"] == "Add two"


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([R("# END SOLUTION")], "without its"),
        ([M("```{solution} nowhere\n```")], "unknown exercise 'nowhere'"),
        ([M("```{exercise} No label\n\ntext\n```")], "needs a ':label:'"),
        ([R("# BEGIN QUESTION\nname: q\n"), M("x"), R("# END QUESTION")], "needs an exercise"),
        ([R("# BEGIN QUESTION\npoints: 1")], "must give a name"),
        ([R("# BEGIN TESTS")], "outside a question"),
        ([M("```{solution-start} toy-why\n```"), C("x = 1")], "must be tagged 'solution'"),
    ],
)
def test_a_broken_convention_is_a_clear_error(cells, message):
    with pytest.raises(ValueError, match=message):
        editions.exercises(toy(extra=cells))


def test_the_student_notebook_keeps_exercises_and_drops_every_solution_and_check():
    nb = toy()
    student = editions.student_notebook(nb)
    text = "\n".join("".join(c.source) for c in student.cells)
    assert "Set `answer` to `base` plus two" in text and "Why two?" in text
    for secret in editions.solution_texts(nb):
        assert secret not in text
    assert SECRET not in text and "42" not in text and "test_add" not in text
    assert not any(editions.marker(c) for c in student.cells)
    assert len(nb.cells) == len(toy().cells)  # the chapter itself is left as it was


def test_solution_texts_finds_code_text_and_checks():
    texts = editions.solution_texts(toy())
    assert any(SECRET in t for t in texts)
    assert any("Because the answer is 42" in t for t in texts)
    assert any("def test_add" in t for t in texts)


def test_the_otter_master_has_its_config_first_and_no_sphinx_solution_markers():
    master = course.otter_master(toy(), "toy", parameters={"base": 1})
    assert master.cells[0].cell_type == "raw"
    assert master.cells[0].source.startswith("# ASSIGNMENT CONFIG\nname: toy\n")
    sources = ["".join(c.source) for c in master.cells]
    assert not any("{solution" in s for s in sources)
    assert any(SECRET in s for s in sources)  # otter replaces it with `...` for students
    assert any(s.startswith("# Parameters") and "base = 1" in s for s in sources)


def test_a_solutions_explanation_is_dropped_from_the_master():
    nb = toy()
    at = next(i for i, c in enumerate(nb.cells) if editions.marker(c) == "END SOLUTION")
    nb.cells.insert(at + 1, M("Two, because forty-two."))
    master = course.otter_master(nb, "toy")
    assert not any("forty-two" in "".join(c.source) for c in master.cells)
    assert "forty-two" not in str(editions.student_notebook(nb).cells)


def test_solution_code_outside_an_otter_question_is_dropped_from_the_master():
    master = course.otter_master(toy(question=False), "toy")
    assert not any(SECRET in "".join(c.source) for c in master.cells)


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otter")
    path = tmp / "toy.ipynb"
    nbformat.write(toy(), path)
    return course.assign(path, tmp / "dist", url="https://example.org/book"), tmp


def test_otter_assign_makes_student_notebook_tests_and_autograder(assigned):
    paths, _ = assigned
    student = json.loads(paths["student"].read_text())
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    assert 'grader.check("toy-add")' in text
    assert SECRET not in text and "answer = ..." in text
    assert "otter-grader==" in text and "/content/book/student/toy" in text  # Colab
    assert "grader = otter.Notebook()" in text
    assert (paths["tests"] / "toy-add.py").exists()
    assert paths["autograder"].suffix == ".zip"


def test_the_autograder_gives_full_marks_to_the_solution_and_none_to_a_blank(assigned):
    paths, tmp = assigned
    assert course.grade(paths["autograder"], paths["solution"], tmp / "r1")["toy-add"] == (2, 2)
    assert course.grade(paths["autograder"], paths["student"], tmp / "r2")["toy-add"] == (0, 2)


def _wrong_toy(folder):
    """The toy chapter with a wrong reference solution, written as folder/toy.ipynb."""
    nb = toy()
    for cell in nb.cells:
        if SECRET in cell.source:
            cell.source = "answer = base + 3  # SOLUTION"
    nbformat.write(nb, folder / "toy.ipynb")
    return folder / "toy.ipynb"


def test_a_wrong_reference_solution_fails_otter_assign(tmp_path):
    with pytest.raises(RuntimeError, match="otter assign"):
        course.assign(_wrong_toy(tmp_path), tmp_path / "dist", url="https://example.org/b")


def test_assign_without_its_check_leaves_the_solutions_to_the_autograder(tmp_path):
    paths = course.assign(
        _wrong_toy(tmp_path), tmp_path / "dist", url="https://example.org/b", check=False
    )
    assert course.grade(paths["autograder"], paths["solution"], tmp_path / "r")["toy-add"] == (0, 2)


def test_student_sources_strip_every_chapter(tmp_path):
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/toy\n")
    nbformat.write(toy(), src / "book" / "toy.ipynb")
    (written,) = editions.student_sources(src, tmp_path / "student")
    assert SECRET not in written.read_text() and "toy-add" in written.read_text()
    with pytest.raises(FileNotFoundError, match="_toc.yml"):
        editions.student_sources(tmp_path / "nowhere", tmp_path / "x")


def test_exercise_table_lists_each_exercise_with_its_points(tmp_path):
    nbformat.write(toy(), tmp_path / "toy.ipynb")
    table = editions.exercise_table([tmp_path / "toy.ipynb"])
    assert list(table["label"]) == ["toy-add", "toy-why"]
    assert list(table["graded"]) == [True, False]
    assert table.loc[0, "points"] == 2 and table["solution"].all()


def test_a_directive_after_a_heading_in_the_same_cell_is_found():
    cell = M("## Exercises\n\n```{exercise} First\n:label: toy-first\n\nDo it.\n```")
    assert editions.directive(cell) == ("exercise", "First")
    assert editions.directive(M("## Exercises")) is None
