"""``python -m bookkit times OUT [--readme]``: what a build took, from the build itself.

Reads the chapters a build executed (``OUT/source/book/*.ipynb``: papermill records each
one's start, end and duration) and the model cache it filled, and prints per chapter when
it started, how long it ran and what it trained or searched; the last row is the whole
run, first start to last end, chapters side by side as the build ran them. With
``--readme``, writes that table into README.md between its markers, so that the README's
figures for a full-profile build come from a build, never typed in.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from .toc import ROOT, chapters

README_START = "<!-- full-profile build: written by `python -m bookkit times`, do not edit -->"
README_END = "<!-- end of full-profile build -->"


def _when(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


def chapter_times(out: Path, root: Path = ROOT) -> list[dict]:
    """One record per chapter the build at `out` executed, by start (toc order among those
    started together): its stem, start,
    end and seconds (papermill's), and its profile; a ValueError naming a chapter that did
    not finish (no end time) and a FileNotFoundError for a folder with no executed one."""
    book = Path(out) / "source" / "book"
    order = {nb.stem: i for i, nb in enumerate(chapters(root))}
    records = []
    for path in sorted(book.glob("*.ipynb"), key=lambda p: order.get(p.stem, len(order))):
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill") or {}
        if not meta.get("start_time"):
            continue  # a page copied, not executed
        if not meta.get("end_time"):
            raise ValueError(f"{path}: its execution did not finish (no end time)")
        records.append(
            {
                "chapter": path.stem,
                "start": _when(meta["start_time"]),
                "end": _when(meta["end_time"]),
                "seconds": float(meta["duration"]),
                "profile": (meta.get("parameters") or {}).get("profile"),
            }
        )
    if not records:
        raise FileNotFoundError(f"no executed chapter in {book}: expected a build's output folder")
    return sorted(records, key=lambda r: r["start"])  # stable: toc order within a start


def times_table(out: Path, root: Path = ROOT) -> str:
    """The Markdown table of `chapter_times`, the whole run as its last row."""
    records = chapter_times(out, root)
    first = min(r["start"] for r in records)
    last = max(r["end"] for r in records)
    cache = Path(out) / "cache"
    made = len(list(cache.glob("*.json"))) if cache.is_dir() else 0
    profiles = sorted({r["profile"] for r in records if r["profile"]})
    from .record import machine

    here = machine()
    lines = [
        "| chapter | started after | ran |",
        "|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['chapter']} | {(r['start'] - first).total_seconds() / 60:.1f} min | "
            f"{r['seconds'] / 60:.1f} min |"
        )
    lines.append(
        f"| **all chapters, end to end** ({first:%Y-%m-%d}, profile "
        f"{', '.join(profiles) or '?'}, {here['cores']} cores ({here['cpu']}); "
        f"{made} models and searches in its cache) | | "
        f"**{(last - first).total_seconds() / 60:.1f} min** |"
    )
    return "\n".join(lines)


def update_readme(out: Path, root: Path = ROOT) -> bool:
    """Write `times_table` (chapters in this book's toc order) into `root`'s README between
    its markers; whether it changed."""
    from .record import write_between_markers

    return write_between_markers(
        Path(root) / "README.md", README_START, README_END, times_table(out)
    )
