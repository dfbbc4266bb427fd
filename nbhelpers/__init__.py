"""Helpers for the executable book reproducing Szegedy et al., *Intriguing
properties of neural networks* (ICLR 2014). Notebooks tell the story; this
package does the computing."""

import os as _os

# TensorFlow's C++ start-up chatter would fill every chapter's output; a reader can
# still set TF_CPP_MIN_LOG_LEVEL themselves before importing nbhelpers.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
