"""Figures: digit grids (Figure 7), filters, heat maps of Tables 2 and 4; checks at the door."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nbhelpers import paper, plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_image_grid_lays_out_rows_and_titles():
    x = np.random.default_rng(0).uniform(size=(3, 784)).astype(np.float32)
    fig = plots.image_grid(
        [x, x[:2] - 0.5], row_labels=["a", "b"], titles=[["1", "2", "3"], None], vmin=None
    )
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "1" and fig.axes[0].get_ylabel() == "a"
    assert not fig.axes[5].get_images()  # the short row leaves its last cell empty


def test_image_grid_bad_input():
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(TypeError, match="rows must be a list of image arrays"):
        plots.image_grid(x)
    with pytest.raises(ValueError, match="rows must hold at least one row"):
        plots.image_grid([])
    with pytest.raises(ValueError, match=r"rows\[1\] must have shape \(n, 784\)"):
        plots.image_grid([x, np.zeros((2, 5))])
    with pytest.raises(TypeError, match=r"rows\[0\] must be an array"):
        plots.image_grid([["a", "b"]])
    with pytest.raises(ValueError, match="row_labels must hold 1 labels"):
        plots.image_grid([x], row_labels=["a", "b"])
    with pytest.raises(TypeError, match="row_labels must be a list of str"):
        plots.image_grid([x], row_labels="a")
    with pytest.raises(TypeError, match="vmin must be a real number or None"):
        plots.image_grid([x], vmin="0")
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        plots.image_grid([x], scale=0)


def test_filter_grid():
    w = np.random.default_rng(0).standard_normal((784, 20))
    fig = plots.filter_grid(w, n=8, ncols=4, title="filters")
    assert len(fig.axes) == 9 and fig._suptitle.get_text() == "filters"  # and a colour bar
    assert {ax.get_images()[0].get_clim() for ax in fig.axes[:8]} == {(-1.0, 1.0)}
    with pytest.raises(ValueError, match=r"weights must have shape \(784, units\)"):
        plots.filter_grid(w.T)
    with pytest.raises(ValueError, match="n must be >= 1"):
        plots.filter_grid(w, n=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        plots.filter_grid(w, seed=0.5)


def test_heatmap_takes_labels_from_a_dataframe():
    m = paper.table("table2")[list(paper.TABLE2_MODELS)]
    fig = plots.heatmap(m, title="paper")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(paper.TABLE2)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(paper.TABLE2_MODELS)
    assert "35.9" in [t.get_text() for t in ax.texts]
    fig = plots.heatmap(np.eye(2), ["a", "b"], ["c", "d"], fmt="{:.0f}")
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0", "0", "1", "1"]


def test_heatmap_bad_input():
    with pytest.raises(ValueError, match="col_labels must hold 2 labels"):
        plots.heatmap(np.eye(2), ["a", "b"], ["c"])
    with pytest.raises(TypeError, match="row_labels and col_labels are needed"):
        plots.heatmap(np.eye(2))
    with pytest.raises(ValueError, match="matrix must be 2-D"):
        plots.heatmap(np.ones(3), ["a"], ["b"])
    with pytest.raises(TypeError, match="matrix must be a 2-D array of numbers"):
        plots.heatmap([["x"]], ["a"], ["b"])
    with pytest.raises(TypeError, match="fmt must be a format str"):
        plots.heatmap(np.eye(1), ["a"], ["b"], fmt=1)
    with pytest.raises(TypeError, match="title must be a str or None"):
        plots.heatmap(np.eye(1), ["a"], ["b"], title=3)


def test_side_by_side_table_moved_to_report():
    assert not hasattr(plots, "side_by_side_table")


def test_image_grid_signed_rows_share_one_scale_with_a_colour_bar():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 784)).astype(np.float32)
    r = np.zeros((3, 784), np.float32)
    r[0, 0], r[1, 1], r[2, 2] = 0.2, -0.5, np.nan  # a failed search is NaN
    fig = plots.image_grid([x, r], row_labels=["digit", "change"], signed_rows=[1])
    assert len(fig.axes) == 7  # six images and the colour bar
    assert fig.axes[-1].get_ylabel() == "change in pixel value"
    clims = {ax.get_images()[0].get_clim() for ax in fig.axes[3:6]}
    assert clims == {(-0.5, 0.5)}  # one symmetric scale, at the largest change
    assert fig.axes[0].get_images()[0].get_clim() == (0.0, 1.0)
    assert len(plots.image_grid([x]).axes) == 3  # no signed rows, no colour bar


def test_image_grid_signed_rows_bad_input():
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match=r"signed_rows must index the 1 rows \(0 to 0\), got 1"):
        plots.image_grid([x], signed_rows=[1])
    with pytest.raises(TypeError, match="signed_rows must be a list of row indices"):
        plots.image_grid([x], signed_rows=1)
    with pytest.raises(TypeError, match="signed_label must be a str"):
        plots.image_grid([x], signed_rows=[0], signed_label=3)


def test_heatmap_colour_bar_names_its_unit_and_fits_a_page():
    fig = plots.heatmap(
        np.eye(7) * 50, list("abcdefg"), list("abcdefg"), colorbar_label="error (%)"
    )
    assert fig.axes[-1].get_ylabel() == "error (%)"
    assert fig.get_size_inches()[0] <= 7.5


def _dashed(ax):
    return [line for line in ax.lines if line.get_linestyle() == "--"]


def test_seed_bars_one_bar_per_row_at_the_mean():
    per_seed = {"weight decay": [1.0, 2.0, 4.5], "pool": np.array([0.5, 0.7]), 3: [2.0]}
    fig = plots.seed_bars(
        per_seed, references={"paper": 1.6, "baseline": 0.9}, ylabel="error (%)", title="t"
    )
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([2.5, 0.6, 2.0])
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == pytest.approx([0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["weight decay", "pool", "3"]
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert ax.get_ylabel() == "error (%)" and ax.get_title() == "t"
    # one dashed horizontal line per reference, at its value, labelled
    assert [tuple(line.get_ydata()) for line in _dashed(ax)] == [(1.6, 1.6), (0.9, 0.9)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper", "baseline"]


def test_seed_bars_shows_each_seed_and_the_range():
    fig = plots.seed_bars({"a": [1.0, 2.0, 6.0]})
    ax = fig.axes[0]
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(dots) == 1 and sorted(dots[0].get_ydata()) == [1.0, 2.0, 6.0]
    assert set(dots[0].get_xdata()) == {0}
    (bars,) = [c for c in ax.containers if hasattr(c, "has_yerr")]
    caps = bars.lines[1]
    assert sorted(float(np.ravel(cap.get_ydata())[0]) for cap in caps) == [1.0, 6.0]
    assert not _dashed(ax) and not ax.texts  # no references, no lines
    assert not ax.get_title() and not ax.get_ylabel()


def test_seed_bars_draws_on_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.seed_bars({"a": [1.0], "b": [2.0]}, ax=right) is fig
    assert len(right.patches) == 2 and not left.patches


def test_seed_bars_bad_input():
    with pytest.raises(TypeError, match=r"per_seed must be a non-empty dict \{name: values\}"):
        plots.seed_bars({})
    with pytest.raises(TypeError, match="per_seed must be a non-empty dict"):
        plots.seed_bars([1.0, 2.0])
    with pytest.raises(ValueError, match=r"per_seed\['b'\] must be a non-empty 1-D array"):
        plots.seed_bars({"a": [1.0], "b": []})
    with pytest.raises(ValueError, match=r"per_seed\['a'\] must be a non-empty 1-D array"):
        plots.seed_bars({"a": [[1.0, 2.0]]})
    with pytest.raises(TypeError, match=r"per_seed\['a'\] must be an array of numbers"):
        plots.seed_bars({"a": ["x"]})
    with pytest.raises(TypeError, match=r"references must be a dict \{label: value\}"):
        plots.seed_bars({"a": [1.0]}, references=[1.0])
    with pytest.raises(TypeError, match="title must be a str or None"):
        plots.seed_bars({"a": [1.0]}, title=3)
    with pytest.raises(TypeError, match="ylabel must be a str or None"):
        plots.seed_bars({"a": [1.0]}, ylabel=["e"])


def test_seed_bars_names_a_reference_that_is_not_a_number():
    with pytest.raises((TypeError, ValueError), match="references"):
        plots.seed_bars({"a": [1.0]}, references={"paper": None})
