"""How close the book comes to the paper: every number it reproduces, ours beside theirs.

Built from the JSON files the chapters write (:func:`nbhelpers.report.write_results`),
never typed in: :func:`comparisons` reads them and lines each of our numbers up with
the number Szegedy et al. (ICLR 2014) report for the same table cell, with the gap
and whether it is within the book's goal for that kind of number (errors within 0.5
percentage points, distortions within 25%, transfer within 5 points).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .paper import TABLE2_MODELS
from .report import read_results

__all__ = [
    "Cells",
    "SOURCES",
    "GOALS",
    "SMALL_SAMPLE_WARNING",
    "comparisons",
    "summary",
    "small_sample",
    "recorded_comparisons",
    "seed_spread",
    "SPREAD_FACTOR",
    "COLUMN_WORDS",
    "in_words",
    "transfer_misses",
    "misses_words",
    "resilience",
    "resilience_words",
    "autoencoder_cause",
]

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


def _at(tree: Mapping, path: tuple[str, ...]):
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _gap(kind: str, ours: float, theirs: float) -> tuple[float, bool | None]:
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
    theirs = _at(results["paper"], source.paper)
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
    ours = _at(results["results"], source.ours) or {}
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
            mine = _at(ours, (row, column))
            if not isinstance(mine, (int, float)):
                continue
            gap, ok = _gap(kind, float(mine), float(value))
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
    from . import recording

    folder = recording.RECORDINGS if folder is None else folder
    have = set(recording.recorded_chapters(folder))
    missing = sorted({s.chapter for s in SOURCES} - have)
    sources = [s for s in SOURCES if s.chapter in have]
    return comparisons(folder, sources), missing


# A gap counts as beyond the seeds' spread when the mean over seeds is further from the
# paper's number than this many standard deviations of one run (seed to seed).
SPREAD_FACTOR = 2.0


def seed_spread(folder=None) -> pd.DataFrame:
    """Every recorded cell over the seeds recorded for its chapter (issue: no number
    without its spread): the seeds' values, their mean and standard deviation (one run's
    spread, ddof 1), the mean's gap to the paper and whether it is within the goal, and
    whether that gap exceeds `SPREAD_FACTOR` standard deviations ("beyond spread"; None
    with a single seed). Seed 0 is the recorded run; ``seeds/<n>/`` hold the others
    (``python -m bookkit record --seed n``). One row per (table, row, column)."""
    from . import recording

    frames = []
    for seed, where in recording.seed_folders(folder).items():
        have = set(recording.recorded_chapters(where))
        table = comparisons(where, [s for s in SOURCES if s.chapter in have])
        frames.append(table.assign(seed=seed))
    columns = [
        "table", "row", "column", "paper", "seeds", "values", "mean", "sd", "gap", "gap as",
        "within goal", "beyond spread", "chapter",
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=columns)
    cells = pd.concat(frames, ignore_index=True)
    rows = []
    for (table, row, column), group in cells.groupby(["table", "row", "column"], sort=False):
        values = [float(v) for v in group["ours"]]
        mean = float(sum(values) / len(values))
        sd = float(pd.Series(values).std(ddof=1)) if len(values) > 1 else math.nan
        kind = group["kind"].iloc[0]
        paper = float(group["paper"].iloc[0])
        gap, ok = _gap(kind, mean, paper)
        distance = abs(mean - paper)
        beyond = None if len(values) < 2 else bool(distance > SPREAD_FACTOR * sd)
        rows.append(
            {
                "table": table,
                "row": row,
                "column": column,
                "paper": paper,
                "seeds": [int(s) for s in group["seed"]],
                "values": values,
                "mean": mean,
                "sd": sd,
                "gap": gap,
                "gap as": GOALS[kind][0],
                "within goal": ok,
                "beyond spread": beyond,
                "chapter": group["chapter"].iloc[0],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _row_model(row: str) -> str | None:
    """The model a transfer row's examples were made for ("distorted for X[, magnified
    ...]" in Table 4, the model's own name in Table 2); None for a noise row."""
    if row.startswith("Gaussian noise"):
        return None
    return row.removeprefix("distorted for ").split(", magnified")[0]


def _examples(results: dict, params: dict, row: str) -> float:
    """How many examples a transfer row holds in a recorded run: the digits searched less
    those its model misclassified already (and failed searches); every digit for noise."""
    n = float(params["n_search"])
    model = _row_model(row)
    if model is None:
        return n
    clean = results["matrix"]["no distortion"][model]  # the model's error on those digits
    failed = (results.get("failures") or results.get("variant_failures") or {}).get(model, 0)
    return n * (1 - clean / 100) - float(failed or 0)


def transfer_misses(folder=None) -> pd.DataFrame:
    """Each transfer cell of Tables 2 and 4 whose mean over the recorded seeds misses the
    paper's by more than the goal, with one measurement per candidate cause (issue: every
    miss measured): the sample (the cell's binomial standard error over its row's
    examples), the seed (the seeds' standard deviation), the reading of Table 1's
    distortion (the cell under the other reading, the nearest wrong label) and, for
    Table 2's noise, clipping (the cell with the noise clipped to [0, 1]). A cause
    ``explains`` the miss when the paper's number lies within 2 standard errors or
    2 standard deviations of ours, or the other reading or clipping lands within the goal."""
    from . import recording

    spread = seed_spread(folder)
    folder = recording.RECORDINGS if folder is None else folder
    limit = GOALS["transfer"][1]
    wanted = spread["table"].isin(["Table 2", "Table 4"]) & spread["gap as"].eq("points")
    misses = spread[wanted & spread["within goal"].eq(False)]
    runs = {}
    rows = []
    for _, cell in misses.iterrows():
        if cell["chapter"] not in runs:
            runs[cell["chapter"]] = recording.read_recording(cell["chapter"], folder)[0]
        run = runs[cell["chapter"]]
        results, params = run["results"], run["parameters"]
        row, column, paper = cell["row"], cell["column"], cell["paper"]
        p, n = cell["mean"] / 100, _examples(results, params, row)
        se = 100 * math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.nan
        other = _at(results, ("variant_matrix", row, column)) if _row_model(row) else None
        clipped = _at(results, ("noise_readings", "clipped to [0, 1]", row, column))
        causes = []
        if abs(cell["gap"]) <= 2 * se:
            causes.append("sample")
        if cell["sd"] == cell["sd"] and abs(cell["gap"]) <= SPREAD_FACTOR * cell["sd"]:
            causes.append("seed")
        if other is not None and abs(other - paper) <= limit:
            causes.append("reading")
        if clipped is not None and abs(clipped - paper) <= limit:
            causes.append("clipping")
        rows.append(
            {
                "table": cell["table"],
                "row": row,
                "column": column,
                "ours (mean)": cell["mean"],
                "paper": paper,
                "gap": cell["gap"],
                "sample: standard error": se,
                "seed: sd": cell["sd"],
                "other reading": math.nan if other is None else float(other),
                "noise clipped": math.nan if clipped is None else float(clipped),
                "explained by": ", ".join(causes) or "none of these",
            }
        )
    columns = [
        "table", "row", "column", "ours (mean)", "paper", "gap", "sample: standard error",
        "seed: sd", "other reading", "noise clipped", "explained by",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def misses_words(misses: pd.DataFrame, recorded: pd.DataFrame | None = None) -> str:
    """What `transfer_misses` found, in a sentence computed from it; with the `recorded`
    comparisons (`recorded_comparisons`), whether AE400-10 itself meets Table 1."""
    if misses.empty:
        return "Every transfer cell of Tables 2 and 4 is within 5 points of the paper's."
    counts = misses["explained by"].value_counts()
    unexplained = int(counts.get("none of these", 0))
    causes = {}
    for value in misses["explained by"]:
        for cause in value.split(", "):
            if cause != "none of these":
                causes[cause] = causes.get(cause, 0) + 1
    said = ", ".join(f"{k} {v}" for k, v in sorted(causes.items())) or "none"
    left = misses[misses["explained by"].eq("none of these")]
    autoencoder = int((left["row"].str.contains("AE400-10") | left["column"].eq("AE400-10")).sum())
    own = ""
    if recorded is not None:
        cells = recorded[recorded["table"].eq("Table 1") & recorded["row"].eq("AE400-10")]
        if len(cells):
            met = cells["within goal"].eq(True).all()
            own = ", a model that " + ("meets" if met else "misses") + " Table 1 itself"
    return (
        f"{len(misses)} transfer {'cell misses' if len(misses) == 1 else 'cells miss'} the "
        f"paper's by more than 5 points. Measured causes that would bring the paper's number "
        f"within reach, per cell: {said}; for {unexplained} none of the four does (not the "
        "sample, the seed, the reading of Table 1's distortion nor clipping), "
        f"{autoencoder} of them on AE400-10's row or column{own}."
    )


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


def spread_table(spread: pd.DataFrame) -> pd.DataFrame:
    """`seed_spread`'s cells with more than one seed, for people: mean ± sd (seeds), the
    paper's, the mean's gap and ✓/✗ for within the goal and beyond the spread."""
    if not isinstance(spread, pd.DataFrame) or "beyond spread" not in spread.columns:
        raise TypeError(f"spread must be seed_spread()'s DataFrame, got {type(spread).__name__}")
    several = spread[spread["seeds"].map(len) > 1]
    mark = {True: "✓", False: "✗"}
    table = pd.DataFrame(
        {
            "ours, mean ± sd": [
                f"{m:.3g} ± {s:.2g}" for m, s in zip(several["mean"], several["sd"], strict=True)
            ],
            "seeds": [len(s) for s in several["seeds"]],
            "paper": [f"{p:.3g}" for p in several["paper"]],
            "gap of the mean": [
                f"{g:.2f}×" if how == "ratio" else f"{g:+.2f}"
                for g, how in zip(several["gap"], several["gap as"], strict=True)
            ],
            "within goal": several["within goal"].map(mark).fillna("–").to_list(),
            f"gap beyond {SPREAD_FACTOR:g} sd": several["beyond spread"].map(mark).to_list(),
        },
        index=pd.MultiIndex.from_frame(several[["table", "row", "column"]]),
    )
    return in_words(table)


def spread_words(spread: pd.DataFrame) -> str:
    """What the spread says about the misses, in a sentence computed from `seed_spread`."""
    several = spread[spread["seeds"].map(len) > 1]
    if several.empty:
        return (
            "Only one seed of each chapter is recorded so far, so no number here has a spread "
            "yet: `python -m bookkit record --seed 1 01_framework 03_blind_spots "
            "04_across_models 05_across_training_sets` records another."
        )
    misses = several[several["within goal"].eq(False)]
    beyond = int(misses["beyond spread"].eq(True).sum())
    seeds = sorted({s for row in several["seeds"] for s in row})
    return (
        f"{len(several)} {'number has' if len(several) == 1 else 'numbers have'} been "
        f"recorded with {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}). Of the {len(misses)} whose mean misses its goal, "
        f"{beyond} miss by more than {SPREAD_FACTOR:g} standard deviations of the seeds' "
        f"spread (a gap the seeds do not explain), {len(misses) - beyond} by less."
    )


def resilience(table1: Mapping, table2: Mapping, models=TABLE2_MODELS) -> pd.DataFrame:
    """Two readings of "the autoencoder based version seems most resilient" (§4.1, Table 2),
    one row per model: Table 1's distortion (larger: harder to fool) and the mean error
    that the other models' examples induce on it (Table 2's column without its diagonal;
    smaller: their examples transfer less to it), each with its rank (1: most resilient).
    ``table1``: model -> {"distortion": ...}; ``table2``: source row -> {model: error %}."""
    rows = {}
    for model in models:
        try:
            others = [float(table2[row][model]) for row in models if row != model]
            distortion = float(table1[model]["distortion"])
        except (KeyError, TypeError) as e:
            raise ValueError(
                f"expected Table 1's distortion and Table 2's column for {model!r}, missing {e}"
            ) from None
        rows[model] = {
            "distortion": distortion,
            "error on others' examples": sum(others) / len(others),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["distortion rank"] = frame["distortion"].rank(ascending=False).astype(int)
    frame["transfer rank"] = frame["error on others' examples"].rank().astype(int)
    return frame


def resilience_words(ours: pd.DataFrame, paper: pd.DataFrame, model: str = "AE400-10") -> str:
    """Whether the paper's "most resilient" holds for our `model`, by each reading of
    `resilience` (computed from the two frames, ours and the paper's)."""
    ordinal = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    column = "error on others' examples"

    def said(frame, rank, value, fmt):
        r = int(frame.loc[model, rank])
        return f"{ordinal.get(r, r)} of {len(frame)} ({fmt.format(frame.loc[model, value])})"

    holds = (ours.loc[model, "transfer rank"] == 1) == (paper.loc[model, "transfer rank"] == 1)
    return (
        "By Table 2, the mean error that the other models' examples induce on it, the "
        f"paper's {model} is the {said(paper, 'transfer rank', column, '{:.1f}%')} in "
        f"resilience and ours the {said(ours, 'transfer rank', column, '{:.1f}%')}: on this "
        f"reading the paper's claim {'holds' if holds else 'does not hold'} for our model. "
        "By Table 1's distortion the paper's is the "
        f"{said(paper, 'distortion rank', 'distortion', '{:.3f}')} and ours the "
        f"{said(ours, 'distortion rank', 'distortion', '{:.3f}')}."
    )


def autoencoder_cause(study: Mapping, paper_row: Mapping) -> str:
    """What chapter 01's autoencoder study says about the cause of AE400-10's miss, in a
    sentence computed from it (`nbhelpers.autoencoder_study.study`'s results): which
    variants meet Table 1's goals, and how far the book's earlier choices stay at every length."""
    from .autoencoder_study import rows, within_goal

    measured = rows(study)
    met = {k: r for k, r in measured.items() if within_goal(r, paper_row)}
    book = study.get("book", {}).get("stages", [])
    if book:
        gaps = [r["test_error"] - paper_row["test_error"] for r in book]
        lengths = ", ".join(str(r.get("epochs", "?")) for r in book)
        own = (
            f"the book's earlier choices stay {min(gaps):.1f}–{max(gaps):.1f} points above the "
            f"paper's test error after {lengths} epochs"
        )
    else:
        own = "the book's earlier choices were not measured"
    if not met:
        return (
            f"No variant meets Table 1's goals, and {own}: the measured choices do not explain "
            "the miss."
        )
    (label, r), *_ = met.items()
    return (
        f"{label} meets Table 1's goals ({r['train_error']:.2f}% / {r['test_error']:.2f}%, "
        f"distortion {r['distortion']:.3f}, against the paper's {paper_row['train_error']:g}% / "
        f"{paper_row['test_error']:g}% / {paper_row['distortion']:g}), while {own}: the miss "
        "lies in how the autoencoder is trained, which the paper does not give, not in the "
        "model's architecture."
    )
