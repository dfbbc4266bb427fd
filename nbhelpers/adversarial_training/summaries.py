"""What chapter 06 says of networks trained to convergence (`convergence`): how long each
trained, which dropout the held-out digits chose, the pool variants, and per-epoch records
of runs that stopped apart, for one plot."""

from __future__ import annotations

from .. import _validation as _v

__all__ = ["POOL_VARIANTS", "how_long", "lowest_held_out", "padded", "pools_words"]


def how_long(info: dict) -> dict:
    """One network's row of "How long each trained": epochs run, what stopped it (the
    held-out rule, or the cap on epochs before the rule did), the epoch kept, the epochs
    after which the learning rate dropped, its held-out and test errors (%) and seconds."""
    _v.check_mapping(info, "info", what="a trained network's info")
    if "convergence" not in info:
        raise ValueError(
            "info must come from a network trained to convergence (it has no 'convergence'), "
            f"got keys {sorted(info)}"
        )
    c = info["convergence"]
    return {
        "epochs run": len(c["epochs"]),
        "stopped by": "held-out rule" if c["epochs"][-1]["verdict"] == "stop" else "cap",
        "epoch kept": c["kept"],
        "drops after": ", ".join(map(str, c["drops_after"])) or "none",
        "held-out error (%)": 100 * c["held_out_error"],
        "test error (%)": 100 * info["test_error"],
        "seconds": info["seconds"],
    }


def lowest_held_out(results: dict):
    """The key of the network with the lowest held-out error (the first on a tie): how the
    chapter chooses dropout's rates without looking at the test digits."""
    _v.check_mapping(results, "results", what="a dict of trained networks", non_empty=True)
    return min(results, key=lambda k: results[k].info["convergence"]["held_out_error"])


# Each pool variant of chapter 06: the layers its pools sit at and how an epoch takes them
# (`convergence.epoch_plan`); the first two train in every profile, the rest where the
# profile's `extra_pools` names them.
POOL_VARIANTS = {
    "pool (pixels)": ((0,), "alternate"),
    "pool (every layer)": ((0, 1, 2), "alternate"),
    "pool (hidden layers)": ((1, 2), "alternate"),
    "pool (top layer)": ((2,), "alternate"),
    "pool (every layer, interleaved)": ((0, 1, 2), "interleave"),
}


def padded(records: dict, key: str):
    """``(epochs, {name: values})`` of `key` from each network's per-epoch `records`, the
    shorter runs padded with NaN to the longest, for one plot of runs that stopped apart."""
    _v.check_mapping(records, "records", what="a dict {name: per-epoch records}", non_empty=True)
    longest = max(len(r) for r in records.values())
    series = {
        name: [e.get(key, float("nan")) for e in r] + [float("nan")] * (longest - len(r))
        for name, r in records.items()
    }
    return list(range(1, longest + 1)), series


def pools_words(differences: dict, means: dict) -> str:
    """The sentence of "Which layers, which schedule?": the pool variant with the lowest
    mean test error (`means`, %) and each pool's verdict against weight decay from its
    paired `differences` (variant minus weight decay, `robustness.paired_difference`)."""
    from ..robustness import verdict

    _v.check_mapping(differences, "differences", what="a dict {variant: paired_difference}")
    pools = [n for n in differences if n.startswith("pool")]
    if not pools:
        raise ValueError(f"differences must hold pool variants, got {sorted(differences)}")
    lowest = min(pools, key=lambda n: means[n])
    verdicts = "; ".join(f"{n} {verdict(differences[n])}" for n in pools)
    return (
        f"The lowest mean test error among the pools is {lowest}'s ({means[lowest]:.2f}%). "
        f"Against weight decay: {verdicts}."
    )
