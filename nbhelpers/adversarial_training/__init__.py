"""Training on adversarial examples (paper §4.2, last paragraph), its baselines and FGSM.

``trainers`` holds the settings, the one epoch loop every variant shares and the
shared-cache entry point ``trained_adversarial``; ``pools`` holds the pools of
adversarial examples: how minibatches mix them in, the maps that put a pool at a hidden
layer, and the refreshes. Chapters import from here.
"""

from .pools import (
    assemble_batch,
    batch_plan,
    dense_layers,
    layer_maps,
    new_pools,
    refresh,
    refresh_history,
)
from .trainers import (
    PAPER_SECTION_4_2,
    BaselineSettings,
    FGSMTrainingSettings,
    PoolSettings,
    fgsm_loss,
    train_baseline,
    train_fgsm,
    train_with_pool,
    trained_adversarial,
)

__all__ = [
    "PAPER_SECTION_4_2",
    "BaselineSettings",
    "PoolSettings",
    "FGSMTrainingSettings",
    "assemble_batch",
    "batch_plan",
    "dense_layers",
    "fgsm_loss",
    "layer_maps",
    "new_pools",
    "refresh",
    "refresh_history",
    "train_baseline",
    "train_fgsm",
    "train_with_pool",
    "trained_adversarial",
]
