"""The book as a whole: chapters stored clean, executed by papermill, built to HTML, each
writing its numbers in the same shape. The claims each chapter's prose makes are checked
on those numbers in tests/chapters/test_<notebook stem>.py."""

import json
import os

import nbformat
import pytest
import yaml

from bookkit import build, colab, toc
from bookkit.toc import ROOT

CHAPTERS = toc.chapters()
RESULT_KEYS = {"chapter", "data", "parameters", "results", "paper"}


def test_toc_lists_chapters():
    assert [p.stem for p in CHAPTERS] == [
        "01_framework",
        "02_units_and_directions",
        "03_blind_spots",
        "04_across_models",
        "05_across_training_sets",
        "06_adversarial_training",
        "07_layer_instability",
        "08_after_the_paper",
        "09_how_minimal",
        "10_fidelity",
        "reproduced",
        "full_scale",
        "teaching",
    ]
    assert all(p.exists() for p in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_its_claims_tests(chapter):
    tests = ROOT / "tests" / "chapters" / f"test_{chapter.stem}.py"
    assert tests.exists(), f"{chapter.name} has no {tests.name}"


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_chapter_is_stored_clean_with_parameters_first(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), (
        "first code cell is not tagged 'parameters'"
    )
    assert code[1].source.startswith(colab.COLAB_MARKER), (
        "second code cell is not the Colab install cell"
    )
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_colab_cells_use_the_configured_repository():
    assert colab.sync_colab(check=True) == [], "run `python -m bookkit sync-colab`"
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url in colab.colab_install_source(url)


def test_profiles_only_set_defined_parameters():
    profiles = yaml.safe_load((ROOT / "nbhelpers" / "profiles.yml").read_text())
    assert {"smoke", "full"} <= set(profiles)
    for name in profiles:
        for nb in CHAPTERS:
            params = build.profile_parameters(name, nb)
            assert set(params) <= build.notebook_parameters(nb), (name, nb.stem)


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="unknown profile 'nope'.*smoke"):
        build.profile_parameters("nope", CHAPTERS[0])


@pytest.mark.book
def test_book_builds_html(built_book):
    html = built_book / "_build" / "html"
    assert (html / "index.html").exists()
    for nb in CHAPTERS:
        page = html / "book" / f"{nb.stem}.html"
        assert page.exists(), page
        text = page.read_text()
        assert "Traceback" not in text, f"{page.name} shows a traceback"
    framework = (html / "book" / "01_framework.html").read_text()
    assert "colab.research.google.com" in framework  # the launch button


@pytest.mark.book
def test_executed_chapters_have_outputs(built_book):
    for nb_path in CHAPTERS:
        nb = nbformat.read(built_book / "source" / "book" / nb_path.name, as_version=4)
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), nb_path.name
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        if build.profile_parameters("smoke", nb_path):  # the fidelity page takes none
            assert ["injected-parameters"] in tags, "papermill did not inject the profile"


@pytest.mark.book
def test_rendered_chapters_carry_no_warnings_or_progress_bars(built_book):
    """stderr in an executed chapter (warnings, tqdm bars) would show in the rendered book."""
    for nb_path in CHAPTERS:
        nb = nbformat.read(built_book / "source" / "book" / nb_path.name, as_version=4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    pytest.fail(
                        f"{nb_path.name}, cell {i}, writes to stderr: {out['text'][:300]!r}"
                    )


@pytest.mark.book
def test_every_chapter_writes_its_numbers_in_the_same_shape(chapter_results):
    for nb_path in CHAPTERS:
        r = chapter_results(nb_path.stem)
        assert set(r) == RESULT_KEYS, (nb_path.stem, sorted(r))
        assert r["chapter"] == nb_path.stem
        assert r["results"], f"{nb_path.stem} reports no results"


def test_the_pages_that_read_other_chapters_run_last():
    """Side by side, the fidelity page (the chapters' results) and the teaching page (the
    executed notebooks) wait for every other chapter."""
    last = [nb.stem for nb in CHAPTERS if build.reads_other_chapters(nb)]
    assert last == ["10_fidelity", "reproduced", "full_scale", "teaching"]
    assert build.default_jobs() == (2 if (os.cpu_count() or 1) >= 2 else 1)


def test_the_longest_independent_chapter_starts_first():
    """Side by side, adversarial training (the longest chapter, which needs no other
    chapter's models) starts at once instead of last; the others keep the toc's order."""
    side_by_side = [nb for nb in CHAPTERS if not build.reads_other_chapters(nb)]
    for profile in ("smoke", "full"):
        order = [nb.stem for nb in build.start_order(profile, side_by_side)]
        assert order[0] == "06_adversarial_training", profile
        rest = [nb.stem for nb in side_by_side if nb.stem != "06_adversarial_training"]
        assert order[1:] == rest


def test_starting_an_unknown_chapter_first_is_an_error(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "nbhelpers").mkdir()
    (tmp_path / "nbhelpers" / "profiles.yml").write_text("smoke:\n  start_first: [99_nothing]\n")
    with pytest.raises(ValueError, match=r"starts \['99_nothing'\] first.*01_framework"):
        build.start_order("smoke", CHAPTERS, root=tmp_path)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_execute_all_refuses_a_bad_number_of_jobs(jobs, tmp_path):
    with pytest.raises(ValueError, match="jobs must be a whole number >= 1"):
        build.execute_all(CHAPTERS[:1], tmp_path, "smoke", jobs=jobs)


@pytest.mark.parametrize(("setting", "given"), [(None, "1"), ("2", "2")])
def test_chapters_side_by_side_train_one_network_at_a_time(setting, given, monkeypatch, tmp_path):
    """Two chapters fill the cores: each trains its networks one at a time, in its own
    process (nbhelpers.side_by_side's one worker), unless NBHELPERS_WORKERS says otherwise."""
    import subprocess

    from nbhelpers.side_by_side import WORKERS_ENV

    if setting is None:
        monkeypatch.delenv(WORKERS_ENV, raising=False)
    else:
        monkeypatch.setenv(WORKERS_ENV, setting)
    seen = []

    def fake_run(cmd, **kwargs):
        seen.append(kwargs["env"][WORKERS_ENV])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(build.subprocess, "run", fake_run)
    build._execute_side_by_side(CHAPTERS[:2], tmp_path, "smoke", build.ROOT, 2)
    assert seen == [given, given]


def test_a_build_is_current_only_for_the_same_inputs(tmp_path):
    """`make test` reads `make book`'s build only while nothing it was built from changed."""
    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: book/intro\n")
    (root / "book" / "01_a.ipynb").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    assert not build.is_current(out, "smoke", root)  # never built
    (out / build.STAMP).write_text(json.dumps(build.inputs_fingerprint("smoke", root)))
    assert build.is_current(out, "smoke", root)
    assert not build.is_current(out, "full", root)  # another profile
    assert not build.is_current(out, "smoke", root, edition="student")
    (root / "book" / "01_a.ipynb").write_text('{"changed": 1}')
    assert not build.is_current(out, "smoke", root)
    (out / build.STAMP).write_text("not json")
    assert not build.is_current(out, "smoke", root)
