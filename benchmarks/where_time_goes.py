"""Where each chapter's time goes: training, searches, figures and the rest, per chapter.

Reads the executed chapters of a build (papermill records every cell's duration in the
notebook) and sorts each code cell by what it calls, so it measures the build exactly as
the build ran, whatever the profile. The build's own summary prints its CPU use. Prints
figures; asserts nothing.

    python -m bookkit build --profile smoke --out _build/smoke --no-html
    python benchmarks/where_time_goes.py _build/smoke
"""

import argparse
import json
import re
from pathlib import Path

# What a cell calls decides its kind; the first kind that matches wins.
KINDS = {
    "training": r"\btrained_(model|adversarial|penalised|converged)\(|\bside_by_side\.run\("
    r"|\btrain(_\w+)?\(|\.fit\(",
    "searches": r"\b(search_correctly_classified|minimal_distortion|distortion_readings|"
    r"transfer_matrix|robustness|fgsm|probe_regions|fool_with_templates|power_iteration|"
    r"layer_table|amplification)\w*\(",
    "figures": r"\bplots\.|\bplt\.",
}


def kind_of(source: str) -> str:
    """The kind of a code cell by what it calls (see KINDS); "rest" when nothing matches."""
    return next((k for k, pattern in KINDS.items() if re.search(pattern, source)), "rest")


def breakdown(notebook: Path) -> dict[str, float]:
    """Seconds per kind over the executed notebook's code cells."""
    cells = json.loads(notebook.read_text())["cells"]
    out = dict.fromkeys([*KINDS, "rest"], 0.0)
    for cell in cells:
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell["cell_type"] == "code" and duration is not None:
            out[kind_of("".join(cell["source"]))] += float(duration)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", help="a build's --out folder (its source/book holds the chapters)")
    args = ap.parse_args()
    folder = Path(args.build) / "source" / "book"
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no executed chapters in {folder}: build there first")
    kinds = [*KINDS, "rest"]
    print(f"{'chapter':26s}" + "".join(f"{k:>10s}" for k in kinds) + f"{'total':>10s}  (s)")
    totals = dict.fromkeys(kinds, 0.0)
    for nb in notebooks:
        b = breakdown(nb)
        for k in kinds:
            totals[k] += b[k]
        print(
            f"{nb.stem:26s}" + "".join(f"{b[k]:10.0f}" for k in kinds) + f"{sum(b.values()):10.0f}"
        )
    print(
        f"{'all':26s}"
        + "".join(f"{totals[k]:10.0f}" for k in kinds)
        + f"{sum(totals.values()):10.0f}"
    )


if __name__ == "__main__":
    main()
