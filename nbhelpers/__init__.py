"""Helpers for the executable book reproducing Szegedy et al., *Intriguing
properties of neural networks* (ICLR 2014). Notebooks tell the story; this
package does the computing."""

import os as _os
import sys as _sys

# TensorFlow's C++ start-up chatter would fill every chapter's output; a reader can
# still set TF_CPP_MIN_LOG_LEVEL themselves before importing nbhelpers.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null for the duration.

    TensorFlow 2.19+ writes start-up lines (oneDNN, CUDA stubs, "All log messages
    before absl::InitializeLog()") straight to fd 2 whatever TF_CPP_MIN_LOG_LEVEL says
    (tensorflow/tensorflow#100442); in a notebook, ipykernel copies fd 2 into the
    cell's output, so they would stand in every chapter of the rendered book. An
    import error still raises as usual.
    """
    if "tensorflow" in _sys.modules:
        return
    try:
        saved = _os.dup(2)
    except OSError:  # no fd 2 to redirect: nothing would be shown either
        import tensorflow  # noqa: F401

        return
    devnull = _os.open(_os.devnull, _os.O_WRONLY)
    try:
        _os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(devnull)


# In a Jupyter kernel (the book's chapters, Colab), import TensorFlow now, quietly;
# elsewhere it is imported when first needed, with its usual messages.
if "ipykernel" in _sys.modules and _os.environ.get("NBHELPERS_QUIET_TF_IMPORT", "1") != "0":
    _import_tensorflow_quietly()
