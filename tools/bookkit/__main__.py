"""``python -m bookkit build|html|execute|record|sync-colab``: the book's command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .build import EDITIONS, build, default_jobs, execute, render_html
from .colab import sync_colab
from .toc import ROOT


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m bookkit", description="Execute the chapters and build the book."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute every chapter and build the HTML book")
    b.add_argument(
        "--profile",
        default="smoke",
        help="parameter profile from nbhelpers/profiles.yml (smoke, full, recorded)",
    )
    b.add_argument("--out", default=None, help="output folder (default: _build)")
    b.add_argument("--no-html", action="store_true", help="execute the chapters only")
    b.add_argument(
        "--edition", default="full", choices=EDITIONS, help="student: every solution removed"
    )
    b.add_argument(
        "--jobs",
        type=int,
        default=None,
        help=f"chapters executed side by side (default here: {default_jobs()})",
    )
    h = sub.add_parser(
        "html", help="rebuild the HTML from the chapters an earlier build executed (seconds)"
    )
    h.add_argument("--out", default=None, help="that build's output folder (default: _build)")
    h.add_argument("--edition", default="full", choices=EDITIONS)
    e = sub.add_parser("execute", help="execute one chapter")
    e.add_argument("notebook")
    e.add_argument("--profile", default="smoke")
    e.add_argument("--out", default=None)
    e.add_argument("--root", default=None, help=argparse.SUPPRESS)  # the build's, side by side
    r = sub.add_parser(
        "record",
        help="run chapters at the paper's scale (full profile, full MNIST) and record their "
        "results with provenance in nbhelpers/recordings/",
    )
    r.add_argument(
        "stems", nargs="*", help="chapters to record, e.g. 03_blind_spots (default: all)"
    )
    r.add_argument("--out", default=None, help="where the chapters run (default: _build/record)")
    r.add_argument(
        "--seed",
        type=int,
        default=None,
        help="record the chapters again with seed N (N > 0) into nbhelpers/recordings/seeds/N/",
    )
    t = sub.add_parser("times", help="what a build's chapters took, from the build itself")
    t.add_argument("out", help="the build's output folder")
    t.add_argument("--readme", action="store_true", help="write the table into README.md")
    s = sub.add_parser(
        "sync-colab", help="write _config.yml's repository address into the Colab cells"
    )
    s.add_argument(
        "--check", action="store_true", help="only report chapters that disagree (exit 1)"
    )
    args = ap.parse_args(argv)
    if args.cmd == "build":
        start = time.perf_counter()
        out = Path(args.out) if args.out else None
        build(args.profile, out, html=not args.no_html, edition=args.edition, jobs=args.jobs)
        print(f"total: {time.perf_counter() - start:.0f} s")
    elif args.cmd == "html":
        site = render_html(Path(args.out) if args.out else ROOT / "_build", edition=args.edition)
        print(f"book: {site / 'index.html'}")
    elif args.cmd == "execute":
        out = Path(args.out) if args.out else ROOT / "_build" / "source" / "book"
        root = Path(args.root).resolve() if args.root else ROOT
        execute(Path(args.notebook).resolve(), out.resolve(), args.profile, root)
    elif args.cmd == "times":
        from .times import times_table, update_readme

        print(times_table(Path(args.out)))
        if args.readme:
            update_readme(Path(args.out))
    elif args.cmd == "record":
        from .record import record

        record(args.stems, out=Path(args.out) if args.out else None, seed=args.seed)
    else:
        stale = sync_colab(check=args.check)
        for p in stale:
            print(("differs: " if args.check else "updated: ") + str(p.relative_to(ROOT)))
        if args.check and stale:
            sys.exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
