"""The checks every public function of the package runs at its door.

One exception policy, as scikit-learn's ``check_scalar``: a value of the wrong *type*
raises ``TypeError``, a value of the right type but outside what is accepted raises
``ValueError``; every message names the parameter, what was expected and what came.
This module knows nothing of the rest of the package.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "check_int",
    "check_real",
    "check_seed",
    "check_bool",
    "check_choice",
    "check_images",
    "check_labels",
    "check_names",
    "check_str",
    "check_mapping",
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bounds_text(low, high, low_open=False, high_open=False) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_int(
    value, name: str, *, low: int | None = None, high: int | None = None, allow_none=False
):
    """``value`` as an int in ``[low, high]`` (either bound optional); ``None`` if allowed."""
    if value is None and allow_none:
        return None
    if not _is_int(value):
        expected = "an int" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {_bounds_text(low, high)}, got {value!r}")
    return int(value)


def check_real(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
):
    """``value`` as a finite float within the bounds (``*_open``: the bound itself excluded)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        expected = "a real number" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad |= low is not None and (v <= low if low_open else v < low)
    bad |= high is not None and (v >= high if high_open else v > high)
    if bad:
        bounds = _bounds_text(low, high, low_open, high_open)
        raise ValueError(
            f"{name} must be a finite number{' ' + bounds if bounds else ''}, got {value!r}"
        )
    return v


def check_seed(seed, name: str = "seed") -> int:
    """A seed: a non-negative int (what numpy's and TensorFlow's generators accept alike)."""
    return check_int(seed, name, low=0)


def check_bool(value, name: str, *, allow_none: bool = False):
    """``True`` or ``False`` (numpy's bools too); ``None`` if allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        expected = "True or False" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(value, name: str, choices: Sequence):
    """``value`` if it is among ``choices`` (``True`` does not stand for ``1``), else ValueError."""
    for choice in choices:
        same_kind = isinstance(choice, bool) == isinstance(value, (bool, np.bool_))
        try:
            if same_kind and value == choice:
                return choice
        except (TypeError, ValueError):  # e.g. an array compared with a str
            continue
    raise ValueError(f"{name} must be one of {tuple(choices)!r}, got {value!r}")


def _as_float_array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of images with pixels in [0, 1], got {type(x).__name__}"
        ) from None


def check_array(x, name: str, *, ndim: int, what: str | None = None) -> np.ndarray:
    """A finite float64 array of `ndim` dimensions, none of them empty (a kernel, a matrix
    of activations); `what` describes the shape in the messages."""
    what = what or f"a non-empty {ndim}-d array"
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {what} of numbers, got {type(x).__name__}") from None
    if a.ndim != ndim or 0 in a.shape:
        raise ValueError(f"{name} must be {what}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return a


def check_images(
    x,
    name: str = "x",
    *,
    shape: tuple | None = None,
    allow_nan: bool = False,
    allow_empty: bool = False,
    box: bool = True,
) -> np.ndarray:
    """A batch of images ``(n, ...)`` as float32 with every pixel in the box ``[0, 1]``.

    ``shape``: the per-image shape required, if any. ``allow_nan``: NaN rows (the
    failed searches of an attack) pass, and the box is checked on the other values.
    ``box=False``: pixels may leave ``[0, 1]`` (unclipped noise) but must be finite.
    """
    a = _as_float_array(x, name)
    if a.ndim < 2:
        raise ValueError(f"{name} must be a batch of images of shape (n, ...), got shape {a.shape}")
    if shape is not None and tuple(a.shape[1:]) != tuple(shape):
        want = ", ".join(str(s) for s in shape)
        raise ValueError(f"{name} must have shape (n, {want}), got {a.shape}")
    if not allow_empty and len(a) == 0:
        raise ValueError(f"{name} must hold at least one image, got none")
    if a.size == 0:
        return a
    nan = np.isnan(a)
    if nan.any() and not allow_nan:
        raise ValueError(f"{name} contains NaN; expected pixel values in [0, 1]")
    if nan.all():
        return a
    lo, hi = np.nanmin(a), np.nanmax(a)
    if not box:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name} must have finite pixel values, got values in [{lo}, {hi}]")
        return a
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name} must have pixel values in [0, 1], got values in [{lo:g}, {hi:g}]"
            " (divide 0-255 pixels by 255)"
        )
    return a


def check_labels(
    y, name: str = "labels", *, n: int | None = None, num_classes: int = 10
) -> np.ndarray:
    """Class indices as an int64 array of shape ``(n,)`` with values in ``0..num_classes-1``.

    Floats are accepted when they hold whole numbers (labels read back from JSON).
    """
    try:
        a = np.asarray(y)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of class indices, got {type(y).__name__}"
        ) from None
    if a.ndim != 1 or (n is not None and len(a) != n):
        want = f"({n},) (one per image)" if n is not None else "(n,)"
        raise ValueError(f"{name} must have shape {want}, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int64)
    whole = np.issubdtype(a.dtype, np.floating) and bool(
        np.all(np.isfinite(a) & (a == np.round(a)))
    )
    if not (np.issubdtype(a.dtype, np.integer) or whole):
        raise TypeError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.min() < 0 or a.max() >= num_classes:
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}] ({num_classes} classes), "
            f"got values in [{a.min()}, {a.max()}]"
        )
    return a


def check_names(names: Iterable, name: str, known: Iterable[str]) -> list[str]:
    """A list of names each of which is in ``known`` (model names, parameter names)."""
    if isinstance(names, str):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise TypeError(f"{name} must be a list of names, got {type(names).__name__}") from None
    known = list(known)
    for item in names:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold str names, got {type(item).__name__} {item!r}")
    unknown = [item for item in names if item not in known]
    if unknown:
        raise ValueError(f"{name}: unknown name(s) {unknown}; expected some of {known}")
    return names


def check_str(value, name: str, *, allow_none: bool = False, non_empty: bool = False):
    """A str (``non_empty``: with something besides blanks); ``None`` if allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        expected = "a str" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if non_empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def check_mapping(value, name: str, *, what: str = "a dict", non_empty: bool = False) -> Mapping:
    """A mapping (``what`` says which, e.g. "a dict {row: model}"); ``non_empty``: not {}."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    if non_empty and not value:
        raise ValueError(f"{name} must hold at least one entry, got none")
    return value
