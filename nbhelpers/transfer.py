"""Cross-model and cross-training-set generalisation of adversarial examples (§4.2, Tables 2–4).

A transfer matrix has one row per set of (possibly perturbed) images and one column
per model; each cell is the error rate, in percent, that the column's model makes
on the row's images against their true labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .models import predict_labels

__all__ = ["transfer_matrix", "off_diagonal", "mean_transfer", "rows_mean"]


def _check_rows(examples: Mapping, models: Mapping):
    if not models:
        raise ValueError("expected at least one model to feed the examples to, got none")
    if not examples:
        raise ValueError("expected at least one row of examples, got none")
    for name, pair in examples.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(
                f"row {name!r}: expected a pair (images, labels), got {type(pair).__name__}"
            )
        x, y = pair
        x = np.asarray(x)
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"row {name!r}: {len(x)} images but {len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"row {name!r} has no images (did every search fail?)")
        if np.isnan(x).any():
            raise ValueError(
                f"row {name!r} holds NaN images: pass only the successful adversarial examples"
            )
        if x.min() < 0 or x.max() > 1:
            raise ValueError(
                f"row {name!r}: expected pixels in [0, 1], got [{x.min():.3g}, {x.max():.3g}]"
            )


def transfer_matrix(examples: Mapping, models: Mapping):
    """Error rate (%) of each model (columns) on each row's (images, labels) (Tables 2 and 4).

    `examples` maps a row name to (images, true labels); `models` maps a column name
    to a Keras model that outputs logits. Returns a pandas DataFrame.
    """
    import pandas as pd

    _check_rows(examples, models)
    cells = {
        row: {
            col: 100.0 * float(np.mean(predict_labels(m, x) != np.asarray(y)))
            for col, m in models.items()
        }
        for row, (x, y) in examples.items()
    }
    return pd.DataFrame.from_dict(cells, orient="index")[list(models)]


def off_diagonal(matrix, pairs: Mapping[str, str], keep=None) -> list[float]:
    """The cells where a row's examples meet a model other than the one they were made for.

    `pairs` maps each adversarial row to the column of the model it was made for;
    `keep(own, col)`, if given, keeps only some of those cells (Table 4: models
    trained on the same or on the other half of the training set).
    """
    out = []
    for row, own in pairs.items():
        if row not in matrix.index or own not in matrix.columns:
            raise ValueError(
                f"expected row {row!r} and column {own!r} in the matrix; rows {list(matrix.index)}, columns {list(matrix.columns)}"
            )
        out.extend(
            float(matrix.loc[row, col])
            for col in matrix.columns
            if col != own and (keep is None or keep(own, col))
        )
    return out


def mean_transfer(matrix, pairs: Mapping[str, str]) -> float:
    """Mean error that adversarial rows cause in the models they were not made for."""
    return float(np.mean(off_diagonal(matrix, pairs)))


def rows_mean(matrix, rows, columns=None) -> float:
    """Mean error over the given rows (e.g. a noise baseline), optionally over some columns only."""
    sub = matrix.loc[list(rows), list(columns) if columns is not None else slice(None)]
    return float(np.asarray(sub, dtype=float).mean())
