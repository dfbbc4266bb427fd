"""MNIST for the book (paper §2): where the digits come from, in one shape.

``mnist`` loads them (Keras, a folder of IDX files, the embedded 5,000 digits) and
makes the P1/P2 halves; ``idx`` reads and checks the IDX file format; ``network``
probes and bounds the download. Chapters import from here.
"""

from .idx import IDX_FILES, PUBLISHED_IDX, read_idx, read_mnist_folder
from .mnist import (
    IMAGE_SHAPE,
    MNIST,
    MNIST_ENV,
    N_CLASSES,
    N_PIXELS,
    SOURCES,
    balanced_indices,
    check_data,
    load_mnist,
    sha256_file,
    split_halves,
)

__all__ = [
    "IDX_FILES",
    "IMAGE_SHAPE",
    "MNIST",
    "MNIST_ENV",
    "N_CLASSES",
    "N_PIXELS",
    "PUBLISHED_IDX",
    "SOURCES",
    "balanced_indices",
    "check_data",
    "load_mnist",
    "read_idx",
    "read_mnist_folder",
    "sha256_file",
    "split_halves",
]
