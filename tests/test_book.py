"""The book as a whole: chapters stored clean, executed by papermill, built to HTML,
and the claims their prose makes checked on the numbers they wrote."""


import nbformat
import pytest
import yaml

from nbhelpers import book
from nbhelpers.book import ROOT

CHAPTERS = book.chapters()


def test_toc_lists_chapters():
    assert [p.stem for p in CHAPTERS] == [
        "01_framework",
        "02_blind_spots",
        "03_across_models",
        "04_across_training_sets",
    ]
    assert all(p.exists() for p in CHAPTERS)


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_chapter_is_stored_clean_with_parameters_first(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), (
        "first code cell is not tagged 'parameters'"
    )
    assert code[1].source.startswith(book.COLAB_MARKER), (
        "second code cell is not the Colab install cell"
    )
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_colab_cells_use_the_configured_repository():
    assert book.sync_colab(check=True) == [], "run `python -m nbhelpers.book sync-colab`"
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url in book.colab_install_source(url)


def test_profiles_only_set_defined_parameters():
    profiles = yaml.safe_load((ROOT / "book" / "profiles.yml").read_text())
    assert {"smoke", "full"} <= set(profiles)
    for name in profiles:
        for nb in CHAPTERS:
            params = book.profile_parameters(name, nb)
            assert set(params) <= book.notebook_parameters(nb), (name, nb.stem)


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="unknown profile 'nope'.*smoke"):
        book.profile_parameters("nope", CHAPTERS[0])


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


# --- chapter "The models and the data" -------------------------------------


@pytest.mark.book
def test_framework_reports_table1(chapter_results):
    r = chapter_results("01_framework")
    assert r["data"]["is_full"] is False and "embedded" in r["data"]["source"]
    assert set(r["table1"]) == set(r["paper_table1"])
    for name, row in r["table1"].items():
        assert 0 <= row["train_error"] <= 100 and 0 <= row["test_error"] <= 100, name


@pytest.mark.book
def test_framework_claims(chapter_results):
    """The chapter's prose: hidden layers beat softmax regression; decay raises FC10's training error."""
    t = chapter_results("01_framework")["table1"]
    best_fc10 = min(t[n]["test_error"] for n in ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)"))
    for deep in ("FC100-100-10", "FC200-200-10"):
        assert t[deep]["test_error"] < best_fc10
    assert (
        t["FC10(1e-4)"]["train_error"]
        <= t["FC10(1e-2)"]["train_error"]
        < t["FC10(1)"]["train_error"]
    )


# --- chapter "Blind spots" --------------------------------------------------


@pytest.mark.book
def test_blind_spots_every_adversarial_example_is_misclassified(chapter_results):
    r = chapter_results("02_blind_spots")
    assert all(r["figure7"]["adversarial_success"]) and r["figure7"]["adversarial_correct"] == 0
    assert all(r["one_digit"]["success"])
    for name, row in r["table1"].items():
        assert row["n_success"] > 0, name
        assert row["accuracy_adversarial"] == 0.0, name
        assert row["n_failed"] <= 0.05 * row["n_correct"], (
            f"{name}: {row['n_failed']} of {row['n_correct']} searches failed"
        )


@pytest.mark.book
def test_blind_spots_noise_of_larger_stddev_is_mostly_harmless(chapter_results):
    """The prose: noise as large as the adversarial perturbations barely moves the models,
    and three times as large still leaves most digits correctly classified."""
    for name, row in chapter_results("02_blind_spots")["table1"].items():
        assert row["accuracy_noise_same_stddev"] >= 95, name
        assert row["accuracy_noise_3x_stddev"] >= 80, name


@pytest.mark.book
def test_blind_spots_table1_distortions(chapter_results):
    r = chapter_results("02_blind_spots")
    assert set(r["table1"]) == set(r["paper_table1"])
    d = {n: row["distortion_to_zero_accuracy"] for n, row in r["table1"].items()}
    assert all(0 < v < 0.3 for v in d.values()), d
    # The prose compares the FC10 models' order with the paper's: stronger decay, larger distortion.
    assert d["FC10(1e-4)"] < d["FC10(1e-2)"] < d["FC10(1)"]


# --- chapter "Across models" ------------------------------------------------


@pytest.mark.book
def test_across_models_diagonal_is_full(chapter_results):
    m = chapter_results("03_across_models")["matrix"]
    for name in ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10"):
        assert m[name][name] == 100.0, name


@pytest.mark.book
def test_across_models_adversarial_transfer_beats_larger_noise(chapter_results):
    r = chapter_results("03_across_models")
    adv_size = max(
        v
        for k, v in r["distortion"].items()
        if k in r["matrix"] and not k.startswith("Gaussian") and k != "no distortion"
    )
    for row, err in r["mean_noise_error"].items():
        assert r["distortion"][row] >= adv_size  # the noise is at least as large
        assert r["mean_adversarial_transfer"] > 1.5 * err, (
            row,
            err,
            r["mean_adversarial_transfer"],
        )


# --- chapter "Across training sets" -----------------------------------------


@pytest.mark.book
def test_across_training_sets_claims(chapter_results):
    r = chapter_results("04_across_training_sets")
    s = r["summary"]
    assert all(v == 100.0 for v in s["diagonal"][:3])  # unmagnified: by construction
    assert min(s["diagonal"]) >= 95  # magnified and clipped: still the model's own
    assert s["same_training_set"] > s["other_training_set"]  # weaker across training sets
    assert s["transfer_magnified"] > s["transfer"] + 10  # magnification raises transfer
    assert s["transfer_magnified"] > 2 * s["noise_magnified"]  # far above noise of that size
    assert set(r["table3"]) == {"FC100-100-10", "FC123-456-10", "FC100-100-10'"}
    t3 = r["table3"]
    assert t3["FC100-100-10"]["p1_error"] < t3["FC100-100-10"]["p2_error"]  # trained on P1
    assert t3["FC100-100-10'"]["p2_error"] < t3["FC100-100-10'"]["p1_error"]  # trained on P2
