"""Searches kept in the model cache, so that chapters asking the same question share one answer.

"Blind spots" and "Across models" search the same 2,000 digits on the same six models
with the same targets: at the paper's scale that is ten minutes of work done twice. A
search is stored under a key that holds everything that determines its result (the
model's architecture and weights, the images, labels and targets, the method, every
argument, the code of the search and the library versions), beside the trained models
(`nbhelpers.cache`), under the same per-entry lock: of two chapters running side by side,
the second waits for the first's search and loads it. A change to any file of
`nbhelpers.attacks` changes the key, so a stored search never outlives its code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

__all__ = ["search_key", "stored_search"]

# AdversarialResult's array fields but x, the images searched, which are part of the key
# (requested and already_wrong may be absent)
_ARRAYS = (
    "x_adv",
    "distortion",
    "success",
    "targets",
    "labels",
    "requested",
    "c",
    "evaluations",
    "already_wrong",
)
# arguments that do not change what a search finds
_NOT_IN_KEY = frozenset({"progress"})


def _sha256(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _model_fingerprint(model) -> dict:
    """The model's layers (type and configuration, names left out) and a hash of its weights."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        layers.append([type(layer).__name__, json.dumps(config, sort_keys=True, default=str)])
    architecture = hashlib.sha256(json.dumps(layers).encode()).hexdigest()
    return {"architecture": architecture, "weights": _sha256(*model.get_weights())}


def _code_fingerprint() -> str:
    """A hash of the search's code: every module of `nbhelpers.attacks` and what it calls."""
    here = Path(__file__).parent
    files = sorted(here.glob("*.py")) + [
        here.parent / name for name in ("_validation.py", "evaluate.py", "perturbations.py")
    ]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _jsonable(value, name):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    try:
        json.dumps(value)
    except TypeError:
        raise TypeError(
            f"a stored search needs arguments that can be written as JSON; {name} is "
            f"{type(value).__name__}"
        ) from None
    return value


def search_key(model, x, labels, targets, settings: dict) -> dict:
    """Everything that determines what `search_correctly_classified` returns: the model, the
    images, labels and targets, and ``settings``, every other argument of
    `minimal_distortion` with its defaults filled in (the method included)."""
    import keras
    import tensorflow as tf

    from .. import __version__

    if isinstance(targets, np.ndarray):
        targets_key = {"sha256": _sha256(targets)}
    else:
        targets_key = _jsonable(targets, "targets")
    return {
        "model": _model_fingerprint(model),
        "images": _sha256(np.asarray(x, dtype=np.float32)),
        "labels": _sha256(np.asarray(labels)),
        "targets": targets_key,
        "arguments": {
            k: _jsonable(v, k) for k, v in sorted(settings.items()) if k not in _NOT_IN_KEY
        },
        "code": _code_fingerprint(),
        "nbhelpers": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _name(model) -> str:
    return f"search-{model.name}"


def _load(model, x, key):
    """The stored search under `key` (its images `x`), or None (with a warning if damaged)."""
    from ..cache import read_entry
    from .result import AdversarialResult

    def parse(arrays, meta):
        fields = {k: arrays.pop(k, None) for k in _ARRAYS}
        info = {**meta["info"], **{k[len("info.") :]: v for k, v in arrays.items()}}
        scalars = meta["scalars"]
        return AdversarialResult(x=x, **fields, **scalars, info={**info, "stored": True})

    return read_entry(_name(model), key, parse, redo="searching again")


def _store(model, key, result) -> None:
    from ..cache import write_entry

    arrays = {k: getattr(result, k) for k in _ARRAYS if getattr(result, k) is not None}
    info = {}
    for k, v in result.info.items():
        if isinstance(v, np.ndarray):
            arrays[f"info.{k}"] = v
        else:
            info[k] = v.item() if isinstance(v, np.generic) else v
    scalars = {
        "total_evaluations": int(result.total_evaluations),
        "seconds": float(result.seconds),
        "method": result.method,
    }
    write_entry(_name(model), key, arrays, {"scalars": scalars, "info": info})


def stored_search(search, model, x, labels, targets, settings: dict):
    """``search()``'s result from the cache, or searched now and stored there, under the
    entry's lock (concurrent requests search once); the key as for `search_key`."""
    from ..cache import entry_lock

    key = search_key(model, x, labels, targets, settings)
    with entry_lock(_name(model), key, verbose=False):
        result = _load(model, x, key)
        if result is None:
            result = search()
            _store(model, key, result)
        return result
