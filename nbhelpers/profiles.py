"""The book's parameter profiles (`profiles.yml`): the sizes each chapter runs with.

``smoke`` is CI's quick build on the embedded digits; ``full`` is the paper's scale (the
defaults of every chapter's parameters cell); ``recorded`` is the full profile plus what
only the recorded run affords (more seeds). The build applies a profile to a chapter's
parameters, and so does a chapter's own first cells, so that one line (``profile =
"smoke"``) switches a notebook opened in Colab to the small sizes.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PROFILES", "read", "chapter_values", "use", "table"]

PROFILES = Path(__file__).with_name("profiles.yml")


def read(path: Path | None = None) -> dict:
    """Every profile, as written in `path` (the package's ``profiles.yml`` by default)."""
    import yaml

    return yaml.safe_load(Path(path or PROFILES).read_text()) or {}


def chapter_values(profile: str, stem: str, defined, path: Path | None = None) -> dict:
    """The values `profile` gives the chapter `stem`: its defaults for the names in
    `defined` (the chapter's parameters), then the chapter's own entries, which must all
    be in `defined` (a ValueError names any other, before anything runs)."""
    path = Path(path or PROFILES)
    profiles = read(path)
    if profile not in profiles:
        raise ValueError(
            f"unknown profile {profile!r}; expected one of {sorted(profiles)} ({path})"
        )
    p = profiles[profile] or {}
    defined = set(defined)
    values = {k: v for k, v in (p.get("defaults") or {}).items() if k in defined}
    own = (p.get("chapters") or {}).get(stem) or {}
    if not isinstance(own, dict):
        raise ValueError(
            f"{path}: profile {profile!r}, chapter {stem!r} must map parameter names to "
            f"values, got {own!r}"
        )
    unknown = sorted(set(own) - defined)
    if unknown:
        raise ValueError(
            f"{path}: profile {profile!r} sets {unknown} for the chapter {stem!r}, whose "
            f"parameters cell does not define them; it defines {sorted(defined)}"
        )
    values.update(own)
    return values


def use(profile: str, stem: str, namespace: dict) -> None:
    """Set the chapter `stem`'s parameters in `namespace` (a notebook's ``globals()``) to
    `profile`'s values (returns nothing: the cell that calls it shows nothing)."""
    if not isinstance(namespace, dict):
        raise TypeError(f"namespace must be a dict (globals()), got {type(namespace).__name__}")
    namespace.update(chapter_values(profile, stem, namespace))


def table(path: Path | None = None):
    """What each profile sets, one row per chapter (and one for the defaults every chapter
    gets where its parameters cell defines the name), one column per profile."""
    import pandas as pd

    every = read(path)
    rows: dict = {}
    for name, p in every.items():
        p = p or {}
        entries = {"every chapter": p.get("defaults") or {}, **(p.get("chapters") or {})}
        for where, values in entries.items():
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items()) or "the defaults"
            rows.setdefault(where, {})[name] = shown
    order = ["every chapter"] + sorted(k for k in rows if k != "every chapter")
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(order)
    return frame.fillna("the defaults").rename_axis("chapter")
