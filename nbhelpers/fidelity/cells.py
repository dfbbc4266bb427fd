"""The cells the book reproduces, ours beside the paper's: where each chapter writes them
(`SOURCES`), the goals (`GOALS`), and the tables of gaps built from the chapters' JSON."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..paper import TABLE2_MODELS
from ..report import read_results

# How far ours may be from the paper's and still count as reproduced: an absolute gap
# in percentage points for error rates, a ratio for distortions.
# Figure 7's "about half" is a loose statement: within 10 points of 50%.
GOALS = {
    "error": ("points", 0.5),
    "distortion": ("ratio", 0.25),
    "transfer": ("points", 5.0),
    "accuracy": ("points", 10.0),
}


# What the page says, in a warning box (HTML with the theme's admonition classes, so it
# shows as a warning in the rendered book and as a framed note in Jupyter or Colab).
SMALL_SAMPLE_WARNING = (
    '<div class="admonition warning" style="border-left: 4px solid #f0b37e; padding: 0.5em 1em">'
    '<p class="admonition-title"><b>Warning</b></p><p><b>These numbers come from a small '
    "sample, not from the paper's scale.</b> The chapters {chapters} ran on a sample of the "
    "digits (the smoke profile, or a machine without full MNIST), so their gaps to the paper "
    "say little. The recorded run above is at the paper's scale; or build the book with the "
    "full profile on full MNIST (<code>make book PROFILE=full</code>).</p></div>"
)


@dataclass(frozen=True)
class Cells:
    """Where one of the paper's tables sits in a chapter's JSON, and which of its cells count.

    ``ours`` and ``paper`` are key paths below the JSON's "results" and "paper"; each
    leads to ``{row: {column: value}}``. ``kind`` of a column picks its goal (GOALS);
    ``columns`` maps the paper's column names to ``kind``, or is None for "every
    column, of kind ``kind``".
    """

    table: str
    chapter: str
    ours: tuple[str, ...]
    paper: tuple[str, ...]
    kind: str
    columns: Mapping[str, str] | None = None


SOURCES = (
    Cells(
        "Table 1",
        "01_framework",
        ("table1",),
        ("table1",),
        "error",
        {"train_error": "error", "test_error": "error"},
    ),
    Cells(
        "Table 1",
        "03_blind_spots",
        ("table1",),
        ("table1",),
        "distortion",
        {"distortion": "distortion"},
    ),
    Cells(
        "Table 2",
        "04_across_models",
        ("table2",),
        ("table2",),
        "transfer",
        {**dict.fromkeys(TABLE2_MODELS, "transfer"), "distortion": "distortion"},
    ),
    Cells("Table 2, mean transfer", "04_across_models", ("summary",), ("summary",), "transfer"),
    Cells(
        "Table 3",
        "05_across_training_sets",
        ("table3",),
        ("table3",),
        "error",
        {
            "p1_error": "error",
            "p2_error": "error",
            "test_error": "error",
            "distortion": "distortion",
        },
    ),
    Cells("Table 4", "05_across_training_sets", ("table4",), ("table4",), "transfer"),
    Cells(
        "Table 4, mean transfer", "05_across_training_sets", ("summary",), ("summary",), "transfer"
    ),
    Cells(
        "§4.2, training on adversarial examples (mean over seeds)",
        "06_adversarial_training",
        ("test_error_spread",),
        ("test_error",),
        "error",
        {"mean": "error"},
    ),
    Cells(
        "Figure 7, noise σ = 1",
        "03_blind_spots",
        ("figure7_noise",),
        ("figure7_noise",),
        "accuracy",
    ),
)


# The columns of comparisons(), one row per cell compared (also when there is none).
_COLUMNS = (
    "table",
    "row",
    "column",
    "ours",
    "paper",
    "gap",
    "gap as",
    "within goal",
    "ours ran on",
    "chapter",
    "kind",
)


def at_path(tree: Mapping, path: tuple[str, ...]):
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def gap_of(kind: str, ours: float, theirs: float) -> tuple[float, bool | None]:
    """The gap to the paper in the goal's terms, and whether it is within the goal."""
    how, limit = GOALS[kind]
    if how == "ratio":
        if theirs == 0:
            return math.nan, None
        ratio = ours / theirs
        return ratio, abs(ratio - 1) <= limit
    return ours - theirs, abs(ours - theirs) <= limit


def _paper_table(source: Cells, results: dict, where) -> Mapping:
    """The paper's table that `source` names in a chapter's JSON (`where`), checked to be
    ``{row: {column: value}}``; {} where the JSON has none."""
    theirs = at_path(results["paper"], source.paper)
    if theirs is None:
        return {}
    at = f"{where}: paper" + "".join(f"[{key!r}]" for key in source.paper)
    if not isinstance(theirs, Mapping):
        raise ValueError(
            f"{at} must be the paper's {source.table} as {{row: {{column: number}}}}, "
            f"got {type(theirs).__name__} {theirs!r}"
        )
    for row, cells in theirs.items():
        if not isinstance(cells, Mapping):
            raise ValueError(
                f"{at}[{row!r}] must be a row {{column: number}}, "
                f"got {type(cells).__name__} {cells!r}"
            )
    return theirs


def _rows_of(source: Cells, results: dict, where="the chapter's JSON") -> list[dict]:
    ours = at_path(results["results"], source.ours) or {}
    theirs = _paper_table(source, results, where)
    rows = []
    for row, paper_row in theirs.items():
        for column, value in paper_row.items():
            kind = source.kind if source.columns is None else source.columns.get(column)
            if kind is None or value is None:
                continue
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                at = f"{where}: paper" + "".join(f"[{key!r}]" for key in source.paper)
                raise ValueError(
                    f"{at}[{row!r}][{column!r}] must be a number or null, "
                    f"got {type(value).__name__} {value!r}"
                )
            mine = at_path(ours, (row, column))
            if not isinstance(mine, (int, float)):
                continue
            gap, ok = gap_of(kind, float(mine), float(value))
            rows.append(
                {
                    "table": source.table,
                    "row": row,
                    "column": column,
                    "ours": float(mine),
                    "paper": float(value),
                    "gap": gap,
                    "gap as": GOALS[kind][0],
                    "within goal": ok,
                    "ours ran on": data_words(results["data"].get("description", "")),
                    "chapter": source.chapter,
                    "kind": kind,
                }
            )
    return rows


def data_words(description: str) -> str:
    """A run's data description without the folder it was read from on its machine (a
    recorded run's IDX files sat in a local folder that means nothing to a reader)."""
    description = str(description)
    described = re.sub(r"IDX files in .+? \(from (\w+)\)", r"IDX files named by \1", description)
    return re.sub(r"IDX files in [^:]+", "IDX files in a local folder", described)


def comparisons(results_dir, sources=SOURCES) -> pd.DataFrame:
    """Every cell the book reproduces, ours beside the paper's, from the chapters' JSON files.

    ``results_dir`` holds the files ``<chapter>.json``; a chapter whose file is missing
    raises FileNotFoundError naming it (run that chapter first), a paper table that is
    not ``{row: {column: number}}`` a ValueError naming the file and the cell.
    No sources: an empty frame with the columns.
    """
    if not isinstance(results_dir, (str, Path)):
        raise TypeError(
            f"results_dir must be a str or a Path (a folder of <chapter>.json files), "
            f"got {type(results_dir).__name__}"
        )
    if isinstance(sources, Cells):
        raise TypeError("sources must be a list of Cells, got one Cells: put it in a list")
    sources = list(sources)
    for i, source in enumerate(sources):
        if not isinstance(source, Cells):
            raise TypeError(f"sources[{i}] must be a Cells, got {type(source).__name__}")
        kinds = [source.kind, *(source.columns or {}).values()]
        unknown = [k for k in kinds if k not in GOALS]
        if unknown:
            raise ValueError(
                f"sources[{i}] ({source.table}): unknown kind(s) {unknown}; "
                f"expected some of {list(GOALS)}"
            )
    results_dir = Path(results_dir)
    loaded: dict[str, dict] = {}
    rows: list[dict] = []
    for source in sources:
        if source.chapter not in loaded:
            path = results_dir / f"{source.chapter}.json"
            if not path.exists():
                raise FileNotFoundError(
                    f"{path} not found: run the chapter {source.chapter!r} first, it writes "
                    "the numbers this page compares"
                )
            loaded[source.chapter] = read_results(path)
        where = results_dir / f"{source.chapter}.json"
        rows.extend(_rows_of(source, loaded[source.chapter], where))
    return pd.DataFrame(rows, columns=list(_COLUMNS))


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per table and kind of gap: how many cells, how many within the goal, the median gap.

    A table with error rates and distortions (Table 1) gets a row for each: a gap in
    percentage points and a ratio do not share a median. An empty comparison (no cell
    compared) gives an empty frame with those columns, indexed by (table, gap as).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be comparisons()'s DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        index = pd.MultiIndex.from_arrays([[], []], names=["table", "gap as"])
        return pd.DataFrame(
            {
                "cells": pd.Series([], index=index, dtype="int64"),
                "within goal": pd.Series([], index=index, dtype="int64"),
                "median gap": pd.Series([], index=index, dtype="float64"),
            }
        )
    needed = ["table", "gap as", "within goal", "gap"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"table must be comparisons()'s DataFrame with the columns {needed}, missing {missing}"
        )
    grouped = table.groupby(["table", "gap as"], sort=False)
    return pd.DataFrame(
        {
            "cells": grouped.size(),
            "within goal": grouped["within goal"].apply(lambda s: int(s.fillna(False).sum())),
            "median gap": grouped["gap"].median(),
        }
    )


def small_sample(results_dir, chapters) -> list[str]:
    """The chapters whose numbers come from less than full MNIST (the smoke profile's sample)."""
    small = []
    for chapter in chapters:
        data = read_results(Path(results_dir) / f"{chapter}.json")["data"]
        if not data.get("is_full") or data.get("n_train", 0) < 60_000:
            small.append(chapter)
    return small


def recorded_comparisons(folder=None) -> tuple[pd.DataFrame, list[str]]:
    """`comparisons` of the recorded run at the paper's scale (`nbhelpers.recording`), over
    the tables whose chapter is recorded, and the chapters of `SOURCES` not recorded (their
    tables are left out; the page says so)."""
    from .. import recording

    folder = recording.RECORDINGS if folder is None else folder
    have = set(recording.recorded_chapters(folder))
    missing = sorted({s.chapter for s in SOURCES} - have)
    sources = [s for s in SOURCES if s.chapter in have]
    return comparisons(folder, sources), missing


# The chapters' JSON keys that name a table's column, in words for the page's tables
COLUMN_WORDS = {
    "train_error": "training error",
    "test_error": "test error",
    "p1_error": "error on P1",
    "p2_error": "error on P2",
}


def in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``column`` index level in words (`COLUMN_WORDS`); other levels and
    the values unchanged. For the page's tables; the JSON keeps the keys."""
    if "column" not in (frame.index.names or []):
        raise ValueError(f"expected an index with a 'column' level, got {frame.index.names}")
    return frame.rename(index=COLUMN_WORDS, level="column")
