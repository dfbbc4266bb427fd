"""The cache of trained models that every trainer of the book shares.

A trained model is stored under a key that holds everything that determines its
weights (model, data fingerprint, seed, settings, versions), as a ``.npz`` of its
weights beside a ``.json`` of its key, checksum and training info. Chapters that need
the same model share one entry; a Colab reader who opens one chapter trains only what
is missing. Entries are written atomically (a reader never sees half a file), never
loaded when damaged or stale, and readable as far as their folder is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

try:  # Linux and macOS (Colab included); elsewhere entries are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

import numpy as np

from . import __version__
from . import _validation as _v
from .data import sha256_file
from .models import DEFAULT_DECAY_FORM, build, spec

__all__ = [
    "CACHE_ENV",
    "TrainingResult",
    "cache_dir",
    "cache_key",
    "cached",
    "entry_lock",
    "entry_paths",
    "read_entry",
    "write_entry",
]

CACHE_ENV = "NBHELPERS_CACHE"
# A temporary file older than this was left by a killed run (a live write takes seconds).
STALE_TEMPORARY_SECONDS = 3600


@dataclass
class TrainingResult:
    """A trained model and how its training went: what the cache stores and returns."""

    model: object
    info: dict = field(default_factory=dict)


def cache_dir() -> Path:
    """Where trained models are kept: $NBHELPERS_CACHE, else ~/.cache/nbhelpers/models.

    A variable that names an existing file, not a folder, is an error said at once.
    """
    env = os.environ.get(CACHE_ENV)
    folder = Path(env).expanduser() if env else Path.home() / ".cache" / "nbhelpers" / "models"
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"{CACHE_ENV} must name a folder for trained models, got the file {folder}"
        )
    return folder


def cache_key(name: str, data_fingerprint: str, seed: int, settings) -> dict:
    """Everything that determines a trained model's weights.

    The data enter by their fingerprint (a hash of the digits) alone, not by where they
    came from: full MNIST read through Keras and from a local copy (``NBHELPERS_MNIST``)
    are the same digits and share one trained model. ``settings`` is any of the book's
    settings dataclasses (they all have ``as_dict``).
    """
    import keras

    if not callable(getattr(settings, "as_dict", None)):
        raise TypeError(
            "settings must be one of the book's settings objects (TrainingSettings, "
            f"BaselineSettings, PoolSettings, ...) with an as_dict(), got {type(settings).__name__}"
        )
    _v.check_str(data_fingerprint, "data_fingerprint")
    return {
        "spec": {**spec(name).as_dict(), "decay_form": DEFAULT_DECAY_FORM},
        "data": {"fingerprint": data_fingerprint},
        "seed": _v.check_seed(seed),
        "training": settings.as_dict(),
        "nbhelpers": __version__,
        "keras": keras.__version__,
    }


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def entry_paths(name: str, key: dict) -> tuple[Path, Path]:
    """The weights (.npz) and metadata (.json) files of `name`'s entry under `key`."""
    stem = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") + "-" + _key_hash(key)
    base = cache_dir()
    return base / f"{stem}.npz", base / f"{stem}.json"


def _file_mode(folder: Path) -> int:
    """An entry is as readable and writable as its folder: 0755 gives 0644, 0775 gives 0664."""
    return folder.stat().st_mode & 0o666


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete the temporary files that killed runs left behind (older than an hour)."""
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                tmp.unlink()
        except OSError:  # another process removed or renamed it meanwhile
            pass


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename.

    Readers never see half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, _file_mode(path.parent))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_entry(name: str, key: dict, arrays: dict, meta: dict) -> None:
    """Store `name`'s entry under `key`: `arrays` in its .npz, then `meta` in its .json with
    the key and the .npz's checksum (each file written atomically)."""
    arrays_path, meta_path = entry_paths(name, key)
    _atomic_write(arrays_path, lambda f: np.savez(f, **arrays))
    record = {"key": key, "sha256": sha256_file(arrays_path), **meta}
    _atomic_write(
        meta_path, lambda f: f.write(json.dumps(record, indent=1, sort_keys=True).encode())
    )
    _remove_stale_temporaries(arrays_path.parent)


def read_entry(name: str, key: dict, parse, redo: str = "retraining"):
    """``parse(arrays, meta)`` of `name`'s entry under `key`, or None (with a warning saying
    it will be made again, `redo`) if the entry is missing, stale or damaged; `parse`
    raising counts as damage.

    Only arrays are read (np.load with allow_pickle=False): loading never runs code from the file.
    """
    arrays_path, meta_path = entry_paths(name, key)
    if not meta_path.exists() and not arrays_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            warnings.warn(
                f"cached {name} at {meta_path} is stale (its key differs); {redo}", stacklevel=3
            )
            return None
        if sha256_file(arrays_path) != meta.get("sha256"):
            raise ValueError("arrays file checksum does not match")
        with np.load(arrays_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return parse(arrays, meta)
    except Exception as exc:  # damaged: unreadable JSON, missing or corrupt file
        warnings.warn(f"cached {name} at {arrays_path} is damaged ({exc}); {redo}", stacklevel=3)
        return None


def _parse_model(name: str):
    """`read_entry`'s parse for a trained model: its weights set on a fresh `build(name)`."""

    def parse(arrays, meta):
        weights = [arrays[f"w{i}"] for i in range(len(arrays))]
        model = build(name)
        expected = [tuple(w.shape) for w in model.get_weights()]
        if expected != [tuple(w.shape) for w in weights]:
            raise ValueError("weight shapes do not match the model")
        model.set_weights(weights)
        return TrainingResult(model=model, info=meta.get("info", {}))

    return parse


def _load_entry(name: str, key: dict):
    """The cached model for `key`, or None (with a warning) if missing, stale or damaged."""
    return read_entry(name, key, _parse_model(name))


def _store_entry(name: str, key: dict, result: TrainingResult) -> None:
    weights = {f"w{i}": w for i, w in enumerate(result.model.get_weights())}
    write_entry(name, key, weights, {"info": result.info})


@contextlib.contextmanager
def entry_lock(name: str, key: dict, verbose: bool = True):
    """Hold the lock of `name`'s entry under `key` (a ``.lock`` file beside it, flock'd).

    Chapters executed side by side share the cache: the second to ask for a model that
    is being trained waits for it and loads it, instead of training it a second time.
    """
    weights_path, _ = entry_paths(name, key)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(weights_path.with_suffix(".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"waiting for another process to finish training {name} ...", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(name, key, make, *, label, n, method, verbose=True, retrain=False) -> TrainingResult:
    """The cache's entry for `name` under `key`, or `make()` trained now and stored there;
    the one place that loads or trains (and says which): every trainer of the book.
    Under the entry's lock, so that concurrent requests train it once; taking the lock
    finds the folder first, so a $NBHELPERS_CACHE naming a file stops before any training.
    What it says is progress: none where ``NBHELPERS_PROGRESS`` is 0 (the book's build)."""
    from .progress import check_progress

    verbose = _v.check_bool(verbose, "verbose") and check_progress(None)
    with entry_lock(name, key, verbose):
        return _load_or_train(name, key, make, label, n, method, verbose, retrain)


def _load_or_train(name, key, make, label, n, method, verbose, retrain) -> TrainingResult:
    result = None if retrain else _load_entry(name, key)
    if result is None:
        if verbose:
            print(f"training {label} on {n:,} digits ({method}) ...", flush=True)
        result = make()
        _store_entry(name, key, result)
        if verbose:
            print(
                f"  done in {result.info['seconds']:.1f} s, "
                f"training error {result.info['train_error']:.2%}",
                flush=True,
            )
    elif verbose:
        print(f"loaded {label} from the cache", flush=True)
    return result
