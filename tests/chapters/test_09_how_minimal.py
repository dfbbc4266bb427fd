"""Chapter "How minimal is the minimum?": the claims its prose makes, checked on its numbers."""

import numpy as np
import pytest

from nbhelpers import paper, report

pytestmark = pytest.mark.book

MODELS = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")
FC10 = MODELS[:3]


def test_the_exact_minimum_is_certified_and_never_above_the_search(results):
    """Every digit: the certificate's lower bound is at most the search's distortion, and
    the search is an upper bound (ratio ≥ 1 up to the certificate's gap)."""
    for name in FC10:
        digits = results["exact_per_digit"][name]
        search = np.array(digits["search"], dtype=float)
        exact = np.array(digits["exact"], dtype=float)
        lower = np.array(digits["lower"], dtype=float)
        both = np.isfinite(search) & np.isfinite(exact)
        assert both.sum() >= 0.9 * len(search), name
        assert (lower[both] <= search[both] + 1e-6).all(), name
        assert (exact[both] - lower[both] <= 1e-6).all(), name  # certified
        row = results["exact_table"][name]
        assert row["median ratio"] >= 1 - 1e-6 and row["worst ratio"] >= row["median ratio"]


def test_every_model_is_sandwiched(results):
    """Lower bounds below the search, the local bound never below the global one, the
    exact minimum (FC10) at most the search, the other searches compared on their digits."""
    for name in MODELS:
        row = results["sandwich_table"][name]
        assert row["global bound"] <= row["local bound"] + 1e-12, name
        assert 0 < row["local bound"] <= 1, name
        if name in FC10:
            assert row["local bound"] <= row["exact"] <= 1 + 1e-6, name
        assert row["search"] == pytest.approx(results["sandwich"][name]["search"]["mean"])
        for other in ("DeepFool", "FGSM", "C&W"):
            assert 0 <= row[f"{other} reached (%)"] <= 100, (name, other)


def test_the_sentences_state_the_numbers(results, page_text):
    """The page's sentences are the ones the numbers give, in this build."""
    over = {n: 100 * (r["median ratio"] - 1) for n, r in results["exact_table"].items()}
    assert report.numbers_list(over, "{:.2f}%") in page_text
    overestimate = results["overestimate"]
    assert report.numbers_list(overestimate, "{:.1f}%") in page_text
    assert all(v >= -1e-9 for v in overestimate.values())  # the best found ≤ the search
    assert report.numbers_list(results["local_bound_ratio"], "{:.2f}") in page_text
    for other in ("DeepFool", "FGSM", "C&W"):
        ratios = [results["sandwich"][n][other]["median ratio"] for n in MODELS]
        assert report.value_range(ratios, "{:.2f}") in page_text, other
    if results["rank_search"] == results["rank_best"]:
        assert "the models keep the search's order" in page_text
    else:
        assert "The order changes" in page_text


def test_carlini_wagner_at_equal_effort_spends_what_the_search_spent(results, written):
    """ "At the search's own effort": C&W's evaluations a digit round the search's mean to
    whole steps over its values of c; its full budget is its parameters'."""
    p = written["parameters"]
    for name in MODELS:
        row = results["effort"][name]
        same = row["C&W same effort evaluations"]
        assert abs(same - row["search evaluations"]) <= p["cw_same_steps"] / 2 + 1e-9, name
        assert row["C&W full evaluations"] == p["cw_steps"] * p["cw_iterations"], name
        assert 0 <= row["C&W same effort reached (%)"] <= 100, name
        # "the book's search spends far fewer"
        assert row["search evaluations"] < 0.5 * row["C&W full evaluations"], name


def test_the_equal_effort_sentence_states_the_numbers(results, page_text):
    effort = results["effort"]
    same = {n: r["C&W same effort reached (%)"] for n, r in effort.items()}
    full = {n: r["C&W full ratio"] for n, r in effort.items()}
    assert report.numbers_list(same, "{:.0f}%") in page_text
    assert report.numbers_list(full, "{:.2f}") in page_text
    if min(r["search reached (%)"] for r in effort.values()) == 100:
        assert "reaches every digit it is asked to move" in page_text


def test_the_paper_s_column_is_the_paper_s(results, written):
    for name in MODELS:
        assert written["paper"]["table1"][name]["distortion"] == paper.TABLE1[name]["distortion"]


def test_the_paper_scale_table_is_the_recordings(page_text, recorded_run, shows_recorded):
    """A small-sample build shows the recorded run's table at the paper's scale."""
    if not shows_recorded:
        return
    assert "**At the paper's scale.** The same table." in page_text
    assert recorded_run.provenance["data"]["n_train"] == 60_000
    if "effort" in recorded_run.results:  # the equal-effort table at the paper's scale too
        assert page_text.count("**At the paper's scale.** The same table.") == 2
