"""Train a chapter's independent networks side by side, in worker processes, so that a
chapter run alone keeps both cores of a small machine busy.

It pays where one training leaves a core idle, as §4.2's do (Adam's minibatches, the pools'
searches). Full-batch L-BFGS keeps both cores busy already: chapter 07's networks took as
long two at a time as one at a time (benchmarks/README.md has both).

Every trainer of the book stores what it trains in the shared model cache under a lock
(`nbhelpers.cache`): the workers train what the cache lacks, then this process loads each
network from it, exactly as a chapter run a second time does. A worker's network is the
one this process would have trained (same seed, same data, same settings).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _validation as _v

__all__ = ["WORKERS_ENV", "Call", "default_workers", "run"]

WORKERS_ENV = "NBHELPERS_WORKERS"


@dataclass(frozen=True)
class Call:
    """One cached trainer's call, ``fn(*args, **kwargs)``: `fn` a module-level function
    that stores its network in the model cache (`trained_model`, `trained_adversarial`,
    `trained_converged`, `trained_penalised`), so that a worker process can run it."""

    fn: Callable
    args: tuple
    kwargs: dict

    def __init__(self, fn: Callable, *args, **kwargs):
        if not callable(fn):
            raise TypeError(f"Call needs a function first, got {type(fn).__name__}")
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)

    def __call__(self):
        return self.fn(*self.args, **self.kwargs)


def default_workers() -> int:
    """Processes that train side by side: ``$NBHELPERS_WORKERS`` where set (the book's
    side-by-side build sets 1: its two chapters fill the cores already); else 1 where
    TensorFlow sees a GPU (each process would claim the whole card) or there is one core;
    else 2 (more only share the same cores and memory)."""
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting:
        try:
            workers = int(setting)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"${WORKERS_ENV} must be a whole number >= 1, got {setting!r}")
        return workers
    if (os.cpu_count() or 1) < 2:
        return 1
    import tensorflow as tf

    return 1 if tf.config.list_physical_devices("GPU") else 2


# A worker: a fresh interpreter (not multiprocessing's, which re-runs a script's main module)
# that unpickles one Call from its stdin and runs it for its side effect, the cache entry.
_WORKER = """
import os, pickle, sys
os.environ["NBHELPERS_PROGRESS"] = "0"
pickle.load(sys.stdin.buffer)()
"""


def run(calls: Mapping[Any, Call], workers: int | None = None, progress: bool | None = None):
    """``{key: call()}`` for every `Call` in `calls`, in their order.

    With more than one worker (`default_workers()`), `workers` processes first run the
    calls in the order given (so give the longest first), each training what the cache
    lacks; then every call runs here and loads from the cache. With one, the calls simply
    run here in turn. A call that fails in a worker is raised here, naming its key, before
    any other loads.
    """
    from .progress import check_progress, progress_bar

    if not isinstance(calls, Mapping):
        raise TypeError(f"calls must be a mapping of keys to Call, got {type(calls).__name__}")
    wrong = {k: type(c).__name__ for k, c in calls.items() if not isinstance(c, Call)}
    if wrong:
        raise TypeError(f"every value of calls must be a Call, got {wrong}")
    workers = default_workers() if workers is None else _v.check_int(workers, "workers", low=1)
    progress = check_progress(progress)
    if workers > 1 and len(calls) > 1:
        _train_in_workers(calls, min(workers, len(calls)), progress, progress_bar)
    return {key: call() for key, call in calls.items()}


def _train_in_workers(calls, workers, progress, progress_bar) -> None:
    """Each call in a worker process of its own, `workers` at a time, in the order given."""
    import pickle
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor, as_completed

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    def train(call):
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER], input=pickle.dumps(call), capture_output=True, env=env
        )
        if proc.returncode:
            said = proc.stderr.decode(errors="replace").strip().splitlines()
            raise RuntimeError(said[-1] if said else f"exit status {proc.returncode}")

    bar = progress_bar(len(calls), f"training {workers} at a time", "network") if progress else None
    pool = ThreadPoolExecutor(workers)
    try:
        futures = {pool.submit(train, call): key for key, call in calls.items()}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                raise RuntimeError(f"training {futures[future]!r} failed: {error}") from error
            if bar is not None:
                bar.update()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a running worker finishes its entry
        if bar is not None:
            bar.close()
