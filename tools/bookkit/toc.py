"""The book's table of contents and configuration: which pages, in which order, where.

``_toc.yml`` orders the pages; every executed page (a chapter) is a notebook in ``book/``.
``_config.yml`` names the repository (its one home).
"""

from __future__ import annotations

from pathlib import Path

# The repository: tools/bookkit/ is two folders below it.
ROOT = Path(__file__).resolve().parents[2]


def read_yaml(path: Path) -> dict:
    """A YAML file as a dict (an empty file: {})."""
    import yaml

    with open(path) as f:
        return yaml.safe_load(f) or {}


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page _toc.yml lists, its root first, as paths without suffix ("book/intro", ...)."""
    toc = read_yaml(root / "_toc.yml")
    files: list[str] = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return files


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in _toc.yml, in order (the intro and other pages are not executed)."""
    files = toc_pages(root)[1:]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def repository_url(root: Path = ROOT) -> str:
    """The book's repository, as `_config.yml` names it (its one home)."""
    return read_yaml(root / "_config.yml")["repository"]["url"].rstrip("/")
