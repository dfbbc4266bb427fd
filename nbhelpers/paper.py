"""The numbers Szegedy et al. (2014) report, for the side-by-side tables of the book.

Transcribed from the paper's tables (see shared/paper/results.md); error rates and
percentages are in percent, distortions are per-pixel RMS on pixels in [0, 1].
Nothing in the book computes these: they are the "paper" column.
"""

from __future__ import annotations

CITATION = (
    "Szegedy, Zaremba, Sutskever, Bruna, Erhan, Goodfellow, Fergus. "
    "Intriguing properties of neural networks. ICLR 2014, arXiv:1312.6199."
)

# Table 1: training error, test error (%), average minimum distortion.
TABLE1 = {
    "FC10(1e-4)": {"train_error": 6.7, "test_error": 7.4, "distortion": 0.062},
    "FC10(1e-2)": {"train_error": 10.0, "test_error": 9.4, "distortion": 0.1},
    "FC10(1)": {"train_error": 21.2, "test_error": 20.0, "distortion": 0.14},
    "FC100-100-10": {"train_error": 0.0, "test_error": 1.64, "distortion": 0.058},
    "FC200-200-10": {"train_error": 0.0, "test_error": 1.54, "distortion": 0.065},
    "AE400-10": {"train_error": 0.57, "test_error": 1.9, "distortion": 0.086},
}

# Table 2: rows = made for (or a noise baseline), columns = fed to; error in %.
TABLE2_COLUMNS = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")
TABLE2 = {
    "FC10(1e-4)": ([100, 11.7, 22.7, 2, 3.9, 2.7], 0.062),
    "FC10(1e-2)": ([87.1, 100, 35.2, 35.9, 27.3, 9.8], 0.1),
    "FC10(1)": ([71.9, 76.2, 100, 48.1, 47, 34.4], 0.14),
    "FC100-100-10": ([28.9, 13.7, 21.1, 100, 6.6, 2], 0.058),
    "FC200-200-10": ([38.2, 14, 23.8, 20.3, 100, 2.7], 0.065),
    "AE400-10": ([23.4, 16, 24.8, 9.4, 6.6, 100], 0.086),
    "Gaussian noise, stddev 0.1": ([5.0, 10.1, 18.3, 0, 0, 0.8], 0.1),
    "Gaussian noise, stddev 0.3": ([15.6, 11.3, 22.7, 5, 4.3, 3.1], 0.3),
}

# Table 3: error on P1, on P2, on test (%), min average distortion.
TABLE3 = {
    "FC100-100-10": {"p1_error": 0.0, "p2_error": 2.4, "test_error": 2.0, "distortion": 0.062},
    "FC123-456-10": {"p1_error": 0.0, "p2_error": 2.5, "test_error": 2.1, "distortion": 0.059},
    "FC100-100-10'": {"p1_error": 2.3, "p2_error": 0.0, "test_error": 2.1, "distortion": 0.058},
}

# Table 4: rows = examples, columns = fed to; error in %.
TABLE4_COLUMNS = ("FC100-100-10", "FC123-456-10", "FC100-100-10'")
TABLE4 = {
    "distorted for FC100-100-10": [100, 26.2, 5.9],
    "distorted for FC123-456-10": [6.25, 100, 5.1],
    "distorted for FC100-100-10'": [8.2, 8.2, 100],
    "Gaussian noise, stddev 0.06": [2.2, 2.6, 2.4],
    "distorted for FC100-100-10, magnified to stddev 0.1": [100, 98, 43],
    "distorted for FC123-456-10, magnified to stddev 0.1": [96, 100, 22],
    "distorted for FC100-100-10', magnified to stddev 0.1": [27, 50, 100],
    "Gaussian noise, stddev 0.1": [2.6, 2.8, 2.7],
}
TABLE4_DISTORTION = {"FC100-100-10": 0.062, "FC123-456-10": 0.059, "FC100-100-10'": 0.058}

# Table 5: AlexNet's layers: (size, stride, upper Lipschitz bound).
TABLE5 = {
    "Conv. 1": ("3×11×11×96", 4, 2.75),
    "Conv. 2": ("96×5×5×256", 1, 10),
    "Conv. 3": ("256×3×3×384", 1, 7),
    "Conv. 4": ("384×3×3×384", 1, 7.5),
    "Conv. 5": ("384×3×3×256", 1, 11),
    "FC. 1": ("9216×4096", None, 3.12),
    "FC. 2": ("4096×4096", None, 4),
    "FC. 3": ("4096×1000", None, 4),
}

# §4.2, adversarial training (test error, %).
ADVERSARIAL_TRAINING = {"adversarial": 1.2, "weight decay": 1.6, "dropout": 1.3}
