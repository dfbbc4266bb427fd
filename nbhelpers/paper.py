"""The numbers Szegedy et al. report, for the "ours beside the paper's" tables of the book.

Szegedy, Zaremba, Sutskever, Bruna, Erhan, Goodfellow, Fergus. *Intriguing properties
of neural networks.* ICLR 2014, arXiv:1312.6199. Transcribed from its Tables 1–5 and
the text of §4.2; nothing in the book computes these: they are the "paper" side.

Every table has one shape, ``{row name: {column name: value}}``, the same columns in
every row (listed in the ``*_COLUMNS`` tuple), so a chapter looks a number up by
name: ``TABLE2["FC10(1e-2)"]["FC100-100-10"]`` is 35.9. Error rates are in percent;
distortions are the per-pixel root mean square of the perturbation on pixels in
``[0, 1]``. :func:`table` gives any of them as a pandas DataFrame.
"""

from __future__ import annotations

from ._validation import check_choice

__all__ = [
    "CITATION",
    "TABLE1",
    "TABLE1_COLUMNS",
    "TABLE2",
    "TABLE2_COLUMNS",
    "TABLE2_MODELS",
    "TABLE3",
    "TABLE3_COLUMNS",
    "TRAINED_ON",
    "TABLE4",
    "TABLE4_COLUMNS",
    "TABLE4_MODELS",
    "TABLE4_DISTORTION",
    "TABLE5",
    "TABLE5_COLUMNS",
    "ADVERSARIAL_TRAINING",
    "ADVERSARIAL_TRAINING_COLUMNS",
    "TABLES",
    "table",
]

CITATION = (
    "Szegedy, Zaremba, Sutskever, Bruna, Erhan, Goodfellow, Fergus. "
    "Intriguing properties of neural networks. ICLR 2014, arXiv:1312.6199."
)

# Table 1: the MNIST models. Training and test error (%), and the average minimum
# distortion that brings the model's accuracy on its training set to 0%.
TABLE1_COLUMNS = ("train_error", "test_error", "distortion")
TABLE1 = {
    "FC10(1e-4)": {"train_error": 6.7, "test_error": 7.4, "distortion": 0.062},
    "FC10(1e-2)": {"train_error": 10.0, "test_error": 9.4, "distortion": 0.1},
    "FC10(1)": {"train_error": 21.2, "test_error": 20.0, "distortion": 0.14},
    "FC100-100-10": {"train_error": 0.0, "test_error": 1.64, "distortion": 0.058},
    "FC200-200-10": {"train_error": 0.0, "test_error": 1.54, "distortion": 0.065},
    "AE400-10": {"train_error": 0.57, "test_error": 1.9, "distortion": 0.086},
}

# Table 2: cross-model generalisation. Rows: the model the adversarial examples were
# made for (or a Gaussian-noise baseline); model columns: the model they are fed to,
# the cell its error (%) on them; "distortion": the row's average distortion (for
# noise, its stddev).
TABLE2_MODELS = tuple(TABLE1)
TABLE2_COLUMNS = (*TABLE2_MODELS, "distortion")
_TABLE2_CELLS = {
    "FC10(1e-4)": ([100, 11.7, 22.7, 2, 3.9, 2.7], 0.062),
    "FC10(1e-2)": ([87.1, 100, 35.2, 35.9, 27.3, 9.8], 0.1),
    "FC10(1)": ([71.9, 76.2, 100, 48.1, 47, 34.4], 0.14),
    "FC100-100-10": ([28.9, 13.7, 21.1, 100, 6.6, 2], 0.058),
    "FC200-200-10": ([38.2, 14, 23.8, 20.3, 100, 2.7], 0.065),
    "AE400-10": ([23.4, 16, 24.8, 9.4, 6.6, 100], 0.086),
    "Gaussian noise, stddev 0.1": ([5.0, 10.1, 18.3, 0, 0, 0.8], 0.1),
    "Gaussian noise, stddev 0.3": ([15.6, 11.3, 22.7, 5, 4.3, 3.1], 0.3),
}
TABLE2 = {
    row: {**dict(zip(TABLE2_MODELS, errors, strict=True)), "distortion": distortion}
    for row, (errors, distortion) in _TABLE2_CELLS.items()
}

# Table 3: the models of the cross-training-set study on clean data. Error (%) on the
# half P1 of the training set, on the other half P2, on the test set; and the minimum
# average distortion of their adversarial examples.
TABLE3_COLUMNS = ("p1_error", "p2_error", "test_error", "distortion")
TABLE3 = {
    "FC100-100-10": {"p1_error": 0.0, "p2_error": 2.4, "test_error": 2.0, "distortion": 0.062},
    "FC123-456-10": {"p1_error": 0.0, "p2_error": 2.5, "test_error": 2.1, "distortion": 0.059},
    "FC100-100-10'": {"p1_error": 2.3, "p2_error": 0.0, "test_error": 2.1, "distortion": 0.058},
}
# Which half of the training set each Table 3 model was trained on (§4.2).
TRAINED_ON = {"FC100-100-10": "P1", "FC123-456-10": "P1", "FC100-100-10'": "P2"}

# Table 4: cross-training-set generalisation (examples made from the test set). Rows:
# the examples; columns: the model they are fed to; the cell its error (%) on them.
TABLE4_MODELS = tuple(TABLE3)
TABLE4_COLUMNS = TABLE4_MODELS
_TABLE4_CELLS = {
    "distorted for FC100-100-10": [100, 26.2, 5.9],
    "distorted for FC123-456-10": [6.25, 100, 5.1],
    "distorted for FC100-100-10'": [8.2, 8.2, 100],
    "Gaussian noise, stddev 0.06": [2.2, 2.6, 2.4],
    "distorted for FC100-100-10, magnified to stddev 0.1": [100, 98, 43],
    "distorted for FC123-456-10, magnified to stddev 0.1": [96, 100, 22],
    "distorted for FC100-100-10', magnified to stddev 0.1": [27, 50, 100],
    "Gaussian noise, stddev 0.1": [2.6, 2.8, 2.7],
}
TABLE4 = {
    row: dict(zip(TABLE4_MODELS, errors, strict=True)) for row, errors in _TABLE4_CELLS.items()
}
# The average stddev Table 4 gives in the labels of its first three rows.
TABLE4_DISTORTION = {
    "distorted for FC100-100-10": {"distortion": 0.062},
    "distorted for FC123-456-10": {"distortion": 0.059},
    "distorted for FC100-100-10'": {"distortion": 0.058},
}

# Table 5: upper Lipschitz bounds of AlexNet's layers (§4.3); stride None where the
# paper writes N/A (fully connected layers).
TABLE5_COLUMNS = ("size", "stride", "upper_bound")
_TABLE5_CELLS = {
    "Conv. 1": ("3×11×11×96", 4, 2.75),
    "Conv. 2": ("96×5×5×256", 1, 10),
    "Conv. 3": ("256×3×3×384", 1, 7),
    "Conv. 4": ("384×3×3×384", 1, 7.5),
    "Conv. 5": ("384×3×3×256", 1, 11),
    "FC. 1": ("9216×4096", None, 3.12),
    "FC. 2": ("4096×4096", None, 4),
    "FC. 3": ("4096×1000", None, 4),
}
TABLE5 = {
    row: dict(zip(TABLE5_COLUMNS, cells, strict=True)) for row, cells in _TABLE5_CELLS.items()
}

# §4.2, adversarial training: test error (%) of a 100-100-10 network trained with a
# pool of adversarial examples ("below 1.2%"), with weight decay alone, and with
# dropout ("about 1.3%").
ADVERSARIAL_TRAINING_COLUMNS = ("test_error",)
ADVERSARIAL_TRAINING = {
    "adversarial": {"test_error": 1.2},
    "weight decay": {"test_error": 1.6},
    "dropout": {"test_error": 1.3},
}

# Every table by name, with its columns in the paper's order.
TABLES = {
    "table1": (TABLE1, TABLE1_COLUMNS),
    "table2": (TABLE2, TABLE2_COLUMNS),
    "table3": (TABLE3, TABLE3_COLUMNS),
    "table4": (TABLE4, TABLE4_COLUMNS),
    "table4_distortion": (TABLE4_DISTORTION, ("distortion",)),
    "table5": (TABLE5, TABLE5_COLUMNS),
    "adversarial_training": (ADVERSARIAL_TRAINING, ADVERSARIAL_TRAINING_COLUMNS),
}


def table(name: str):
    """One of the paper's tables as a pandas DataFrame: rows and columns in the paper's order.

    ``name`` is a key of :data:`TABLES` (``"table1"`` … ``"table5"``,
    ``"table4_distortion"``, ``"adversarial_training"``). The frame is a copy: changing
    it leaves the module's numbers alone. ``table("table2")[list(TABLE2_MODELS)]`` is
    Table 2's matrix of error rates without its distortion column.
    """
    import pandas as pd

    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {tuple(TABLES)}, got {type(name).__name__}")
    rows, columns = TABLES[check_choice(name, "name", tuple(TABLES))]
    frame = pd.DataFrame.from_dict(rows, orient="index")[list(columns)].copy()
    for col in columns:  # a column with gaps (Table 5's N/A strides) keeps its ints and None
        if any(row[col] is None for row in rows.values()):
            frame[col] = pd.Series({r: row[col] for r, row in rows.items()}, dtype=object)
    return frame
