"""``python -m bookkit record [STEM ...]``: the recorded run at the paper's scale.

Executes each chapter named (every chapter of the toc by default, the pages that read the
others' results excepted) under the ``recorded`` profile (the full profile and the extra
seeds that only a recording affords, `nbhelpers/profiles.yml`), one at a time so that each
one's time is its own, and writes its results JSON and provenance into ``nbhelpers/recordings/``
(`nbhelpers.recording`). A chapter whose data is not full MNIST is refused and nothing of
it is written: a recording is the paper's scale or nothing. Point ``NBHELPERS_MNIST`` at
the IDX files where there is no network.

    NBHELPERS_MNIST=/path/to/mnist python -m bookkit record                  # every chapter
    NBHELPERS_MNIST=/path/to/mnist python -m bookkit record 03_blind_spots   # one again
    NBHELPERS_MNIST=/path/to/mnist python -m bookkit record --seed 1 01_framework

``--seed n`` (n > 0) records the chapters again with their ``seed`` parameter set to n
(the data split, the initial weights, the searched sample), into ``recordings/seeds/<n>/``:
the spread of every number over seeds (`nbhelpers.fidelity.seed_spread`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from nbhelpers import recording

from .build import execute, profile_parameters, reads_other_chapters
from .toc import ROOT, chapters

PROFILE = "recorded"
VERSIONS = ("tensorflow", "keras", "tensorflow-probability", "numpy", "scipy")


def chosen_chapters(stems, root: Path = ROOT) -> list[Path]:
    """The notebooks to record: `stems` (all if empty) in toc order; a ValueError naming
    what can be recorded for a stem that is not one of them."""
    recordable = [nb for nb in chapters(root) if not reads_other_chapters(nb)]
    by_stem = {nb.stem: nb for nb in recordable}
    unknown = [s for s in stems or () if s not in by_stem]
    if unknown:
        raise ValueError(
            f"cannot record {unknown}: expected chapters of _toc.yml that compute their own "
            f"results, one of {sorted(by_stem)}"
        )
    return [nb for nb in recordable if not stems or nb.stem in stems]


def machine() -> dict:
    """The machine a chapter ran on: its system, processor, cores and memory."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "system": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
    }


def versions() -> dict:
    """The installed versions of the libraries that compute the numbers."""
    out = {}
    for name in VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path = ROOT, files=()) -> dict:
    """The commit checked out and whether any of `files` (the code that computed a chapter)
    differs from it, uncommitted, as its fingerprint sees it (a notebook by its code cells:
    an edit of its prose does not count); None outside git."""

    def git(*args):
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True)
        except OSError:  # no git, or no such folder
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    changed = git("status", "--porcelain", "--untracked-files=all", "--", *files) if files else b""
    dirty = False
    for line in (changed or b"").decode().splitlines():
        name = line[3:].strip().strip('"')
        committed = git("show", f"HEAD:{name}")
        path = Path(root) / name
        if committed is None or not path.is_file():
            dirty = True
            break
        notebook = name.endswith(".ipynb")
        if recording.content_sha256(committed, notebook) != recording.content_sha256(
            path.read_bytes(), notebook
        ):
            dirty = True
            break
    return {"commit": commit.decode().strip(), "dirty": dirty}


def _cache_entries(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("*.json")} if cache.is_dir() else set()


def write_recording(
    notebook: Path,
    results_file: Path,
    *,
    seconds: float,
    parameters: dict,
    new_cache_entries: list,
    root: Path = ROOT,
    folder: Path = recording.RECORDINGS,
) -> tuple[Path, Path]:
    """Write one chapter's recording: its results JSON as the chapter wrote it and its
    provenance. Refuses (ValueError, nothing written) results not computed on full MNIST."""
    results = json.loads(Path(results_file).read_text())
    data = results.get("data") or {}
    if data.get("is_full") is not True:
        raise ValueError(
            f"{notebook.stem}: a recording must be at the paper's scale, on full MNIST; this "
            f"run's data: {data.get('description', data)}. Set NBHELPERS_MNIST to a folder of "
            "the four MNIST IDX files (or give the machine a network) and record again"
        )
    code = recording.code_fingerprint(notebook, root)
    provenance = {
        "chapter": notebook.stem,
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        # "dirty": the code that computed it (below) differs from the commit
        **git_state(root, list(code)),
        "profile": PROFILE,
        "parameters": parameters,
        "seconds": round(float(seconds), 1),
        "machine": machine(),
        "device": data.get("device"),
        "data": data,
        "versions": versions(),
        # the models and searches this run made rather than loaded: an empty list means its
        # time is that of a chapter whose models were all in the cache already
        "new_cache_entries": sorted(new_cache_entries),
        "code": code,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{notebook.stem}.json"
    prov = folder / f"{notebook.stem}.provenance.json"
    out.write_text(Path(results_file).read_text())
    prov.write_text(json.dumps(provenance, indent=1, ensure_ascii=False) + "\n")
    return out, prov


def seed_parameters(notebooks, seed) -> dict:
    """``{"seed": seed}`` for a recording of another seed, {} for the recording itself
    (seed None or 0, the chapters' default); a ValueError, before any run, for a seed that
    is not a whole number >= 0 or a chapter without a ``seed`` parameter."""
    if seed is None:
        return {}
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if seed == 0:
        return {}
    from .build import notebook_parameters

    without = [nb.stem for nb in notebooks if "seed" not in notebook_parameters(nb)]
    if without:
        raise ValueError(
            f"cannot record {without} with --seed {seed}: they have no `seed` parameter "
            "(a chapter with several seeds runs them itself)"
        )
    return {"seed": seed}


@contextlib.contextmanager
def only_recording(cache: Path):
    """Hold the model cache for one recording: what a chapter made in its run is read from
    the entries that appear in the cache while it runs, so a second `record` on the same
    cache would have its entries counted too. A second one fails at once, saying so."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".recording.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"another `python -m bookkit record` is using the model cache {cache}; what "
                "each chapter made in its run would count the other's entries: wait for it, "
                "or give this one its own NBHELPERS_CACHE"
            ) from None
        yield


def record(
    stems=(), root: Path = ROOT, out: Path | None = None, seed: int | None = None
) -> list[Path]:
    """Execute and record the chapters named (all by default), one at a time; the
    provenance files written. With a seed n > 0, into ``recordings/seeds/<n>/`` with each
    chapter's ``seed`` set to n. A chapter that fails stops the run; those recorded before
    it stay recorded."""
    notebooks = chosen_chapters(list(stems), root)
    for nb in notebooks:
        profile_parameters(PROFILE, nb, root)  # a misspelt profile name fails before any run
    extra = seed_parameters(notebooks, seed)
    folder = root / "nbhelpers" / "recordings"
    if extra:
        folder = folder / recording.SEEDS_FOLDER / str(seed)
    name = "record" + (f"-seed{seed}" if extra else "")
    out_dir = Path(out or root / "_build" / name).resolve() / "book"
    cache = Path(os.environ.setdefault("NBHELPERS_CACHE", str(out_dir.parent / "cache")))
    with only_recording(cache):
        return _record_each(notebooks, cache, out_dir, root, extra, folder)


def _record_each(notebooks, cache: Path, out_dir: Path, root: Path, extra: dict, folder: Path):
    """`record`'s loop: each chapter executed, then its recording written."""
    print(f"recording {len(notebooks)} chapters; model cache: {cache}", flush=True)
    written = []
    for nb in notebooks:
        before = _cache_entries(cache)
        start = time.perf_counter()
        execute(nb, out_dir, PROFILE, root, extra)
        seconds = time.perf_counter() - start
        params = {**profile_parameters(PROFILE, nb, root), **extra}
        results_file = out_dir / f"{nb.stem}.json"
        _, prov = write_recording(
            nb,
            results_file,
            seconds=seconds,
            parameters=params,
            new_cache_entries=sorted(_cache_entries(cache) - before),
            root=root,
            folder=folder,
        )
        print(f"  recorded {nb.stem} ({seconds:.0f} s) -> {prov.relative_to(root)}", flush=True)
        written.append(prov)
        if not extra:
            update_readme(root)
    return written


# The README's table of the recorded run lies between these lines; `record` rewrites it.
README_START = "<!-- recorded run: written by `python -m bookkit record`, do not edit -->"
README_END = "<!-- end of recorded run -->"


def recorded_table(folder: Path = recording.RECORDINGS, root: Path = ROOT) -> str:
    """The README's table of the recorded run: per chapter (toc order) when, on what, how
    long, and what it trained and searched rather than found in the cache. (Whether code
    changed since is the pages' and the build's to say.)"""
    stems = recording.recorded_chapters(folder)
    toc = chapters(root) if (root / "_toc.yml").is_file() else []
    order = {nb.stem: i for i, nb in enumerate(toc)}
    lines = [
        "| chapter | recorded | commit | device | data | time | made in the run |",
        "|---|---|---|---|---|---|---|",
    ]
    for stem in sorted(stems, key=lambda s: order.get(s, len(order))):
        results, p = recording.read_recording(stem, folder)
        data = p["data"]
        lines.append(
            f"| {stem} | {p['recorded_at'][:10]} | {(p['commit'] or '?')[:7]}"
            f"{' (+ changes)' if p['dirty'] else ''} | {p['device']} | "
            f"{_count(data.get('n_train'))} / {_count(data.get('n_test'))} | "
            f"{p['seconds'] / 60:.1f} min | {recording.made_in_run(p, results['results'])} |"
        )
    if not stems:
        lines.append("| (nothing recorded yet) | | | | | | |")
    return "\n".join(lines)


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def update_readme(root: Path = ROOT, folder: Path | None = None) -> bool:
    """Rewrite the README's recorded-run table; whether it changed."""
    folder = root / "nbhelpers" / "recordings" if folder is None else folder
    return write_between_markers(
        root / "README.md", README_START, README_END, recorded_table(folder, root)
    )


def write_between_markers(readme: Path, start: str, end: str, body: str) -> bool:
    """Replace what lies between the lines `start` and `end` of `readme` with `body`;
    whether the file changed. A ValueError naming the markers where they are missing."""
    text = Path(readme).read_text()
    if start not in text or end not in text:
        raise ValueError(f"{readme} lacks the markers {start!r} ... {end!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{body}\n{end}{tail}"
    if new != text:
        Path(readme).write_text(new)
    return new != text
