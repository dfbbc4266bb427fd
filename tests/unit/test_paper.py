"""The paper's numbers (Szegedy et al., ICLR 2014): one shape for every table, spot-checked."""

import json

import numpy as np
import pandas as pd
import pytest

from nbhelpers import paper


@pytest.mark.parametrize("name", list(paper.TABLES))
def test_every_row_of_every_table_has_the_same_columns(name):
    rows, columns = paper.TABLES[name]
    assert isinstance(columns, tuple) and len(set(columns)) == len(columns)
    assert rows, name
    for row, cells in rows.items():
        assert isinstance(row, str)
        assert tuple(cells) == columns, (name, row)


@pytest.mark.parametrize("name", list(paper.TABLES))
def test_table_is_a_dataframe_in_the_papers_order(name):
    rows, columns = paper.TABLES[name]
    frame = paper.table(name)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == list(rows) and list(frame.columns) == list(columns)
    for row, cells in rows.items():
        for col, value in cells.items():
            assert frame.loc[row, col] == value or (value is None and frame.loc[row, col] is None)


def test_table_is_a_copy():
    frame = paper.table("table1")
    frame.loc["FC10(1)", "test_error"] = -1
    assert paper.TABLE1["FC10(1)"]["test_error"] == 20.0


def test_table_names_are_checked():
    with pytest.raises(TypeError, match="name must be a str"):
        paper.table(2)
    with pytest.raises(ValueError, match="name must be one of"):
        paper.table("Table 2")


def test_tables_are_plain_json_dicts():
    for rows, _ in paper.TABLES.values():
        assert json.loads(json.dumps(rows)) == rows


# --- spot checks against the paper ----------------------------------------


def test_table1():
    assert paper.TABLE1["FC10(1e-4)"] == {
        "train_error": 6.7,
        "test_error": 7.4,
        "distortion": 0.062,
    }
    assert paper.TABLE1["FC100-100-10"]["test_error"] == 1.64
    assert paper.TABLE1["AE400-10"] == {"train_error": 0.57, "test_error": 1.9, "distortion": 0.086}
    assert paper.TABLE1_COLUMNS == ("train_error", "test_error", "distortion")


def test_table2():
    models = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")
    assert models == paper.TABLE2_MODELS and tuple(paper.TABLE1) == models
    assert (*models, "distortion") == paper.TABLE2_COLUMNS
    assert paper.TABLE2["FC10(1e-2)"]["FC100-100-10"] == 35.9
    assert paper.TABLE2["FC10(1e-2)"]["FC10(1e-4)"] == 87.1
    assert paper.TABLE2["FC10(1e-2)"]["AE400-10"] == 9.8
    assert paper.TABLE2["FC10(1e-2)"]["distortion"] == 0.1
    assert paper.TABLE2["Gaussian noise, stddev 0.3"]["FC10(1)"] == 22.7
    for model in paper.TABLE2_MODELS:  # the diagonal: every example fools its own model
        assert paper.TABLE2[model][model] == 100
        assert paper.TABLE2[model]["distortion"] == paper.TABLE1[model]["distortion"]


def test_table2_mean_off_diagonal_is_25_6():
    cells = [
        paper.TABLE2[made][fed]
        for made in paper.TABLE2_MODELS
        for fed in paper.TABLE2_MODELS
        if fed != made
    ]
    assert len(cells) == 30
    assert round(float(np.mean(cells)), 1) == 25.6


def test_tables_3_and_4():
    assert paper.TABLE3["FC100-100-10'"] == {
        "p1_error": 2.3,
        "p2_error": 0.0,
        "test_error": 2.1,
        "distortion": 0.058,
    }
    assert paper.TRAINED_ON == {"FC100-100-10": "P1", "FC123-456-10": "P1", "FC100-100-10'": "P2"}
    assert paper.TABLE4_COLUMNS == paper.TABLE4_MODELS == tuple(paper.TABLE3)
    assert paper.TABLE4["distorted for FC100-100-10"] == {
        "FC100-100-10": 100,
        "FC123-456-10": 26.2,
        "FC100-100-10'": 5.9,
    }
    assert paper.TABLE4["distorted for FC123-456-10"]["FC100-100-10"] == 6.25
    assert paper.TABLE4["distorted for FC100-100-10', magnified to stddev 0.1"] == {
        "FC100-100-10": 27,
        "FC123-456-10": 50,
        "FC100-100-10'": 100,
    }
    assert paper.TABLE4["Gaussian noise, stddev 0.06"]["FC123-456-10"] == 2.6
    for row, cells in paper.TABLE4_DISTORTION.items():  # the row labels' "av. stddev"
        model = row.removeprefix("distorted for ")
        assert cells["distortion"] == paper.TABLE3[model]["distortion"]


def test_table5_and_adversarial_training():
    assert paper.TABLE5["Conv. 1"] == {"size": "3×11×11×96", "stride": 4, "upper_bound": 2.75}
    assert paper.TABLE5["FC. 1"] == {"size": "9216×4096", "stride": None, "upper_bound": 3.12}
    assert len(paper.TABLE5) == 8
    assert paper.table("table5").loc["Conv. 2", "stride"] == 1
    assert {r: c["test_error"] for r, c in paper.ADVERSARIAL_TRAINING.items()} == {
        "adversarial": 1.2,
        "weight decay": 1.6,
        "dropout": 1.3,
    }


def test_module_cites_the_paper_not_a_local_file():
    assert "arXiv:1312.6199" in paper.__doc__ and "ICLR 2014" in paper.__doc__
    assert "results.md" not in paper.__doc__ and "shared/" not in paper.__doc__
    assert "1312.6199" in paper.CITATION
