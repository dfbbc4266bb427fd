"""Progress bars for long work (training, searches): shown to people at a terminal or a
notebook, kept out of the rendered book (``NBHELPERS_PROGRESS=0``, which the book build sets)."""

from __future__ import annotations

import os

from ._validation import check_bool

__all__ = ["check_progress", "progress_bar"]


def check_progress(progress) -> bool:
    """``True``/``False`` as given; ``None``: on unless ``NBHELPERS_PROGRESS`` is 0/false/no/off."""
    if check_bool(progress, "progress", allow_none=True) is not None:
        return bool(progress)
    setting = os.environ.get("NBHELPERS_PROGRESS", "1").strip().lower()
    return setting not in ("0", "false", "no", "off")


def progress_bar(total, desc: str, unit: str):
    """A tqdm bar: a widget in notebooks that have ipywidgets (Colab), else text on stderr."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found": falls back to text
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, leave=False)
