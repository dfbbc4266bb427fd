"""Tests for nbhelpers.profiles: the sizes a chapter runs with, applied by the build and by
a chapter's own `profile` line (a Colab user's one-line switch to the smoke sizes)."""

from pathlib import Path

import nbformat
import pytest

from nbhelpers import profiles, recording

ROOT = Path(__file__).resolve().parents[2]
# the chapters that compute (and are recorded); the fidelity page only reads their results
COMPUTING = [ROOT / "book" / f"{stem}.ipynb" for stem in recording.recorded_chapters()]


def test_use_sets_the_profile_s_values_for_the_names_a_chapter_defines():
    names = ("source", "n_train", "seeds", "epochs", "pool_size", "n_search", "held_out")
    names += ("patience", "extra_pools", "dropout_grid")
    namespace = dict.fromkeys(names) | {"seeds": [0, 1], "unrelated": 3}
    assert profiles.use("smoke", "06_adversarial_training", namespace) is None
    assert namespace["source"] == "embedded" and namespace["n_train"] == 2000
    assert namespace["seeds"] == [0, 1] and namespace["unrelated"] == 3
    assert "n_test" not in namespace  # a default goes only to the names the chapter defines


def test_the_recorded_profile_is_the_full_one_and_more():
    every = profiles.read()
    assert every["recorded"]["defaults"] == every["full"]["defaults"]
    for stem, values in every["full"]["chapters"].items():
        assert every["recorded"]["chapters"][stem] == values
    assert len(every["recorded"]["chapters"]["06_adversarial_training"]["seeds"]) >= 3


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("nope", "01_framework", {}), ValueError, "unknown profile 'nope'.*smoke"),
        (("smoke", "06_adversarial_training", {"source": 1}), ValueError, "seeds"),
        (("smoke", "01_framework", [("source", 1)]), TypeError, "globals"),
    ],
)
def test_bad_use_is_refused(args, error, match):
    with pytest.raises(error, match=match):
        profiles.use(*args)


@pytest.mark.parametrize("notebook", COMPUTING, ids=lambda p: p.stem)
def test_every_computing_chapter_applies_its_profile_line_before_anything_else(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert code[0].source.startswith('profile = "full"')  # the defaults are the paper's scale
    applies = [i for i, c in enumerate(code) if "profiles.use(profile" in c.source]
    assert applies and f'"{notebook.stem}"' in code[applies[0]].source
    before = code[1 : applies[0]]  # only Colab's install cell sits between
    assert all("remove-cell" in c.metadata.get("tags", []) for c in before)


def test_the_table_shows_what_each_profile_sets_per_chapter():
    table = profiles.table()
    assert list(table.columns) == list(profiles.read())
    assert "n_train=2000" in table.loc["every chapter", "smoke"]
    six = table.loc["06_adversarial_training"]
    assert "seeds=[0, 1, 2]" in six["recorded"] and six["full"] == "the defaults"


@pytest.mark.parametrize("notebook", COMPUTING, ids=lambda p: p.stem)
def test_every_computing_chapter_states_its_goals_prerequisites_and_time(notebook):
    """For instructors: what a student will do, what to know first, and what it costs."""
    nb = nbformat.read(notebook, as_version=4)
    box = [c.source for c in nb.cells[:3] if "For students and instructors" in c.source]
    assert len(box) == 1, notebook.stem
    assert all(part in box[0] for part in ("**You will**", "**Before this chapter:**", "**Time:**"))
