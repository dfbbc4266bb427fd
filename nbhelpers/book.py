"""Build the book: execute every chapter with papermill under a parameter profile,
then build the HTML book from the executed copies with Jupyter Book 1.x.

    python -m nbhelpers.book build --profile smoke     # CI: small parameters, minutes
    python -m nbhelpers.book build --profile full      # publishing: the paper's scale
    python -m nbhelpers.book execute book/02_blind_spots.ipynb --profile smoke
    python -m nbhelpers.book html --out <build>        # the HTML again, chapters not rerun
    python -m nbhelpers.book build --edition student   # every solution removed (courses)
    python -m nbhelpers.book sync-colab                # _config.yml's address -> Colab cells

Each executed chapter lands in <out>/source/book/ with the JSON of numbers it
reports beside it; the HTML lands in <out>/_build/html (the student edition's in
<out>/student/_build/html, built from copies of the executed chapters without solutions).

The chapters' kernels inherit this process's environment: $NBHELPERS_MNIST (a folder
of MNIST IDX files that ``load_mnist("auto")`` reads before Keras) reaches them as
set, made absolute first, since each chapter runs in its output folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ._validation import check_bool, check_choice
from .data import MNIST_ENV

ROOT = Path(__file__).resolve().parent.parent
COLAB_MARKER = "# Colab only: install the book's helper package"


def _yaml(path: Path) -> dict:
    import yaml

    with open(path) as f:
        return yaml.safe_load(f) or {}


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in _toc.yml, in order (the intro and other pages are not executed)."""
    files = toc_pages(root)[1:]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page _toc.yml lists, its root first, as paths without suffix ("book/intro", ...)."""
    toc = _yaml(root / "_toc.yml")
    files: list[str] = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return files


def chapter_stems(root: Path = ROOT) -> list[str]:
    """The stems of the executed chapters ("01_framework", ...), in _toc.yml's order."""
    return [p.stem for p in chapters(root)]


def _absolute_mnist_env() -> str | None:
    """Make a relative $NBHELPERS_MNIST absolute (kernels run elsewhere); its value, if set."""
    value = os.environ.get(MNIST_ENV, "")
    if not value:
        return None
    os.environ[MNIST_ENV] = os.path.abspath(os.path.expanduser(value))
    return os.environ[MNIST_ENV]


def profile_parameters(profile: str, notebook: Path, root: Path = ROOT) -> dict:
    """The parameters of `profile` for one chapter: the profile's defaults, then the chapter's.

    A default goes only to the chapters whose `parameters` cell defines its name (the
    page that compares with the paper trains nothing and has no `n_train`); a name set
    for one chapter must be one that chapter defines.
    """
    profiles = _yaml(root / "book" / "profiles.yml")
    if profile not in profiles:
        raise ValueError(
            f"unknown profile {profile!r}; expected one of {sorted(profiles)} (book/profiles.yml)"
        )
    p = profiles[profile] or {}
    defined = notebook_parameters(notebook)
    params = {k: v for k, v in (p.get("defaults") or {}).items() if k in defined}
    params.update((p.get("chapters") or {}).get(notebook.stem) or {})
    return params


def notebook_parameters(notebook: Path) -> set[str]:
    """The names a chapter's `parameters` cell defines."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return set(re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.M))
    raise ValueError(f"{notebook} has no cell tagged 'parameters'")


def execute(notebook: Path, out_dir: Path, profile: str, root: Path = ROOT) -> Path:
    """Run one chapter with papermill in `out_dir` (its JSON of results lands there too)."""
    import papermill as pm

    params = profile_parameters(profile, notebook, root)
    unknown = set(params) - notebook_parameters(notebook)
    if unknown:
        raise ValueError(
            f"profile {profile!r} sets {sorted(unknown)}, "
            f"which {notebook.name}'s parameters cell does not define"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / notebook.name
    # progress bars are for people at a notebook, not for the rendered book; nor is
    # TensorFlow's C++ log (on a machine without a GPU it logs a failed cuInit as an error)
    os.environ.setdefault("NBHELPERS_PROGRESS", "0")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    _absolute_mnist_env()  # the kernel inherits os.environ; its cwd is out_dir
    start = time.perf_counter()
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no parameters"
    print(f"executing {notebook.relative_to(root)} ({profile}: {shown}) ...", flush=True)
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters=params,
        cwd=str(out_dir),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        **_kernel_config(),
    )
    print(f"  {notebook.name}: {time.perf_counter() - start:.0f} s -> {out}", flush=True)
    return out


def _kernel_config() -> dict:
    """Start each chapter's kernel with CurveZMQ keys from its manager (jupyter_client >= 8.9).

    The python3 kernelspec declares Curve support; without keys ipykernel >= 7 logs at every
    start that its TCP sockets carry the chapter's code unencrypted. Older clients lack
    the option and start kernels as before.
    """
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    if "transport_encryption" not in KernelManager.class_trait_names():
        return {}
    return {"config": Config({"KernelManager": {"transport_encryption": "auto"}})}


EDITIONS = ("full", "student")


def build(
    profile: str = "smoke",
    out: Path | None = None,
    root: Path = ROOT,
    html: bool = True,
    edition: str = "full",
) -> Path:
    """Execute every chapter of the toc under `profile` and build the HTML book.

    The chapters always run with their solutions, so that every exercise's checks run;
    the student `edition` is then rendered from copies with every solution removed.
    Sphinx warnings are errors.
    """
    html = check_bool(html, "html")
    edition = check_choice(edition, "edition", EDITIONS)
    out = Path(out or root / "_build").resolve()
    src = out / "source"
    if src.exists():
        shutil.rmtree(src)
    write_sources(src, root)
    env_cache = os.environ.setdefault("NBHELPERS_CACHE", str(out / "cache"))
    print(f"model cache: {env_cache}", flush=True)
    mnist = _absolute_mnist_env()
    if mnist:
        print(f"MNIST: {MNIST_ENV}={mnist} (load_mnist('auto') reads it first)", flush=True)
    times = {}
    for nb in chapters(root):
        start = time.perf_counter()
        execute(nb, src / "book", profile, root)
        times[nb] = time.perf_counter() - start
    if html:
        render_html(out, root, sources=False, edition=edition)
    print(build_summary(out, times, root, html, edition), flush=True)
    return out


def write_sources(src: Path, root: Path = ROOT) -> None:
    """Everything but the executed chapters into `src`: the toc, the configuration with
    execution off (papermill ran the chapters), the Markdown pages and the book's CSS."""
    import yaml

    (src / "book").mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "_toc.yml", src / "_toc.yml")
    config = _yaml(root / "_config.yml")
    config.setdefault("execute", {})["execute_notebooks"] = "off"  # executed here, by papermill
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for f in (root / "book").iterdir():
        if f.suffix in (".md", ".png", ".svg", ".bib") and f.is_file():
            shutil.copy(f, src / "book" / f.name)
    if (root / "_static").is_dir():  # the book's CSS, which Jupyter Book puts on every page
        shutil.copytree(root / "_static", src / "_static", dirs_exist_ok=True)


def render_html(out: Path, root: Path = ROOT, sources: bool = True, edition: str = "full") -> Path:
    """The HTML book from the chapters executed in `out`/source (Sphinx warnings are errors).

    With `sources`, the toc, configuration, pages and CSS are copied afresh first: after an
    edit to those, the HTML is rebuilt in seconds without running the chapters again. The
    student edition is built in `out`/student from copies without solutions or checks.
    """
    out = Path(out).resolve()
    edition = check_choice(edition, "edition", EDITIONS)
    if sources:
        write_sources(out / "source", root)
    if edition == "student":
        from .course import student_sources

        student_sources(out / "source", out / "student" / "source")
        out = out / "student"
    start = time.perf_counter()
    # The CLI of the jupyter-book installed beside this Python (it has no `python -m` entry).
    cli = "from jupyter_book.cli.main import main; main()"
    args = ["build", str(out / "source"), "--path-output", str(out), "--warningiserror", "--quiet"]
    subprocess.run([sys.executable, "-c", cli, *args], check=True)
    print(f"HTML built in {time.perf_counter() - start:.0f} s", flush=True)
    return out / "_build" / "html"


def build_summary(
    out: Path, times: dict, root: Path = ROOT, html: bool = True, edition: str = "full"
) -> str:
    """What a build made: each chapter, its execution time and its page (or executed copy)."""
    site = (out / "student" if edition == "student" else out) / "_build" / "html"
    lines = [f"{'chapter':<32} {'seconds':>7}  {'page' if html else 'executed notebook'}"]
    for nb, seconds in times.items():
        rel = nb.relative_to(root).with_suffix(".html" if html else ".ipynb")
        where = site / rel if html else out / "source" / nb.relative_to(root)
        lines.append(f"{nb.stem:<32} {seconds:>7.0f}  {where}")
    if html:
        lines.append(f"book: {site / 'index.html'}")
    return "\n".join(lines)


def repository_url(root: Path = ROOT) -> str:
    """The book's repository, as `_config.yml` names it (its one home)."""
    return _yaml(root / "_config.yml")["repository"]["url"].rstrip("/")


def sync_colab(root: Path = ROOT, check: bool = False) -> list[Path]:
    """Write the repository address of _config.yml into every chapter's Colab install cell.

    With `check`, change nothing and return the chapters whose cell disagrees.
    """
    import nbformat

    url = repository_url(root)
    wanted = colab_install_source(url)
    stale = []
    for nb_path in sorted((root / "book").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(COLAB_MARKER)]
        if len(cells) != 1:
            raise ValueError(
                f"{nb_path.name}: expected exactly one Colab install cell starting with "
                f"{COLAB_MARKER!r}, found {len(cells)}"
            )
        if cells[0].source != wanted:
            stale.append(nb_path)
            if not check:
                cells[0].source = wanted
                nbformat.write(nb, nb_path)
    return stale


def colab_install_source(url: str) -> str:
    """The Colab install cell: pip-installs nbhelpers from the repository, in Colab only.

    Written as `ruff format` leaves it (the chapters are formatted too): one argument
    a line, with trailing commas, which the formatter keeps whatever the address's length.
    """
    args = ["sys.executable", '"-m"', '"pip"', '"install"', '"-q"', f'"nbhelpers @ git+{url}"']
    return (
        f"{COLAB_MARKER} (elsewhere it is installed already).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        "    subprocess.run(\n"
        "        [\n" + "".join(f"            {a},\n" for a in args) + "        ],\n"
        "        check=True,\n"
        "    )"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m nbhelpers.book", description="Execute the chapters and build the book."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute every chapter and build the HTML book")
    b.add_argument(
        "--profile", default="smoke", help="parameter profile from book/profiles.yml (smoke, full)"
    )
    b.add_argument("--out", default=None, help="output folder (default: _build)")
    b.add_argument("--no-html", action="store_true", help="execute the chapters only")
    b.add_argument(
        "--edition", default="full", choices=EDITIONS, help="student: every solution removed"
    )
    h = sub.add_parser(
        "html", help="rebuild the HTML from the chapters an earlier build executed (seconds)"
    )
    h.add_argument("--out", default=None, help="that build's output folder (default: _build)")
    h.add_argument("--edition", default="full", choices=EDITIONS)
    e = sub.add_parser("execute", help="execute one chapter")
    e.add_argument("notebook")
    e.add_argument("--profile", default="smoke")
    e.add_argument("--out", default=None)
    s = sub.add_parser(
        "sync-colab", help="write _config.yml's repository address into the Colab cells"
    )
    s.add_argument(
        "--check", action="store_true", help="only report chapters that disagree (exit 1)"
    )
    args = ap.parse_args(argv)
    if args.cmd == "build":
        start = time.perf_counter()
        out = Path(args.out) if args.out else None
        build(args.profile, out, html=not args.no_html, edition=args.edition)
        print(f"total: {time.perf_counter() - start:.0f} s")
    elif args.cmd == "html":
        site = render_html(Path(args.out) if args.out else ROOT / "_build", edition=args.edition)
        print(f"book: {site / 'index.html'}")
    elif args.cmd == "execute":
        out = Path(args.out) if args.out else ROOT / "_build" / "source" / "book"
        execute(Path(args.notebook).resolve(), out.resolve(), args.profile)
    else:
        stale = sync_colab(check=args.check)
        for p in stale:
            print(("differs: " if args.check else "updated: ") + str(p.relative_to(ROOT)))
        if args.check and stale:
            sys.exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
