"""How close the book comes to the paper: every number it reproduces, ours beside theirs.

Built from the JSON files the chapters write (:func:`nbhelpers.report.write_results`),
never typed in: :func:`comparisons` reads them and lines each of our numbers up with
the number Szegedy et al. (ICLR 2014) report for the same table cell, with the gap
and whether it is within the book's goal for that kind of number (errors within 0.5
percentage points, distortions within 25%, transfer within 5 points).
"""

from .cells import (
    COLUMN_WORDS,
    GOALS,
    SMALL_SAMPLE_WARNING,
    SOURCES,
    Cells,
    comparisons,
    data_words,
    in_words,
    recorded_comparisons,
    small_sample,
    summary,
)
from .spread import (
    NIL_SPREAD,
    SPREAD_FACTOR,
    apart_words,
    misses_words,
    nil_words,
    seed_spread,
    seeds_apart,
    spread_table,
    spread_words,
    transfer_misses,
)
from .verdicts import autoencoder_cause, resilience, resilience_words

__all__ = [
    "Cells",
    "SOURCES",
    "GOALS",
    "SMALL_SAMPLE_WARNING",
    "comparisons",
    "summary",
    "small_sample",
    "recorded_comparisons",
    "data_words",
    "seed_spread",
    "spread_table",
    "spread_words",
    "seeds_apart",
    "apart_words",
    "nil_words",
    "SPREAD_FACTOR",
    "NIL_SPREAD",
    "COLUMN_WORDS",
    "in_words",
    "transfer_misses",
    "misses_words",
    "resilience",
    "resilience_words",
    "autoencoder_cause",
]
