"""Ours beside the paper's, numbers in sentences, a chapter's JSON (nbhelpers.report)."""

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from nbhelpers import paper, report


@dataclass
class Data:
    """What report needs of an nbhelpers.data.MNIST, without loading any digits."""

    source: str = "embedded"
    n_train: int = 4000
    n_test: int = 1000
    is_full: bool = False

    def describe(self):
        return "the embedded 5,000-digit MNIST sample (4,000 training, 1,000 test) — NOT full MNIST"


# --- beside ------------------------------------------------------------------


def test_beside_puts_the_papers_number_in_brackets():
    ours = {"FC10(1e-4)": {"train_error": 6.123, "test_error": 7.0}, "mine": {"train_error": 1.0}}
    t = report.beside(ours, paper.TABLE1, ["train_error", "test_error"])
    assert list(t.index) == ["FC10(1e-4)", "mine"]
    assert list(t.columns) == ["train_error", "test_error"]
    assert t.loc["FC10(1e-4)", "train_error"] == "6.12 (6.7)"
    assert t.loc["FC10(1e-4)", "test_error"] == "7.00 (7.4)"
    assert t.loc["mine", "train_error"] == "1.00"  # a row the paper does not have
    assert t.loc["mine", "test_error"] == "—"  # a cell we do not have


def test_beside_columns_default_to_ours_and_paper_columns_are_found_by_name():
    ours = pd.DataFrame({"FC100-100-10": [5.0], "FC10(1)": [50.0]}, index=["FC10(1e-2)"])
    t = report.beside(ours, paper.TABLE2, fmt="{:.1f}")
    assert list(t.columns) == ["FC100-100-10", "FC10(1)"]
    assert t.loc["FC10(1e-2)", "FC100-100-10"] == "5.0 (35.9)"
    assert t.loc["FC10(1e-2)", "FC10(1)"] == "50.0 (35.2)"


def test_beside_formats_per_column_labels_missing_values_and_strings():
    ours = {
        "FC10(1)": {"test_error": 20.04, "distortion": 0.1234, "failed": 3, "note": "ok"},
        "FC10(1e-2)": {"test_error": float("nan"), "distortion": None, "failed": 0, "note": "x"},
    }
    t = report.beside(
        ours,
        paper.TABLE1,
        labels={"distortion": "av. distortion"},
        fmt={"distortion": "{:.3f}", "failed": "{:d}"},
    )
    assert list(t.columns) == ["test_error", "av. distortion", "failed", "note"]
    assert t.loc["FC10(1)", "test_error"] == "20.04 (20)"
    assert t.loc["FC10(1)", "av. distortion"] == "0.123 (0.14)"
    assert t.loc["FC10(1)", "failed"] == "3"
    assert t.loc["FC10(1)", "note"] == "ok"
    assert t.loc["FC10(1e-2)", "test_error"] == "— (9.4)"
    assert t.loc["FC10(1e-2)", "av. distortion"] == "— (0.1)"
    paper_fmt = report.beside(ours, paper.TABLE1, ["test_error"], paper_fmt="{:.1f}")
    assert paper_fmt.loc["FC10(1)", "test_error"] == "20.04 (20.0)"


def test_beside_bad_input():
    ours = {"FC10(1)": {"test_error": 20.0}}
    with pytest.raises(TypeError, match="ours must be a dict"):
        report.beside([1, 2], paper.TABLE1)
    with pytest.raises(TypeError, match=r"ours\['FC10\(1\)'\] must be a dict"):
        report.beside({"FC10(1)": 3.0}, paper.TABLE1)
    with pytest.raises(TypeError, match="paper must be a dict"):
        report.beside(ours, None)
    with pytest.raises(ValueError, match="ours must hold at least one row"):
        report.beside({}, paper.TABLE1)
    with pytest.raises(ValueError, match=r"columns: unknown name\(s\) \['test_eror'\]"):
        report.beside(ours, paper.TABLE1, ["test_eror"])
    with pytest.raises(ValueError, match="labels: unknown"):
        report.beside(ours, paper.TABLE1, labels={"distortion": "d"})
    with pytest.raises(TypeError, match="fmt must be a format str or a dict"):
        report.beside(ours, paper.TABLE1, fmt=2)
    with pytest.raises(TypeError, match=r"fmt\['test_error'\] must be a str"):
        report.beside(ours, paper.TABLE1, fmt={"test_error": 2})
    with pytest.raises(ValueError, match=r"ours\['FC10\(1\)'\]\['test_error'\]: format '\{:d\}'"):
        report.beside(ours, paper.TABLE1, fmt="{:d}")
    with pytest.raises(TypeError, match="must be a number or a str, got list"):
        report.beside({"FC10(1)": {"test_error": [1]}}, paper.TABLE1)


# --- caption and show ----------------------------------------------------------


def test_caption_names_the_data_of_each_side():
    c = report.caption("Test error (%).", Data(), "full MNIST, 60,000 training digits.")
    assert c == (
        "Test error (%). Ours: the embedded 5,000-digit MNIST sample (4,000 training, "
        "1,000 test) — NOT full MNIST. In brackets, the paper's: full MNIST, 60,000 "
        "training digits."
    )
    assert report.caption("Accuracy.", "2,000 digits") == "Accuracy. Data: 2,000 digits."


def test_caption_bad_input():
    with pytest.raises(TypeError, match="what must be a str"):
        report.caption(None, Data(), "full MNIST")
    with pytest.raises(ValueError, match="what must be a non-empty str"):
        report.caption("  ", Data(), "full MNIST")
    with pytest.raises(TypeError, match=r"ours must be a str or a data set with describe\(\)"):
        report.caption("Table.", 3, "full MNIST")
    with pytest.raises(TypeError, match="paper must be a str or None"):
        report.caption("Table.", Data(), 60000)


def test_show_displays_the_caption_then_the_table(capsys):
    report.show(pd.DataFrame({"a": ["1.00 (2)"]}, index=["r"]), "The caption.")
    out = capsys.readouterr().out
    assert out.index("Markdown") < out.index("1.00 (2)")
    with pytest.raises(TypeError, match="caption must be a str or None"):
        report.show(pd.DataFrame(), 3)


# --- numbers in sentences ----------------------------------------------------


def test_prose_helpers():
    assert report.percent(12.345) == "12.3%"
    assert report.percent(np.float32(0.5), digits=0) == "0%"
    assert report.percent(float("nan")) == "—"
    assert report.numbers_list({"A": 0.1, "B": 0.25}, "{:.1f}%") == "0.1% (A), 0.2% (B)"
    assert report.chain([6.7, 10, 21.2]) == "6.7 → 10 → 21.2"
    assert report.chain({"a": 0.0621, "b": 0.1}, "{:.3f}", sep=" < ") == "0.062 < 0.100"
    assert report.value_range([100.0, 96.2, 98], "{:.0f}%") == "96%–100%"
    assert report.value_range(np.array([100.0, 100.0]), "{:.0f}%") == "100%"
    assert report.value_range([float("nan"), 3.0]) == "3"


def test_prose_helpers_bad_input():
    with pytest.raises(TypeError, match="values must be a dict"):
        report.numbers_list([1, 2])
    with pytest.raises(TypeError, match="fmt must be a str"):
        report.numbers_list({"a": 1}, fmt=None)
    with pytest.raises(TypeError, match="values must be a list or dict"):
        report.chain("123")
    with pytest.raises(TypeError, match="values must be a list or dict"):
        report.chain(5)
    with pytest.raises(TypeError, match=r"values\['a'\] must be a number"):
        report.numbers_list({"a": object()})
    with pytest.raises(ValueError, match="at least one number"):
        report.value_range([])
    with pytest.raises(TypeError, match="digits must be an int"):
        report.percent(3.0, digits=1.5)
    with pytest.raises(ValueError, match="digits must be >= 0"):
        report.percent(3.0, digits=-1)


# --- a chapter's JSON ----------------------------------------------------------


def test_write_and_read_results_have_the_same_keys_for_every_chapter(tmp_path):
    matrix = pd.DataFrame({"m1": [100.0, np.float32(12.5)]}, index=["m1", "noise"])
    path = report.write_results(
        tmp_path / "ch.json",
        chapter="04_across_models",
        data=Data(),
        parameters={"seed": np.int64(0), "noise_stddevs": (0.1, 0.3), "n_search": None},
        results={
            "matrix": matrix,
            "failures": {"m1": np.int64(2)},
            "distortions": np.array([0.5, np.nan]),
            "ok": np.bool_(True),
            "by_class": {np.int64(3): float("inf")},
        },
        paper={"table2": paper.TABLE2},
    )
    r = report.read_results(path)
    assert tuple(r) == report.RESULT_KEYS
    assert r["chapter"] == "04_across_models"
    assert r["data"] == {
        "source": "embedded",
        "description": Data().describe(),
        "is_full": False,
        "n_train": 4000,
        "n_test": 1000,
        "device": report.device(),
    }
    assert r["parameters"] == {"seed": 0, "noise_stddevs": [0.1, 0.3], "n_search": None}
    assert r["results"]["matrix"] == {"m1": {"m1": 100.0}, "noise": {"m1": 12.5}}
    assert r["results"]["failures"] == {"m1": 2}
    assert r["results"]["distortions"] == [0.5, None]
    assert r["results"]["ok"] is True
    assert r["results"]["by_class"] == {"3": None}
    assert r["paper"]["table2"] == paper.TABLE2
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()


def test_device_names_what_tensorflow_computes_on(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: [])
    assert report.device().startswith("CPU (") and "no GPU" in report.device()

    class Gpu:
        name = "/physical_device:GPU:0"

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: [Gpu()])
    monkeypatch.setattr(
        tf.config.experimental, "get_device_details", lambda g: {"device_name": "NVIDIA H100"}
    )
    assert report.device() == "GPU: NVIDIA H100"


def test_data_as_a_dict_and_describe_data_extras(tmp_path):
    d = report.describe_data(Data(), n_p1=np.int64(2000))
    assert d["n_p1"] == 2000 and d["description"].startswith("the embedded")
    path = report.write_results(
        str(tmp_path / "ch.json"), chapter="04", data=d, parameters={}, results={}, paper={}
    )
    assert report.read_results(path)["data"] == d


def test_write_results_bad_input(tmp_path):
    ok = dict(chapter="c", data=Data(), parameters={}, results={}, paper={})
    with pytest.raises(TypeError, match="path must be a str or a Path"):
        report.write_results(3, **ok)
    with pytest.raises(TypeError, match="chapter must be a str"):
        report.write_results(tmp_path / "x.json", **{**ok, "chapter": 1})
    with pytest.raises(ValueError, match="chapter must be a non-empty str"):
        report.write_results(tmp_path / "x.json", **{**ok, "chapter": ""})
    with pytest.raises(TypeError, match=r"data must be a data set like nbhelpers.data.MNIST"):
        report.write_results(tmp_path / "x.json", **{**ok, "data": "embedded"})
    with pytest.raises(TypeError, match="results must be a dict"):
        report.write_results(tmp_path / "x.json", **{**ok, "results": [1]})
    with pytest.raises(TypeError, match=r"results\['model'\] must hold numbers"):
        report.write_results(tmp_path / "x.json", **{**ok, "results": {"model": object()}})
    with pytest.raises(TypeError, match=r"keys must be str or int, got tuple"):
        report.write_results(tmp_path / "x.json", **{**ok, "results": {("a", "b"): 1}})
    assert not (tmp_path / "x.json").exists()


def test_read_results_checks_the_keys(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"data": {"description": "d"}, "table1": {}}))
    with pytest.raises(
        ValueError, match=r"missing \['chapter', 'parameters', 'results', 'paper'\]"
    ):
        report.read_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        report.read_results(path)
    keys = dict.fromkeys(report.RESULT_KEYS, {})
    path.write_text(json.dumps({**keys, "data": "embedded"}))
    with pytest.raises(ValueError, match="'data' must be a dict"):
        report.read_results(path)
    with pytest.raises(TypeError, match="path must be a str or a Path"):
        report.read_results(None)


def test_to_json_converts_numpy_and_pandas():
    assert report.to_json(np.float32(0.5)) == 0.5 and isinstance(report.to_json(np.int8(3)), int)
    assert report.to_json(pd.Series({"a": np.nan})) == {"a": None}
    assert report.to_json((np.arange(2), [math.inf])) == [[0, 1], [None]]
