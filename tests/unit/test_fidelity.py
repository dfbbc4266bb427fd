"""The page 'How close is this to the paper?': built from chapters' JSON files, never typed in."""

import math

import pandas as pd
import pytest

from nbhelpers import fidelity, report


class _Data:
    source = "embedded"
    is_full = False
    n_train = 2000
    n_test = 500

    def describe(self):
        return "2,000 embedded digits"


def _write(tmp_path, chapter, results, paper):
    report.write_results(
        tmp_path / f"{chapter}.json",
        chapter=chapter,
        data=_Data(),
        parameters={},
        results=results,
        paper=paper,
    )


# the book's own specs of Table 1's errors and distortion
ONE, DIST = (
    next(c for c in fidelity.SOURCES if (c.table, c.chapter) == ("Table 1", chapter))
    for chapter in ("01_framework", "03_blind_spots")
)
assert (ONE.kind, DIST.kind) == ("error", "distortion")


def test_cells_are_matched_by_name_with_their_gaps_and_goals(tmp_path):
    _write(
        tmp_path,
        "01_framework",
        {"table1": {"A": {"train_error": 7.0, "test_error": 9.0, "extra": 1.0}}},
        {"table1": {"A": {"train_error": 6.7, "test_error": 7.4, "distortion": 0.06}}},
    )
    _write(
        tmp_path,
        "03_blind_spots",
        {"table1": {"A": {"distortion": 0.07}, "B": {"distortion": 0.01}}},
        {"table1": {"A": {"train_error": 6.7, "distortion": 0.06}}},
    )
    table = fidelity.comparisons(tmp_path, (ONE, DIST))
    assert list(table["column"]) == ["train_error", "test_error", "distortion"]
    train, test, dist = table.to_dict("records")
    assert train["gap"] == pytest.approx(0.3) and train["within goal"]
    assert test["gap"] == pytest.approx(1.6) and not test["within goal"]
    assert dist["gap"] == pytest.approx(0.07 / 0.06) and dist["within goal"]  # 17% off
    assert dist["ours ran on"] == "2,000 embedded digits"
    s = fidelity.summary(table)
    assert s.loc[("Table 1", "points"), "cells"] == 2
    assert s.loc[("Table 1", "points"), "within goal"] == 1
    assert s.loc[("Table 1", "points"), "median gap"] == pytest.approx(0.95)
    assert s.loc[("Table 1", "ratio"), "cells"] == 1


def test_a_missing_chapter_names_the_chapter_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the chapter '01_framework' first"):
        fidelity.comparisons(tmp_path, (ONE,))


def test_small_sample_is_detected(tmp_path):
    _write(tmp_path, "01_framework", {}, {})
    assert fidelity.small_sample(tmp_path, ["01_framework"]) == ["01_framework"]


def test_zero_in_the_paper_gives_no_ratio(tmp_path):
    _write(
        tmp_path,
        "03_blind_spots",
        {"table1": {"A": {"distortion": 0.1}}},
        {"table1": {"A": {"distortion": 0.0}}},
    )
    row = fidelity.comparisons(tmp_path, (DIST,)).iloc[0]
    assert math.isnan(row["gap"]) and row["within goal"] is None


def test_the_data_a_run_read_is_named_without_its_local_folder():
    recorded = (
        "MNIST from the IDX files in /home/someone/mnist (from NBHELPERS_MNIST): "
        "60,000 training and 10,000 test digits"
    )
    assert fidelity.data_words(recorded) == (
        "MNIST from the IDX files named by NBHELPERS_MNIST: 60,000 training and 10,000 test digits"
    )
    assert "/tmp/x" not in fidelity.data_words("MNIST from the IDX files in /tmp/x: 9 digits")
    embedded = "the embedded 5,000-digit MNIST sample (2,000 training, 500 test) — NOT full MNIST"
    assert fidelity.data_words(embedded) == embedded


def test_column_keys_are_shown_in_words():
    frame = pd.DataFrame(
        {"ours": [1.0, 2.0, 0.05]},
        index=pd.MultiIndex.from_tuples(
            [
                ("Table 1", "FC10(1)", "train_error"),
                ("Table 3", "FC123-456-10", "p2_error"),
                ("Table 1", "FC10(1)", "distortion"),
            ],
            names=["table", "row", "column"],
        ),
    )
    shown = fidelity.in_words(frame)
    assert list(shown.index.get_level_values("column")) == [
        "training error",
        "error on P2",
        "distortion",
    ]
    assert list(shown.index.get_level_values("row")) == ["FC10(1)", "FC123-456-10", "FC10(1)"]
    with pytest.raises(ValueError, match="'column' level"):
        fidelity.in_words(frame.reset_index())


def test_misses_words_say_whether_the_autoencoder_meets_table_1():
    """The clause on AE400-10 follows its recorded Table 1 cells, and is left out without them."""
    misses = pd.DataFrame(
        {
            "row": ["AE400-10", "FC10(1)"],
            "column": ["FC100-100-10", "AE400-10"],
            "explained by": ["none of these", "sample"],
        }
    )
    said = fidelity.misses_words(misses)
    assert said.startswith("2 transfer cells miss the paper's by more than 5 points.")
    assert "sample 1; for 1 none of the four" in said
    assert said.endswith("1 of them on AE400-10's row or column.")

    def recorded(within):
        return pd.DataFrame(
            {
                "table": ["Table 1", "Table 1", "Table 2"],
                "row": ["AE400-10", "AE400-10", "AE400-10"],
                "within goal": [True, within, False],
            }
        )

    assert fidelity.misses_words(misses, recorded(True)).endswith(
        "row or column, a model that meets Table 1 itself."
    )
    assert fidelity.misses_words(misses, recorded(False)).endswith(
        "row or column, a model that misses Table 1 itself."
    )
