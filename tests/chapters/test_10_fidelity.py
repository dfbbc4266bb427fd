"""Page "How close is this to the paper?": from the chapters' JSON, loud about small samples."""

import pytest

from nbhelpers import fidelity, paper

pytestmark = pytest.mark.book


def test_every_papers_number_is_the_papers(results):
    """The paper's side is the paper's (nbhelpers.paper), never typed into the page."""
    tables = {
        "Table 1": paper.TABLE1,
        "Table 2": paper.TABLE2,
        "Table 3": paper.TABLE3,
        "Table 4": paper.TABLE4,
    }
    checked = 0
    for cell in results["cells"]:
        table = tables.get(cell["table"])
        if table is not None:
            assert cell["paper"] == pytest.approx(table[cell["row"]][cell["column"]]), cell
            checked += 1
    assert checked >= 12 + 6 + 8 * 6 + 3 * 4 + 8 * 3  # Tables 1 (errors, distortion) to 4


def test_every_reproduced_table_is_on_the_page(results):
    tables = {cell["table"] for cell in results["cells"]}
    assert {source.table for source in fidelity.SOURCES} == tables


def test_a_small_sample_build_says_so_and_names_its_chapters(written, built_book):
    """The smoke build (every chapter on the embedded digits) warns, naming each small-sample
    chapter by its title; a build at the paper's scale does not warn."""
    from nbhelpers import recording

    html = (built_book / "_build" / "html" / "book" / "10_fidelity.html").read_text()
    small = written["data"]["small_sample"]
    assert ("These numbers come from a small sample" in html) == bool(small)
    for stem in small:
        assert f"<i>{recording.chapter_title(stem)}</i>" in html, stem
    if "embedded" in " ".join(c["ours ran on"] for c in written["results"]["cells"]):
        assert "08_after_the_paper" in small  # every computing chapter, not only the tables'


def test_the_page_judges_the_recorded_run(results):
    """The recorded run at the paper's scale is judged on the page, from the recordings."""
    from nbhelpers.report import to_json

    recorded, missing = fidelity.recorded_comparisons()
    assert results["not_recorded"] == missing
    assert results["recorded_cells"] == to_json(recorded.to_dict("records"))
    want = fidelity.summary(recorded).reset_index().to_dict("records")
    assert results["recorded_summary"] == to_json(want)
    assert all("60,000 training" in c["ours ran on"] for c in results["recorded_cells"])
    assert not any("/" in c["ours ran on"] for c in results["recorded_cells"])  # no local path


def test_the_page_names_the_recording_device_once_and_each_run(page_text):
    """What every row would repeat (the device, unchanged code) is said in a sentence."""
    from nbhelpers import recording

    assert recording.provenance_words() in page_text
    for title in recording.provenance_table().index:
        assert title in page_text


def test_the_page_states_the_spread_over_seeds_it_computes(results, page_text):
    """The sentence about the seeds' spread is the one the recordings give, and the table
    beside it holds every cell recorded with more than one seed."""
    from nbhelpers.report import to_json

    spread, apart = fidelity.seed_spread(), fidelity.seeds_apart()
    assert fidelity.spread_words(spread, apart) in page_text
    several = spread[spread["seeds"].map(len) > 1]
    assert results["seed_spread"] == to_json(several.to_dict("records"))
    assert results["seeds_apart"] == to_json(apart)


def test_the_page_measures_each_transfer_miss_to_its_causes(results, page_text):
    """The sentence on the transfer misses is the one the recordings give, and the table
    holds every Table 2 and 4 transfer cell the seeds' mean misses by more than 5 points."""
    from nbhelpers.report import to_json

    misses = fidelity.transfer_misses()
    recorded, _ = fidelity.recorded_comparisons()
    said = fidelity.misses_words(misses, recorded)
    assert said in page_text
    ae = recorded[recorded["table"].eq("Table 1") & recorded["row"].eq("AE400-10")]
    meets = "meets" if ae["within goal"].eq(True).all() else "misses"
    assert said.endswith(f"a model that {meets} Table 1 itself.")
    assert results["transfer_misses"] == to_json(misses.to_dict("records"))
    spread = fidelity.seed_spread()
    transfer = spread[spread["table"].isin(["Table 2", "Table 4"]) & spread["gap as"].eq("points")]
    assert len(misses) == int((transfer["gap"].abs() > 5).sum())


def test_why_the_autoencoder_misses_is_chapter_01s_recorded_study(page_text):
    from nbhelpers import fidelity, paper, recording

    study = recording.recorded("01_framework").results["autoencoder_study"]
    assert fidelity.autoencoder_cause(study, paper.TABLE1["AE400-10"]) in page_text
