"""The course edition: exercises, their solutions and checks, a student edition, otter-grader.

A chapter's exercises follow one convention (DESIGN.md, "Exercises"):

- the exercise: a Markdown cell holding sphinx-exercise's ``{exercise}`` directive;
- its solution: between Markdown cells ``{solution-start} <label>`` and ``{solution-end}``
  (code cells tagged ``solution`` inside), or one ``{solution}`` directive for a text answer;
- a code exercise is also an otter-grader question: raw cells ``# BEGIN QUESTION`` (with its
  name and points), ``# BEGIN SOLUTION``/``# END SOLUTION`` around the solution's code cells,
  ``# BEGIN TESTS``/``# END TESTS`` around its checks (plain assert functions, each cell a
  ``def test_...`` and its call, so that a wrong solution fails the chapter under papermill),
  and ``# END QUESTION``. MyST-NB skips raw cells, so the book never shows them.

From that one source this module derives the student notebooks (`student_notebook`: every
solution and check removed, not hidden), the otter master notebook (`otter_master`) for
``otter assign``, which makes the student notebooks with ``grader.check`` cells and the
instructor's autograder, and the grading of a submission (`grade`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SOLUTION_TAG = "solution"
MARKERS = (
    "BEGIN QUESTION",
    "END QUESTION",
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN TESTS",
    "END TESTS",
)
OTTER_VERSION = "7.0.0"
_DIRECTIVE = re.compile(r"^\s*(```+|:::+)\{(?P<name>[a-z-]+)\}\s*(?P<arg>.*)$", re.M)


def marker(cell) -> str | None:
    """The otter marker a raw cell holds ("BEGIN QUESTION", ...), or None."""
    if cell.get("cell_type") != "raw":
        return None
    first = "".join(cell.get("source", "")).strip().splitlines()[:1]
    if not first:
        return None
    m = re.fullmatch(r"#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS)\b.*", first[0].strip())
    return f"{m.group(1)} {m.group(2)}" if m else None


def directive(cell) -> tuple[str, str] | None:
    """(name, argument) of the first MyST directive in a Markdown cell, or None."""
    if cell.get("cell_type") != "markdown":
        return None
    m = _DIRECTIVE.search("".join(cell.get("source", "")))
    return (m.group("name"), m.group("arg").strip()) if m else None


def _source(cell) -> str:
    return "".join(cell.get("source", ""))


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _question_config(cell) -> dict:
    """The YAML under a ``# BEGIN QUESTION`` marker (name, points, ...)."""
    import yaml

    body = _source(cell).split("\n", 1)[1] if "\n" in _source(cell) else ""
    config = yaml.safe_load(body) or {}
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a '# BEGIN QUESTION' cell must give a name, got {body!r}")
    return config


def _track_marker(mark: str, cell, stack: list, question, where: str):
    """Follow one otter marker: push or pop its block on `stack` (raising where they do not
    nest), and return the question now open (a new one at BEGIN QUESTION, None at its END)."""
    kind = mark.split()[1]
    if mark.startswith("BEGIN"):
        if kind in stack:
            raise ValueError(f"{where}: '# {mark}' inside an open '# BEGIN {kind}'")
        if kind != "QUESTION" and question is None:
            raise ValueError(f"{where}: '# {mark}' outside a question")
        stack.append(kind)
        if kind == "QUESTION":
            return {"name": _question_config(cell)["name"], "tests": 0, "exercise": None}
        return question
    if not stack or stack[-1] != kind:
        raise ValueError(f"{where}: '# {mark}' without its '# BEGIN {kind}'")
    stack.pop()
    if kind != "QUESTION":
        return question
    if question["exercise"] is None or question["tests"] == 0:
        raise ValueError(
            f"{where}: question {question['name']!r} needs an exercise and at least one test "
            f"cell, got exercise={question['exercise']!r} and {question['tests']} tests"
        )
    return None


def exercises(nb) -> list[dict]:
    """The chapter's exercises in order: label, title, whether a solution and checks follow,
    and the otter question they belong to (None for one without checks).

    Raises ValueError where the convention is broken: unbalanced markers or solution
    blocks, a solution for no exercise, a code cell inside a solution not tagged
    ``solution``, a question without an exercise or without tests.
    """
    found: list[dict] = []
    stack: list[str] = []
    question = None
    in_solution = None
    for i, cell in enumerate(nb["cells"]):
        where = f"cell {i}"
        mark = marker(cell)
        if mark:
            question = _track_marker(mark, cell, stack, question, where)
            continue
        if "TESTS" in stack and cell.get("cell_type") == "code":
            question["tests"] += 1
        d = directive(cell)
        if d and d[0] == "exercise":
            label = re.search(r"^:label:\s*(\S+)", _source(cell), re.M)
            if not label:
                raise ValueError(f"{where}: an exercise needs a ':label:' option")
            found.append(
                {"label": label.group(1), "title": d[1], "solution": False, "question": None}
            )
            if question is not None:
                question["exercise"] = label.group(1)
                found[-1]["question"] = question["name"]
        elif d and d[0] in ("solution", "solution-start"):
            target = d[1].split()[0] if d[1] else ""
            match = [e for e in found if e["label"] == target]
            if not match:
                raise ValueError(f"{where}: solution for unknown exercise {target!r}")
            match[0]["solution"] = True
            if d[0] == "solution-start":
                if in_solution:
                    raise ValueError(
                        f"{where}: solution-start inside the solution of {in_solution}"
                    )
                in_solution = target
        elif d and d[0] == "solution-end":
            if not in_solution:
                raise ValueError(f"{where}: solution-end without a solution-start")
            in_solution = None
        elif (
            in_solution
            and cell.get("cell_type") == "code"
            and "TESTS" not in stack
            and SOLUTION_TAG not in _tags(cell)
        ):
            raise ValueError(
                f"{where}: a code cell in the solution of {in_solution!r} must be tagged "
                f"{SOLUTION_TAG!r}"
            )
    if stack or in_solution:
        raise ValueError(f"unclosed at the end of the notebook: {stack or [in_solution]}")
    return found


def _roles(nb):
    """Each cell of `nb` with its role: "delimiter" (a solution's or its checks' first or
    last marker), "solution" (a solution or a check, its code and text), "marker" (another
    otter marker) or "chapter" (the rest, exercises included)."""
    inside = 0  # inside a solution-start/-end block or a tests block
    for cell in nb["cells"]:
        mark, d = marker(cell), directive(cell)
        if mark == "BEGIN TESTS" or (d and d[0] == "solution-start"):
            inside += 1
            yield cell, "delimiter"
        elif mark == "END TESTS" or (d and d[0] == "solution-end"):
            inside -= 1
            yield cell, "delimiter"
        elif inside or (d and d[0] == "solution") or SOLUTION_TAG in _tags(cell):
            yield cell, "solution"
        else:
            yield cell, "marker" if mark else "chapter"


def student_notebook(nb):
    """A copy of `nb` without solutions or checks (removed, not hidden), outputs cleared
    from nothing else: the exercises stay, with the cells students fill in left to them."""
    import copy

    exercises(nb)  # the structure must hold before anything is removed
    out = copy.deepcopy(nb)
    out["cells"] = [cell for cell, role in _roles(out) if role == "chapter"]
    return out


def solution_texts(nb) -> list[str]:
    """The text of every solution and check in `nb`: what a student edition must not hold."""
    texts = [_source(cell) for cell, role in _roles(nb) if role == "solution"]
    return [t for t in texts if t.strip()]


def assignment_config(name: str) -> str:
    """otter's ``# ASSIGNMENT CONFIG`` for one chapter: exception-based tests (plain asserts),
    the tests run on the solutions when assigned, an autograder zip, no PDFs; no init cell,
    since the chapter's own `GRADER_CELL` follows its Colab cell, which installs otter."""
    return (
        "# ASSIGNMENT CONFIG\n"
        f"name: {name}\n"
        "tests:\n  ok_format: false\n  files: true\n"
        "init_cell: false\nexport_cell: false\ncheck_all_cell: false\n"
        "run_tests: true\nsolutions_pdf: false\ngenerate: true\n"
    )


def colab_student_source(url: str, stem: str, branch: str = "student") -> str:
    """The student notebook's Colab cell: installs the book's package and otter-grader, and
    fetches the published student folder, whose tests/ ``otter.Notebook()`` reads."""
    return (
        "# Colab only: install the book's package and otter-grader, fetch this chapter's checks.\n"
        "import os\nimport subprocess\nimport sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "-q", "nbhelpers @ git+{url}",\n'
        f'         "otter-grader=={OTTER_VERSION}"],\n'
        "        check=True,\n    )\n"
        '    if not os.path.isdir("tests"):\n'
        "        subprocess.run(\n"
        f'            ["git", "clone", "-q", "--depth", "1", "--branch", "{branch}", "{url}",\n'
        '             "/content/book"],\n'
        "            check=True,\n        )\n"
        f'        os.chdir("/content/book/student/{stem}")'
    )


GRADER_CELL = (
    '# The checks: `grader.check("<question>")` runs the public tests of one exercise.\n'
    "import otter\n\ngrader = otter.Notebook()"
)


def otter_master(nb, name: str, *, colab: str | None = None, parameters: dict | None = None):
    """`nb` as an otter master notebook: the assignment config first, the sphinx-exercise
    solution markers, text solutions and explanations inside a solution removed (otter
    removes the code), solution code outside an otter question removed too, optional
    `parameters` injected as papermill does, and the Colab cell replaced by `colab` (the
    student cell) when given."""
    import copy

    exercises(nb)
    out = copy.deepcopy(nb)
    if parameters:
        from papermill.parameterize import parameterize_notebook

        for cell in out["cells"]:  # papermill reads every cell's tags, and its own metadata
            cell.setdefault("metadata", {}).setdefault("tags", [])
        out["metadata"].setdefault("papermill", {})
        out = parameterize_notebook(out, parameters)
    cells, in_otter_solution, in_solution = [], False, False
    for cell in out["cells"]:
        mark, d = marker(cell), directive(cell)
        in_otter_solution = {"BEGIN SOLUTION": True, "END SOLUTION": False}.get(
            mark, in_otter_solution
        )
        if d and d[0] in ("solution", "solution-start", "solution-end"):
            in_solution = {"solution-start": True, "solution-end": False}.get(d[0], in_solution)
            continue
        if SOLUTION_TAG in _tags(cell) and not in_otter_solution:
            continue
        if in_solution and not in_otter_solution and cell.get("cell_type") == "markdown":
            continue  # a solution's explanation, outside otter's own solution block
        if colab is not None and _source(cell).startswith("# Colab only"):
            cell = copy.deepcopy(cell)
            cell["source"] = colab
            cells.append(cell)
            cells.append(_code_cell(GRADER_CELL))
            continue
        cells.append(cell)
    import nbformat

    config = nbformat.v4.new_raw_cell(assignment_config(name))
    out["cells"] = [config, *cells]
    return out


def _code_cell(source: str):
    import nbformat

    return nbformat.v4.new_code_cell(source)


def _otter(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run otter's command line with this Python; its output is returned, an error raised."""
    proc = subprocess.run(
        [sys.executable, "-m", "otter", *args], cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"otter {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assign(notebook, out, *, url: str, parameters: dict | None = None) -> dict:
    """Run ``otter assign`` on one chapter: student notebook and tests in out/student, the
    solutions and the autograder zip in out/autograder. otter runs the chapter with its
    solutions and checks them (a wrong reference solution is an error). Returns the paths."""
    import nbformat

    notebook, out = Path(notebook), Path(out)
    stem = notebook.stem
    nb = _read(notebook)
    master = otter_master(nb, stem, colab=colab_student_source(url, stem), parameters=parameters)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / notebook.name
        nbformat.write(master, path)
        _otter("assign", str(path), str(out.resolve()))
    zips = sorted((out / "autograder").glob(f"{stem}-autograder_*.zip"))
    if not zips:
        raise RuntimeError(f"otter assign made no autograder zip in {out / 'autograder'}")
    return {
        "student": out / "student" / notebook.name,
        "tests": out / "student" / "tests",
        "solution": out / "autograder" / notebook.name,
        "autograder": zips[-1],
    }


def grade(autograder, submission, out) -> dict[str, tuple[float, float]]:
    """Grade one submitted notebook with the autograder zip (``otter run``, no Docker):
    {question: (score, max_score)}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _otter("run", "-a", str(autograder), "-o", str(out.resolve()), str(submission))
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "score" in t}


def student_sources(source, out) -> list[Path]:
    """Copy a book's sources (the executed chapters of a build, with their outputs) from
    `source` to `out`, every chapter's solutions and checks removed; the chapters written."""
    import shutil

    import nbformat

    source, out = Path(source), Path(out)
    if not (source / "_toc.yml").exists():
        raise FileNotFoundError(f"expected a book's sources with a _toc.yml in {source}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("_build", "*.json"))
    written = []
    for path in sorted(out.rglob("*.ipynb")):
        nbformat.write(student_notebook(_read(path)), path)
        written.append(path)
    return written


def exercise_table(paths):
    """One row per exercise of the chapters at `paths`: chapter, label, title, whether it is
    graded (an otter question, with its points) and whether the book shows a solution."""
    import pandas as pd

    rows = []
    for path in paths:
        nb = _read(path)
        configs = [_question_config(c) for c in nb["cells"] if marker(c) == "BEGIN QUESTION"]
        points = {config["name"]: config.get("points") for config in configs}
        for e in exercises(nb):
            rows.append(
                {
                    "chapter": Path(path).stem,
                    "exercise": e["title"],
                    "label": e["label"],
                    "graded": e["question"] is not None,
                    "points": points.get(e["question"]),
                    "solution": e["solution"],
                }
            )
    table = pd.DataFrame(
        rows, columns=["chapter", "exercise", "label", "graded", "points", "solution"]
    )
    return table.astype({"points": "Int64"})  # whole points; none for a text exercise


def main(argv=None) -> int:
    """``python -m nbhelpers.course assign|grade``: the instructor's two steps."""
    import argparse

    from . import book

    ap = argparse.ArgumentParser(
        prog="python -m nbhelpers.course", description="Assign and grade the exercises."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("assign", help="student notebooks, tests and autograders (otter assign)")
    a.add_argument("chapters", nargs="*", help="notebook stems (default: every chapter)")
    a.add_argument("--profile", default="full", help="parameters the solutions are checked with")
    a.add_argument("--out", default="_build/course", help="output folder")
    g = sub.add_parser("grade", help="grade submitted notebooks with a chapter's autograder")
    g.add_argument("autograder", help="the chapter's autograder zip (from assign)")
    g.add_argument("submissions", nargs="+", help="submitted notebooks")
    g.add_argument("--out", default="_build/grades", help="where each submission's results go")
    args = ap.parse_args(argv)
    if args.cmd == "assign":
        url = book.repository_url()
        chosen = [p for p in book.chapters() if not args.chapters or p.stem in args.chapters]
        for path in chosen:
            if not exercises(_read(path)):
                continue
            params = book.profile_parameters(args.profile, path)
            paths = assign(path, Path(args.out) / path.stem, url=url, parameters=params)
            print(f"{path.stem}: student {paths['student']}, autograder {paths['autograder']}")
    else:
        for i, submission in enumerate(args.submissions):
            scores = grade(args.autograder, submission, Path(args.out) / str(i))
            total = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
            print(f"{submission}: {total[0]:g} / {total[1]:g}  {scores}")
    return 0


def _read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


if __name__ == "__main__":
    sys.exit(main())
