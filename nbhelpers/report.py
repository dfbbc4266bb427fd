"""How a chapter shows its numbers beside the paper's, says them in prose, and writes them.

The book sets every number it measures beside the one Szegedy et al. (ICLR 2014,
arXiv:1312.6199) report in Tables 1–5; :mod:`nbhelpers.paper` holds theirs. Here:

- :func:`beside` builds the table (each cell "ours (paper)"), :func:`caption` says on
  what data each side ran, :func:`show` displays both in a notebook;
- :func:`percent`, :func:`numbers_list`, :func:`chain` and :func:`value_range` format
  the numbers a chapter's sentences quote;
- :func:`write_results` writes a chapter's numbers as JSON with the same top-level
  keys for every chapter, :func:`read_results` reads them back.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._validation import check_int, check_mapping, check_names, check_str

__all__ = [
    "DEFAULT_FMT",
    "DEFAULT_PAPER_FMT",
    "RESULT_KEYS",
    "beside",
    "caption",
    "show",
    "percent",
    "numbers_list",
    "chain",
    "value_range",
    "describe_data",
    "device",
    "to_json",
    "write_results",
    "read_results",
]

DEFAULT_FMT = "{:.2f}"
DEFAULT_PAPER_FMT = "{:g}"
MISSING = "—"
RESULT_KEYS = ("chapter", "data", "parameters", "results", "paper")


def _is_missing(value) -> bool:
    """None, NaN and pandas' NA: the cells a table shows as a dash."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, numbers.Real) and math.isnan(value)


def _fmt(value, fmt: str, name: str) -> str:
    """``fmt.format(value)``; a dash for a missing value, a str as it is."""
    if isinstance(value, str):
        return value
    if _is_missing(value):
        return MISSING
    if not isinstance(value, numbers.Number):
        raise TypeError(f"{name} must be a number or a str, got {type(value).__name__} {value!r}")
    try:
        return fmt.format(value)
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"{name}: format {fmt!r} cannot format {value!r} ({e})") from None


# --------------------------------------------------------------------------- #
# Tables: ours beside the paper's
# --------------------------------------------------------------------------- #
def _as_rows(table, name: str) -> dict[str, dict]:
    """``{row: {column: value}}`` from such a dict or from a DataFrame."""
    if isinstance(table, pd.DataFrame):
        return {str(r): dict(row) for r, row in table.to_dict(orient="index").items()}
    check_mapping(table, name, what="a dict {row: {column: value}} or a DataFrame")
    for row, cells in table.items():
        check_mapping(cells, f"{name}[{row!r}]", what="a dict {column: value}")
    return {str(r): dict(cells) for r, cells in table.items()}


def _per_column(fmt, name: str, columns: list, default: str) -> dict[str, str]:
    """One format string per column from a str or a {column: format} dict."""
    if isinstance(fmt, str):
        return dict.fromkeys(columns, fmt)
    check_mapping(fmt, name, what="a format str or a dict {column: format str}")
    check_names(list(fmt), name, columns)
    for col, f in fmt.items():
        check_str(f, f"{name}[{col!r}]")
    return {col: fmt.get(col, default) for col in columns}


def beside(
    ours,
    paper,
    columns=None,
    *,
    labels: Mapping | None = None,
    fmt=DEFAULT_FMT,
    paper_fmt=DEFAULT_PAPER_FMT,
):
    """Our numbers with the paper's in brackets, "ours (paper)", one cell per row and column.

    ``ours`` and ``paper`` are ``{row: {column: value}}`` (or DataFrames), such as our
    Table 1 and :data:`nbhelpers.paper.TABLE1`; rows are ours, in our order, and a cell
    is just "ours" where the paper has no number for it. ``columns``: which columns and
    in what order (default: all of ours). ``labels`` maps a column to its heading.
    ``fmt`` and ``paper_fmt``: a format string, or a dict of them per column (others
    keep the default). Missing or NaN values show as a dash; strings as they are.
    Returns a DataFrame of strings.
    """
    ours = _as_rows(ours, "ours")
    paper = _as_rows(paper, "paper")
    if not ours:
        raise ValueError("ours must hold at least one row, got none")
    known = list(dict.fromkeys(col for cells in ours.values() for col in cells))
    columns = known if columns is None else check_names(columns, "columns", known)
    labels = dict(check_mapping(labels if labels is not None else {}, "labels"))
    check_names(list(labels), "labels", columns)
    fmts = _per_column(fmt, "fmt", columns, DEFAULT_FMT)
    paper_fmts = _per_column(paper_fmt, "paper_fmt", columns, DEFAULT_PAPER_FMT)
    cells = {}
    for row, values in ours.items():
        theirs = paper.get(row, {})
        cells[row] = {}
        for col in columns:
            text = _fmt(values.get(col), fmts[col], f"ours[{row!r}][{col!r}]")
            if not _is_missing(theirs.get(col)):
                text += f" ({_fmt(theirs[col], paper_fmts[col], f'paper[{row!r}][{col!r}]')})"
            cells[row][labels.get(col, col)] = text
    return pd.DataFrame.from_dict(cells, orient="index")


def _data_text(data) -> str:
    if isinstance(data, str):
        return data
    if callable(getattr(data, "describe", None)):
        return check_str(data.describe(), "ours.describe()")
    raise TypeError(
        f"ours must be a str or a data set with describe() (nbhelpers.data.MNIST), "
        f"got {type(data).__name__}"
    )


def caption(what: str, ours, paper: str | None = None) -> str:
    """A table's caption: what it shows, the data ours ran on and, if given, the paper's.

    ``ours`` is a description or the data set itself (its ``describe()`` is used);
    ``paper`` names the paper's data. ``caption("Test error (%).", data, "full MNIST")``
    is "Test error (%). Ours: <data.describe()>. In brackets, the paper's: full MNIST."
    """
    what = check_str(what, "what", non_empty=True).strip()
    ours_text = _data_text(ours).strip().rstrip(".")
    paper = check_str(paper, "paper", allow_none=True)
    if paper is None:
        return f"{what} Data: {ours_text}."
    return f"{what} Ours: {ours_text}. In brackets, the paper's: {paper.strip().rstrip('.')}."


def show(table, caption: str | None = None) -> None:
    """Display a caption line (Markdown) and then the table, as a chapter's cell output."""
    from IPython.display import Markdown, display

    caption = check_str(caption, "caption", allow_none=True)
    if caption:
        display(Markdown(caption))
    display(table)


# --------------------------------------------------------------------------- #
# Numbers in sentences
# --------------------------------------------------------------------------- #
def _values(values, name: str) -> list:
    if isinstance(values, Mapping):
        return list(values.values())
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list or dict of numbers, got {type(values).__name__}")
    return list(values)


def percent(x, digits: int = 1) -> str:
    """``x`` (already in percent) as text: ``percent(12.345)`` is "12.3%"."""
    return _fmt(x, f"{{:.{check_int(digits, 'digits', low=0)}f}}%", "x")


def numbers_list(values: Mapping, fmt: str = "{:g}", sep: str = ", ") -> str:
    """Each value with its name in brackets: ``{"A": 0.1, "B": 0.2}`` -> "0.1 (A), 0.2 (B)"."""
    check_mapping(values, "values")
    fmt, sep = check_str(fmt, "fmt"), check_str(sep, "sep")
    return sep.join(f"{_fmt(v, fmt, f'values[{k!r}]')} ({k})" for k, v in values.items())


def chain(values, fmt: str = "{:g}", sep: str = " → ") -> str:
    """Values in order joined by arrows: ``[6.7, 10, 21.2]`` -> "6.7 → 10 → 21.2"."""
    fmt, sep = check_str(fmt, "fmt"), check_str(sep, "sep")
    return sep.join(_fmt(v, fmt, "values") for v in _values(values, "values"))


def value_range(values, fmt: str = "{:g}", sep: str = "–") -> str:
    """The smallest and largest value, "lo–hi", or one value when they are equal."""
    fmt, sep = check_str(fmt, "fmt"), check_str(sep, "sep")
    vals = [v for v in _values(values, "values") if not _is_missing(v)]
    if not vals:
        raise ValueError("values must hold at least one number, got none")
    lo, hi = _fmt(min(vals), fmt, "values"), _fmt(max(vals), fmt, "values")
    return lo if lo == hi else f"{lo}{sep}{hi}"


# --------------------------------------------------------------------------- #
# A chapter's numbers as JSON
# --------------------------------------------------------------------------- #
def device() -> str:
    """What TensorFlow computes on here, in words: the GPUs it sees (Colab's GPU runtime is
    used without any change by the reader), else the CPU and its cores."""
    import os

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores; TensorFlow sees no GPU)"
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return "GPU: " + ", ".join(names)


def describe_data(data, **extra) -> dict:
    """The ``"data"`` entry of a chapter's results from an ``nbhelpers.data.MNIST``.

    Its source, ``describe()``, whether it is the full MNIST of the paper (§2), its
    numbers of training and test digits, and the device it ran on (:func:`device`);
    ``extra`` adds entries (e.g. ``n_p1=...``).
    """
    missing = [
        a for a in ("source", "describe", "is_full", "n_train", "n_test") if not hasattr(data, a)
    ]
    if missing:
        raise TypeError(
            f"data must be a data set like nbhelpers.data.MNIST (source, describe(), is_full, "
            f"n_train, n_test), got {type(data).__name__} without {missing}"
        )
    out = {
        "source": data.source,
        "description": data.describe(),
        "is_full": bool(data.is_full),
        "n_train": int(data.n_train),
        "n_test": int(data.n_test),
        "device": device(),
    }
    return to_json({**out, **extra}, "data")


def _json_key(key, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return str(int(key))
    raise TypeError(f"{where}: keys must be str or int, got {type(key).__name__} {key!r}")


def to_json(value, name: str = "value"):
    """``value`` with only JSON types: numpy scalars and arrays, tuples and DataFrames
    ({row: {column: value}}) converted, NaN and infinities as None (JSON's null)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.DataFrame):
        value = value.to_dict(orient="index")
    elif isinstance(value, pd.Series):
        value = value.to_dict()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {_json_key(k, name): to_json(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{name} must hold numbers, str, bool, None, lists, dicts, numpy arrays or "
        f"DataFrames, got {type(value).__name__}"
    )


def write_results(path, *, chapter: str, data, parameters: Mapping, results: Mapping, paper):
    """Write a chapter's numbers to ``path`` as JSON; returns the path written.

    Every chapter's file has the same top-level keys (:data:`RESULT_KEYS`): ``chapter``
    (its name), ``data`` (an ``nbhelpers.data.MNIST``, described by
    :func:`describe_data`, or such a dict), ``parameters`` (the run's settings),
    ``results`` (what it measured) and ``paper`` (the paper's numbers it compares
    with, from :mod:`nbhelpers.paper`). Values are converted by :func:`to_json`.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a Path, got {type(path).__name__}")
    chapter = check_str(chapter, "chapter", non_empty=True)
    data = to_json(data, "data") if isinstance(data, Mapping) else describe_data(data)
    report = {
        "chapter": chapter,
        "data": data,
        "parameters": to_json(check_mapping(parameters, "parameters"), "parameters"),
        "results": to_json(check_mapping(results, "results"), "results"),
        "paper": to_json(check_mapping(paper, "paper"), "paper"),
    }
    path = Path(path)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def read_results(path) -> dict:
    """A chapter's numbers as :func:`write_results` wrote them; ValueError naming the file
    if it is not JSON or a key is missing."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a Path, got {type(path).__name__}")
    try:
        report = json.loads(Path(path).read_text())
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(
            f"{path}: expected a chapter's results as JSON (write_results), "
            f"got a file that is not JSON ({e})"
        ) from None
    if not isinstance(report, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(report).__name__}")
    missing = [k for k in RESULT_KEYS if k not in report]
    if missing:
        raise ValueError(f"{path}: expected the keys {list(RESULT_KEYS)}, missing {missing}")
    if not isinstance(report["data"], dict) or "description" not in report["data"]:
        raise ValueError(
            f"{path}: 'data' must be a dict with a 'description', got {report['data']!r}"
        )
    return report
