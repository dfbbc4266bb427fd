"""Every recorded cell over its seeds, and the transfer cells that miss the paper's, each
beside the causes measured for it (sample, seed, reading, clipping)."""

from __future__ import annotations

import math

import pandas as pd

from .cells import GOALS, SOURCES, at_path, comparisons, gap_of, in_words

# A gap counts as beyond the seeds' spread when the mean over seeds is further from the
# paper's number than this many standard deviations of one run (seed to seed).
SPREAD_FACTOR = 2.0
# Seeds whose values of a cell in points all lie within this of each other agree: one test
# digit in 10,000 is 0.01 points, so such a cell has no spread to speak of (a convex model
# reaches one optimum from every seed), and any gap of its mean is "beyond" it trivially.
NIL_SPREAD = 0.011


def seed_spread(folder=None, apart: list[dict] | None = None) -> pd.DataFrame:
    """Every recorded cell over the seeds recorded for its chapter (issue: no number
    without its spread): the seeds' values, their mean and standard deviation (one run's
    spread, ddof 1), the mean's gap to the paper and whether it is within the goal, and
    whether that gap exceeds `SPREAD_FACTOR` standard deviations ("beyond spread"; None
    with a single seed). Seed 0 is the recorded run; ``seeds/<n>/`` hold the others
    (``python -m bookkit record --seed n``); a seed's chapter recorded by other code than
    the recording's (`seeds_apart`) is left out, so that a spread never pools two versions
    of the models (pass `apart` where it is at hand, to read the recordings once). "nil
    spread" marks a cell in points whose seeds agree within `NIL_SPREAD`. One row per
    (table, row, column)."""
    from .. import recording

    frames = []
    apart = seeds_apart(folder) if apart is None else apart
    apart = {(row["chapter"], row["seed"]) for row in apart}
    for seed, where in recording.seed_folders(folder).items():
        have = {c for c in recording.recorded_chapters(where) if (c, seed) not in apart}
        table = comparisons(where, [s for s in SOURCES if s.chapter in have])
        frames.append(table.assign(seed=seed))
    columns = [
        "table", "row", "column", "paper", "seeds", "values", "mean", "sd", "gap", "gap as",
        "within goal", "beyond spread", "nil spread", "chapter",
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=columns)
    cells = pd.concat(frames, ignore_index=True)
    rows = []
    for (table, row, column), group in cells.groupby(["table", "row", "column"], sort=False):
        values = [float(v) for v in group["ours"]]
        mean = float(sum(values) / len(values))
        sd = float(pd.Series(values).std(ddof=1)) if len(values) > 1 else math.nan
        kind = group["kind"].iloc[0]
        paper = float(group["paper"].iloc[0])
        gap, ok = gap_of(kind, mean, paper)
        distance = abs(mean - paper)
        beyond = None if len(values) < 2 else bool(distance > SPREAD_FACTOR * sd)
        agree = max(values) - min(values) <= NIL_SPREAD
        nil = len(values) > 1 and GOALS[kind][0] == "points" and agree
        rows.append(
            {
                "table": table,
                "row": row,
                "column": column,
                "paper": paper,
                "seeds": [int(s) for s in group["seed"]],
                "values": values,
                "mean": mean,
                "sd": sd,
                "gap": gap,
                "gap as": GOALS[kind][0],
                "within goal": ok,
                "beyond spread": beyond,
                "nil spread": nil,
                "chapter": group["chapter"].iloc[0],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def seeds_apart(folder=None) -> list[dict]:
    """The recordings of other seeds that `seed_spread` leaves out: those whose code
    fingerprint differs from the chapter's recording at seed 0 (the code, models or data
    changed between them). ``[{"chapter", "seed", "files"}]``, files being how many of the
    chapter's code files differ."""
    from .. import recording

    folders = recording.seed_folders(folder)
    if 0 not in folders:
        return []
    codes = {
        stem: recording.read_recording(stem, folders[0])[1].get("code")
        for stem in recording.recorded_chapters(folders[0])
    }
    out = []
    for seed, where in folders.items():
        for stem in recording.recorded_chapters(where) if seed else ():
            mine, base = recording.read_recording(stem, where)[1].get("code"), codes.get(stem)
            if isinstance(mine, dict) and isinstance(base, dict) and mine != base:
                files = sum(mine.get(f) != base.get(f) for f in set(mine) | set(base))
                out.append({"chapter": stem, "seed": seed, "files": files})
    return out


def _row_model(row: str) -> str | None:
    """The model a transfer row's examples were made for ("distorted for X[, magnified
    ...]" in Table 4, the model's own name in Table 2); None for a noise row."""
    if row.startswith("Gaussian noise"):
        return None
    return row.removeprefix("distorted for ").split(", magnified")[0]


def _examples(results: dict, params: dict, row: str) -> float:
    """How many examples a transfer row holds in a recorded run: the digits searched less
    those its model misclassified already (and failed searches); every digit for noise."""
    n = float(params["n_search"])
    model = _row_model(row)
    if model is None:
        return n
    clean = results["matrix"]["no distortion"][model]  # the model's error on those digits
    failed = (results.get("failures") or results.get("variant_failures") or {}).get(model, 0)
    return n * (1 - clean / 100) - float(failed or 0)


def transfer_misses(folder=None, spread: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each transfer cell of Tables 2 and 4 whose mean over the recorded seeds misses the
    paper's by more than the goal, with one measurement per candidate cause (issue: every
    miss measured): the sample (the cell's binomial standard error over its row's
    examples), the seed (the seeds' standard deviation), the reading of Table 1's
    distortion (the cell under the other reading, the nearest wrong label) and, for
    Table 2's noise, clipping (the cell with the noise clipped to [0, 1]). A cause
    ``explains`` the miss when the paper's number lies within 2 standard errors or
    2 standard deviations of ours, or the other reading or clipping lands within the goal.
    ``spread``: `seed_spread` of the same folder, where it is at hand."""
    from .. import recording

    spread = seed_spread(folder) if spread is None else spread
    folder = recording.RECORDINGS if folder is None else folder
    limit = GOALS["transfer"][1]
    wanted = spread["table"].isin(["Table 2", "Table 4"]) & spread["gap as"].eq("points")
    misses = spread[wanted & spread["within goal"].eq(False)]
    runs = {}
    rows = []
    for _, cell in misses.iterrows():
        if cell["chapter"] not in runs:
            runs[cell["chapter"]] = recording.read_recording(cell["chapter"], folder)[0]
        run = runs[cell["chapter"]]
        results, params = run["results"], run["parameters"]
        row, column, paper = cell["row"], cell["column"], cell["paper"]
        p, n = cell["mean"] / 100, _examples(results, params, row)
        se = 100 * math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.nan
        other = at_path(results, ("variant_matrix", row, column)) if _row_model(row) else None
        clipped = at_path(results, ("noise_readings", "clipped to [0, 1]", row, column))
        causes = []
        if abs(cell["gap"]) <= 2 * se:
            causes.append("sample")
        if cell["sd"] == cell["sd"] and abs(cell["gap"]) <= SPREAD_FACTOR * cell["sd"]:
            causes.append("seed")
        if other is not None and abs(other - paper) <= limit:
            causes.append("reading")
        if clipped is not None and abs(clipped - paper) <= limit:
            causes.append("clipping")
        rows.append(
            {
                "table": cell["table"],
                "row": row,
                "column": column,
                "ours (mean)": cell["mean"],
                "paper": paper,
                "gap": cell["gap"],
                "sample: standard error": se,
                "seed: sd": cell["sd"],
                "other reading": math.nan if other is None else float(other),
                "noise clipped": math.nan if clipped is None else float(clipped),
                "explained by": ", ".join(causes) or "none of these",
            }
        )
    columns = [
        "table", "row", "column", "ours (mean)", "paper", "gap", "sample: standard error",
        "seed: sd", "other reading", "noise clipped", "explained by",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def misses_words(misses: pd.DataFrame, recorded: pd.DataFrame | None = None) -> str:
    """What `transfer_misses` found, in a sentence computed from it; with the `recorded`
    comparisons (`recorded_comparisons`), whether AE400-10 itself meets Table 1."""
    if misses.empty:
        return "Every transfer cell of Tables 2 and 4 is within 5 points of the paper's."
    counts = misses["explained by"].value_counts()
    unexplained = int(counts.get("none of these", 0))
    causes = {}
    for value in misses["explained by"]:
        for cause in value.split(", "):
            if cause != "none of these":
                causes[cause] = causes.get(cause, 0) + 1
    said = ", ".join(f"{k} {v}" for k, v in sorted(causes.items())) or "none"
    left = misses[misses["explained by"].eq("none of these")]
    autoencoder = int((left["row"].str.contains("AE400-10") | left["column"].eq("AE400-10")).sum())
    own = ""
    if recorded is not None:
        cells = recorded[recorded["table"].eq("Table 1") & recorded["row"].eq("AE400-10")]
        if len(cells):
            met = cells["within goal"].eq(True).all()
            own = ", a model that " + ("meets" if met else "misses") + " Table 1 itself"
    return (
        f"{len(misses)} transfer {'cell misses' if len(misses) == 1 else 'cells miss'} the "
        f"paper's by more than 5 points. Measured causes that would bring the paper's number "
        f"within reach, per cell: {said}; for {unexplained} none of the four does (not the "
        "sample, the seed, the reading of Table 1's distortion nor clipping), "
        f"{autoencoder} of them on AE400-10's row or column{own}."
    )


def spread_table(spread: pd.DataFrame) -> pd.DataFrame:
    """`seed_spread`'s cells with more than one seed, for people: mean ± sd (seeds), the
    paper's, the mean's gap and ✓/✗ for within the goal and beyond the spread ("nil sd"
    where the seeds agree, so "beyond" says nothing)."""
    if not isinstance(spread, pd.DataFrame) or "beyond spread" not in spread.columns:
        raise TypeError(f"spread must be seed_spread()'s DataFrame, got {type(spread).__name__}")
    several = spread[spread["seeds"].map(len) > 1]
    mark = {True: "✓", False: "✗"}
    table = pd.DataFrame(
        {
            "ours, mean ± sd": [
                f"{m:.3g} ± {s:.2g}" for m, s in zip(several["mean"], several["sd"], strict=True)
            ],
            "seeds": [len(s) for s in several["seeds"]],
            "paper": [f"{p:.3g}" for p in several["paper"]],
            "gap of the mean": [
                f"{g:.2f}×" if how == "ratio" else f"{g:+.2f}"
                for g, how in zip(several["gap"], several["gap as"], strict=True)
            ],
            "within goal": several["within goal"].map(mark).fillna("–").to_list(),
            f"gap beyond {SPREAD_FACTOR:g} sd": [
                mark.get(beyond, "–") + (" (nil sd)" if nil else "")
                for beyond, nil in zip(several["beyond spread"], several["nil spread"], strict=True)
            ],
        },
        index=pd.MultiIndex.from_frame(several[["table", "row", "column"]]),
    )
    return in_words(table)


def apart_words(apart: list[dict]) -> str:
    """A sentence on the seeds' recordings `seed_spread` left out (`seeds_apart`), or ""."""
    if not apart:
        return ""
    named = "; ".join(
        f"{stem} (seed {', '.join(str(r['seed']) for r in apart if r['chapter'] == stem)})"
        for stem in dict.fromkeys(r["chapter"] for r in apart)
    )
    return (
        f" Left out of the spread, as recorded by other code than the chapter's recording "
        f"(models or searches changed between them; record them again with `--seed`): {named}."
    )


def spread_words(spread: pd.DataFrame, apart: list[dict] | None = None) -> str:
    """What the spread says about the misses, in a sentence computed from `seed_spread`,
    and which seeds' recordings it left out (`seeds_apart`)."""
    apart = apart or []
    several = spread[spread["seeds"].map(len) > 1]
    if several.empty:
        return (
            "Only one seed of each chapter is recorded so far, so no number here has a spread "
            "yet: `python -m bookkit record --seed 1 01_framework 03_blind_spots "
            "04_across_models 05_across_training_sets` records another."
        ) + apart_words(apart)
    misses = several[several["within goal"].eq(False)]
    beyond = int(misses["beyond spread"].eq(True).sum())
    seeds = sorted({s for row in several["seeds"] for s in row})
    return (
        (
            f"{len(several)} {'number has' if len(several) == 1 else 'numbers have'} been "
            f"recorded with {len(seeds)} seeds "
            f"({', '.join(map(str, seeds))}). Of the {len(misses)} whose mean misses its goal, "
            f"{beyond} miss by more than {SPREAD_FACTOR:g} standard deviations of the seeds' "
            f"spread (a gap the seeds do not explain), {len(misses) - beyond} by less."
        )
        + nil_words(several)
        + apart_words(apart)
    )


def nil_words(several: pd.DataFrame) -> str:
    """A sentence on the cells whose seeds agree (`NIL_SPREAD`), or "": their spread is nil,
    so it neither explains nor measures their gap."""
    nil = several[several["nil spread"].eq(True)]
    if nil.empty:
        return ""
    per_table = ", ".join(f"{n} in {t}" for t, n in nil["table"].value_counts(sort=False).items())
    return (
        f" The seeds of {len(nil)} {'cell' if len(nil) == 1 else 'cells'} ({per_table}; "
        f'"nil sd" in the table) agree within {NIL_SPREAD:g} points (one test digit in 10,000 '
        "is 0.01): every seed gives the same number, so their spread is nil, and a gap of "
        "theirs, however small, counts as beyond it."
    )
