"""The shape of the house: two packages, arrows one way, public seams, chapters in order.

Read from the sources (ast), so these tests run in a second and need no build.
"""

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"nbhelpers": ROOT / "nbhelpers", "bookkit": ROOT / "tools" / "bookkit"}


def _module_name(path: Path) -> str:
    for top, folder in PACKAGES.items():
        if path.is_relative_to(folder):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


MODULES = {_module_name(p): p for folder in PACKAGES.values() for p in sorted(folder.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if _is_package(importer) else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(name: str):
    """(imported module, imported name or None, line) for every import of one of our modules,
    at module level or inside a function."""
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node)
            if target.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from . import training`: the module itself
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def test_the_benchmarks_use_only_public_names():
    """The benchmarks are the package's users too: they call what a chapter may call."""
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        text = script.read_text()
        found = re.findall(r"\b(?:T|training|nbhelpers\.\w+)\._[a-z]\w*", text)
        found += re.findall(r"from nbhelpers[\w.]* import .*\b_[a-z]\w*", text)
        assert not found, (script.name, found)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_modules_are_found():
    assert {"nbhelpers.cache", "nbhelpers.data.mnist", "bookkit.build"} <= set(MODULES)
    assert all(
        not _private(n.split(".")[-1]) or n.endswith(("_validation", "_compiled")) for n in MODULES
    )


def test_no_module_imports_another_modules_underscore_names():
    """Shared code is public and documented; `_validation` is the package's one policy and
    imported as a module, never a private name out of another module."""
    found = []
    for name in MODULES:
        tree = ast.parse(MODULES[name].read_text())
        aliases = {}  # local name -> one of our modules, for `module._name` uses
        for target, imported, line in imports(name):
            if imported is not None and _private(imported) and target != name:
                found.append(f"{name}:{line}: from {target} import {imported}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    if isinstance(node, ast.ImportFrom):
                        full = f"{_resolve(name, node)}.{alias.name}"
                    else:
                        full = alias.name
                    if full in MODULES:
                        aliases[local] = full
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
                and aliases[node.value.id] != name
            ):
                found.append(f"{name}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    """Which of our modules each of our modules imports (parsed once per session)."""
    graph = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _, _ in imports(name):
            while target and target not in MODULES:  # `nbhelpers.data.mnist.X` -> its module
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return {name: frozenset(targets) for name, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    """A package's __init__ importing its modules is the one allowed loop: a module that
    imports its own package's __init__ would close a circle, so it may not."""
    graph = dict(_graph())  # a copy: _graph is cached
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (name.startswith(t + ".") and _is_package(t))}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("leaf", ["nbhelpers.plots", "nbhelpers.paper", "nbhelpers._validation"])
def test_the_leaves_know_nothing_of_the_rest(leaf):
    """DESIGN.md: plots, paper and _validation know nothing of the rest."""
    assert _graph()[leaf] <= {"nbhelpers._validation", "nbhelpers"}, _graph()[leaf]


def test_the_science_never_imports_the_machinery():
    for name in MODULES:
        if name.startswith("nbhelpers"):
            assert not any(t.startswith("bookkit") for t in _graph()[name]), name


def test_importing_every_science_module_loads_no_machinery():
    """What a chapter (or Colab) imports never brings in the book's machinery or its tools."""
    science = sorted(n for n in MODULES if n.startswith("nbhelpers"))
    code = (
        "import importlib, sys\n"
        f"for m in {science!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bookkit', 'jupyter_book', 'papermill', 'otter', 'sphinx'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def _chapter_imports(notebook: Path) -> str:
    nb = yaml.safe_load(notebook.read_text())  # JSON is YAML
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_no_chapter_imports_the_machinery():
    """Only the teaching page, which is about the machinery, imports it (its Colab cell
    installs it too)."""
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        uses = re.search(r"^\s*(from|import) bookkit", _chapter_imports(notebook), re.M)
        assert (uses is not None) == (notebook.stem == "teaching"), notebook.name


def _toc_files() -> list[str]:
    """The chapters the toc lists: its notebooks (its Markdown pages are not chapters)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [Path(e["file"]).name for e in toc["chapters"]]
    return [n for n in names if not (ROOT / "book" / f"{n}.md").exists()]


def test_the_tocs_pages_exist_as_a_notebook_or_markdown():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for entry in toc["chapters"]:
        stem = ROOT / entry["file"]
        assert stem.with_suffix(".ipynb").exists() != stem.with_suffix(".md").exists(), stem


def test_chapter_files_are_numbered_in_toc_order():
    """book/NN_name.ipynb: NN counts the toc's numbered pages from 01, with no gap; every
    notebook in book/ is in the toc."""
    files = _toc_files()
    numbered = [f for f in files if re.match(r"\d\d_", f)]
    assert numbered == files[: len(numbered)], "the numbered chapters come first, in order"
    assert [int(f[:2]) for f in numbered] == list(range(1, len(numbered) + 1)), numbered
    notebooks = {p.stem for p in (ROOT / "book").glob("*.ipynb")}
    assert notebooks == set(files), notebooks ^ set(files)


def test_every_chapter_has_its_claims_test_named_after_it():
    tests = {p.stem.removeprefix("test_") for p in (ROOT / "tests" / "chapters").glob("test_*.py")}
    assert set(_toc_files()) <= tests, set(_toc_files()) - tests


def test_the_profiles_name_only_chapters_that_exist():
    profiles = yaml.safe_load((ROOT / "nbhelpers" / "profiles.yml").read_text())
    for name, profile in profiles.items():
        chapters = set((profile or {}).get("chapters") or {})
        assert chapters <= set(_toc_files()), (name, chapters - set(_toc_files()))


def test_the_version_lives_in_one_place():
    """pyproject.toml reads nbhelpers.__version__ (which the model cache keys hold)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^version\s*=\s*\"", pyproject, re.M) is None
    assert 'version = {attr = "nbhelpers.__version__"}' in pyproject
