"""The editions of the book: a chapter's exercises, solutions and checks, and the student
edition without them (otter-grader's assignments and grading are in ``course``).

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

import os
import re
from collections.abc import Mapping
from pathlib import Path

SOLUTION_TAG = "solution"

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


def cell_source(cell) -> str:
    """A cell's text, joined from its lines."""
    return "".join(cell.get("source", ""))


def cell_tags(cell) -> list:
    """A cell's tags (none: an empty list)."""
    return list(cell.get("metadata", {}).get("tags", []))


def _check_notebook(nb, name: str = "nb"):
    """`nb` must be a notebook already read (a dict with cells), not a path to one."""
    if isinstance(nb, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} must be a notebook, got the path {nb!r}: read it first, e.g. with "
            "bookkit.editions.read_notebook(path)"
        )
    if not isinstance(nb, Mapping) or "cells" not in nb:
        raise TypeError(
            f"{name} must be a notebook (nbformat 4, with cells; read one with "
            f"bookkit.editions.read_notebook(path)), got {type(nb).__name__}"
        )
    return nb


def question_config(cell) -> dict:
    """The YAML under a ``# BEGIN QUESTION`` marker (name, points, ...); ValueError with
    the YAML's own error where it cannot be read."""
    import yaml

    body = cell_source(cell).split("\n", 1)[1] if "\n" in cell_source(cell) else ""
    try:
        config = yaml.safe_load(body) or {}
    except yaml.YAMLError as e:
        raise ValueError(
            f"a '# BEGIN QUESTION' cell must hold YAML (name, points), got {body!r}; "
            f"YAML error: {e}"
        ) from None
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
            try:
                name = question_config(cell)["name"]
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            return {"name": name, "tests": 0, "exercise": None}
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
    ``solution``, a question without an exercise or without tests, each naming its cell.
    """
    _check_notebook(nb)
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
            label = re.search(r"^:label:\s*(\S+)", cell_source(cell), re.M)
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
            and SOLUTION_TAG not in cell_tags(cell)
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
        elif inside or (d and d[0] == "solution") or SOLUTION_TAG in cell_tags(cell):
            yield cell, "solution"
        else:
            yield cell, "marker" if mark else "chapter"


def student_notebook(nb):
    """A copy of `nb` without solutions or checks (removed, not hidden), outputs cleared
    from nothing else: the exercises stay, with the cells students fill in left to them.
    `nb` is a notebook already read (``read_notebook``), not its path: a TypeError says so."""
    import copy

    _check_notebook(nb)
    exercises(nb)  # the structure must hold before anything is removed
    out = copy.deepcopy(nb)
    out["cells"] = [cell for cell, role in _roles(out) if role == "chapter"]
    return out


# otter's marks inside a solution's code: whole-line markers and the end-of-line one
_MARK_LINE = re.compile(r"^\s*#\s*(BEGIN SOLUTION|END SOLUTION|HIDDEN)\s*$")
_MARK_END = re.compile(r"\s*#\s*SOLUTION\s*$")
READER_HIDDEN_TAG = "remove-cell"


def reader_notebook(nb):
    """A copy of `nb` as the full edition shows it: every exercise and solution, without
    the grading's machinery (each check's cell hidden, otter's ``# BEGIN SOLUTION``,
    ``# END SOLUTION``, ``# HIDDEN`` and ``# SOLUTION`` marks taken out of the code shown),
    outputs as they were. `nb` is a notebook already read."""
    import copy

    _check_notebook(nb)
    out = copy.deepcopy(nb)
    in_tests = False
    for cell in out["cells"]:
        mark = marker(cell)
        if mark in ("BEGIN TESTS", "END TESTS"):
            in_tests = mark == "BEGIN TESTS"
            continue
        if cell.get("cell_type") != "code":
            continue
        if in_tests:
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if READER_HIDDEN_TAG not in tags:
                tags.append(READER_HIDDEN_TAG)
            continue
        lines = cell_source(cell).splitlines()
        kept = [_MARK_END.sub("", line) for line in lines if not _MARK_LINE.match(line)]
        if kept != lines:
            cell["source"] = "\n".join(kept)
    return out


def _edition_sources(source, out, edition) -> list[Path]:
    """Copy a book's sources from `source` to `out` (no build, no results JSON), every
    chapter rewritten by `edition` (a notebook -> notebook function); the chapters written."""
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
        nbformat.write(edition(read_notebook(path)), path)
        written.append(path)
    return written


def reader_sources(source, out) -> list[Path]:
    """Copy a book's sources (the executed chapters of a build) from `source` to `out` as
    the full edition shows them (`reader_notebook`); the chapters written."""
    return _edition_sources(source, out, reader_notebook)


def solution_texts(nb) -> list[str]:
    """The text of every solution and check in `nb`: what a student edition must not hold."""
    _check_notebook(nb)
    texts = [cell_source(cell) for cell, role in _roles(nb) if role == "solution"]
    return [t for t in texts if t.strip()]


def student_sources(source, out) -> list[Path]:
    """Copy a book's sources (the executed chapters of a build, with their outputs) from
    `source` to `out`, every chapter's solutions and checks removed; the chapters written."""
    return _edition_sources(source, out, student_notebook)


# The pages about the chapters rather than chapters: they set no exercises.
PAGES_WITHOUT_EXERCISES = ("reproduced", "full_scale", "teaching")


def with_exercises(paths) -> list:
    """`paths` without the pages that set no exercises (`PAGES_WITHOUT_EXERCISES`)."""
    return [p for p in paths if Path(p).stem not in PAGES_WITHOUT_EXERCISES]


def exercise_table(paths):
    """One row per exercise of the chapters at `paths`: chapter, label, title, whether it is
    graded (an otter question, with its points) and whether the book shows a solution."""
    import pandas as pd

    rows = []
    for path in paths:
        nb = read_notebook(path)
        found = exercises(nb)  # first: a broken question names its cell
        configs = [question_config(c) for c in nb["cells"] if marker(c) == "BEGIN QUESTION"]
        points = {config["name"]: config.get("points") for config in configs}
        for e in found:
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


def read_notebook(path):
    """The notebook at `path` (nbformat 4)."""
    import nbformat

    return nbformat.read(path, as_version=4)
