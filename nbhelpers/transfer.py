"""Cross-model and cross-training-set generalisation of adversarial examples (§4.2, Tables 2–4).

A transfer matrix has one row per set of (possibly perturbed) images and one column
per model; each cell is the error rate, in percent, that the column's model makes
on the row's images against their true labels. The rows are built by
:func:`adversarial_rows` (the examples made for each model), :func:`magnified_rows`
(their perturbations rescaled, Table 4) and :func:`noise_rows` (the Gaussian
baselines); :func:`cross_model_summary` and :func:`cross_training_set_summary` give
the numbers the paper's text draws from Tables 2 and 4.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from . import paper
from ._validation import (
    check_bool,
    check_images,
    check_labels,
    check_mapping,
    check_names,
    check_real,
    check_seed,
)
from .evaluate import predict_labels
from .perturbations import gaussian_noise, magnify

__all__ = [
    "transfer_matrix",
    "off_diagonal",
    "mean_transfer",
    "rows_mean",
    "adversarial_rows",
    "magnified_rows",
    "noise_rows",
    "cross_model_summary",
    "cross_training_set_summary",
    "paper_cross_model_summary",
    "paper_cross_training_set_summary",
]


def _check_matrix(matrix):
    import pandas as pd

    if not isinstance(matrix, pd.DataFrame):
        raise TypeError(
            f"matrix must be a pandas DataFrame (rows: examples, columns: models), "
            f"got {type(matrix).__name__}"
        )
    return matrix


def _check_label(label, param: str, /, **fields) -> None:
    if not isinstance(label, str):
        raise TypeError(f"{param} must be a str, got {type(label).__name__} {label!r}")
    try:
        label.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(
            f"{param} must be a format string with the fields {sorted(fields)}, got {label!r} ({e})"
        ) from None


def _check_row(name, pair, box: bool = True):
    """(images, labels) of one row, checked: the box, no NaN, one label per image."""
    where = f"examples[{name!r}]"
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise TypeError(f"{where} must be a pair (images, labels), got {type(pair).__name__}")
    x = check_images(pair[0], f"{where} images", allow_nan=True, allow_empty=True, box=box)
    if len(x) == 0:
        raise ValueError(f"{where} has no images (did every search fail?)")
    if np.isnan(x).any():
        raise ValueError(
            f"{where} images contain NaN: pass only the successful adversarial examples"
        )
    return x, check_labels(pair[1], f"{where} labels", n=len(x))


def _check_pairs(matrix, pairs: Mapping) -> None:
    """Every row of ``pairs`` and the model it was made for are in the matrix."""
    for row, own in pairs.items():
        if row not in matrix.index or own not in matrix.columns:
            raise ValueError(
                f"expected row {row!r} and column {own!r} in the matrix; "
                f"rows {list(matrix.index)}, columns {list(matrix.columns)}"
            )


def transfer_matrix(examples: Mapping, models: Mapping, *, box: bool = True):
    """Error rate (%) of each model (columns) on each row's (images, labels) (Tables 2 and 4).

    `examples` maps a row name to (images, true labels); `models` maps a column name
    to a Keras model that outputs logits (the model itself, not its name: a TypeError
    says so before any model runs). ``box=False`` lets rows hold pixels outside
    ``[0, 1]`` (unclipped noise rows). Returns a pandas DataFrame.
    """
    import pandas as pd

    check_mapping(models, "models", what="a dict {name: model}", non_empty=True)
    for col, m in models.items():
        if not callable(m):
            raise TypeError(
                f"models[{col!r}] must be a Keras model that outputs logits (the model, not "
                f"its name), got {type(m).__name__} {m!r}"
            )
    check_mapping(examples, "examples", what="a dict {row name: (images, labels)}", non_empty=True)
    box = check_bool(box, "box")
    checked = {row: _check_row(row, pair, box) for row, pair in examples.items()}
    cells = {
        row: {
            col: 100.0 * float(np.mean(predict_labels(m, x, box=box) != y))
            for col, m in models.items()
        }
        for row, (x, y) in checked.items()
    }
    return pd.DataFrame.from_dict(cells, orient="index")[list(models)]


def off_diagonal(matrix, pairs: Mapping[str, str], keep=None) -> list[float]:
    """The cells where a row's examples meet a model other than the one they were made for.

    `pairs` maps each adversarial row to the column of the model it was made for;
    `keep(own, col)`, if given, keeps only some of those cells (Table 4: models
    trained on the same or on the other half of the training set).
    """
    _check_matrix(matrix)
    check_mapping(pairs, "pairs", what="a dict {row: model}")
    if keep is not None and not callable(keep):
        raise TypeError(f"keep must be a function keep(own, col) or None, got {keep!r}")
    _check_pairs(matrix, pairs)
    out = []
    for row, own in pairs.items():
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
    _check_matrix(matrix)
    rows = check_names(rows, "rows", [str(r) for r in matrix.index])
    columns = check_names(matrix.columns if columns is None else columns, "columns", matrix.columns)
    return float(np.asarray(matrix.loc[rows, columns], dtype=float).mean())


# --------------------------------------------------------------------------- #
# The rows of Tables 2 and 4
# --------------------------------------------------------------------------- #
def _successes(results: Mapping, name: str) -> tuple:
    """(x, x_adv, labels) of each result's successful searches, by model name."""
    check_mapping(
        results, name, what="a dict {model name: adversarial search result}", non_empty=True
    )
    out = {}
    for model, res in results.items():
        if not callable(getattr(res, "successful", None)):
            raise TypeError(
                f"{name}[{model!r}] must be an adversarial search result with successful(), "
                f"got {type(res).__name__}"
            )
        x, x_adv, y = res.successful()
        if len(x_adv) == 0:
            raise ValueError(f"{name}[{model!r}]: every search failed; no examples to feed")
        out[model] = (x, x_adv, y)
    return out


def adversarial_rows(results: Mapping, label: str = "{name}") -> tuple[dict, dict]:
    """Table 2's (and 4's) adversarial rows: each model's successful examples, true labels.

    ``results`` maps a model name to its search result (``successful()`` gives the
    ``(x, x_adv, labels)`` of the successful searches). Returns ``(rows, made_for)``:
    ``rows[label]`` is ``(x_adv, labels)`` and ``made_for[label]`` the model's name, with
    ``label.format(name=...)`` (Table 4: ``"distorted for {name}"``).
    """
    _check_label(label, "label", name="FC10(1)")
    rows, made_for = {}, {}
    for name, (_, x_adv, y) in _successes(results, "results").items():
        rows[label.format(name=name)] = (x_adv, y)
        made_for[label.format(name=name)] = name
    return rows, made_for


def magnified_rows(
    results: Mapping,
    stddev: float,
    label: str = "distorted for {name}, magnified to stddev {stddev:g}",
) -> tuple[dict, dict]:
    """Table 4's magnified rows: each model's perturbations rescaled to per-pixel ``stddev``.

    As :func:`adversarial_rows`, with each image ``magnify(x, x_adv, stddev)`` (the
    perturbation ``x_adv - x`` rescaled, then clipped to the box). Returns
    ``(rows, made_for)``; ``label`` has the fields ``name`` and ``stddev``.
    """
    stddev = check_real(stddev, "stddev", low=0, low_open=True)
    _check_label(label, "label", name="FC10(1)", stddev=stddev)
    rows, made_for = {}, {}
    for name, (x, x_adv, y) in _successes(results, "results").items():
        row = label.format(name=name, stddev=stddev)
        rows[row] = (magnify(x, x_adv, stddev), y)
        made_for[row] = name
    return rows, made_for


def noise_rows(
    x,
    y,
    stddevs,
    seed: int = 0,
    label: str = "Gaussian noise, stddev {stddev:g}",
    clip: bool = True,
) -> tuple[dict, dict]:
    """The Gaussian baselines of Tables 2 and 4: ``x`` plus noise of each stddev,
    clipped to ``[0, 1]`` unless ``clip=False`` (see ``perturbations.gaussian_noise``).

    Every row uses the same ``seed``. Returns ``(rows, stddev_of)``: ``rows[label]`` is
    ``(noisy x, y)`` and ``stddev_of[label]`` the noise's stddev (Table 2's distortion
    column for these rows).
    """
    x = check_images(x, "x")
    y = check_labels(y, "y", n=len(x))
    seed = check_seed(seed)
    if isinstance(stddevs, numbers.Real):
        stddevs = [stddevs]
    stddevs = [check_real(s, "stddevs", low=0, low_open=True) for s in stddevs]
    if not stddevs:
        raise ValueError("stddevs must hold at least one standard deviation, got none")
    _check_label(label, "label", stddev=stddevs[0])
    rows, stddev_of = {}, {}
    for s in stddevs:
        rows[label.format(stddev=s)] = (gaussian_noise(x, s, seed=seed, clip=clip), y)
        stddev_of[label.format(stddev=s)] = s
    return rows, stddev_of


# --------------------------------------------------------------------------- #
# What the tables say
# --------------------------------------------------------------------------- #
def _diagonal(matrix, pairs: Mapping) -> list[float]:
    """Each row's error on the model it was made for: 100% by construction of the search."""
    _check_pairs(matrix, pairs)
    return [float(matrix.loc[row, own]) for row, own in pairs.items()]


def _mean_or_nan(values: list) -> float:
    return float(np.mean(values)) if values else float("nan")


def cross_model_summary(matrix, made_for: Mapping, noise=(), clean: str | None = None) -> dict:
    """What Table 2 says (§4.2): the diagonal, the mean transfer, noise and clean errors.

    Returns ``{"diagonal": [error of each adversarial row on its own model],
    "transfer": mean error on the other models, "noise": {noise row: mean error over
    the models}, "clean": mean error on the ``clean`` row, or None without one}``.
    """
    _check_matrix(matrix)
    check_mapping(made_for, "made_for", what="a dict {row: model it was made for}", non_empty=True)
    noise = check_names(noise, "noise", [str(r) for r in matrix.index])
    models = list(dict.fromkeys(made_for.values()))
    return {
        "diagonal": _diagonal(matrix, made_for),
        "transfer": _mean_or_nan(off_diagonal(matrix[models], made_for)),
        "noise": {row: rows_mean(matrix, [row], models) for row in noise},
        "clean": None if clean is None else rows_mean(matrix, [clean], models),
    }


def cross_training_set_summary(
    matrix,
    made_for: Mapping,
    magnified_for: Mapping,
    trained_on: Mapping,
    noise_small: str,
    noise_magnified: str,
    clean: str | None = None,
) -> dict:
    """What Table 4 says (§4.2), as numbers: transfer within and across training sets.

    ``made_for``/``magnified_for`` map the adversarial and magnified rows to their
    model; ``trained_on`` maps each model to its training set (any label, e.g. "P1").
    Returns ``diagonal`` (each row on its own model, plain then magnified),
    ``same_training_set``/``other_training_set`` (mean transfer of the plain rows to
    models trained on the same/the other set; NaN if there is no such pair),
    ``transfer``, ``transfer_magnified``, ``noise_small``, ``noise_magnified`` and
    ``clean`` (mean error of those rows; ``clean`` None without a clean row).
    """
    _check_matrix(matrix)
    check_mapping(made_for, "made_for", what="a dict {row: model it was made for}", non_empty=True)
    check_mapping(
        magnified_for, "magnified_for", what="a dict {row: model it was made for}", non_empty=True
    )
    check_mapping(trained_on, "trained_on", what="a dict {model: training set}", non_empty=True)
    models = list(dict.fromkeys(made_for.values()))
    untold = [m for m in [*models, *magnified_for.values()] if m not in trained_on]
    if untold:
        raise ValueError(f"trained_on must name the training set of every model, missing {untold}")
    sub = matrix[check_names(models, "made_for's models", [str(c) for c in matrix.columns])]

    def same(a, b):
        return trained_on[a] == trained_on[b]

    return {
        "diagonal": _diagonal(matrix, {**made_for, **magnified_for}),
        "same_training_set": _mean_or_nan(off_diagonal(sub, made_for, keep=same)),
        "other_training_set": _mean_or_nan(
            off_diagonal(sub, made_for, keep=lambda a, b: not same(a, b))
        ),
        "transfer": _mean_or_nan(off_diagonal(sub, made_for)),
        "transfer_magnified": _mean_or_nan(off_diagonal(sub, magnified_for)),
        "noise_small": rows_mean(matrix, [noise_small], models),
        "noise_magnified": rows_mean(matrix, [noise_magnified], models),
        "clean": None if clean is None else rows_mean(matrix, [clean], models),
    }


def paper_cross_model_summary() -> dict:
    """:func:`cross_model_summary` of the paper's Table 2 (its mean transfer is 25.6%)."""
    models = list(paper.TABLE2_MODELS)
    noise = [row for row in paper.TABLE2 if row.startswith("Gaussian noise")]
    return cross_model_summary(paper.table("table2")[models], {m: m for m in models}, noise)


def paper_cross_training_set_summary() -> dict:
    """:func:`cross_training_set_summary` of the paper's Table 4 (it has no clean row)."""
    models = paper.TABLE4_MODELS
    return cross_training_set_summary(
        paper.table("table4"),
        made_for={f"distorted for {m}": m for m in models},
        magnified_for={f"distorted for {m}, magnified to stddev 0.1": m for m in models},
        trained_on=paper.TRAINED_ON,
        noise_small="Gaussian noise, stddev 0.06",
        noise_magnified="Gaussian noise, stddev 0.1",
    )
