"""The recorded run at the paper's scale: each chapter's results as the full profile on full
MNIST computed them, with their provenance, shipped in ``nbhelpers/recordings/``.

``python -m bookkit record`` alone writes these files (never edit them by hand): per
chapter ``<stem>.json`` (the results JSON the chapter wrote, as `report.write_results`
writes it) and ``<stem>.provenance.json`` (when, on what, how long, and a SHA-256 of every
file of code that computed it: the chapter's notebook (its code cells) and each
`nbhelpers` module it imports, directly or through other modules). A small-sample build
shows the recorded tables beside its own and says, from `changed_files`, when that code
has changed since.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import _validation as _v
from .report import read_results

__all__ = [
    "RECORDINGS",
    "PACKAGE_ROOT",
    "code_files",
    "code_fingerprint",
    "content_sha256",
    "recorded_chapters",
    "read_recording",
    "changed_files",
    "RECORDED_TAG",
    "Recorded",
    "recorded",
    "provenance_table",
    "provenance_words",
    "made_in_run",
    "cost_note",
    "show_cost",
    "chapter_title",
    "time_table",
    "provenances",
]

# Cells tagged so only show the recording; they compute nothing, so they are left out of a
# notebook's fingerprint (adding or editing one does not make the recording stale).
RECORDED_TAG = "recorded"

# the folder of recordings (package data: a pip-installed copy has them too)
RECORDINGS = Path(__file__).resolve().parent / "recordings"
# the recorded runs of other seeds than the chapters' default 0: seeds/<n>/, each as
# RECORDINGS is (`python -m bookkit record --seed n`)
SEEDS_FOLDER = "seeds"
# the checkout the package was installed from (where book/ and nbhelpers/ sit side by side)
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _check_stem(stem) -> str:
    stem = _v.check_str(stem, "stem (a chapter's file name without .ipynb)", non_empty=True)
    if "/" in stem or stem.endswith(".ipynb"):
        raise ValueError(f"stem must be a chapter's name like '03_blind_spots', got {stem!r}")
    return stem


def _imported_modules(source: str) -> set[str]:
    """The ``nbhelpers`` modules a piece of code imports by absolute name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "nbhelpers"}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "nbhelpers"
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _module_file(name: str, root: Path) -> Path | None:
    """The file of module `name` under `root` (a package's ``__init__.py``), if any."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _relative_imports(path: Path, name: str, root: Path) -> set[str]:
    """The modules `path` (module `name`) imports, absolute and relative, as full names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = _imported_modules(path.read_text())
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            module = f"{base}.{node.module}" if node.module else base
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def code_files(notebook, root=PACKAGE_ROOT) -> list[str]:
    """The files of code that compute a chapter, relative to `root`: the notebook and every
    `nbhelpers` module it imports, directly or through other modules (packages' ``__init__``
    included), sorted. Cells tagged `RECORDED_TAG` only show the recording: left out."""
    import nbformat

    root = Path(root)
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    source = "\n".join(
        c.source
        for c in nb.cells
        if c.cell_type == "code"
        and not c.source.lstrip().startswith(("%", "!"))
        and RECORDED_TAG not in c.metadata.get("tags", [])  # they only show the recording
    )
    todo = set(_imported_modules(source)) | {"nbhelpers"}
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, root)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[name] = path
        parts = name.split(".")
        todo |= {".".join(parts[:i]) for i in range(1, len(parts))}  # the parent packages
        todo |= _relative_imports(path, name, root) - set(seen)
    files = {p.relative_to(root).as_posix() for p in seen.values()}
    try:
        files.add(notebook.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        files.add(notebook.name)
    return sorted(files)


def _sha256(path: Path) -> str:
    """SHA-256 of a module's bytes, or of a notebook's code cells (its prose, outputs,
    metadata and the cells tagged `RECORDED_TAG` compute nothing)."""
    path = Path(path)
    return content_sha256(path.read_bytes(), path.suffix == ".ipynb")


def content_sha256(content: bytes, notebook: bool = False) -> str:
    """`_sha256` of a file's bytes: a notebook's (`notebook`) by its code cells."""
    if not notebook:
        return hashlib.sha256(content).hexdigest()
    import nbformat

    cells = nbformat.reads(content.decode(), as_version=4).cells
    code = [
        c.source
        for c in cells
        if c.cell_type == "code" and RECORDED_TAG not in c.metadata.get("tags", [])
    ]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def code_fingerprint(notebook, root=PACKAGE_ROOT) -> dict[str, str]:
    """``{file: SHA-256}`` for every file of `code_files`."""
    return {f: _sha256(Path(root) / f) for f in code_files(notebook, root)}


def recorded_chapters(folder=RECORDINGS) -> list[str]:
    """The chapters (stems) with a recording, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p.name[: -len(".provenance.json")]
        for p in folder.glob("*.provenance.json")
        if (folder / p.name.replace(".provenance.json", ".json")).is_file()
    )


def seed_folders(folder=None) -> dict[int, Path]:
    """``{seed: folder}`` of the recorded runs, seed 0 (the recording itself, at the
    chapters' default seed) first, then each ``seeds/<n>`` that holds a recording; `folder`
    None: the recordings shipped with the package."""
    folder = Path(RECORDINGS if folder is None else folder)
    out = {0: folder} if recorded_chapters(folder) else {}
    seeds = folder / SEEDS_FOLDER
    if seeds.is_dir():
        for sub in sorted(seeds.iterdir(), key=lambda p: (len(p.name), p.name)):
            if sub.name.isdigit() and recorded_chapters(sub):
                out[int(sub.name)] = sub
    return out


def recordings(folder=None) -> list[tuple[dict, dict]]:
    """Every recorded chapter's ``(results, provenance)``, each read once, in the order they
    were recorded; `folder` None: the recordings shipped with the package."""
    folder = RECORDINGS if folder is None else folder
    runs = [read_recording(stem, folder) for stem in recorded_chapters(folder)]
    return sorted(runs, key=lambda run: run[1]["recorded_at"])


def provenances(folder=None) -> list[dict]:
    """Every recorded chapter's provenance, in the order they were recorded."""
    return [provenance for _, provenance in recordings(folder)]


def read_recording(stem, folder=RECORDINGS) -> tuple[dict, dict]:
    """``(results, provenance)`` of a chapter's recording; a FileNotFoundError that names
    the recorded chapters if it has none."""
    stem = _check_stem(stem)
    folder = Path(folder)
    results, provenance = folder / f"{stem}.json", folder / f"{stem}.provenance.json"
    if not (results.is_file() and provenance.is_file()):
        have = ", ".join(recorded_chapters(folder)) or "none"
        raise FileNotFoundError(
            f"no recording of {stem!r} in {folder} (recorded: {have}); "
            f"`python -m bookkit record {stem}` makes one"
        )
    try:
        prov = json.loads(provenance.read_text())
    except ValueError as e:
        raise ValueError(f"{provenance}: expected JSON written by bookkit record ({e})") from None
    return read_results(results), prov


def changed_files(provenance: dict, root=PACKAGE_ROOT) -> dict[str, str]:
    """The files of code recorded in `provenance` that differ now: ``{file: "changed" |
    "missing"}``. A notebook not present here (a pip-installed package, as on Colab) is
    left out: only what can be compared is."""
    _v.check_mapping(provenance, "provenance")
    code = provenance.get("code")
    if not isinstance(code, dict):
        raise ValueError("provenance has no 'code' fingerprint (written by bookkit record)")
    root = Path(root)
    out = {}
    for name, digest in sorted(code.items()):
        path = root / name
        if not path.is_file():
            if name.startswith("nbhelpers/"):
                out[name] = "missing"
            continue
        if _sha256(path) != digest:
            out[name] = "changed"
    return out


@dataclass(frozen=True)
class Recorded:
    """A chapter's recording as a page shows it: its results and the paper's numbers (the
    ``results`` and ``paper`` blocks of its JSON), its provenance, and the files of code
    changed since it was recorded (empty: the recording is what today's code computes)."""

    stem: str
    results: dict
    paper: dict
    provenance: dict
    changed: dict

    def describe(self) -> str:
        """The data and the run, for a table's caption."""
        p = self.provenance
        d = p["data"]
        commit = (p.get("commit") or "unknown commit")[:7]
        return (
            f"the recorded run at the paper's scale (full MNIST, {d['n_train']:,} training and "
            f"{d['n_test']:,} test digits; recorded {p['recorded_at'][:10]} at commit "
            f"{commit}, {p['device']})"
        )

    def note(self) -> str:
        """A sentence for the page: where these numbers come from, and whether the code
        that computed them has changed since."""
        p = self.provenance
        text = (
            f"*Recorded run:* `python -m bookkit record {self.stem}` computed these numbers "
            f"with the {p.get('profile', 'full')} profile on {p['recorded_at'][:10]}, in "
            f"{_duration(p['seconds'])} "
            f"on {p['device']}" + f" ({made_in_run(p, self.results)})."
        )
        if self.changed:
            files = ", ".join(f"`{f}`" for f in self.changed)
            text += (
                f" **The code that computed them has changed since they were recorded** "
                f"({files}): they are what the code computed then, not necessarily now."
            )
        return text


def made_in_run(provenance: dict, results: dict | None = None) -> str:
    """What a recorded run trained and searched rather than loaded from the model cache
    (its time includes those), from its ``new_cache_entries``; with its `results`, also
    the autoencoder study's variants, which train outside the cache (chapter 01)."""
    new = provenance.get("new_cache_entries") or []
    searches = sum(1 for name in new if name.startswith("search_"))
    models = len(new) - searches
    if not new:
        text = "every model and search from the cache"
    else:
        parts = [
            f"{n} {one if n == 1 else many}"
            for n, one, many in ((models, "model", "models"), (searches, "search", "searches"))
            if n
        ]
        text = "trained or searched in the run: " + " and ".join(parts)
    study = (results or {}).get("autoencoder_study") or {}
    trained = [k for k in study if k != "chapter"]
    if trained:
        text += (
            f"; its autoencoder study trained {len(trained)} autoencoders outside the cache "
            f"({_duration(_study_seconds(results))})"
        )
    return text


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def recorded(stem, folder=RECORDINGS, root=PACKAGE_ROOT) -> Recorded | None:
    """A chapter's recording with what changed since (`changed_files`), or None where it
    has none (the page then says that no paper-scale numbers are recorded)."""
    stem = _check_stem(stem)
    if stem not in recorded_chapters(folder):
        return None
    results, provenance = read_recording(stem, folder)
    return Recorded(
        stem=stem,
        results=results["results"],
        paper=results["paper"],
        provenance=provenance,
        changed=changed_files(provenance, root),
    )


def show_table(
    stem,
    data,
    key: str,
    *,
    what: str,
    paper=None,
    paper_data: str | None = None,
    folder=RECORDINGS,
    root=PACKAGE_ROOT,
    **beside_kwargs,
) -> None:
    """In a small-sample build, the chapter's table `key` (a key of its results) at the
    paper's scale from its recording, beside `paper` (the paper's numbers, optional) as
    `report.beside` sets them, with a caption naming the recorded run and its `note`;
    nothing in a build on full MNIST, whose own tables are at the paper's scale; a line
    saying so where nothing is recorded. Returns nothing, so that a cell ending with it
    shows the table only (`recorded` gives the recording itself)."""
    from IPython.display import Markdown, display

    from . import report

    if getattr(data, "is_full", False):
        return
    run = recorded(stem, folder, root)
    if run is None:
        display(Markdown("*No run of this chapter at the paper's scale is recorded yet.*"))
        return
    if key not in run.results:
        raise KeyError(f"{stem}'s recording has no table {key!r}; it has {sorted(run.results)}")
    table = report.beside(run.results[key], paper or {}, **beside_kwargs)
    title = f"**At the paper's scale.** {what}"
    report.show(table, report.caption(title, run.describe(), paper_data))
    display(Markdown(run.note()))


def _beyond_full(stem: str, profile: str) -> dict:
    """What `profile` sets for the chapter `stem` that the full profile does not (for the
    recorded profile: the extra seeds and settings only a recording affords)."""
    from . import profiles

    every = profiles.read()
    names = set((every.get(profile) or {}).get("defaults") or {})
    names |= set(((every.get(profile) or {}).get("chapters") or {}).get(stem) or {})
    if profile not in every or not names:
        return {}
    full = profiles.chapter_values("full", stem, names)
    mine = profiles.chapter_values(profile, stem, names)
    return {k: v for k, v in mine.items() if full.get(k, object()) != v}


def _study_seconds(results: dict) -> float:
    """Seconds that chapter 01's autoencoder study spent training (each variant's last
    stage holds its cumulative seconds); 0 where a run has none."""
    study = results.get("autoencoder_study") or {}
    return sum(max((s.get("seconds") or 0) for s in v["stages"]) for v in study.values())


def cost_note(stem, profile: str, folder=RECORDINGS, root=PACKAGE_ROOT) -> str:
    """A chapter's first word to a Colab user: which profile this run uses, what the
    recorded run of it cost at the paper's scale (measured: its time, machine and what it
    trained rather than loaded) and the one-line switch to the smoke sizes."""
    stem = _check_stem(stem)
    profile = _v.check_str(profile, "profile")
    run = recorded(stem, folder, root)
    text = f'**What it costs.** This run uses `profile = "{profile}"`. '
    if run is None:
        text += (
            "No run of this chapter at the paper's scale is recorded yet, so its cost is unknown. "
        )
    else:
        p = run.provenance
        text += (
            f'At the paper\'s scale (`"full"`, the defaults above) the recorded run of this '
            f"chapter took **{_duration(p['seconds'])}** (recorded {p['recorded_at'][:10]} on "
            f"{p['device']}; {made_in_run(p, run.results)}; what the model cache already "
            "held, such as models an earlier chapter trained, loaded in seconds). "
        )
        beyond = _beyond_full(stem, p.get("profile", "full"))
        if beyond:
            shown = ", ".join(f"`{k} = {v!r}`" for k, v in beyond.items())
            text += (
                f"That run also set {shown} (profile `{p['profile']}`), more than the defaults "
                "run, so the defaults take less. "
            )
    return text + (
        'For a first look in minutes, set `profile = "smoke"` in the cell above: CI\'s small '
        "sizes, on the 5,000 digits embedded in the package."
    )


def show_cost(stem, profile: str, folder=RECORDINGS, root=PACKAGE_ROOT) -> None:
    """Display `cost_note` (a chapter's cell after its parameters)."""
    from IPython.display import Markdown, display

    display(Markdown(cost_note(stem, profile, folder, root)))


def chapter_title(stem, root=PACKAGE_ROOT) -> str:
    """A chapter's title, for links to it (its stem where the notebook is not here)."""
    return _title(_check_stem(stem), Path(root))


def _title(stem: str, root: Path) -> str:
    """A chapter's title (its notebook's first heading), or its stem where the notebook is
    not here (a pip-installed package)."""
    path = Path(root) / "book" / f"{stem}.ipynb"
    if path.is_file():
        for cell in json.loads(path.read_text()).get("cells", []):
            if cell.get("cell_type") == "markdown":
                first = "".join(cell.get("source", "")).lstrip().splitlines()[:1]
                if first and first[0].startswith("# "):
                    return first[0][2:].strip()
                break
    return stem


def _provenance_rows(folder, root):
    """Every column of `provenance_table`, none left out: each recording read once."""
    import pandas as pd

    rows = {}
    for stem in recorded_chapters(folder):
        run = recorded(stem, folder, root)
        p = run.provenance
        rows[_title(stem, root)] = {
            "recorded": p["recorded_at"][:10],
            "commit": (p.get("commit") or "?")[:7],
            "device": p["device"],
            "time": _duration(p["seconds"]),
            "made in the run": made_in_run(p, run.results),
            "code changed since": _changed_names(run.changed),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("chapter")


def provenance_table(folder=RECORDINGS, root=PACKAGE_ROOT):
    """One row per recorded chapter: when, at which commit, on what, how long, whether
    its models were trained in that run, and the files of its code changed since. A column
    the same in every row (one device; no code changed) is left out: `provenance_words`
    says it once."""
    table = _provenance_rows(folder, root)
    if len(table) and table["device"].nunique() == 1:
        table = table.drop(columns="device")
    if len(table) and table["code changed since"].eq("nothing").all():
        table = table.drop(columns="code changed since")
    return table


def provenance_words(folder=RECORDINGS, root=PACKAGE_ROOT) -> str:
    """What `provenance_table` leaves out, in a sentence: the device the chapters were
    recorded on (or how many), and whether any chapter's code has changed since."""
    table = _provenance_rows(folder, root)
    if table.empty:
        return "No chapter is recorded yet."
    devices = list(dict.fromkeys(table["device"]))
    if len(devices) == 1:
        text = f"Every chapter was recorded on the same machine: {devices[0]}."
    else:
        text = f"The chapters were recorded on {len(devices)} devices: " + "; ".join(devices) + "."
    stale = int(table["code changed since"].ne("nothing").sum())
    if stale:
        return text + f" The code of {stale} has changed since (last column)."
    return text + " The code that computed each chapter is unchanged since it was recorded."


def _changed_names(changed) -> str:
    """The files of `changed_files` by the shortest end of their paths that tells them
    apart (a path would not wrap in a table's column; the chapter's own notice gives the
    paths), or "nothing"."""
    parts = {f: Path(f).parts for f in dict.fromkeys(changed)}
    names = []
    for f, mine in parts.items():
        for k in range(1, len(mine) + 1):
            end = mine[-k:]
            if all(other[-k:] != end for g, other in parts.items() if g != f):
                break
        names.append("/".join(end))
    return ", ".join(names) or "nothing"


def time_table(folder=RECORDINGS, root=PACKAGE_ROOT):
    """What the recorded run took, chapter by chapter in the order recorded: minutes, the
    profile, the device and what it trained or searched rather than loaded; a last row
    with the total (the page "Running at full scale")."""
    import pandas as pd

    runs = recordings(folder)  # each read once: its provenance, and its results for `made_in_run`
    rows = {}
    for results, p in runs:
        rows[_title(p["chapter"], root)] = {
            "minutes": round(p["seconds"] / 60, 1),
            "profile": p.get("profile", "full"),
            "device": p["device"],
            "made in the run": made_in_run(p, results["results"]),
        }
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["minutes", "profile", "device", "made in the run"]
    )
    if len(table):
        total = round(sum(p["seconds"] for _, p in runs) / 60, 1)
        table.loc["all chapters, one after the other"] = [total, "", "", ""]
    return table.rename_axis("chapter")
