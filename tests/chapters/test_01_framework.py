"""Chapter "The models and the data": the claims of its prose, on the numbers it wrote."""

import pytest

pytestmark = pytest.mark.book

FC10 = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)")


@pytest.fixture(scope="module")
def table1(results):
    return results["table1"]


def test_reports_table1_on_the_data_it_names(written, table1):
    data = written["data"]
    assert data["n_train"] == 60_000 if data["is_full"] else "embedded" in data["source"]
    assert set(table1) == set(written["paper"]["table1"])
    for name, row in table1.items():
        assert 0 <= row["train_error"] <= 100 and 0 <= row["test_error"] <= 100, name


def test_hidden_layers_beat_softmax_regression(table1):
    best_fc10 = min(table1[n]["test_error"] for n in FC10)
    for deep in ("FC100-100-10", "FC200-200-10"):
        assert table1[deep]["test_error"] < best_fc10, deep


def test_weight_decay_raises_softmax_regressions_training_error(table1):
    errors = [table1[n]["train_error"] for n in FC10]
    assert errors[0] <= errors[1] < errors[2], errors


def test_gap_to_the_paper_is_the_larger_of_the_two_errors_gaps(written, results, table1):
    gap = results["gap_points"]
    assert set(gap) == set(table1)
    for name, row in table1.items():
        paper = written["paper"]["table1"][name]
        want = max(abs(row[k] - paper[k]) for k in ("train_error", "test_error"))
        assert gap[name] == pytest.approx(want), name
    assert written["parameters"]["method"] == "adam_lbfgs"


def test_the_paper_scale_table_and_sentence_are_the_recordings(
    page_text, recorded_run, shows_recorded
):
    """The smoke build shows Table 1 of the recorded run, and its sentence on the gaps
    names the models the recording puts within and beyond half a point."""
    if not shows_recorded:
        return
    gap = recorded_run.results["gap_points"]
    within = ", ".join(n for n, g in gap.items() if g <= 0.5) or "none"
    assert "**At the paper's scale.** Training and test error in percent." in page_text
    assert f"In the recorded run at the paper's scale, within 0.5 points: {within};" in page_text
    for name, g in gap.items():
        if g > 0.5:
            assert f"{g:.1f} points ({name})" in page_text, name
    row = recorded_run.results["table1"]["FC100-100-10"]
    assert f"{row['test_error']:.2f} (" in page_text  # the recorded cell beside the paper's
    assert recorded_run.provenance["data"]["n_train"] == 60_000


def test_the_intro_says_how_the_models_are_trained(page_text):
    assert "with L-BFGS as the paper did" not in page_text
    assert "minibatch Adam, then full-batch L-BFGS" in page_text


def test_no_recording_object_is_shown(page_text):
    """The cells that show the recorded run show its tables and note, not its Python repr."""
    assert "Recorded(stem=" not in page_text


def test_the_autoencoder_study_is_said_as_measured(written, results, page_text):
    """Why AE400-10 misses: the sentence on the study is computed from its numbers, each
    variant's rows are shown, and a small sample says that it shows only that the code runs."""
    from nbhelpers import autoencoder_study, paper

    study = results["autoencoder_study"]
    if not study:
        assert "This build does not run the study" in page_text
        return
    assert list(study)[0] == "chapter"
    assert written["parameters"]["study"] == [k for k in study if k != "chapter"]
    text = autoencoder_study.words(study, paper.TABLE1["AE400-10"])
    assert text in page_text
    for label in autoencoder_study.rows(study):
        assert label in page_text, label
    if not written["data"]["is_full"]:
        assert "the study only shows that its code runs" in page_text


def test_the_recorded_study_and_resilience_are_the_recordings(written, results, page_text):
    """Where this build is not the study at the paper's scale, the recorded one is shown with
    its sentence; the verdict on "most resilient" is computed from 03's and 04's recordings."""
    from nbhelpers import autoencoder_study, fidelity, paper, recording

    run = recording.recorded("01_framework")
    recorded_study = run.results.get("autoencoder_study") if run else None
    if written["data"]["is_full"] and results["autoencoder_study"]:
        assert "**Recorded at the paper's scale.**" not in page_text
    elif recorded_study:
        assert "**Recorded at the paper's scale.** AE400-10's variants." in page_text
        assert autoencoder_study.words(recorded_study, paper.TABLE1["AE400-10"]) in page_text
    else:
        assert "The study has not been recorded at the paper's scale yet." in page_text
    blind, across = recording.recorded("03_blind_spots"), recording.recorded("04_across_models")
    ours = fidelity.resilience(blind.results["table1"], across.results["table2"])
    theirs = fidelity.resilience(paper.TABLE1, paper.TABLE2)
    assert fidelity.resilience_words(ours, theirs) in page_text


def test_the_cause_of_the_miss_is_the_recordings(page_text):
    """The page's verdict on why AE400-10 misses is computed from the recorded study."""
    from nbhelpers import fidelity, paper, recording

    run = recording.recorded("01_framework")
    study = run.results["autoencoder_study"]
    assert study, "the recorded run holds the autoencoder study"
    cause = fidelity.autoencoder_cause(study, paper.TABLE1["AE400-10"])
    assert f"**What the recorded run finds.** {cause}" in page_text
