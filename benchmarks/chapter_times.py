"""How long each chapter takes under a profile, on this machine: the cost of building the book.

Runs every chapter of _toc.yml (or those named) in order with papermill, the way the
build does, in one output folder, and prints each chapter's wall time and the total.
The model cache is the build's (``NBHELPERS_CACHE``, else ``<out>/cache``): run it
twice to see a build with every model already trained. Prints figures; asserts
nothing. For the paper's scale without a network, point it at a local MNIST:

    NBHELPERS_MNIST=/path/to/mnist python benchmarks/chapter_times.py --profile full
    python benchmarks/chapter_times.py --profile smoke 03_blind_spots
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from bookkit import build, toc


def machine() -> str:
    """The machine in a line: cores, and the GPU TensorFlow sees, if any."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{os.cpu_count()} CPU cores, {len(gpus)} GPU(s), {platform.processor() or 'cpu'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="notebook stems (default: every chapter)")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="chapter-times-"))
    os.environ.setdefault("NBHELPERS_CACHE", str(out / "cache"))
    chapters = [nb for nb in toc.chapters() if not args.chapters or nb.stem in args.chapters]
    print(f"profile {args.profile}, {machine()}, model cache {os.environ['NBHELPERS_CACHE']}")
    times = {}
    for nb in chapters:
        start = time.perf_counter()
        build.execute(nb, out, args.profile)
        times[nb.stem] = time.perf_counter() - start
    print(f"\n{'chapter':28s} {'minutes':>8s}")
    for stem, seconds in times.items():
        print(f"{stem:28s} {seconds / 60:8.1f}")
    print(f"{'total':28s} {sum(times.values()) / 60:8.1f}")


if __name__ == "__main__":
    main()
