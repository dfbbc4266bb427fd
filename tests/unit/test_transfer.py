"""Transfer matrices (Tables 2 and 4) on models whose answers are known by construction."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from nbhelpers import paper, transfer
from nbhelpers.models import build
from nbhelpers.perturbations import gaussian_noise, magnify
from nbhelpers.transfer import mean_transfer, off_diagonal, rows_mean, transfer_matrix


def constant_model(label):
    """A softmax regression that answers `label` for every image (zero weights, one bias)."""
    m = build("FC10(1)")
    w, b = m.get_weights()
    b = np.zeros_like(b)
    b[label] = 5.0
    m.set_weights([np.zeros_like(w), b])
    return m


@pytest.fixture(scope="module")
def models():
    return {"says0": constant_model(0), "says1": constant_model(1)}


def test_cells_are_error_rates_in_percent(models):
    x = np.full((4, 784), 0.5, np.float32)
    y = np.array([0, 0, 0, 1])
    m = transfer_matrix({"row": (x, y)}, models)
    assert list(m.columns) == ["says0", "says1"] and list(m.index) == ["row"]
    assert m.loc["row", "says0"] == pytest.approx(25.0)
    assert m.loc["row", "says1"] == pytest.approx(75.0)


def test_unclipped_noise_rows_need_box_false(models):
    """Rows whose pixels leave [0, 1] (unclipped noise) are refused unless box=False."""
    x = np.full((4, 784), 0.5, np.float32)
    y = np.array([0, 0, 0, 1])
    rows, _ = transfer.noise_rows(x, y, 0.6, seed=1, clip=False)
    ((noisy, _),) = rows.values()
    assert noisy.min() < 0 and noisy.max() > 1
    np.testing.assert_array_equal(noisy, gaussian_noise(x, 0.6, seed=1, clip=False))
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        transfer_matrix(rows, models)
    m = transfer_matrix(rows, models, box=False)
    assert m.loc["Gaussian noise, stddev 0.6", "says0"] == pytest.approx(25.0)
    bad = {"row": (np.full((1, 784), np.inf, np.float32), [0])}
    with pytest.raises(ValueError, match="finite pixel values"):
        transfer_matrix(bad, models, box=False)


def test_off_diagonal_and_means(models):
    x = np.zeros((2, 784), np.float32)
    m = transfer_matrix(
        {
            "for says0": (x, np.array([1, 1])),
            "for says1": (x, np.array([0, 1])),
            "noise": (x, np.array([0, 0])),
        },
        models,
    )
    pairs = {"for says0": "says0", "for says1": "says1"}
    assert m.loc["for says0", "says0"] == 100.0
    assert off_diagonal(m, pairs) == [0.0, 50.0]
    assert off_diagonal(m, pairs, keep=lambda own, col: own == "says1") == [50.0]
    assert off_diagonal(m, pairs, keep=lambda own, col: False) == []
    assert mean_transfer(m, pairs) == pytest.approx(25.0)
    assert rows_mean(m, ["noise"]) == pytest.approx(50.0)
    assert rows_mean(m, ["noise"], ["says1"]) == pytest.approx(100.0)


def test_bad_rows_are_clear_errors(models):
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\) \(one per image\)"):
        transfer_matrix({"r": (x, np.array([0, 1, 2]))}, models)
    with pytest.raises(ValueError, match="NaN"):
        transfer_matrix({"r": (np.full((1, 784), np.nan, np.float32), np.array([0]))}, models)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        transfer_matrix({"r": (x + 2, np.array([0, 1]))}, models)
    with pytest.raises(ValueError, match="no images"):
        transfer_matrix({"r": (x[:0], np.array([], int))}, models)
    with pytest.raises(ValueError, match="models must hold at least one entry"):
        transfer_matrix({"r": (x, np.array([0, 1]))}, {})
    m = transfer_matrix({"r": (x, np.array([0, 1]))}, models)
    with pytest.raises(ValueError, match="expected row 'missing'"):
        off_diagonal(m, {"missing": "says0"})
    with pytest.raises(TypeError, match=r"examples\['r'\] must be a pair"):
        transfer_matrix({"r": [x, np.array([0, 1])]}, models)
    with pytest.raises(TypeError, match="models must be a dict"):
        transfer_matrix({"r": (x, np.array([0, 1]))}, [constant_model(0)])
    with pytest.raises(TypeError, match="matrix must be a pandas DataFrame"):
        off_diagonal(m.values, {"r": "says0"})
    with pytest.raises(TypeError, match="keep must be a function"):
        off_diagonal(m, {"r": "says0"}, keep=True)
    with pytest.raises(ValueError, match=r"rows: unknown name\(s\) \['nope'\]"):
        rows_mean(m, ["nope"])


# --- the rows of Tables 2 and 4, from stand-ins for the search's results ------------


@dataclass
class Result:
    """The contract transfer relies on: successful() -> (x, x_adv, labels) of the successes."""

    x: np.ndarray
    x_adv: np.ndarray
    labels: np.ndarray
    n_failed: int = 0

    def successful(self):
        return self.x, self.x_adv, self.labels

    def mean_distortion(self):
        return float(np.sqrt(np.mean((self.x_adv - self.x) ** 2)))


def result(n=3, shift=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, (n, 784)).astype(np.float32)
    return Result(x, np.clip(x + shift * rng.standard_normal(x.shape), 0, 1), np.arange(n) % 10)


def test_adversarial_rows_label_each_models_successes():
    results = {"A": result(3), "B": result(2, seed=1)}
    rows, made_for = transfer.adversarial_rows(results)
    assert list(rows) == ["A", "B"] and made_for == {"A": "A", "B": "B"}
    assert rows["A"][0] is results["A"].x_adv and rows["A"][1] is results["A"].labels
    rows, made_for = transfer.adversarial_rows(results, label="distorted for {name}")
    assert made_for == {"distorted for A": "A", "distorted for B": "B"}
    assert len(rows["distorted for B"][0]) == 2


def test_magnified_rows_rescale_each_perturbation():
    results = {"A": result(4, shift=0.02)}
    rows, made_for = transfer.magnified_rows(results, 0.1)
    label = "distorted for A, magnified to stddev 0.1"
    assert made_for == {label: "A"}
    x, x_adv, y = results["A"].successful()
    np.testing.assert_array_equal(rows[label][0], magnify(x, x_adv, 0.1))
    assert rows[label][1] is y
    r = (rows[label][0] - x).reshape(4, -1)
    assert np.all(r.std(axis=1) > 0.09)  # was about 0.02


def test_noise_rows_use_one_seed_and_name_their_stddev():
    x = np.full((5, 784), 0.5, np.float32)
    y = np.arange(5)
    rows, stddev_of = transfer.noise_rows(x, y, [0.06, 0.1], seed=3)
    assert stddev_of == {"Gaussian noise, stddev 0.06": 0.06, "Gaussian noise, stddev 0.1": 0.1}
    np.testing.assert_array_equal(
        rows["Gaussian noise, stddev 0.1"][0], gaussian_noise(x, 0.1, seed=3)
    )
    np.testing.assert_array_equal(rows["Gaussian noise, stddev 0.1"][1], y)
    rows, _ = transfer.noise_rows(x, y, 0.3, label="noise {stddev}")
    assert list(rows) == ["noise 0.3"]


def test_row_builders_bad_input():
    with pytest.raises(TypeError, match="results must be a dict"):
        transfer.adversarial_rows([result()])
    with pytest.raises(ValueError, match="results must hold at least one entry"):
        transfer.adversarial_rows({})
    with pytest.raises(TypeError, match=r"results\['A'\] must be an adversarial search result"):
        transfer.adversarial_rows({"A": (1, 2, 3)})
    empty = result(0)
    with pytest.raises(ValueError, match=r"results\['A'\]: every search failed"):
        transfer.adversarial_rows({"A": empty})
    with pytest.raises(TypeError, match="label must be a str"):
        transfer.adversarial_rows({"A": result()}, label=None)
    with pytest.raises(
        ValueError, match=r"label must be a format string with the fields \['name'\]"
    ):
        transfer.adversarial_rows({"A": result()}, label="for {model}")
    with pytest.raises(ValueError, match="stddev must be a finite number > 0"):
        transfer.magnified_rows({"A": result()}, 0)
    with pytest.raises(TypeError, match="stddev must be a real number"):
        transfer.magnified_rows({"A": result()}, "0.1")
    x, y = np.zeros((2, 784), np.float32), np.array([0, 1])
    with pytest.raises(ValueError, match="stddevs must hold at least one"):
        transfer.noise_rows(x, y, [])
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        transfer.noise_rows(x, y[:1], [0.1])
    with pytest.raises(TypeError, match="seed must be an int"):
        transfer.noise_rows(x, y, [0.1], seed=0.5)
    with pytest.raises(ValueError, match=r"x must have pixel values in \[0, 1\]"):
        transfer.noise_rows(x + 2, y, [0.1])


# --- what the tables say ------------------------------------------------------


def test_cross_model_summary_of_a_hand_made_matrix():
    m = pd.DataFrame(
        {"A": [100.0, 20.0, 4.0, 1.0], "B": [40.0, 100.0, 6.0, 3.0]},
        index=["A", "B", "noise", "clean"],
    )
    s = transfer.cross_model_summary(m, {"A": "A", "B": "B"}, noise=["noise"], clean="clean")
    assert s == {
        "diagonal": [100.0, 100.0],
        "transfer": 30.0,
        "noise": {"noise": 5.0},
        "clean": 2.0,
    }
    assert transfer.cross_model_summary(m, {"A": "A"})["clean"] is None
    with pytest.raises(ValueError, match=r"noise: unknown name\(s\)"):
        transfer.cross_model_summary(m, {"A": "A"}, noise=["Noise"])


def test_papers_table2_mean_transfer_is_25_6():
    s = transfer.paper_cross_model_summary()
    assert round(s["transfer"], 1) == 25.6
    assert s["diagonal"] == [100.0] * 6
    assert s["noise"]["Gaussian noise, stddev 0.1"] == pytest.approx((5.0 + 10.1 + 18.3 + 0.8) / 6)
    assert s["clean"] is None


def table4_like():
    """The paper's Table 4 with a clean row added: a matrix our chapter would make."""
    m = paper.table("table4")
    m.loc["no distortion"] = [1.0, 2.0, 3.0]
    return m


def test_cross_training_set_summary_returns_the_chapters_numbers():
    models = paper.TABLE4_MODELS
    s = transfer.cross_training_set_summary(
        table4_like(),
        made_for={f"distorted for {m}": m for m in models},
        magnified_for={f"distorted for {m}, magnified to stddev 0.1": m for m in models},
        trained_on={"FC100-100-10": "P1", "FC123-456-10": "P1", "FC100-100-10'": "P2"},
        noise_small="Gaussian noise, stddev 0.06",
        noise_magnified="Gaussian noise, stddev 0.1",
        clean="no distortion",
    )
    assert list(s) == [
        "diagonal",
        "same_training_set",
        "other_training_set",
        "transfer",
        "transfer_magnified",
        "noise_small",
        "noise_magnified",
        "clean",
    ]
    assert s["diagonal"] == [100.0] * 6
    assert s["same_training_set"] == pytest.approx((26.2 + 6.25) / 2)  # P1 <-> P1
    assert s["other_training_set"] == pytest.approx((5.9 + 5.1 + 8.2 + 8.2) / 4)  # P1 <-> P2
    assert s["transfer"] == pytest.approx((26.2 + 5.9 + 6.25 + 5.1 + 8.2 + 8.2) / 6)
    assert s["transfer_magnified"] == pytest.approx((98 + 43 + 96 + 22 + 27 + 50) / 6)
    assert s["noise_small"] == pytest.approx(2.4)
    assert s["noise_magnified"] == pytest.approx(2.7)
    assert s["clean"] == pytest.approx(2.0)
    paper_s = transfer.paper_cross_training_set_summary()
    assert paper_s == {**s, "clean": None}


def test_cross_training_set_summary_without_a_same_set_pair_and_bad_input():
    m = table4_like()
    made_for = {f"distorted for {n}": n for n in paper.TABLE4_MODELS}
    kw = dict(
        noise_small="Gaussian noise, stddev 0.06", noise_magnified="Gaussian noise, stddev 0.1"
    )
    three_sets = dict(zip(paper.TABLE4_MODELS, ["P1", "P2", "P3"], strict=True))
    s = transfer.cross_training_set_summary(m, made_for, made_for, three_sets, **kw)
    assert np.isnan(s["same_training_set"])  # no two models share a training set
    assert s["other_training_set"] == pytest.approx(s["transfer"])
    with pytest.raises(TypeError, match="trained_on must be a dict"):
        transfer.cross_training_set_summary(m, made_for, made_for, ["P1"], **kw)
    with pytest.raises(ValueError, match="magnified_for must hold at least one entry"):
        transfer.cross_training_set_summary(m, made_for, {}, three_sets, **kw)
    with pytest.raises(ValueError, match=r"trained_on must name the training set of every model"):
        transfer.cross_training_set_summary(m, made_for, made_for, {"X": "P1"}, **kw)
    with pytest.raises(ValueError, match=r"rows: unknown name\(s\) \['noise'\]"):
        transfer.cross_training_set_summary(
            m, made_for, made_for, paper.TRAINED_ON, noise_small="noise", noise_magnified="noise"
        )
