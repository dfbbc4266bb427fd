"""Each public function's door: bad input is refused at once, with a message that names the
parameter, what was expected and what came (nbhelpers._validation's policy), before any
model runs, trains or searches. Tiny inputs and models: the whole file runs in seconds."""

import json
import os
import time

import nbformat
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bookkit import build, editions  # noqa: E402
from nbhelpers import cache, fidelity, report, transfer, units  # noqa: E402
from nbhelpers.adversarial_training import pools  # noqa: E402
from nbhelpers.attacks import readings  # noqa: E402
from nbhelpers.spectral import norms  # noqa: E402


def _tiny_model(inputs: int = 4, classes: int = 10):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(classes)])


# ------------------------------------------------------------------ 1. power_iteration


def test_power_iteration_of_the_zero_operator_is_zero_not_nan():
    """A zero operator has norm 0 (documented): 0.0, whether it multiplies by 0 or ignores v."""
    import tensorflow as tf

    assert norms.power_iteration(lambda v: 0.0 * v, (3, 3, 1)) == 0.0
    assert norms.power_iteration(lambda v: tf.zeros_like(v), (3, 3, 1)) == 0.0
    with pytest.raises(TypeError, match="operator must be a function.*got str"):
        norms.power_iteration("conv", (3, 3, 1))


# ------------------------------------------------------------------ 2. profile_parameters


def _chapter_root(tmp_path, profiles: dict):
    """A root folder with its own nbhelpers/profiles.yml and one chapter, book/ch.ipynb."""
    import yaml

    (tmp_path / "book").mkdir(parents=True)
    (tmp_path / "nbhelpers").mkdir()
    (tmp_path / "nbhelpers" / "profiles.yml").write_text(yaml.safe_dump(profiles))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("n_train = 100\nseed = 0")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "book" / "ch.ipynb"
    nbformat.write(nb, path)
    return path


def test_profile_parameters_refuses_a_name_the_chapter_does_not_define(tmp_path):
    nb = _chapter_root(
        tmp_path, {"p": {"defaults": {"n_test": 5}, "chapters": {"ch": {"n_trian": 10}}}}
    )
    with pytest.raises(
        ValueError,
        match=r"nbhelpers/profiles.yml: profile 'p' sets \['n_trian'\] for the chapter 'ch'",
    ) as err:
        build.profile_parameters("p", nb, tmp_path)
    assert "defines ['n_train', 'seed']" in str(err.value)
    # a default the chapter lacks still goes only where it is defined; a good name passes
    nb = _chapter_root(tmp_path / "ok", {"p": {"defaults": {"n_test": 5, "seed": 1}}})
    assert build.profile_parameters("p", nb, tmp_path / "ok") == {"seed": 1}


# ------------------------------------------------------------------ 3. cache's doors


def test_cache_key_refuses_a_dict_and_a_file_as_cache_folder_stops_before_training(
    tmp_path, monkeypatch
):
    with pytest.raises(TypeError, match="settings must be one of the book's settings.*got dict"):
        cache.cache_key("FC10(1e-4)", "fp", 0, {"epochs": 1})
    from nbhelpers.training import TrainingSettings

    key = cache.cache_key("FC10(1e-4)", "fp", 0, TrainingSettings())
    not_a_folder = tmp_path / "a_file"
    not_a_folder.write_text("")
    monkeypatch.setenv("NBHELPERS_CACHE", str(not_a_folder))
    calls = []
    with pytest.raises(NotADirectoryError, match="NBHELPERS_CACHE must name a folder.*a_file"):
        cache.cached(
            "FC10(1e-4)", key, lambda: calls.append(1), label="x", n=1, method="t", verbose=False
        )
    assert calls == []  # make() never ran


# ------------------------------------------------------------------ 4, 5. readings


def test_distortion_readings_refuses_labels_of_another_length():
    x = np.full((3, 4), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\) \(one per image\)"):
        readings.distortion_readings(_tiny_model(), x, [1, 2])


def test_closest_reading_names_the_model_without_a_paper_number():
    one = dict.fromkeys(readings.READINGS, {"correct_only": 0.06})
    with pytest.raises(
        ValueError, match=r"paper has no distortion for the model\(s\) \['B'\].*\['A'\]"
    ):
        readings.closest_reading({"A": one, "B": one}, {"A": 0.06})


# ------------------------------------------------------------------ 6. transfer_matrix


def test_transfer_matrix_refuses_a_model_name_where_the_model_belongs():
    x, y = np.full((2, 4), 0.5, np.float32), np.array([0, 1])
    with pytest.raises(TypeError, match=r"models\['FC10\(1e-4\)'\] must be a Keras model.*str"):
        transfer.transfer_matrix({"clean": (x, y)}, {"FC10(1e-4)": "FC10(1e-4)"})


# ------------------------------------------------------------------ 7. rotation_sweep


def test_rotation_sweep_refuses_no_rotations():
    acts = np.random.default_rng(0).normal(size=(20, 4))
    labels = np.arange(20) % 3
    with pytest.raises(ValueError, match="alphas must hold at least one rotation fraction"):
        units.rotation_sweep(acts, labels, [], k=3)


# ------------------------------------------------------------------ 8. circular_convolution


def test_circular_convolution_names_both_shapes_on_a_channel_mismatch():
    x, kernel = np.zeros((1, 6, 6, 2)), np.ones((3, 3, 1, 4))
    with pytest.raises(
        ValueError, match=r"x has shape \(1, 6, 6, 2\).*kernel has shape \(3, 3, 1, 4\)"
    ):
        norms.circular_convolution(x, kernel)


# ------------------------------------------------------------------ 9. batch_plan


def test_batch_plan_refuses_mix_one_and_a_seed_for_the_generator():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"mix must be a finite number >= 0 and < 1, got 1.0"):
        pools.batch_plan(100, [10], 10, 1.0, rng)
    with pytest.raises(ValueError, match=r"mix \* batch_size must leave room for clean digits"):
        pools.batch_plan(100, [10], 10, 0.99, rng)
    with pytest.raises(TypeError, match="rng must be a numpy Generator.*got int 0"):
        pools.batch_plan(100, [10], 10, 0.5, 0)


# ------------------------------------------------------------------ 10. read_results


def test_read_results_names_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "01_framework.json"
    path.write_text("<html>not JSON</html>")
    with pytest.raises(ValueError, match=r"01_framework\.json: expected .* as JSON.*not JSON"):
        report.read_results(path)


# ------------------------------------------------------------------ 11. fidelity


def _results(tmp_path, paper):
    report.write_results(
        tmp_path / "01_framework.json",
        chapter="01_framework",
        data={"description": "2 digits", "is_full": False, "n_train": 2},
        parameters={},
        results={"table1": {"A": {"train_error": 7.0}}},
        paper=paper,
    )


def test_comparisons_names_a_malformed_paper_table_and_summary_of_nothing_is_empty(tmp_path):
    one = next(c for c in fidelity.SOURCES if c.chapter == "01_framework")
    _results(tmp_path, {"table1": [6.7, 7.4]})
    with pytest.raises(ValueError, match=r"01_framework\.json: paper\['table1'\] must be"):
        fidelity.comparisons(tmp_path, (one,))
    _results(tmp_path, {"table1": {"A": {"train_error": "6.7%"}}})
    with pytest.raises(ValueError, match=r"\['A'\]\['train_error'\] must be a number.*'6.7%'"):
        fidelity.comparisons(tmp_path, (one,))
    # no cell compared: an empty summary with its columns (documented), not KeyError 'table'
    empty = fidelity.summary(fidelity.comparisons(tmp_path, ()))
    assert len(empty) == 0 and list(empty.columns) == ["cells", "within goal", "median gap"]
    assert list(empty.index.names) == ["table", "gap as"]


# ------------------------------------------------------------------ 12, 13. editions


def test_exercises_names_the_cell_with_broken_question_yaml_and_a_path_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: [q1\npoints: 2"),
    ]
    with pytest.raises(ValueError, match=r"cell 1: .*BEGIN QUESTION.*YAML error: .*flow sequence"):
        editions.exercises(nb)
    path = tmp_path / "ch.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(TypeError, match=r"nb must be a notebook, got the path.*read_notebook"):
        editions.student_notebook(path)
    with pytest.raises(TypeError, match=r"nb must be a notebook, got the path"):
        editions.student_notebook(str(path))


# ------------------------------------------------------------------ 14. cache's files


def _store(monkeypatch, folder):
    """Store one entry (a fake make() returning an untrained FC10) in the cache `folder`."""
    from nbhelpers.models import build as build_model
    from nbhelpers.training import TrainingSettings

    monkeypatch.setenv("NBHELPERS_CACHE", str(folder))
    key = cache.cache_key("FC10(1e-4)", "fp", 0, TrainingSettings())

    def make():
        return cache.TrainingResult(
            model=build_model("FC10(1e-4)"), info={"seconds": 0.0, "train_error": 0.0}
        )

    cache.cached("FC10(1e-4)", key, make, label="FC10", n=1, method="t", verbose=False)
    return cache.entry_paths("FC10(1e-4)", key)


def test_storing_an_entry_removes_stale_temporaries_and_keeps_fresh_ones(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    stale, fresh = folder / ".old.npz.ab12.tmp", folder / ".live.npz.cd34.tmp"
    stale.write_bytes(b"half"), fresh.write_bytes(b"half")
    old = time.time() - cache.STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (old, old))
    weights, meta = _store(monkeypatch, folder)
    assert weights.exists() and meta.exists()
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize(("folder_mode", "file_mode"), [(0o755, 0o644), (0o700, 0o600)])
def test_stored_entries_are_as_readable_as_their_folder(
    tmp_path, monkeypatch, folder_mode, file_mode
):
    folder = tmp_path / "cache"
    folder.mkdir()
    os.chmod(folder, folder_mode)
    for path in _store(monkeypatch, folder):
        assert path.stat().st_mode & 0o777 == file_mode, path
    assert json.loads(path.read_text())["info"]["seconds"] == 0.0
