"""Courses: a chapter's exercises as an otter-grader assignment, and grading.

    python -m bookkit.course assign [stems] --profile smoke|full   # student notebooks, autograders
    python -m bookkit.course publish --to <repository>             # the student branch
    python -m bookkit.course grade <autograder.zip> submissions/*.ipynb

The exercises follow the convention that ``editions`` reads (DESIGN.md, "Exercises").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from . import build, toc
from .editions import (
    SOLUTION_TAG,
    cell_source,
    cell_tags,
    directive,
    exercises,
    marker,
    read_notebook,
)

OTTER_VERSION = "7.0.0"


def assignment_config(name: str, *, check: bool = True) -> str:
    """otter's ``# ASSIGNMENT CONFIG`` for one chapter: exception-based tests (plain asserts),
    the tests run on the solutions when assigned (unless `check` is false), an autograder
    zip, no PDFs; no init cell, since the chapter's own `GRADER_CELL` follows its Colab
    cell, which installs otter."""
    return (
        "# ASSIGNMENT CONFIG\n"
        f"name: {name}\n"
        "tests:\n  ok_format: false\n  files: true\n"
        "init_cell: false\nexport_cell: false\ncheck_all_cell: false\n"
        f"run_tests: {str(check).lower()}\nsolutions_pdf: false\ngenerate: true\n"
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


def otter_master(
    nb, name: str, *, colab: str | None = None, parameters: dict | None = None, check: bool = True
):
    """`nb` as an otter master notebook: the assignment config first (`check`: otter runs
    the solutions' tests when it assigns), the sphinx-exercise solution markers, text
    solutions and explanations inside a solution removed (otter removes the code), solution
    code outside an otter question removed too, optional `parameters` injected as papermill
    does, and the Colab cell replaced by `colab` (the student cell) when given."""
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
        if SOLUTION_TAG in cell_tags(cell) and not in_otter_solution:
            continue
        if in_solution and not in_otter_solution and cell.get("cell_type") == "markdown":
            continue  # a solution's explanation, outside otter's own solution block
        if colab is not None and cell_source(cell).startswith("# Colab only"):
            cell = copy.deepcopy(cell)
            cell["source"] = colab
            cells.append(cell)
            cells.append(_code_cell(GRADER_CELL))
            continue
        cells.append(cell)
    import nbformat

    config = nbformat.v4.new_raw_cell(assignment_config(name, check=check))
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


def assign(notebook, out, *, url: str, parameters: dict | None = None, check: bool = True) -> dict:
    """Run ``otter assign`` on one chapter: student notebook and tests in out/student, the
    solutions and the autograder zip in out/autograder. otter runs the chapter with its
    solutions and checks them (a wrong reference solution is an error); `check=False` skips
    that run, for a caller that grades the solutions with the autograder itself. Returns
    the paths."""
    import nbformat

    notebook, out = Path(notebook), Path(out)
    stem = notebook.stem
    nb = read_notebook(notebook)
    colab = colab_student_source(url, stem)
    master = otter_master(nb, stem, colab=colab, parameters=parameters, check=check)
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


def publish(course_dir, repository: str, branch: str = "student") -> str:
    """Publish what `assign` wrote in `course_dir` (one folder per chapter) as the branch
    `branch` of `repository`: ``student/<stem>/`` holds each chapter's student notebook
    and tests, where its Colab cell clones and looks for them. The branch is replaced by
    one commit; returns its hash."""
    import shutil

    course_dir = Path(course_dir)
    chapters = sorted(p.parent.name for p in course_dir.glob("*/student"))
    if not chapters:
        raise ValueError(f"{course_dir} holds no assigned chapter (<stem>/student/): run assign")
    with tempfile.TemporaryDirectory() as tmp:
        for stem in chapters:
            shutil.copytree(course_dir / stem / "student", Path(tmp) / "student" / stem)
        message = f"The student edition: {', '.join(chapters)}"
        return push_folder(tmp, repository, branch, message)


def push_folder(folder, repository: str, branch: str, message: str) -> str:
    """Push the files of `folder` as one commit, the whole of the branch `branch` of
    `repository` (replacing what it held); returns the commit's hash. `folder` becomes a
    git repository of its own."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"git {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout.strip()

    git("init", "-q", "-b", branch)
    git("add", "-A")
    who = ["-c", "user.name=bookkit", "-c", "user.email=bookkit@localhost"]
    git(*who, "commit", "-q", "-m", message)
    git("push", "-q", "--force", str(repository), f"HEAD:refs/heads/{branch}")
    return git("rev-parse", "HEAD")


def grade(autograder, submission, out) -> dict[str, tuple[float, float]]:
    """Grade one submitted notebook with the autograder zip (``otter run``, no Docker):
    {question: (score, max_score)}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _otter("run", "-a", str(autograder), "-o", str(out.resolve()), str(submission))
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "score" in t}


def main(argv=None) -> int:
    """``python -m bookkit.course assign|grade``: the instructor's two steps."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m bookkit.course", description="Assign and grade the exercises."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("assign", help="student notebooks, tests and autograders (otter assign)")
    a.add_argument("chapters", nargs="*", help="notebook stems (default: every chapter)")
    a.add_argument("--profile", default="full", help="parameters the solutions are checked with")
    a.add_argument("--out", default="_build/course", help="output folder")
    a.add_argument(
        "--no-check",
        action="store_true",
        help="do not run each chapter with its solutions to check them (faster)",
    )
    p = sub.add_parser("publish", help="push the assigned chapters as the student branch")
    p.add_argument("--to", required=True, help="the repository (URL or path) to push to")
    p.add_argument("--branch", default="student", help="the branch students clone")
    p.add_argument("--out", default="_build/course", help="the folder assign wrote")
    g = sub.add_parser("grade", help="grade submitted notebooks with a chapter's autograder")
    g.add_argument("autograder", help="the chapter's autograder zip (from assign)")
    g.add_argument("submissions", nargs="+", help="submitted notebooks")
    g.add_argument("--out", default="_build/grades", help="where each submission's results go")
    args = ap.parse_args(argv)
    if args.cmd == "assign":
        url = toc.repository_url()
        chosen = [p for p in toc.chapters() if not args.chapters or p.stem in args.chapters]
        for path in chosen:
            if not exercises(read_notebook(path)):
                continue
            params = build.profile_parameters(args.profile, path)
            paths = assign(
                path,
                Path(args.out) / path.stem,
                url=url,
                parameters=params,
                check=not args.no_check,
            )
            print(f"{path.stem}: student {paths['student']}, autograder {paths['autograder']}")
    elif args.cmd == "publish":
        commit = publish(args.out, args.to, args.branch)
        print(f"published {args.out} as {args.to} {args.branch} ({commit[:7]})")
    else:
        for i, submission in enumerate(args.submissions):
            scores = grade(args.autograder, submission, Path(args.out) / str(i))
            total = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
            print(f"{submission}: {total[0]:g} / {total[1]:g}  {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
