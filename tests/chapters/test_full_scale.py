"""Page "Running at full scale": the recorded run's times and the profiles, as they are."""

import pytest

from nbhelpers import profiles, recording
from nbhelpers.report import to_json

pytestmark = pytest.mark.book


def test_the_times_are_the_recorded_run_s(results, page_text):
    times = recording.time_table()
    assert results["times"] == to_json(times.reset_index().to_dict("records"))
    assert f"In all, {times['minutes'].iloc[-1]:.0f} min on" in page_text


def test_the_profiles_are_the_package_s(results):
    assert results["profiles"] == to_json(profiles.table().reset_index().to_dict("records"))


def test_no_gpu_time_is_claimed_without_a_recorded_gpu_run(results, page_text):
    devices = [row["device"] for row in results["times"][:-1]]
    on_gpu = any(d.startswith("GPU:") for d in devices)  # nbhelpers.report.device's words
    assert ("No run on a GPU is recorded yet." in page_text) != on_gpu
