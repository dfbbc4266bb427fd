"""Units and directions (§3): are the images that excite one unit more alike than a direction's?

Szegedy et al. select, from held-out images ``I``, the ones that maximise a unit's
activation, ``x' = argmax_{x in I} <φ(x), e_i>``, or a random direction's,
``argmax_{x in I} <φ(x), v>``, and find them equally coherent (§3, Figures 1-2). Here:

- :func:`activations` gives ``φ(x)`` of any named layer of any Keras model, a convolutional
  feature map reduced to one number per channel (a "unit" is a channel, as in Bau et al.'s
  Network Dissection) or flattened;
- :func:`top_k` the ``k`` images that maximise many directions at once; :func:`purity` and
  :func:`label_entropy` how alike their labels are, :func:`random_sets` the chance baseline;
- :func:`random_directions`, :func:`random_rotation` and :func:`fractional_rotation`
  (``Q^α``, Bau et al.'s sweep from the units at α=0 to a random basis at α=1);
- :func:`compare_layer` and :func:`rotation_sweep` put these together for one layer,
  :func:`mean_ci` and :func:`compare_samples` give the means, intervals and a test.

Knows nothing of :mod:`nbhelpers.models`: any Keras model and layer name will do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import (
    check_array,
    check_choice,
    check_images,
    check_int,
    check_labels,
    check_real,
    check_seed,
    check_str,
)

__all__ = [
    "REDUCTIONS",
    "DIRECTION_KINDS",
    "layer_names",
    "activations",
    "live_units",
    "random_directions",
    "random_rotation",
    "fractional_rotation",
    "top_k",
    "tied_at_top",
    "purity",
    "label_entropy",
    "dominant_labels",
    "random_sets",
    "mean_ci",
    "compare_samples",
    "verdict",
    "interval_text",
    "picks_text",
    "LayerComparison",
    "compare_layer",
    "RotationSweep",
    "rotation_sweep",
]

REDUCTIONS = ("max", "mean", "flatten")
# How a convolutional feature map (n, h, w, channels) becomes one vector per image:
# "max": each channel's strongest response anywhere (a unit is a channel: the feature it
# detects, present somewhere in the image; Network Dissection's convention), "mean": its
# average response, "flatten": every position of every channel a unit of its own.
DIRECTION_KINDS = ("gaussian", "uniform")
# "gaussian": isotropic, normalised: uniform on the sphere, the paper's random direction.
# "uniform": entries uniform in [0, 1), normalised, as one public reproduction draws them;
# all positive, so on non-negative activations much like the sum of the units.


def _check_activations(acts, name: str = "acts") -> np.ndarray:
    """Activations as a finite float64 array (n images, d units) with n >= 1 and d >= 1."""
    return check_array(acts, name, ndim=2, what="an array of shape (images, units), both > 0")


def _check_k(k, n_images: int) -> int:
    """The number of top images: an int in [1, n_images]."""
    return check_int(k, "k", low=1, high=n_images)


def layer_names(model) -> list[str]:
    """The names of the model's layers, in order (what :func:`activations` accepts)."""
    if not hasattr(model, "layers"):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    return [layer.name for layer in model.layers]


def activations(model, layer: str, x, *, reduce: str = "max", batch_size: int = 1000):
    """``φ(x)``: the output of the model's layer named ``layer`` for images ``x``, (n, d).

    A convolutional output (n, h, w, c) is reduced per ``reduce`` (see :data:`REDUCTIONS`)
    batch by batch, so the full feature maps of many images are never held at once.
    """
    import keras

    names = layer_names(model)
    layer = check_str(layer, "layer", non_empty=True)
    if layer not in names:
        raise ValueError(f"layer must be one of the model's layers {names}, got {layer!r}")
    reduce = check_choice(reduce, "reduce", REDUCTIONS)
    batch_size = check_int(batch_size, "batch_size", low=1)
    x = check_images(x, "x")
    sub = keras.Model(model.input, model.get_layer(layer).output)
    out = []
    for i in range(0, len(x), batch_size):
        a = np.asarray(sub(x[i : i + batch_size], training=False), dtype=np.float64)
        if a.ndim > 2 and reduce != "flatten":
            a = a.reshape(len(a), -1, a.shape[-1])
            a = a.max(axis=1) if reduce == "max" else a.mean(axis=1)
        out.append(a.reshape(len(a), -1))
    return np.concatenate(out)


def live_units(acts) -> np.ndarray:
    """Mask of the units whose activation varies over the images (a dead unit ranks nothing).

    A constant coordinate adds the same to every image's projection on any direction, so
    leaving dead units out changes no direction's top images.
    """
    a = _check_activations(acts)
    return a.max(axis=0) > a.min(axis=0)


def random_directions(d: int, n: int, *, seed: int = 0, kind: str = "gaussian") -> np.ndarray:
    """``n`` random unit vectors of dimension ``d``, one per row (§3's random directions ``v``)."""
    d, n = check_int(d, "d", low=1), check_int(n, "n", low=1)
    kind = check_choice(kind, "kind", DIRECTION_KINDS)
    rng = np.random.default_rng(check_seed(seed))
    v = rng.standard_normal((n, d)) if kind == "gaussian" else rng.random((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def random_rotation(d: int, *, seed: int = 0) -> np.ndarray:
    """A rotation drawn uniformly (Haar measure) from SO(d): QR of a Gaussian, signs fixed.

    Determinant +1, so that the path ``Q^α`` from the identity stays real (SO(d) is connected).
    """
    d = check_int(d, "d", low=1)
    rng = np.random.default_rng(check_seed(seed))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))  # Haar: the QR's sign convention removed
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _rotation_angles(q: np.ndarray):
    """Real Schur form of an orthogonal ``q``: ``q = Z B Z^T``, B's 2x2 blocks rotations.

    Returns Z and a list of (index, angle) pairs, one per rotation plane; eigenvalues -1
    are paired into planes turned by π; +1 eigenvalues are left out (they do not move).
    """
    from scipy.linalg import schur

    t, z = schur(q, output="real")
    planes, minus, i, d = [], [], 0, len(q)
    while i < d:
        if i + 1 < d and abs(t[i + 1, i]) > 1e-12:
            planes.append((i, i + 1, np.arctan2(t[i + 1, i], t[i, i])))
            i += 2
        else:
            if t[i, i] < 0:
                minus.append(i)
            i += 1
    if len(minus) % 2:
        raise ValueError("q must be a rotation (determinant +1), got determinant -1")
    planes += [(a, b, np.pi) for a, b in zip(minus[::2], minus[1::2], strict=True)]
    return z, planes


def fractional_rotation(q, alpha: float) -> np.ndarray:
    """``Q^α`` for a rotation ``Q``, real: each of its planes turned by α times its angle.

    ``Q^0 = I``, ``Q^1 = Q``, every ``Q^α`` orthogonal and ``Q^a Q^b = Q^(a+b)``: the path
    from the units (α=0) to a random basis (α=1) of Bau et al.'s rotation sweep.
    """
    try:
        q = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"q must be a square matrix of numbers, got {type(q).__name__}") from None
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] == 0:
        raise ValueError(f"q must be a square matrix, got shape {q.shape}")
    if not np.allclose(q.T @ q, np.eye(len(q)), atol=1e-8):
        raise ValueError("q must be orthogonal (q^T q = I)")
    alpha = check_real(alpha, "alpha")
    z, planes = _rotation_angles(q)
    b = np.eye(len(q))
    for i, j, angle in planes:
        c, s = np.cos(alpha * angle), np.sin(alpha * angle)
        b[i, i], b[i, j], b[j, i], b[j, j] = c, -s, s, c
    return z @ b @ z.T


def top_k(acts, directions, k: int) -> np.ndarray:
    """For each direction v (a row), the indices of the ``k`` images with the largest
    ``<φ(x), v>``, largest first: ``(n_directions, k)``. Units are the rows of the identity."""
    a = _check_activations(acts)
    v = _check_activations(directions, "directions")
    if v.shape[1] != a.shape[1]:
        raise ValueError(
            f"directions must have {a.shape[1]} columns (the layer's units), got {v.shape[1]}"
        )
    k = _check_k(k, len(a))
    scores = a @ v.T  # (images, directions)
    part = np.argpartition(-scores, k - 1, axis=0)[:k]  # the k largest, unordered
    order = np.argsort(-np.take_along_axis(scores, part, axis=0), axis=0, kind="stable")
    return np.take_along_axis(part, order, axis=0).T


def tied_at_top(acts, k: int) -> np.ndarray:
    """For each unit, how many images reach at least its k-th largest activation.

    More than ``k`` means ties at the top: the unit's top-k set is a pick among equals
    (a channel's maximum saturates on many digits), not a ranking.
    """
    a = _check_activations(acts)
    k = _check_k(k, len(a))
    kth = -np.partition(-a, k - 1, axis=0)[k - 1]
    return (a >= kth).sum(axis=0)


def _label_counts(labels, top) -> np.ndarray:
    """How many of each set's images carry each label: (n_sets, n_classes)."""
    top = np.asarray(top)
    if top.ndim != 2 or top.shape[1] == 0 or not np.issubdtype(top.dtype, np.integer):
        raise ValueError(f"top must be an int array (sets, k) with k >= 1, got {top.shape}")
    labels = check_labels(labels, "labels", num_classes=np.iinfo(np.int32).max)
    if top.size and (top.min() < 0 or top.max() >= len(labels)):
        raise ValueError(f"top must index the {len(labels)} labels, got {top.min()}..{top.max()}")
    n_classes = int(labels.max()) + 1
    lab = labels[top]
    return np.stack([(lab == c).sum(axis=1) for c in range(n_classes)], axis=1)


def purity(labels, top) -> np.ndarray:
    """Share of each set's images that carry its most common label (1: all alike)."""
    counts = _label_counts(labels, top)
    return counts.max(axis=1) / counts.sum(axis=1)


def dominant_labels(labels, top) -> np.ndarray:
    """Each set's most common label (the smallest on a tie): which class a direction picks."""
    return _label_counts(labels, top).argmax(axis=1)


def label_entropy(labels, top) -> np.ndarray:
    """Entropy of each set's labels in bits (0: all alike; log2 of the classes at most)."""
    counts = _label_counts(labels, top)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=1)


def random_sets(n_images: int, k: int, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` sets of ``k`` images drawn at random without replacement: the chance baseline."""
    n_images = check_int(n_images, "n_images", low=1)
    k, n = _check_k(k, n_images), check_int(n, "n", low=1)
    rng = np.random.default_rng(check_seed(seed))
    return np.stack([rng.choice(n_images, size=k, replace=False) for _ in range(n)])


def _check_sample(values, name: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of numbers, got {type(values).__name__}"
        ) from None
    if len(v) < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must hold at least 2 finite numbers, got {len(v)}")
    return v


def mean_ci(values, level: float = 0.95) -> dict:
    """The mean with its Student-t confidence interval: {"mean", "low", "high", "n"}."""
    from scipy import stats

    v = _check_sample(values, "values")
    level = check_real(level, "level", low=0, high=1, low_open=True, high_open=True)
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    m = float(v.mean())
    return {"mean": m, "low": m - half, "high": m + half, "n": len(v)}


def compare_samples(a, b, level: float = 0.95) -> dict:
    """Do two samples differ? Mean difference a - b with Welch's t interval, Mann-Whitney U's p."""
    from scipy import stats

    a, b = _check_sample(a, "a"), _check_sample(b, "b")
    level = check_real(level, "level", low=0, high=1, low_open=True, high_open=True)
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:  # no spread: the difference is exact, and nothing to rank
        return {"difference": diff, "low": diff, "high": diff, "p_mannwhitney": float(diff == 0)}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    half = float(stats.t.ppf(0.5 + level / 2, df) * np.sqrt(va + vb))
    p = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    return {"difference": diff, "low": diff - half, "high": diff + half, "p_mannwhitney": float(p)}


def verdict(test) -> str:
    """ "purer than", "less pure than" or "as pure as": where the interval of a difference
    a - b (:func:`compare_samples`) lies, for prose built from the numbers."""
    if test["low"] > 0:
        return "purer than"
    if test["high"] < 0:
        return "less pure than"
    return "as pure as"


def interval_text(ci, fmt: str = "{:.2f}") -> str:
    """A mean (or difference) with its interval as text: "0.71 [0.65, 0.77]"."""
    centre = ci["mean"] if "mean" in ci else ci["difference"]
    return f"{fmt.format(centre)} [{fmt.format(ci['low'])}, {fmt.format(ci['high'])}]"


def picks_text(summary) -> str:
    """How many classes a kind of top-k sets picks, from :meth:`LayerComparison.summary`."""
    n = summary["classes"]
    share = 100 * summary["top_class_share"]
    return f"{n} class{'es' if n != 1 else ''}, the most frequent in {share:.0f}% of them"


@dataclass(frozen=True)
class LayerComparison:
    """Units against random directions in one layer: each set's top-k purity and entropy.

    ``purity`` and ``entropy`` map each kind of set ("units", "random directions",
    "uniform directions", "random images") to one value per set, ``dominant`` to each
    set's most common label (do the sets pick many classes, or one?); ``top`` the top-k image
    indices of the units and of the random directions, for the grids of Figures 1 and 2.
    """

    k: int
    n_units: int
    n_live: int
    purity: dict
    entropy: dict
    dominant: dict
    top: dict

    def summary(self, level: float = 0.95) -> dict:
        """Per kind, the mean purity and entropy with their confidence intervals, how many
        classes the sets pick, the most picked one and the share of sets that pick it."""
        return {
            kind: {
                "purity": mean_ci(self.purity[kind], level),
                "entropy": mean_ci(self.entropy[kind], level),
                "classes": int(len(np.unique(self.dominant[kind]))),
                "top_class": int(np.bincount(self.dominant[kind]).argmax()),
                "top_class_share": float(
                    np.bincount(self.dominant[kind]).max() / len(self.dominant[kind])
                ),
            }
            for kind in self.purity
        }

    def test(self, a: str = "units", b: str = "random directions", level: float = 0.95) -> dict:
        """Do kinds ``a`` and ``b`` differ, in purity and in entropy? (:func:`compare_samples`)."""
        a, b = check_choice(a, "a", list(self.purity)), check_choice(b, "b", list(self.purity))
        return {
            m: compare_samples(getattr(self, m)[a], getattr(self, m)[b], level)
            for m in ("purity", "entropy")
        }


def compare_layer(acts, labels, k: int, *, seed: int = 0, n_random: int | None = None):
    """§3 measured on one layer: the top-k images of every live unit, of as many random
    directions (Gaussian, and uniform in [0, 1) for comparison) and of random image sets.

    ``n_random``: how many random directions and image sets (default: one per live unit).
    """
    a = _check_activations(acts)
    labels = check_labels(labels, "labels", n=len(a), num_classes=np.iinfo(np.int32).max)
    k, seed = _check_k(k, len(a)), check_seed(seed)
    live = live_units(a)
    if not live.any():
        raise ValueError("acts must vary over the images in at least one unit, got none")
    a = a[:, live]
    d = a.shape[1]
    n = d if n_random is None else check_int(n_random, "n_random", low=1)
    top = {
        "units": top_k(a, np.eye(d), k),
        "random directions": top_k(a, random_directions(d, n, seed=seed), k),
        "uniform directions": top_k(a, random_directions(d, n, seed=seed, kind="uniform"), k),
        "random images": random_sets(len(a), k, n, seed=seed),
    }
    return LayerComparison(
        k=k,
        n_units=int(len(live)),
        n_live=int(d),
        purity={kind: purity(labels, t) for kind, t in top.items()},
        entropy={kind: label_entropy(labels, t) for kind, t in top.items()},
        dominant={kind: dominant_labels(labels, t) for kind, t in top.items()},
        top={kind: top[kind] for kind in ("units", "random directions")},
    )


@dataclass(frozen=True)
class RotationSweep:
    """Purity of the top-k images of the basis ``Q^α`` (its columns), for each α."""

    alphas: tuple
    k: int
    purity: np.ndarray  # (len(alphas), directions)
    threshold: float

    def summary(self, level: float = 0.95) -> dict:
        """Per α: mean purity with its interval, and the share of directions at least
        ``threshold`` pure (Bau et al.'s count of interpretable units, as a share)."""
        out = {}
        for alpha, p in zip(self.alphas, self.purity, strict=True):
            out[f"{alpha:g}"] = {
                **mean_ci(p, level),
                "share_pure": float(np.mean(p >= self.threshold)),
            }
        return out


def rotation_sweep(
    acts, labels, alphas, k: int, *, seed: int = 0, n_rotations: int = 1, threshold: float = 0.9
) -> RotationSweep:
    """Bau et al.'s sweep (Network Dissection, CVPR 2017): purity of the top-k images of
    the columns of ``Q^α``, ``Q`` a random rotation, α from 0 (units) to 1 (random basis).

    The live units only (:func:`live_units`); ``n_rotations`` independent rotations pooled.
    """
    a = _check_activations(acts)
    labels = check_labels(labels, "labels", n=len(a), num_classes=np.iinfo(np.int32).max)
    k, seed = _check_k(k, len(a)), check_seed(seed)
    n_rotations = check_int(n_rotations, "n_rotations", low=1)
    threshold = check_real(threshold, "threshold", low=0, high=1)
    alphas = tuple(check_real(x, "alphas", low=0, high=1) for x in np.atleast_1d(alphas))
    if not alphas:
        raise ValueError("alphas must hold at least one rotation fraction in [0, 1], got none")
    a = a[:, live_units(a)]
    if a.shape[1] == 0:
        raise ValueError("acts must vary over the images in at least one unit, got none")
    qs = [random_rotation(a.shape[1], seed=seed + r) for r in range(n_rotations)]
    rows = []
    for alpha in alphas:
        bases = [fractional_rotation(q, alpha).T for q in qs]  # rows: the rotated basis
        rows.append(np.concatenate([purity(labels, top_k(a, b, k)) for b in bases]))
    return RotationSweep(alphas=alphas, k=k, purity=np.stack(rows), threshold=threshold)
