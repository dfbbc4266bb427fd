"""Build the book: execute every chapter with papermill under a parameter profile,
then build the HTML book from the executed copies with Jupyter Book 1.x.

    python -m bookkit build --profile smoke     # CI: small parameters, minutes
    python -m bookkit build --profile full      # publishing: the paper's scale
    python -m bookkit execute book/03_blind_spots.ipynb --profile smoke
    python -m bookkit html --out <build>        # the HTML again, chapters not rerun
    python -m bookkit build --edition student   # every solution removed (courses)
    python -m bookkit sync-colab                # _config.yml's address -> Colab cells

Each executed chapter lands in <out>/source/book/ with the JSON of numbers it
reports beside it; the HTML lands in <out>/_build/html (the student edition's in
<out>/student/_build/html, built from copies of the executed chapters without solutions).

The chapters' kernels inherit this process's environment: $NBHELPERS_MNIST (a folder
of MNIST IDX files that ``load_mnist("auto")`` reads before Keras) reaches them as
set, made absolute first, since each chapter runs in its output folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nbhelpers.data import MNIST_ENV

from .toc import ROOT, chapters, read_yaml


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
    for one chapter must be one that chapter defines: a ValueError here, so that every
    caller (a build, ``bookkit.course assign``) refuses a misspelt name before any run.
    """
    from nbhelpers import profiles

    notebook = Path(notebook)
    defined = notebook_parameters(notebook)
    params = profiles.chapter_values(profile, notebook.stem, defined, profiles_file(root))
    if "profile" in defined:  # the chapter applies its profile itself (a line in Colab)
        params["profile"] = profile
    return params


def profiles_file(root: Path = ROOT) -> Path:
    """The profiles of the book at `root` (the helper package's, so Colab has them too)."""
    return Path(root) / "nbhelpers" / "profiles.yml"


def notebook_parameters(notebook: Path) -> set[str]:
    """The names a chapter's `parameters` cell defines."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return set(re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.M))
    raise ValueError(f"{notebook} has no cell tagged 'parameters'")


def execute(
    notebook: Path, out_dir: Path, profile: str, root: Path = ROOT, extra: dict | None = None
) -> Path:
    """Run one chapter with papermill in `out_dir` (its JSON of results lands there too);
    `extra` parameters go on top of the profile's (a recording's other seed)."""
    import papermill as pm

    params = profile_parameters(profile, notebook, root)  # refuses names the chapter lacks
    params.update(extra or {})
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


def default_jobs() -> int:
    """Chapters executed side by side by default: 2 where there are 2 cores or more.

    One chapter keeps about 1.2 of 2 cores busy (TensorFlow's small ops, papermill,
    figures); a second fills the other. More would only share the same cores.
    """
    return 2 if (os.cpu_count() or 1) >= 2 else 1


# A page whose parameters name one of these reads the other executed chapters: the
# fidelity page their results, the teaching page the notebooks themselves, the verdicts
# page the recordings (so it is not recorded itself).
READS_OTHERS = ("results_dir", "chapters_dir", "recordings")


def start_order(profile: str, notebooks: list[Path], root: Path = ROOT) -> list[Path]:
    """`notebooks` in the order a side-by-side build starts them: the profile's
    ``start_first`` chapters (long ones that need no other chapter's models) first, the
    rest in toc order, so that the longest chapter does not start last and run alone."""
    from nbhelpers import profiles

    path = profiles_file(root)
    wanted = (profiles.read(path).get(profile) or {}).get("start_first") or []
    stems = [nb.stem for nb in notebooks]
    unknown = [stem for stem in wanted if stem not in stems]
    if unknown:
        raise ValueError(
            f"{path}: profile {profile!r} starts {unknown} first, which are not among the "
            f"chapters it runs side by side: {stems}"
        )
    return sorted(notebooks, key=lambda nb: nb.stem not in wanted)  # stable: toc order kept


def reads_other_chapters(notebook: Path) -> bool:
    """Whether a page reads the other executed chapters (so it runs after all of them)."""
    return any(name in READS_OTHERS for name in notebook_parameters(notebook))


def execute_all(
    notebooks: list[Path], out_dir: Path, profile: str, root: Path = ROOT, jobs: int = 1
) -> dict[Path, float]:
    """Execute `notebooks` into `out_dir`, `jobs` at a time; each one's seconds, in order.

    Every chapter's parameters are checked before the first one runs. Side by side, each
    chapter runs in a process of its own (``python -m bookkit execute``) and its log is
    printed when it ends; the pages that read the others' results run last.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    for nb in notebooks:
        profile_parameters(profile, nb, root)
    last = [nb for nb in notebooks if reads_other_chapters(nb)]
    first = start_order(profile, [nb for nb in notebooks if nb not in last], root)
    times = {}
    if jobs == 1:
        first, last = [], first + last
    else:
        times.update(_execute_side_by_side(first, out_dir, profile, root, jobs))
    for nb in last:
        start = time.perf_counter()
        execute(nb, out_dir, profile, root)
        times[nb] = time.perf_counter() - start
    return {nb: times[nb] for nb in notebooks}


def _execute_side_by_side(notebooks, out_dir, profile, root, jobs) -> dict[Path, float]:
    """Each chapter in its own ``python -m bookkit execute`` process, `jobs` at a time.

    The chapters train their networks one at a time (``nbhelpers.side_by_side`` one worker):
    side by side they fill the cores already, and a chapter's workers would only share them.
    """
    from concurrent.futures import ThreadPoolExecutor

    from nbhelpers.side_by_side import WORKERS_ENV

    env = {**os.environ, WORKERS_ENV: os.environ.get(WORKERS_ENV) or "1"}

    def run(nb):
        print(f"started {nb.relative_to(root)}", flush=True)
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "bookkit", "execute", str(nb), "--profile", profile]
        cmd += ["--out", str(out_dir), "--root", str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        print(proc.stdout + proc.stderr, end="", flush=True)
        if proc.returncode:
            raise RuntimeError(f"{nb.name} failed (exit {proc.returncode}); its log is above")
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {nb: pool.submit(run, nb) for nb in notebooks}
        return {nb: f.result() for nb, f in futures.items()}


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (the kernels)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _check_edition(edition) -> str:
    """`edition` must be one of EDITIONS."""
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    return edition


def build(
    profile: str = "smoke",
    out: Path | None = None,
    root: Path = ROOT,
    html: bool = True,
    edition: str = "full",
    jobs: int | None = None,
) -> Path:
    """Execute every chapter of the toc under `profile` and build the HTML book.

    `jobs` chapters run side by side (default `default_jobs()`); they share the model
    cache, whose entries are locked, so a model two chapters need is trained once.

    The chapters always run with their solutions, so that every exercise's checks run;
    the student `edition` is then rendered from copies with every solution removed.
    Sphinx warnings are errors.
    """
    if not isinstance(html, bool):
        raise TypeError(f"html must be a bool, got {type(html).__name__}")
    edition = _check_edition(edition)
    jobs = default_jobs() if jobs is None else jobs
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
    stamp = out / STAMP
    stamp.unlink(missing_ok=True)  # a build stopped half-way is never taken for a whole one
    started, cpu = time.perf_counter(), _cpu_seconds()
    times = execute_all(chapters(root), src / "book", profile, root, jobs)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    print(f"chapters: {wall:.0f} s, CPU {cpu:.0f} s: {cpu / wall:.2f} cores busy on average")
    if html:
        render_html(out, root, sources=False, edition=edition)
    stamp.write_text(json.dumps(inputs_fingerprint(profile, root, html, edition), indent=1))
    print(build_summary(out, times, root, html, edition), flush=True)
    _warn_stale_recordings(root)
    return out


def _warn_stale_recordings(root: Path) -> None:
    """Say which recorded chapters' code has changed since they were recorded."""
    from nbhelpers import recording

    folder = root / "nbhelpers" / "recordings"
    for stem in recording.recorded_chapters(folder):
        files = recording.changed_files(recording.read_recording(stem, folder)[1], root)
        if not files:
            continue
        print(
            f"recorded run: {stem}'s code has changed since it was recorded "
            f"({', '.join(files)}); `python -m bookkit record {stem}` records it again",
            flush=True,
        )


# What a finished build records of its inputs (`is_current` compares it with today's).
STAMP = "inputs.json"
# Everything a build reads, as globs under the repository: a change to any file re-builds.
INPUTS = (
    "_toc.yml",
    "_config.yml",
    "requirements.lock",
    "_static/**/*",
    "book/*",
    "nbhelpers/**/*.py",
    "nbhelpers/recordings/*.json",
    "nbhelpers/profiles.yml",
    "tools/bookkit/**/*.py",
)


def inputs_fingerprint(profile: str, root: Path = ROOT, html: bool = True, edition="full") -> dict:
    """The build's settings and a SHA-256 over every input file's path and bytes."""
    h = hashlib.sha256()
    files = sorted({p for pattern in INPUTS for p in root.glob(pattern) if p.is_file()})
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "profile": profile,
        "html": html,
        "edition": edition,
        "files": len(files),
        "sha256": h.hexdigest(),
    }


def is_current(out: Path, profile: str, root: Path = ROOT, html: bool = True, edition="full"):
    """Whether `out` holds a finished build of today's inputs under these settings, so that
    `make test` after `make book` reads that build instead of making the same one again."""
    stamp = Path(out) / STAMP
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    return recorded == inputs_fingerprint(profile, root, html, edition)


def write_sources(src: Path, root: Path = ROOT) -> None:
    """Everything but the executed chapters into `src`: the toc, the configuration with
    execution off (papermill ran the chapters), the Markdown pages and the book's CSS."""
    import yaml

    (src / "book").mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "_toc.yml", src / "_toc.yml")
    config = read_yaml(root / "_config.yml")
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
    student edition is built in `out`/student from copies without solutions or checks, the
    full edition from copies in `out`/reader without the grading's marks and checks.
    """
    out = Path(out).resolve()
    edition = _check_edition(edition)
    if sources:
        write_sources(out / "source", root)
    if edition == "student":
        from .editions import student_sources

        student_sources(out / "source", out / "student" / "source")
        out, shown = out / "student", out / "student" / "source"
    else:  # the full edition: the chapters without the grading's marks and checks
        from .editions import reader_sources

        shown = out / "reader" / "source"
        reader_sources(out / "source", shown)
    start = time.perf_counter()
    # The CLI of the jupyter-book installed beside this Python (it has no `python -m` entry).
    cli = "from jupyter_book.cli.main import main; main()"
    args = ["build", str(shown), "--path-output", str(out), "--warningiserror", "--quiet"]
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
