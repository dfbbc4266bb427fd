"""The shared model cache (nbhelpers.cache): concurrent requests train an entry once."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from nbhelpers import cache
from nbhelpers.models import build

# Each process asks for the same entry; `make` records that it ran and takes a second,
# long enough for the other process to arrive while the first is still training.
WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nbhelpers import cache
    from nbhelpers.models import build
    from nbhelpers.training import TrainingSettings

    log = Path(sys.argv[1])
    key = cache.cache_key("FC10(1e-4)", "fingerprint", 0, TrainingSettings())

    def make():
        with open(log, "a") as f:
            f.write("trained\\n")
        time.sleep(1.0)
        model = build("FC10(1e-4)", seed=int(sys.argv[2]))
        return cache.TrainingResult(model=model, info={"seconds": 1.0, "train_error": 0.0})

    result = cache.cached(
        "FC10(1e-4)", key, make, label="FC10(1e-4)", n=1, method="test", verbose=True
    )
    np_weights = [w.tolist() for w in result.model.get_weights()]
    import json
    Path(sys.argv[3]).write_text(json.dumps(np_weights))
    """
)


def test_two_concurrent_requests_train_once_and_share_the_weights(tmp_path):
    env = {"NBHELPERS_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["NBHELPERS_PROGRESS"] = "1"  # what the cache says is progress (a build turns it off)
    log = tmp_path / "log"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(log), str(seed), str(tmp_path / f"w{seed}.json")],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)  # different seeds: a second training would give other weights
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert log.read_text().splitlines() == ["trained"], outputs
    weights = [json.loads((tmp_path / f"w{s}.json").read_text()) for s in (1, 2)]
    for a, b in zip(weights[0], weights[1], strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    said = "".join(outputs)
    assert said.count("training FC10(1e-4) on") == 1 and "loaded FC10(1e-4) from the cache" in said


def test_the_cache_says_nothing_where_progress_is_off(tmp_path, monkeypatch, capsys):
    """The book's build turns progress off: no "training ..." or "loaded ..." line reaches
    a rendered page; a notebook opened elsewhere (Colab) still says them."""
    monkeypatch.setenv("NBHELPERS_CACHE", str(tmp_path))
    made = []

    def make():
        made.append(1)
        return cache.TrainingResult(model=build("FC10(1e-4)", seed=0), info={"seconds": 0.0})

    key = {"test": "quiet"}
    for setting, expected in (("0", ""), ("1", "loaded FC10(1e-4) from the cache")):
        monkeypatch.setenv("NBHELPERS_PROGRESS", setting)
        cache.cached("FC10(1e-4)", key, make, label="FC10(1e-4)", n=1, method="test")
        said = capsys.readouterr().out
        assert (expected in said) if expected else said == ""
    assert made == [1]
