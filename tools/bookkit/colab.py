"""The Colab install cell of every chapter, written from ``_config.yml``'s repository address.

python -m bookkit sync-colab [--check]
"""

from __future__ import annotations

from pathlib import Path

from .toc import ROOT, repository_url

COLAB_MARKER = "# Colab only: install the book's helper package"


def sync_colab(root: Path = ROOT, check: bool = False) -> list[Path]:
    """Write the repository address of _config.yml into every chapter's Colab install cell.

    With `check`, change nothing and return the chapters whose cell disagrees.
    """
    import nbformat

    url = repository_url(root)
    stale = []
    for nb_path in sorted((root / "book").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(COLAB_MARKER)]
        if len(cells) != 1:
            raise ValueError(
                f"{nb_path.name}: expected exactly one Colab install cell starting with "
                f"{COLAB_MARKER!r}, found {len(cells)}"
            )
        wanted = colab_install_source(url, machinery=imports_machinery(nb))
        if cells[0].source != wanted:
            stale.append(nb_path)
            if not check:
                cells[0].source = wanted
                nbformat.write(nb, nb_path)
    return stale


def imports_machinery(nb) -> bool:
    """Whether a page's code imports the book's machinery (only the teaching page does)."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return "from bookkit" in code or "import bookkit" in code


def colab_install_source(url: str, machinery: bool = False) -> str:
    """The Colab install cell: pip-installs nbhelpers from the repository, in Colab only;
    with `machinery`, the book's machinery too (bookkit, in the repository's tools/).

    Written as `ruff format` leaves it (the chapters are formatted too): one argument
    a line, with trailing commas, which the formatter keeps whatever the address's length;
    bookkit's requirement in two adjacent strings, the address and its subdirectory, so
    that its line stays within the notebooks' 100 characters.
    """
    args = ["sys.executable", '"-m"', '"pip"', '"install"', '"-q"', f'"nbhelpers @ git+{url}"']
    if machinery:
        args.append(f'"bookkit @ git+{url}"\n            "#subdirectory=tools"')
    return (
        f"{COLAB_MARKER} (elsewhere it is installed already).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        "    subprocess.run(\n"
        "        [\n" + "".join(f"            {a},\n" for a in args) + "        ],\n"
        "        check=True,\n"
        "    )"
    )
