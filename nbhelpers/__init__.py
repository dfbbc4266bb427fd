"""Helpers for the executable book reproducing Szegedy et al., *Intriguing
properties of neural networks* (ICLR 2014). Notebooks tell the story; this
package does the computing."""

__version__ = "0.1.0"
