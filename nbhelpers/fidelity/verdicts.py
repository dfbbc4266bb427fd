"""What the recorded run says of two of the paper's claims about AE400-10: whether it is
the most resilient model, and the cause of its Table 1 miss (chapter 01's study)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..paper import TABLE2_MODELS


def resilience(table1: Mapping, table2: Mapping, models=TABLE2_MODELS) -> pd.DataFrame:
    """Two readings of "the autoencoder based version seems most resilient" (§4.1, Table 2),
    one row per model: Table 1's distortion (larger: harder to fool) and the mean error
    that the other models' examples induce on it (Table 2's column without its diagonal;
    smaller: their examples transfer less to it), each with its rank (1: most resilient).
    ``table1``: model -> {"distortion": ...}; ``table2``: source row -> {model: error %}."""
    rows = {}
    for model in models:
        try:
            others = [float(table2[row][model]) for row in models if row != model]
            distortion = float(table1[model]["distortion"])
        except (KeyError, TypeError) as e:
            raise ValueError(
                f"expected Table 1's distortion and Table 2's column for {model!r}, missing {e}"
            ) from None
        rows[model] = {
            "distortion": distortion,
            "error on others' examples": sum(others) / len(others),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["distortion rank"] = frame["distortion"].rank(ascending=False).astype(int)
    frame["transfer rank"] = frame["error on others' examples"].rank().astype(int)
    return frame


def resilience_words(ours: pd.DataFrame, paper: pd.DataFrame, model: str = "AE400-10") -> str:
    """Whether the paper's "most resilient" holds for our `model`, by each reading of
    `resilience` (computed from the two frames, ours and the paper's)."""
    ordinal = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    column = "error on others' examples"

    def said(frame, rank, value, fmt):
        r = int(frame.loc[model, rank])
        return f"{ordinal.get(r, r)} of {len(frame)} ({fmt.format(frame.loc[model, value])})"

    holds = (ours.loc[model, "transfer rank"] == 1) == (paper.loc[model, "transfer rank"] == 1)
    return (
        "By Table 2, the mean error that the other models' examples induce on it, the "
        f"paper's {model} is the {said(paper, 'transfer rank', column, '{:.1f}%')} in "
        f"resilience and ours the {said(ours, 'transfer rank', column, '{:.1f}%')}: on this "
        f"reading the paper's claim {'holds' if holds else 'does not hold'} for our model. "
        "By Table 1's distortion the paper's is the "
        f"{said(paper, 'distortion rank', 'distortion', '{:.3f}')} and ours the "
        f"{said(ours, 'distortion rank', 'distortion', '{:.3f}')}."
    )


def autoencoder_cause(study: Mapping, paper_row: Mapping) -> str:
    """What chapter 01's autoencoder study says about the cause of AE400-10's miss, in a
    sentence computed from it (`nbhelpers.autoencoder_study.study`'s results): which
    variants meet Table 1's goals, and how far the book's earlier choices stay at every length."""
    from ..autoencoder_study import rows, within_goal

    measured = rows(study)
    met = {k: r for k, r in measured.items() if within_goal(r, paper_row)}
    book = study.get("book", {}).get("stages", [])
    if book:
        gaps = [r["test_error"] - paper_row["test_error"] for r in book]
        lengths = ", ".join(str(r.get("epochs", "?")) for r in book)
        own = (
            f"the book's earlier choices stay {min(gaps):.1f}–{max(gaps):.1f} points above the "
            f"paper's test error after {lengths} epochs"
        )
    else:
        own = "the book's earlier choices were not measured"
    if not met:
        return (
            f"No variant meets Table 1's goals, and {own}: the measured choices do not explain "
            "the miss."
        )
    (label, r), *_ = met.items()
    return (
        f"{label} meets Table 1's goals ({r['train_error']:.2f}% / {r['test_error']:.2f}%, "
        f"distortion {r['distortion']:.3f}, against the paper's {paper_row['train_error']:g}% / "
        f"{paper_row['test_error']:g}% / {paper_row['distortion']:g}), while {own}: the miss "
        "lay in how the autoencoder was trained, which the paper does not give, not in the "
        "model's architecture."
    )
