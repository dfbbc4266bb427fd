"""Why AE400-10 missed Table 1 (§2): the autoencoder's open choices, one at a time.

The paper gives AE400-10's size (400 sigmoid units), its weight decay (1e-6), that the
encoder was "trained until it got very high quality first-layer filters" and that it was
not fine-tuned; nothing else. Each `Variant` changes one choice the paper leaves open from
the book's earlier choices (the default `Variant`), trains the autoencoder, then a softmax
on its frozen codes to convergence (convex, so the codes alone decide its errors: the
training error measures how linearly separable they are) and searches a sample of digits
for Table 1's distortion. The study found UFLDL's recipe within Table 1's goals; the
chapters now train AE400-10 by it (`nbhelpers.training.fit_autoencoder`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from . import _validation as _v
from .evaluate import deterministic_ops
from .models import N_PIXELS, build
from .training import (
    TrainingSettings,
    classifier_head,
    fit_classifier,
    minimise,
    sparsity_penalty,
)

__all__ = [
    "CHAPTER",
    "LABELS",
    "LOSSES",
    "VARIANTS",
    "Variant",
    "filter_images",
    "filter_rows",
    "measure",
    "rows",
    "study",
    "table",
    "within_goal",
    "words",
]

LOSSES = ("squared", "cross_entropy")


@dataclass(frozen=True)
class Variant:
    """One sparse autoencoder: objective, weights, input and training (defaults: the book's
    earlier choices, which the chapters trained AE400-10 by before the study).

    Objective: reconstruction error (`loss`) + β·KL(ρ‖mean activation) + λ/2·Σw² over the
    weights it trains (UFLDL's sparse autoencoder). ``tied``: the decoder is the encoder's
    transpose. ``centred``: the mean training digit is subtracted and the decoder is linear
    (UFLDL's linear decoder); the encoder then folds the mean into its bias, so the model
    still reads pixels. ``method``/``epochs``/``iterations``: Adam epochs or full-batch
    L-BFGS iterations; ``n_train``: the autoencoder's own training digits (None: all).
    """

    sparsity_target: float = 0.05
    sparsity_weight: float = 3.0
    decay: float = 1e-6
    tied: bool = False
    loss: str = "squared"
    centred: bool = False
    method: str = "adam"
    iterations: int = 400
    n_train: int | None = None

    def __post_init__(self):
        _v.check_real(self.sparsity_target, "sparsity_target", low=0, high=1, low_open=True)
        _v.check_real(self.sparsity_weight, "sparsity_weight", low=0)
        _v.check_real(self.decay, "decay", low=0)
        _v.check_choice(self.loss, "loss", LOSSES)
        _v.check_choice(self.method, "method", ("adam", "lbfgs"))
        _v.check_int(self.iterations, "iterations", low=1)
        if self.centred and self.loss != "squared":
            raise ValueError("a centred input has a linear decoder: loss must be 'squared'")
        if self.n_train is not None:
            _v.check_int(self.n_train, "n_train", low=1)


# The book's earlier choices, then each open choice changed alone; UFLDL's exercise as a public
# baseline (ρ 0.1, β 3, λ 3e-3, 400 L-BFGS iterations on 10,000 digits).
VARIANTS = {
    "book": Variant(),
    "tied": Variant(tied=True),
    "cross_entropy": Variant(loss="cross_entropy"),
    "centred": Variant(centred=True),
    "no_sparsity": Variant(sparsity_weight=0.0),
    "ufldl_adam": Variant(sparsity_target=0.1, decay=3e-3),
    "ufldl": Variant(sparsity_target=0.1, decay=3e-3, method="lbfgs", n_train=10_000),
}
LABELS = {
    "book": "the book's earlier choices (ρ 0.05, β 3, λ 1e-6)",
    "tied": "tied weights",
    "cross_entropy": "cross-entropy reconstruction",
    "centred": "centred input, linear decoder",
    "no_sparsity": "no sparsity penalty (β 0)",
    "ufldl_adam": "UFLDL's ρ 0.1 and λ 3e-3, by Adam",
    "ufldl": "UFLDL's recipe (ρ 0.1, λ 3e-3, full-batch L-BFGS, 10,000 digits at most)",
}
CHAPTER = "AE400-10 as the chapters train it (UFLDL's recipe, nbhelpers.training)"


def _autoencoder_loss(model, variant: Variant, mean_pixel, seed: int):
    """The batch loss of `variant`'s autoencoder around `model`'s encoder, and the
    variables it trains (the encoder's, then the decoder's)."""
    import tensorflow as tf

    encoder = model.get_layer("encoder")
    w, b = encoder.kernel, encoder.bias
    units = int(w.shape[1])
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6.0 / (units + N_PIXELS))  # Glorot, as the encoder's own initialiser
    decoder_b = tf.Variable(np.zeros(N_PIXELS, np.float32), name="decoder_bias")
    decoder_w = (
        None
        if variant.tied
        else tf.Variable(rng.uniform(-limit, limit, (units, N_PIXELS)).astype(np.float32))
    )
    mean = tf.constant(mean_pixel if variant.centred else np.zeros(N_PIXELS), tf.float32)
    rho, beta, lam = variant.sparsity_target, variant.sparsity_weight, variant.decay

    def loss(xb):
        x = xb - mean
        code = tf.sigmoid(tf.matmul(x, w) + b)
        wd = tf.transpose(w) if decoder_w is None else decoder_w
        pre = tf.matmul(code, wd) + decoder_b
        if variant.loss == "cross_entropy":
            err = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=pre)
        else:
            out = pre if variant.centred else tf.sigmoid(pre)
            err = 0.5 * tf.square(out - x)
        kl = sparsity_penalty(code, rho)
        weights = tf.reduce_sum(tf.square(w))
        if decoder_w is not None:
            weights += tf.reduce_sum(tf.square(decoder_w))
        return tf.reduce_mean(tf.reduce_sum(err, axis=1)) + beta * kl + lam / 2 * weights

    variables = [w, b, decoder_b] + ([] if decoder_w is None else [decoder_w])
    return loss, variables


def _fold_mean(model, mean_pixel) -> None:
    """Make the encoder read raw pixels: σ(W(x − m) + b) = σ(Wx + (b − Wm))."""
    encoder = model.get_layer("encoder")
    w, b = encoder.get_weights()
    encoder.set_weights([w, (b - mean_pixel @ w).astype(np.float32)])


def measure(model, data, xs, ys, seed: int) -> dict:
    """A trained AE400-10-shaped model's errors (%), its codes' activity and Table 1's
    distortion on the searched digits ``(xs, ys)`` (§4.1: per-pixel RMS to a random label)."""
    from .attacks import search_correctly_classified
    from .attacks.readings import table1_distortion
    from .evaluate import error_rate

    codes = np.asarray(model.get_layer("encoder")(data.x_train[:10_000]))
    search = search_correctly_classified(model, xs, ys, "random", seed=seed, progress=False)
    return {
        "train_error": 100 * error_rate(model, data.x_train, data.y_train),
        "test_error": 100 * error_rate(model, data.x_test, data.y_test),
        "mean_activation": float(codes.mean()),
        "active_share": 100 * float((codes > 0.5).mean()),
        "distortion": float(table1_distortion(search, "random")),
        "failed": int(search.n_failed),
    }


def filter_images(kernel, n: int = 8, seed: int = 0) -> np.ndarray:
    """`n` of the encoder's filters (784 × units kernel) as 28×28 images, each scaled by its
    largest |weight| (signed, in [−1, 1]); the same units for the same seed and width."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != N_PIXELS:
        raise ValueError(f"kernel must have shape ({N_PIXELS}, units), got {kernel.shape}")
    n = _v.check_int(n, "n", low=1)
    idx = np.sort(
        np.random.default_rng(seed).choice(kernel.shape[1], min(n, kernel.shape[1]), False)
    )
    filt = kernel[:, idx].T.reshape(-1, 28, 28)
    peak = np.abs(filt).max(axis=(1, 2), keepdims=True)
    return np.round(filt / np.where(peak > 0, peak, 1), 2)  # two decimals: a JSON of pictures


def study(
    data,
    variants,
    *,
    epochs: int = 20,
    stages=(5, 20, 60),
    iterations: int | None = None,
    n_search: int = 500,
    classifier_iterations: int = 1000,
    seed: int = 0,
    chapter_model=None,
    progress: bool | None = None,
) -> dict:
    """Train and measure the `variants` (ids of `VARIANTS`): Adam ones for `epochs`, except
    the first (the baseline), measured after each of `stages` (cumulative epochs: how its
    filters and errors move with the autoencoder's length); L-BFGS ones for `iterations`
    (None: their own). The softmax on the codes: full-batch L-BFGS until its gradient
    vanishes (`classifier_iterations` at most). With `chapter_model`, that AE400-10 is
    measured first, on the same searched training digits.

    Returns ``{id: {"label", "variant", "stages": [{"epochs" or "iterations", `measure`'s
    numbers, "seconds"}], "filters": [`filter_images` per stage]}}``. Same seed, same
    numbers; a variant that fails raises (nothing is replaced).
    """
    from .progress import check_progress

    variants = list(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if not variants or unknown:
        raise ValueError(
            f"variants must be a non-empty list of {sorted(VARIANTS)}, got {variants!r}"
        )
    epochs = _v.check_int(epochs, "epochs", low=1)
    stages = [_v.check_int(s, "stages[i]", low=1) for s in stages]
    if not stages or stages != sorted(set(stages)):
        raise ValueError(f"stages must be increasing epoch counts, got {stages}")
    iterations = _v.check_int(iterations, "iterations", low=1, allow_none=True)
    n_search = _v.check_int(n_search, "n_search", low=1)
    classifier = TrainingSettings(
        method="lbfgs",
        max_iterations=_v.check_int(classifier_iterations, "classifier_iterations", low=1),
    )
    seed = _v.check_seed(seed)
    progress = check_progress(progress)
    searched = data.sample("train", n_search, seed=seed)
    mean_pixel = data.x_train.mean(axis=0).astype(np.float32)
    deterministic_ops()
    out = {}
    if chapter_model is not None:
        row = {**measure(chapter_model, data, *searched, seed), "seconds": None}
        filters = filter_images(chapter_model.get_layer("encoder").get_weights()[0], seed=seed)
        out["chapter"] = {"label": CHAPTER, "variant": None, "stages": [row], "filters": [filters]}
    for i, key in enumerate(variants):
        v = VARIANTS[key]
        if v.method == "lbfgs" and iterations is not None:
            v = replace(v, iterations=iterations)
        steps = [v.iterations] if v.method == "lbfgs" else (stages if i == 0 else [epochs])
        out[key] = {
            "label": LABELS[key],
            **_run(data, key, v, steps, mean_pixel, searched, classifier, seed, progress),
        }
    return out


def _run(data, label, v: Variant, steps, mean_pixel, searched, classifier, seed, progress) -> dict:
    """One variant, trained to each of `steps` in turn and measured after each."""
    model = build("AE400-10", seed=seed)
    loss, variables = _autoencoder_loss(model, v, mean_pixel, seed)
    x = data.x_train if v.n_train is None else data.sample("train", v.n_train, seed=seed)[0]
    unit = "iterations" if v.method == "lbfgs" else "epochs"
    rows, filters, done, seconds = [], [], 0, 0.0
    for step in steps:
        start = time.perf_counter()
        if v.method == "lbfgs":
            settings = TrainingSettings(method="lbfgs", max_iterations=step)
        else:
            settings = TrainingSettings(method="adam", epochs=step - done)
        minimise(variables, loss, (x,), settings, seed + done, label, progress)
        done = step
        trained = build("AE400-10", seed=seed)
        trained.get_layer("encoder").set_weights(model.get_layer("encoder").get_weights())
        if v.centred:
            _fold_mean(trained, mean_pixel)
        head, codes = classifier_head(trained, data.x_train)
        fit_classifier(head, codes, data.y_train, classifier, seed, progress, f"{label}: softmax")
        seconds += time.perf_counter() - start
        row = {unit: step, **measure(trained, data, *searched, seed), "seconds": round(seconds, 1)}
        rows.append(row)
        filters.append(filter_images(trained.get_layer("encoder").get_weights()[0], seed=seed))
    return {"variant": asdict(v), "stages": rows, "filters": filters}


def rows(results: dict) -> dict[str, dict]:
    """One row per measured stage, labelled in words (with its length for the staged
    baseline), with its length as ``"length"``."""
    out = {}
    for r in results.values():
        staged = len(r["stages"]) > 1
        for s in r["stages"]:
            if "epochs" in s:
                length = f"{s['epochs']} Adam epoch{'s' if s['epochs'] != 1 else ''}"
            elif "iterations" in s:
                length = f"{s['iterations']} L-BFGS iterations"
            else:
                length = "this chapter's training"
            out[f"{r['label']}, {length}" if staged else r["label"]] = {**s, "length": length}
    return out


def filter_rows(results: dict) -> tuple[list[str], list]:
    """The filters of every measured stage as `plots.image_grid` rows, and their labels."""
    labels, images = [], []
    for r in results.values():
        for s, f in zip(r["stages"], r["filters"], strict=True):
            short = r["label"].split(" (")[0]
            if len(r["stages"]) > 1:
                n = s.get("epochs", s.get("iterations"))
                short += f", {n} {'epoch' if 'epochs' in s else 'iteration'}{'s' * (n != 1)}"
            labels.append(short)
            images.append(np.asarray(f))
    return labels, images


def within_goal(row: dict, paper_row: dict) -> bool:
    """Table 1's goals for this row: both errors within 0.5 points of the paper's and the
    distortion within 25% of it (`nbhelpers.fidelity.GOALS`)."""
    errors = all(abs(row[k] - paper_row[k]) <= 0.5 for k in ("train_error", "test_error"))
    return errors and abs(row["distortion"] / paper_row["distortion"] - 1) <= 0.25


def table(results: dict, paper_row: dict):
    """The study for people: each measured stage, then the paper's row; errors in %, ✓
    where a row meets Table 1's goals."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            label: {
                "autoencoder trained by": r["length"],
                "training error (%)": f"{r['train_error']:.2f}",
                "test error (%)": f"{r['test_error']:.2f}",
                "distortion": f"{r['distortion']:.3f}",
                "mean code": f"{r['mean_activation']:.3f}",
                "codes > 0.5 (%)": f"{r['active_share']:.1f}",
                "within goal": "✓" if within_goal(r, paper_row) else "✗",
            }
            for label, r in rows(results).items()
        }
    ).T
    frame.loc["the paper's AE400-10"] = {
        "autoencoder trained by": "L-BFGS",
        "training error (%)": f"{paper_row['train_error']:g}",
        "test error (%)": f"{paper_row['test_error']:g}",
        "distortion": f"{paper_row['distortion']:g}",
        "mean code": "–",
        "codes > 0.5 (%)": "–",
        "within goal": "",
    }
    return frame


def words(results: dict, paper_row: dict) -> str:
    """What the study found, in sentences computed from it: the variant closest to the
    paper's errors, whether any meets Table 1's goals, and the best separability."""
    measured = rows(results)
    gap = {k: abs(r["test_error"] - paper_row["test_error"]) for k, r in measured.items()}
    closest = min(gap, key=gap.get)
    best = measured[closest]
    met = [k for k, r in measured.items() if within_goal(r, paper_row)]
    separable = min(measured, key=lambda k: measured[k]["train_error"])
    return (
        f"Closest to the paper's test error of {paper_row['test_error']:g}%: {closest}, with "
        f"{best['train_error']:.2f}% / {best['test_error']:.2f}% and distortion "
        f"{best['distortion']:.3f} (paper {paper_row['distortion']:g}). "
        + (
            f"Within Table 1's goals (errors within 0.5 points, distortion within 25%): "
            f"{', '.join(met)}. "
            if met
            else "None of the variants meets Table 1's goals (errors within 0.5 points, "
            "distortion within 25%). "
        )
        + "The most linearly separable codes (the lowest training error of a converged "
        f"softmax): {separable}, {measured[separable]['train_error']:.2f}% against the "
        f"paper's {paper_row['train_error']:g}%."
    )
