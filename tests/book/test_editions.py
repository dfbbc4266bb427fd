"""The course edition on the built book: the student edition holds no solution, and otter's
round trip on a chapter grades its reference solutions in full and blanks at zero."""

import html
import re

import nbformat
import pytest

from bookkit import build, course, editions, toc

pytestmark = pytest.mark.book
OTTER_CHAPTER = "01_framework"  # the cheapest chapter on its own: its models load from the cache
# Its autoencoder study trains autoencoders outside the cache and grades no exercise: off here,
# so that each of otter's four runs of the chapter does not train them again.
OTTER_PARAMETERS = {"study": []}


def _visible_text(page: str) -> str:
    """A page's text without tags or entities, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = text.translate(str.maketrans("‘’“”–", "''\"\"-"))  # Sphinx's smart quotes
    return " ".join(text.split())


@pytest.fixture(scope="module")
def student_site(built_book):
    """The student edition's HTML, rendered once per build: the pytest-xdist workers take
    turns (a lock), and one that finds it rendered since the build reads it as it is."""
    import fcntl

    stamp, built = built_book / "student" / ".rendered", built_book / build.STAMP
    with open(built_book / ".student.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.stat().st_mtime >= built.stat().st_mtime):
            build.render_html(built_book, sources=False, edition="student")
            stamp.touch()
    return built_book / "student" / "_build" / "html"


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


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """A local repository standing in for the public one: main holds the checkout's HEAD
    as one commit (from `git archive`, so a shallow clone serves too)."""
    import subprocess

    folder = tmp_path_factory.mktemp("public")
    repo, tree = folder / "book.git", folder / "tree"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", "HEAD"], cwd=toc.ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    course.push_folder(tree, repo, "main", "the book")
    return repo


@pytest.fixture(scope="module")
def assigned(build_cache, public, tmp_path_factory):
    """`course assign` of one chapter at the smoke profile, its Colab cell pointing at the
    local public repository. Its models are the smoke build's, in the build's cache: these
    tests do not wait for the whole build, so `make test` runs them beside it (a model the
    build is training is waited for through its cache lock; one it has not started yet,
    the chapter trains there for the build). otter's own run of the solutions is skipped:
    the test below grades them with the autograder."""
    chapter = toc.ROOT / "book" / f"{OTTER_CHAPTER}.ipynb"
    cache = str(build_cache)
    out = tmp_path_factory.mktemp("course")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("NBHELPERS_CACHE", cache)
        parameters = {**build.profile_parameters("smoke", chapter), **OTTER_PARAMETERS}
        paths = course.assign(
            chapter, out / OTTER_CHAPTER, url=public.as_uri(), parameters=parameters, check=False
        )
    return out, paths, cache


def test_otter_grades_the_reference_solutions_in_full_and_blanks_at_zero(
    assigned, tmp_path, monkeypatch
):
    chapter = toc.ROOT / "book" / f"{OTTER_CHAPTER}.ipynb"
    questions = [
        e["question"] for e in editions.exercises(nbformat.read(chapter, 4)) if e["question"]
    ]
    assert questions, f"{OTTER_CHAPTER} has no graded exercise"
    _, paths, cache = assigned
    monkeypatch.setenv("NBHELPERS_CACHE", cache)
    full = course.grade(paths["autograder"], paths["solution"], tmp_path / "solution")
    blank = course.grade(paths["autograder"], paths["student"], tmp_path / "student")
    assert set(questions) <= set(full)
    for q in questions:
        assert full[q][0] == full[q][1] > 0, f"{q}: the reference solution scored {full[q]}"
        assert blank[q][0] == 0, f"{q}: a blank submission scored {blank[q]}"


# What stands in for Colab in the student's kernel: google.colab importable, and pip
# installing the package from the local repository into a folder of its own (with its
# dependencies already here), not over the tests' own installation.
COLAB_STAND_IN = """
import subprocess, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
_run = subprocess.run
def _colab_run(cmd, **kw):
    if list(cmd[1:4]) == ["-m", "pip", "install"]:
        spec = next(c for c in cmd if c.startswith("nbhelpers @ git+"))
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", SITE, spec]
    return _run(cmd, **kw)
subprocess.run = _colab_run
"""


def test_a_student_opens_the_published_chapter_and_checks_answers(
    assigned, public, tmp_path, monkeypatch
):
    """The student edition published as the `student` branch of a (local) public
    repository; a student's notebook runs its Colab cell against it (the package installs
    from the repository, the chapter's checks are cloned from the branch) and
    `grader.check` passes on the reference answers."""
    import subprocess

    from nbclient import NotebookClient

    out, paths, cache = assigned
    commit = course.publish(out, public.as_uri())
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit], cwd=public, capture_output=True, text=True
    ).stdout.split()
    assert f"student/{OTTER_CHAPTER}/{OTTER_CHAPTER}.ipynb" in listed
    assert any(f.startswith(f"student/{OTTER_CHAPTER}/tests/") for f in listed)

    content, site, start = tmp_path / "content", tmp_path / "site", tmp_path / "start"
    start.mkdir()
    nb = nbformat.read(paths["solution"], as_version=4)  # a student who answered everything
    colab = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Colab only")]
    assert len(colab) == 1 and public.as_uri() in colab[0].source
    colab[0].source = colab[0].source.replace("/content", str(content))
    stand_in = nbformat.v4.new_code_cell(f"SITE = {str(site)!r}\n" + COLAB_STAND_IN)
    nb.cells.insert(0, stand_in)
    monkeypatch.setenv("NBHELPERS_CACHE", cache)
    NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(start)}}).execute()

    assert (site / "nbhelpers" / "__init__.py").is_file(), "the package did not install"
    assert (content / "book" / "student" / OTTER_CHAPTER / "tests").is_dir()
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("grader.check(")]
    assert checks, "the student notebook has no grader.check cell"
    for cell in checks:
        said = " ".join(
            str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in cell.outputs
        )
        assert "passed" in said and "failed" not in said.lower(), (cell.source, said)
