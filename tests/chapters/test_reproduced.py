"""Page "What reproduced and what did not": one verdict per claim, from the recorded run."""

import pytest

from bookkit import toc
from nbhelpers import claims

pytestmark = pytest.mark.book


def test_the_page_s_verdicts_are_the_recorded_run_s(results):
    from nbhelpers.report import to_json

    assert results["verdicts"] == to_json(claims.verdicts().to_dict("records"))


def test_every_claim_is_on_the_page_with_a_link_to_its_chapter(results, page_text):
    stems = {p.stem for p in toc.chapters()}
    for v in results["verdicts"]:
        assert f"**{v['where']}: {v['verdict']}.**" in page_text
        assert v["chapter"] in stems and f"]({v['chapter']}.html)" in page_text


def test_the_sum_counts_the_verdicts(results, page_text):
    n = len(results["verdicts"])
    assert f"Of {n} claims, " in page_text
    for verdict in {v["verdict"] for v in results["verdicts"]}:
        count = sum(v["verdict"] == verdict for v in results["verdicts"])
        assert f"{count} {verdict}" in page_text
