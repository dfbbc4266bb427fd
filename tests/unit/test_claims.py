"""Tests for nbhelpers.claims: one verdict per claim of the paper, from the recorded run."""

import json
import shutil

import pytest

from nbhelpers import claims, recording


@pytest.fixture
def folder(tmp_path):
    """A copy of the shipped recordings, to change one number at a time."""
    out = tmp_path / "recordings"
    shutil.copytree(recording.RECORDINGS, out)
    return out


def _edit(folder, stem, change):
    path = folder / f"{stem}.json"
    whole = json.loads(path.read_text())
    change(whole["results"])
    path.write_text(json.dumps(whole))


def _verdict(folder, where):
    table = claims.verdicts(folder)
    return table.set_index("where").loc[where, "verdict"]


@pytest.mark.parametrize(
    "within, cells, verdict",
    [(3, 3, "reproduced"), (2, 4, "partly reproduced"), (1, 3, "not reproduced")],
)
def test_a_table_s_verdict_is_its_share_of_cells_within_the_goal(within, cells, verdict):
    assert claims.by_share(within, cells) == verdict


def test_a_table_without_cells_is_refused():
    with pytest.raises(ValueError, match="cells must be positive"):
        claims.by_share(0, 0)


def test_every_claim_is_judged_on_the_shipped_recordings():
    table = claims.verdicts()
    assert list(table["where"]) == [c.where for c in claims.CLAIMS]
    assert set(table["verdict"]) <= set(claims.VERDICTS) - {"not recorded"}
    assert all(table["the recorded run"].str.len() > 20)


def test_a_chapter_without_recording_leaves_its_claims_not_recorded(folder):
    for suffix in (".json", ".provenance.json"):
        (folder / f"06_adversarial_training{suffix}").unlink()
    assert _verdict(folder, "§4.2") == "not recorded"
    assert _verdict(folder, "Table 1") != "not recorded"


def test_no_verdict_from_an_undertrained_baseline(folder):
    _edit(folder, "06_adversarial_training", lambda r: r["verdict"].update(trained_enough=False))
    assert _verdict(folder, "§4.2") == "not judged"


def test_the_pool_s_verdict_follows_its_comparison_with_weight_decay(folder):
    better = {"better_than_weight_decay": True, "outcome": "better", "trained_enough": True}
    _edit(folder, "06_adversarial_training", lambda r: r["verdict"].update(better, below_1_2=False))
    assert _verdict(folder, "§4.2") == "partly reproduced"
    _edit(folder, "06_adversarial_training", lambda r: r["verdict"].update(below_1_2=True))
    assert _verdict(folder, "§4.2") == "reproduced"


def test_one_failed_search_is_enough_to_refute_every_digit_has_an_example(folder):
    def fail_one(results):
        row = next(iter(results["table1"].values()))
        row["n_success"] -= 1

    before = _verdict(folder, "§4.1, Figure 7")
    _edit(folder, "03_blind_spots", fail_one)
    assert before == "reproduced" and _verdict(folder, "§4.1, Figure 7") == "not reproduced"


def test_units_purer_than_random_directions_count_against_section_3(folder):
    def purer_units(results):
        for layer in results["layers"].values():
            layer["summary"]["units"]["purity"]["low"] = 2.0  # above any purity

    _edit(folder, "02_units_and_directions", purer_units)
    assert _verdict(folder, "§3") == "not reproduced"


def test_the_page_names_the_run_it_judges(folder, tmp_path):
    said = claims.which_run(folder)
    runs = [recording.read_recording(s, folder)[1] for s in recording.recorded_chapters(folder)]
    assert f"{len(runs)} chapters" in said and runs[0]["recorded_at"][:10] in said
    assert f"{sum(p['seconds'] for p in runs) / 60:.0f} min in all" in said
    assert claims.which_run(tmp_path) == "No chapter is recorded yet."
