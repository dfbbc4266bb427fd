"""`python -m bookkit times`: a build's chapter times read from the build, into the README."""

import json

import pytest

from bookkit import times


def _executed(book, stem, start, end, profile="full"):
    meta = {"start_time": start, "end_time": end, "duration": None, "parameters": {}}
    if end:
        from datetime import datetime

        meta["duration"] = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).seconds
        meta["parameters"] = {"profile": profile}
    nb = {"cells": [], "metadata": {"papermill": meta}, "nbformat": 4, "nbformat_minor": 5}
    (book / f"{stem}.ipynb").write_text(json.dumps(nb))


def test_the_table_gives_each_chapter_and_the_whole_run_end_to_end(tmp_path):
    book = tmp_path / "source" / "book"
    book.mkdir(parents=True)
    _executed(
        book, "06_adversarial_training", "2026-12-06T03:00:00+00:00", "2026-12-06T03:20:00+00:00"
    )
    _executed(book, "01_framework", "2026-12-06T03:00:00+00:00", "2026-12-06T03:18:00+00:00")
    _executed(book, "03_blind_spots", "2026-12-06T03:18:00+00:00", "2026-12-06T03:24:30+00:00")
    (book / "intro.md").write_text("# not a notebook")
    (tmp_path / "cache").mkdir()
    for name in ("a.json", "b.json", "b.npz"):
        (tmp_path / "cache" / name).write_text("{}")
    records = times.chapter_times(tmp_path)
    assert [r["chapter"] for r in records] == [
        "01_framework",
        "06_adversarial_training",
        "03_blind_spots",
    ]  # by start, toc order among those started together
    table = times.times_table(tmp_path)
    assert "| 03_blind_spots | 18.0 min | 6.5 min |" in table
    assert "profile full" in table and "2 models and searches in its cache" in table
    assert table.endswith("| | **24.5 min** |")  # 03:00 to 03:24:30, side by side


def test_an_unfinished_chapter_or_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no executed chapter"):
        times.chapter_times(tmp_path)
    book = tmp_path / "source" / "book"
    book.mkdir(parents=True)
    _executed(book, "01_framework", "2026-12-06T03:00:00+00:00", None)
    with pytest.raises(ValueError, match="01_framework.ipynb: its execution did not finish"):
        times.chapter_times(tmp_path)


def test_the_readme_table_is_written_between_its_markers(tmp_path):
    book = tmp_path / "source" / "book"
    book.mkdir(parents=True)
    _executed(book, "01_framework", "2026-12-06T03:00:00+00:00", "2026-12-06T03:10:00+00:00")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{times.README_START}\nold\n{times.README_END}\nafter\n")
    assert times.update_readme(tmp_path, root=tmp_path) is True
    text = readme.read_text()
    assert "old" not in text and "**10.0 min**" in text and text.endswith("after\n")
    assert times.update_readme(tmp_path, root=tmp_path) is False
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        times.update_readme(tmp_path, root=tmp_path)
