"""The recorded run at the paper's scale: which code a chapter's numbers depend on, what a
recording holds, when it is stale, and that every recording fits its chapter's results."""

import json
from pathlib import Path

import nbformat
import pytest

from bookkit import build
from bookkit import record as rec
from bookkit.toc import ROOT
from nbhelpers import profiles, recording

# ---------------------------------------------------------------------------------
# the code a chapter's numbers depend on


def _tree(tmp_path):
    """A package `nbhelpers` with absolute, relative and function-level imports, and a
    notebook that imports one of its modules."""
    pkg = tmp_path / "nbhelpers"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""top"""\n')
    (pkg / "a.py").write_text("from . import b\nfrom .sub.c import thing\n")
    (pkg / "b.py").write_text("def f():\n    from nbhelpers.sub import d\n    return d\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("thing = 1\n")
    (pkg / "sub" / "d.py").write_text("from ..e import x\n")
    (pkg / "e.py").write_text("x = 2\n")
    (pkg / "unused.py").write_text("y = 3\n")
    (tmp_path / "book").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("import nbhelpers.unused  # prose, not code"),
        nbformat.v4.new_code_cell("from nbhelpers.a import b\nimport numpy as np"),
    ]
    path = tmp_path / "book" / "99_test.ipynb"
    nbformat.write(nb, path)
    return path


def test_code_files_follow_every_import(tmp_path):
    """Absolute, relative and function-level imports are followed, parent packages
    included; a module nothing imports and a name imported from a module are not files."""
    notebook = _tree(tmp_path)
    assert recording.code_files(notebook, tmp_path) == [
        "book/99_test.ipynb",
        "nbhelpers/__init__.py",
        "nbhelpers/a.py",
        "nbhelpers/b.py",
        "nbhelpers/e.py",
        "nbhelpers/sub/__init__.py",
        "nbhelpers/sub/c.py",
        "nbhelpers/sub/d.py",
    ]


def test_a_chapter_depends_on_what_it_imports_and_no_more():
    files = recording.code_files(ROOT / "book" / "02_units_and_directions.ipynb")
    assert "nbhelpers/training.py" in files and "book/02_units_and_directions.ipynb" in files
    assert not any(f.startswith("nbhelpers/attacks/") for f in files)  # it searches nothing
    assert "nbhelpers/autoencoder_study.py" not in files
    framework = recording.code_files(ROOT / "book" / "01_framework.ipynb")
    assert "nbhelpers/autoencoder_study.py" in framework  # and what it imports, the search
    assert "nbhelpers/attacks/search.py" in framework
    blind = recording.code_files(ROOT / "book" / "03_blind_spots.ipynb")
    assert "nbhelpers/attacks/solver.py" in blind


def test_changed_files_names_what_changed_since_the_fingerprint(tmp_path):
    """A module's bytes or a notebook's code cells count; a notebook's prose does not."""
    notebook = _tree(tmp_path)
    provenance = {"code": recording.code_fingerprint(notebook, tmp_path)}
    assert recording.changed_files(provenance, tmp_path) == {}
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source = "Prose, edited: no number changes."
    nbformat.write(nb, notebook)
    assert recording.changed_files(provenance, tmp_path) == {}
    nb.cells[1].source += "\nx = 1"
    nbformat.write(nb, notebook)
    assert recording.changed_files(provenance, tmp_path) == {"book/99_test.ipynb": "changed"}
    (tmp_path / "nbhelpers" / "e.py").write_text("x = 3\n")
    (tmp_path / "nbhelpers" / "sub" / "c.py").unlink()
    notebook.unlink()  # a notebook not here (a pip-installed package) cannot be compared
    assert recording.changed_files(provenance, tmp_path) == {
        "nbhelpers/e.py": "changed",
        "nbhelpers/sub/c.py": "missing",
    }
    with pytest.raises(ValueError, match="no 'code' fingerprint"):
        recording.changed_files({"chapter": "x"}, tmp_path)


# ---------------------------------------------------------------------------------
# writing a recording


def _results(tmp_path, is_full):
    data = {"description": "MNIST, 60,000 / 10,000" if is_full else "the embedded sample"}
    data |= {"is_full": is_full, "device": "CPU (2 cores)"}
    path = tmp_path / "out" / "99_test.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            {"chapter": "t", "data": data, "parameters": {}, "results": {"a": 1}, "paper": {}}
        )
    )
    return path


def test_a_recording_holds_the_results_and_their_provenance(tmp_path):
    notebook = _tree(tmp_path)
    folder = tmp_path / "recordings"
    out, prov = rec.write_recording(
        notebook,
        _results(tmp_path, True),
        seconds=12.34,
        parameters={"n_search": 2000},
        new_cache_entries=["b.json", "a.json"],
        root=tmp_path,
        folder=folder,
    )
    assert out.read_text() == (tmp_path / "out" / "99_test.json").read_text()
    p = json.loads(prov.read_text())
    assert p["chapter"] == "99_test" and p["profile"] == "recorded" and p["seconds"] == 12.3
    assert p["parameters"] == {"n_search": 2000} and p["new_cache_entries"] == ["a.json", "b.json"]
    assert p["data"]["is_full"] and p["device"] == "CPU (2 cores)"
    assert p["machine"]["cores"] >= 1 and p["versions"]["tensorflow"]
    assert p["code"] == recording.code_fingerprint(notebook, tmp_path)
    assert "T" in p["recorded_at"] and "commit" in p and "dirty" in p
    assert recording.recorded_chapters(folder) == ["99_test"]
    results, provenance = recording.read_recording("99_test", folder)
    assert results["results"] == {"a": 1} and provenance == p


def test_a_small_sample_is_never_recorded(tmp_path):
    notebook = _tree(tmp_path)
    folder = tmp_path / "recordings"
    with pytest.raises(ValueError, match="paper's scale, on full MNIST.*embedded sample"):
        rec.write_recording(
            notebook,
            _results(tmp_path, False),
            seconds=1,
            parameters={},
            new_cache_entries=[],
            root=tmp_path,
            folder=folder,
        )
    assert not folder.exists()


def test_reading_a_chapter_without_a_recording_says_what_is_recorded(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no recording of '03_x'.*recorded: none"):
        recording.read_recording("03_x", tmp_path)
    with pytest.raises(ValueError, match="chapter's name"):
        recording.read_recording("book/03_x.ipynb", tmp_path)


def test_record_refuses_pages_that_compute_nothing_and_unknown_names():
    stems = [nb.stem for nb in rec.chosen_chapters([])]
    assert "01_framework" in stems and "10_fidelity" not in stems and "teaching" not in stems
    assert [
        nb.stem for nb in rec.chosen_chapters(["04_across_models", "02_units_and_directions"])
    ] == [
        "02_units_and_directions",
        "04_across_models",
    ]
    with pytest.raises(ValueError, match=r"cannot record \['10_fidelity'\].*01_framework"):
        rec.chosen_chapters(["10_fidelity"])


# ---------------------------------------------------------------------------------
# the recordings in the repository


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None or isinstance(value, (int, float)):
        return "number"  # NaN is written as null
    return type(value).__name__


def _is_number(key) -> bool:
    try:
        float(key)
    except ValueError:
        return False
    return True


def _misfit(recorded, current, where="results"):
    """Where a recording's structure departs from the current results (None: it fits).
    Dicts keyed by what a profile chooses (seeds, sizes, settings a profile tries more or
    fewer of, or models whose entries are records) may hold other keys, but their entries
    must look alike; a dict whose keys were renamed does not fit; lists are compared by
    their first items."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        if set(recorded) == set(current):
            for key in current:
                bad = _misfit(recorded[key], current[key], f"{where}[{key!r}]")
                if bad:
                    return bad
            return None
        if not recorded or not current:
            return None
        values = list(recorded.values()) + list(current.values())
        numeric = all(_is_number(k) for k in list(recorded) + list(current))
        nested = set(recorded) <= set(current) or set(current) <= set(recorded)
        if not (numeric or nested) and not all(isinstance(v, (dict, list)) for v in values):
            return f"{where}: keys {sorted(recorded)} recorded, {sorted(current)} now"
        first_r, first_c = next(iter(recorded.values())), next(iter(current.values()))
        if isinstance(first_r, (dict, list)) or isinstance(first_c, (dict, list)):
            return _misfit(first_r, first_c, f"{where}[...]")
        return None if _kind(first_r) == _kind(first_c) else f"{where}: other entries"
    if isinstance(recorded, list) and isinstance(current, list):
        if recorded and current:
            return _misfit(recorded[0], current[0], f"{where}[0]")
        return None
    kinds = {_kind(recorded), _kind(current)}
    return None if len(kinds) == 1 else f"{where}: {_kind(recorded)} recorded, {_kind(current)} now"


def test_the_structure_check_catches_a_renamed_or_retyped_entry():
    now = {"t": {"FC10": {"err": 1.0, "n": 3}}, "s": [{"a": "x"}], "seeds": {"0": 1.0}}
    assert (
        _misfit({"t": {"FC10": {"err": 2, "n": None}}, "s": [], "seeds": {"0": 1, "1": 2}}, now)
        is None
    )
    assert _misfit({"t": {"FC10": {"error": 1.0, "n": 3}}, "s": [], "seeds": {}}, now)
    assert _misfit({"t": {"FC10": {"err": "1.0", "n": 3}}, "s": [], "seeds": {}}, now)
    assert _misfit({"t": {"FC10": {"err": 1.0, "n": 3}}, "s": [{"a": 1}], "seeds": {}}, now)
    mixes = {"t": {"FC10": {"err": 1.0, "n": 3}}, "s": [], "seeds": {"mix 0.1": 1, "mix 0.5": 2}}
    assert _misfit(mixes, {**now, "seeds": {"mix 0.5": 2.0}}) is None  # fewer tried here


@pytest.mark.parametrize("stem", recording.recorded_chapters() or ["(none recorded)"])
def test_every_recording_fits_its_chapters_current_results(stem, chapter_results):
    """A recording the chapter's code no longer writes (keys, tables, the paper's cells)
    fails here: record the chapter again (`python -m bookkit record STEM`)."""
    if stem == "(none recorded)":
        pytest.fail("nbhelpers/recordings/ holds no recording: run python -m bookkit record")
    recorded, provenance = recording.read_recording(stem)
    current = chapter_results(stem)
    assert provenance["chapter"] == stem and provenance["data"]["is_full"]
    assert recorded["paper"] == current["paper"], "the paper's cells differ"
    assert set(recorded["results"]) == set(current["results"]), "the results' keys differ"
    assert _misfit(recorded["results"], current["results"]) is None


def test_the_readme_table_is_the_recordings():
    """The README's recorded-run table is what `bookkit record` writes from the files: no
    typed number."""
    text = (ROOT / "README.md").read_text()
    table = text.split(rec.README_START, 1)[1].split(rec.README_END, 1)[0].strip()
    assert table == rec.recorded_table()


def test_a_build_names_the_code_changed_since_a_recording(tmp_path, capsys):
    notebook = _tree(tmp_path)
    folder = tmp_path / "nbhelpers" / "recordings"
    rec.write_recording(
        notebook,
        _results(tmp_path, True),
        seconds=90,
        parameters={},
        new_cache_entries=[],
        root=tmp_path,
        folder=folder,
    )
    row = rec.recorded_table(folder, tmp_path).splitlines()[-1]
    assert (
        "| 99_test |" in row
        and "1.5 min" in row
        and row.endswith("| every model and search from the cache |")
    )
    build._warn_stale_recordings(tmp_path)
    assert capsys.readouterr().out == ""
    (tmp_path / "nbhelpers" / "b.py").write_text("# edited\n")
    build._warn_stale_recordings(tmp_path)
    said = capsys.readouterr().out
    assert "99_test's code has changed" in said and "nbhelpers/b.py" in said


# ---------------------------------------------------------------------------------
# what a page shows of a recording


def _recorded_tree(tmp_path):
    notebook = _tree(tmp_path)
    folder = tmp_path / "nbhelpers" / "recordings"
    results = _results(tmp_path, True)
    written = json.loads(results.read_text())
    written["results"] = {"table": {"FC10(1)": {"error": 21.66, "n": 2000}}}
    written["data"] |= {"n_train": 60_000, "n_test": 10_000}
    results.write_text(json.dumps(written))
    rec.write_recording(
        notebook,
        results,
        seconds=600,
        parameters={},
        new_cache_entries=["FC10_1-abc.json"],
        root=tmp_path,
        folder=folder,
    )
    return folder


def _shown(monkeypatch):
    """What the page's cells display, as text, collected instead of displayed."""
    import IPython.display

    shown = []
    monkeypatch.setattr(
        IPython.display,
        "display",
        lambda *objs: shown.extend(getattr(o, "data", None) or o.to_string() for o in objs),
    )
    return shown


def test_a_page_shows_the_recorded_table_beside_the_papers(tmp_path, monkeypatch):
    from types import SimpleNamespace

    folder = _recorded_tree(tmp_path)
    shown = _shown(monkeypatch)
    small = SimpleNamespace(is_full=False)
    kw = dict(folder=folder, root=tmp_path, what="Errors.", paper={"FC10(1)": {"error": 20}})
    assert recording.show_table("99_test", small, "table", **kw, fmt={"n": "{:,}"}) is None
    run = recording.recorded("99_test", folder, tmp_path)
    assert len(shown) == 3, shown
    caption, table, note = shown
    assert caption.startswith("**At the paper's scale.** Errors. Data: the recorded run")
    assert "21.66 (20)" in table and "2,000" in table and note == run.note()
    assert run.describe().startswith("the recorded run at the paper's scale (full MNIST, 60,000")
    assert "in 10 min on CPU (2 cores) (trained or searched in the run: 1 model)." in run.note()
    assert "changed" not in run.note()
    assert recording.show_table("99_test", SimpleNamespace(is_full=True), "table", **kw) is None
    assert len(shown) == 3  # a build at the paper's scale shows its own tables only
    with pytest.raises(KeyError, match=r"no table 'tabel'; it has \['table'\]"):
        recording.show_table("99_test", small, "tabel", **kw)
    assert recording.show_table("98_other", small, "table", **kw) is None
    assert shown[-1] == "*No run of this chapter at the paper's scale is recorded yet.*"


def test_a_page_says_when_the_code_changed_since_the_recording(tmp_path):
    folder = _recorded_tree(tmp_path)
    (tmp_path / "nbhelpers" / "e.py").write_text("x = 99\n")
    run = recording.recorded("99_test", folder, tmp_path)
    assert run.changed == {"nbhelpers/e.py": "changed"}
    assert "**The code that computed them has changed since they were recorded** " in run.note()
    assert "`nbhelpers/e.py`" in run.note()


def test_the_provenance_table_names_each_recording_by_its_title(tmp_path):
    folder = _recorded_tree(tmp_path)
    nb = nbformat.read(tmp_path / "book" / "99_test.ipynb", as_version=4)
    nb.cells[0].source = "# A test chapter (§9)\n\nProse."
    nbformat.write(nb, tmp_path / "book" / "99_test.ipynb")
    table = recording.provenance_table(folder, tmp_path)
    row = table.loc["A test chapter (§9)"]
    assert row["time"] == "10 min" and row["made in the run"].endswith(": 1 model")
    assert "code changed since" not in table.columns  # nothing changed: said in words
    assert recording.provenance_words(folder, tmp_path).endswith(
        "The code that computed each chapter is unchanged since it was recorded."
    )
    (tmp_path / "nbhelpers" / "e.py").write_text("x = 99\n")  # named, without its folder
    assert recording.provenance_table(folder, tmp_path).iloc[0]["code changed since"] == "e.py"
    assert "device" not in table.columns  # one device: said once, not on every row
    device = recording.provenances(folder)[0]["device"]
    assert recording.provenance_words(folder, tmp_path) == (
        f"Every chapter was recorded on the same machine: {device}. The code of 1 has changed "
        "since (last column)."
    )
    (tmp_path / "nbhelpers" / "e.py").write_text("x = 2\n")  # as recorded
    assert recording.provenance_words(tmp_path / "none") == "No chapter is recorded yet."
    for stem, device in (("99_test", "GPU A"), ("98_other", "CPU B")):  # two devices: a column
        (folder / f"{stem}.json").write_text((folder / "99_test.json").read_text())
        provenance = json.loads((folder / "99_test.provenance.json").read_text())
        (folder / f"{stem}.provenance.json").write_text(json.dumps(provenance | {"device": device}))
    assert recording.provenance_words(folder, tmp_path).startswith(
        "The chapters were recorded on 2 devices: "
        + "; ".join(p["device"] for p in recording.provenances(folder))
        + "."
    )
    assert list(recording.provenance_table(folder, tmp_path)["device"]) == ["CPU B", "GPU A"]


def test_changed_files_are_named_by_the_shortest_end_that_tells_them_apart():
    changed = {"nbhelpers/a/__init__.py": "changed", "nbhelpers/__init__.py": "changed"}
    assert recording._changed_names(changed) == "a/__init__.py, nbhelpers/__init__.py"
    assert recording._changed_names({"nbhelpers/x/models.py": "missing"}) == "models.py"
    assert recording._changed_names({}) == "nothing"


def test_the_fidelity_page_judges_only_what_is_recorded(tmp_path):
    from nbhelpers import fidelity

    table, missing = fidelity.recorded_comparisons(tmp_path)
    assert table.empty and missing == sorted({s.chapter for s in fidelity.SOURCES})


def test_cells_that_only_show_the_recording_are_not_its_code(tmp_path):
    """Adding a cell tagged 'recorded' changes neither the files nor the notebook's hash."""
    notebook = _tree(tmp_path)
    before = recording.code_fingerprint(notebook, tmp_path)
    nb = nbformat.read(notebook, as_version=4)
    shown = nbformat.v4.new_code_cell("import nbhelpers.unused\nunused.show()")
    shown.metadata["tags"] = [recording.RECORDED_TAG]
    nb.cells.append(shown)
    nbformat.write(nb, notebook)
    assert recording.code_fingerprint(notebook, tmp_path) == before
    assert "nbhelpers/unused.py" not in recording.code_files(notebook, tmp_path)


def test_a_recording_is_dirty_only_where_its_own_code_is_uncommitted(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Prose."), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "c.ipynb")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "y")
    (tmp_path / "b.py").write_text("b = 2\n")
    assert rec.git_state(tmp_path, ["a.py"])["dirty"] is False
    assert rec.git_state(tmp_path, ["a.py", "b.py"])["dirty"] is True
    nb.cells[0].source = "Prose, edited."
    nbformat.write(nb, tmp_path / "c.ipynb")
    assert rec.git_state(tmp_path, ["c.ipynb"])["dirty"] is False  # prose computes nothing
    nb.cells[1].source = "x = 2"
    nbformat.write(nb, tmp_path / "c.ipynb")
    assert rec.git_state(tmp_path, ["c.ipynb"])["dirty"] is True
    assert len(rec.git_state(tmp_path, ["a.py"])["commit"]) == 40
    assert rec.git_state(tmp_path / "nowhere", ["a.py"]) == {"commit": None, "dirty": None}


def test_made_in_the_run_tells_models_from_searches():
    made = recording.made_in_run
    assert made({"new_cache_entries": []}) == "every model and search from the cache"
    entries = ["FC10_1-a.json", "search_FC10_1-b.json", "search_AE-c.json"]
    assert made({"new_cache_entries": entries}).endswith(": 1 model and 2 searches")
    assert made({"new_cache_entries": entries[1:2]}).endswith(": 1 search")


def test_the_cost_note_gives_the_recorded_time_and_the_switch():
    """A chapter's first cells tell a Colab user what the paper's scale costs (measured in
    the recorded run) and how to switch to the smoke sizes in one line."""
    stem = recording.recorded_chapters()[0]
    p = recording.read_recording(stem)[1]
    note = recording.cost_note(stem, "smoke")
    assert 'This run uses `profile = "smoke"`' in note and 'set `profile = "smoke"`' in note
    assert recording._duration(p["seconds"]) in note and p["recorded_at"][:10] in note
    assert "recorded yet" in recording.cost_note(stem, "full", folder=Path("/nonexistent"))


def test_the_cost_note_names_what_the_recorded_run_ran_beyond_the_defaults():
    note = recording.cost_note("06_adversarial_training", "full")
    seeds = profiles.read()["recorded"]["chapters"]["06_adversarial_training"]["seeds"]
    assert f"`seeds = {seeds!r}`" in note and "the defaults take less" in note
    assert "the defaults take less" not in recording.cost_note("03_blind_spots", "full")


def test_the_time_table_adds_up_the_recorded_run():
    table = recording.time_table()
    runs = recording.provenances()
    assert [p["recorded_at"] for p in runs] == sorted(p["recorded_at"] for p in runs)
    assert {p["chapter"] for p in runs} == set(recording.recorded_chapters())
    assert recording.provenances(Path("/nonexistent")) == []
    assert len(table) == len(runs) + 1
    total = table.loc["all chapters, one after the other", "minutes"]
    assert total == round(sum(p["seconds"] for p in runs) / 60, 1)
    assert abs(table["minutes"].iloc[:-1].sum() - total) <= 0.05 * len(runs)
    assert recording.time_table(Path("/nonexistent")).empty


# ---------------------------------------------------------------------------------
# the spread over seeds: recordings of other seeds beside the recording itself


def _seed_recording(folder: Path, stem: str, table1: dict, code: dict | None = None):
    """A recording of `stem` in `folder` with Table 1's error cells `table1`, as the
    fidelity page reads it (the paper's Table 1 beside it), made by `code` if given
    (its provenance's fingerprint)."""
    from nbhelpers import paper

    folder.mkdir(parents=True, exist_ok=True)
    results = {
        "chapter": stem,
        "data": {"is_full": True, "description": "full MNIST", "n_train": 60_000},
        "parameters": {},
        "results": {"table1": table1},
        "paper": {"table1": {name: paper.TABLE1[name] for name in table1}},
    }
    (folder / f"{stem}.json").write_text(json.dumps(results))
    provenance = {"recorded_at": "2026", **({"code": code} if code else {})}
    (folder / f"{stem}.provenance.json").write_text(json.dumps(provenance))


def test_the_spread_over_seeds_judges_the_mean_and_says_whether_the_gap_exceeds_it(tmp_path):
    from nbhelpers import fidelity, paper

    theirs = paper.TABLE1["FC10(1)"]["test_error"]  # 20.0
    for seed, error in ((0, theirs + 1.0), (1, theirs + 1.2), (2, theirs + 0.8)):
        folder = tmp_path if seed == 0 else tmp_path / "seeds" / str(seed)
        _seed_recording(folder, "01_framework", {"FC10(1)": {"test_error": error}})
    assert list(recording.seed_folders(tmp_path)) == [0, 1, 2]
    spread = fidelity.seed_spread(tmp_path)
    cell = spread.set_index(["row", "column"]).loc[("FC10(1)", "test_error")]
    assert cell["seeds"] == [0, 1, 2] and cell["values"] == pytest.approx(
        [theirs + 1.0, theirs + 1.2, theirs + 0.8]
    )
    assert cell["mean"] == pytest.approx(theirs + 1.0) and cell["sd"] == pytest.approx(0.2)
    assert cell["gap"] == pytest.approx(1.0) and not cell["within goal"]
    assert cell["beyond spread"] in (True,)  # 1 point against 2 × 0.2


def test_a_gap_inside_the_spread_is_said_to_be_and_one_seed_has_no_spread(tmp_path):
    from nbhelpers import fidelity, paper

    theirs = paper.TABLE1["FC10(1)"]["test_error"]
    _seed_recording(tmp_path, "01_framework", {"FC10(1)": {"test_error": theirs + 1.0}})
    one = fidelity.seed_spread(tmp_path).iloc[0]
    assert one["seeds"] == [0] and one["beyond spread"] is None
    _seed_recording(
        tmp_path / "seeds" / "1", "01_framework", {"FC10(1)": {"test_error": theirs - 1.0}}
    )
    two = fidelity.seed_spread(tmp_path).iloc[0]
    assert two["mean"] == pytest.approx(theirs) and two["beyond spread"] in (False,)
    assert fidelity.seed_spread(tmp_path / "nothing").empty


def test_a_seed_recorded_by_other_code_is_left_out_of_the_spread_and_said_to_be(tmp_path):
    from nbhelpers import fidelity, paper

    theirs = paper.TABLE1["FC10(1)"]["test_error"]
    now, before = (
        {"nbhelpers/models.py": "b", "a.py": "x"},
        {"nbhelpers/models.py": "a", "a.py": "x"},
    )
    _seed_recording(tmp_path, "01_framework", {"FC10(1)": {"test_error": theirs}}, now)
    for seed, code in ((1, now), (2, before)):
        error = {"FC10(1)": {"test_error": theirs + seed}}
        _seed_recording(tmp_path / "seeds" / str(seed), "01_framework", error, code)
    apart = fidelity.seeds_apart(tmp_path)
    assert apart == [{"chapter": "01_framework", "seed": 2, "files": 1}]
    cell = fidelity.seed_spread(tmp_path).iloc[0]
    assert cell["seeds"] == [0, 1] and cell["values"] == pytest.approx([theirs, theirs + 1])
    words = fidelity.spread_words(fidelity.seed_spread(tmp_path), apart)
    assert words.endswith("record them again with `--seed`): 01_framework (seed 2).")
    assert fidelity.apart_words([]) == "" and fidelity.seeds_apart(tmp_path / "none") == []


def test_seeds_that_agree_have_a_nil_spread_said_so_in_table_and_sentence(tmp_path):
    from nbhelpers import fidelity, paper

    theirs = paper.TABLE1["FC10(1)"]["test_error"]
    deep = paper.TABLE1["FC100-100-10"]["test_error"]
    for seed, step in ((0, 0.0), (1, 0.01), (2, 0.005)):
        folder = tmp_path if seed == 0 else tmp_path / "seeds" / str(seed)
        table1 = {
            "FC10(1)": {"test_error": theirs + 0.3 + step},  # within one test digit
            "FC100-100-10": {"test_error": deep + 0.3 + 2 * step},  # 0.02 apart: a spread
        }
        _seed_recording(folder, "01_framework", table1)
    spread = fidelity.seed_spread(tmp_path).set_index("row")
    assert spread.loc["FC10(1)", "nil spread"] and not spread.loc["FC100-100-10", "nil spread"]
    assert spread.loc["FC10(1)", "beyond spread"] and spread.loc["FC10(1)", "within goal"]
    shown = fidelity.spread_table(fidelity.seed_spread(tmp_path))
    assert list(shown["gap beyond 2 sd"]) == ["✓ (nil sd)", "✓"]
    words = fidelity.spread_words(fidelity.seed_spread(tmp_path))
    assert words.endswith(
        'The seeds of 1 cell (1 in Table 1; "nil sd" in the table) agree within 0.011 points '
        "(one test digit in 10,000 is 0.01): every seed gives the same number, so their spread "
        "is nil, and a gap of theirs, however small, counts as beyond it."
    )
    assert fidelity.nil_words(spread.iloc[:0]) == ""


def test_record_with_a_seed_sets_it_and_refuses_chapters_without_one():
    framework = rec.chosen_chapters(["01_framework"])
    assert rec.seed_parameters(framework, None) == {} == rec.seed_parameters(framework, 0)
    assert rec.seed_parameters(framework, 2) == {"seed": 2}
    with pytest.raises(ValueError, match="whole number >= 0, got -1"):
        rec.seed_parameters(framework, -1)
    adversarial = rec.chosen_chapters(["06_adversarial_training"])
    with pytest.raises(ValueError, match=r"06_adversarial_training.*no `seed` parameter"):
        rec.seed_parameters(adversarial, 1)


def test_the_spread_is_shown_as_mean_and_sd_with_a_sentence_computed_from_it(tmp_path):
    from nbhelpers import fidelity, paper

    theirs = paper.TABLE1["FC10(1)"]["test_error"]
    assert "no number here has a spread" in fidelity.spread_words(fidelity.seed_spread(tmp_path))
    for seed, error in ((0, theirs + 1.0), (1, theirs + 1.2), (2, theirs + 0.8)):
        folder = tmp_path if seed == 0 else tmp_path / "seeds" / str(seed)
        _seed_recording(folder, "01_framework", {"FC10(1)": {"test_error": error}})
    spread = fidelity.seed_spread(tmp_path)
    table = fidelity.spread_table(spread)
    assert table.index.get_level_values("column")[0] == "test error"  # in words
    shown = table.iloc[0]
    assert shown["ours, mean ± sd"] == f"{theirs + 1:.3g} ± 0.2" and shown["seeds"] == 3
    assert shown["within goal"] == "✗" and shown["gap beyond 2 sd"] == "✓"
    assert fidelity.spread_words(spread) == (
        "1 number has been recorded with 3 seeds (0, 1, 2). Of the 1 whose mean misses its "
        "goal, 1 miss by more than 2 standard deviations of the seeds' spread (a gap the seeds "
        "do not explain), 0 by less."
    )


def _table2_recording(folder: Path, cells: dict, variant: dict, clean: float = 10.0):
    """A recording of 04_across_models with Table 2's cells `cells` ({row: {column: %}}),
    their values under the other reading `variant`, 2,000 digits searched per model."""
    folder.mkdir(parents=True, exist_ok=True)
    paper = {"FC10(1e-4)": {"FC10(1e-2)": 11.7, "AE400-10": 2.7}}
    no_distortion = {"no distortion": {"FC10(1e-4)": clean}}
    results = {
        "chapter": "04_across_models",
        "data": {"is_full": True, "description": "full MNIST", "n_train": 60_000},
        "parameters": {"n_search": 2000},
        "results": {
            "table2": cells,
            "matrix": {**cells, **no_distortion},
            "failures": {"FC10(1e-4)": 0},
            "variant_matrix": variant,
        },
        "paper": {"table2": paper},
    }
    (folder / "04_across_models.json").write_text(json.dumps(results))
    (folder / "04_across_models.provenance.json").write_text(json.dumps({"recorded_at": "2026"}))


def test_each_transfer_miss_is_measured_against_sample_seed_and_reading(tmp_path):
    """A miss the other reading closes is 'reading'; one inside 2 sd of the seeds is 'seed';
    one that nothing measured closes is said to be so."""
    from nbhelpers import fidelity

    for seed, (a, b) in enumerate([(3.0, 12.0), (9.0, 8.0)]):  # FC10(1e-2): 6 ± 4.2
        folder = tmp_path if seed == 0 else tmp_path / "seeds" / str(seed)
        cells = {"FC10(1e-4)": {"FC10(1e-2)": a, "AE400-10": b}}
        _table2_recording(folder, cells, {"FC10(1e-4)": {"FC10(1e-2)": 3.0, "AE400-10": 3.0}})
    misses = fidelity.transfer_misses(tmp_path).set_index("column")
    assert set(misses.index) == {"FC10(1e-2)", "AE400-10"}  # 6.0 vs 11.7 and 10.0 vs 2.7
    low = misses.loc["FC10(1e-2)"]
    assert low["ours (mean)"] == pytest.approx(6.0) and low["gap"] == pytest.approx(-5.7)
    n = 2000 * 0.9  # the digits the model got right
    assert low["sample: standard error"] == pytest.approx(100 * (0.06 * 0.94 / n) ** 0.5)
    assert low["seed: sd"] == pytest.approx(2**0.5 * 3) and low["explained by"] == "seed"
    high = misses.loc["AE400-10"]  # 10 ± 2.8 against 2.7: the other reading's 3.0 is close
    assert high["other reading"] == 3.0 and high["explained by"] == "reading"
    words = fidelity.misses_words(misses.reset_index())
    assert words.startswith("2 transfer cells miss") and "reading 1, seed 1" in words
    assert fidelity.misses_words(misses.iloc[:0]).startswith("Every transfer cell")


def test_the_cost_note_says_what_the_autoencoder_study_took():
    """01's recorded time holds its study, which trains outside the model cache: what the
    run made says so, with the study's own seconds, wherever it is shown."""
    run = recording.recorded("01_framework")
    study = run.results["autoencoder_study"]
    seconds = sum(max(s["seconds"] or 0 for s in v["stages"]) for v in study.values())
    trained = len(study) - 1  # the chapter's own AE400-10 is measured, not trained
    said = (
        f"its autoencoder study trained {trained} autoencoders outside the cache "
        f"({recording._duration(seconds)})"
    )
    assert seconds > 0 and said in recording.cost_note("01_framework", "full")
    assert said in run.note()
    assert said in recording.time_table().loc[recording.chapter_title("01_framework")].iloc[3]
    assert said in recording.time_table(None).loc[recording.chapter_title("01_framework")].iloc[3]
    assert "autoencoder study" not in recording.cost_note("03_blind_spots", "full")
    assert "autoencoder study" not in recording.made_in_run(run.provenance)


def test_one_recording_at_a_time_per_model_cache(tmp_path):
    """What a chapter made in its run is read from the entries that appear in the cache, so
    a second `record` on the same cache is refused at once; another cache is free."""
    with rec.only_recording(tmp_path / "cache"):
        refused = pytest.raises(RuntimeError, match="another `python -m bookkit record` is using")
        with refused, rec.only_recording(tmp_path / "cache"):
            pass
        with rec.only_recording(tmp_path / "other"):
            pass
    with rec.only_recording(tmp_path / "cache"):  # free again once the first is done
        pass
    assert rec._cache_entries(tmp_path / "cache") == set()
