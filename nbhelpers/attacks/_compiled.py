"""Compiled TensorFlow functions of a model, made once per architecture and settings.

A compiled function of the search closes over the variables of the model it was built
for, so it is traced (and XLA-compiled) once for those variables. Models of one
architecture share it: the first model of an architecture is cloned into a *template*
whose variables the functions close over, and every later use copies the caller's
weights into the template first (`cached`). A chapter that searches many models of one
architecture (the seeds and variants of §4.2, the pools' refreshes) therefore compiles
once, not once per model. A model the template does not reproduce (its architecture
cannot be described or cloned, its output differs from the template's on a probe, or
it is too large to copy cheaply) keeps functions of its own. A concrete function has a
fixed input signature (batch dimension ``None``, scalars as 0-d tensors), so calls with
other batch sizes or other scalar values reuse it and never retrace.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Hashable

import numpy as np

# functions per template (a shared clone, or the model itself when it cannot be shared)
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# template per architecture, kept for the process (small models only, see _MAX_SHARED)
_TEMPLATES: dict[str, object] = {}
# which template serves a model (weakly: the cache never keeps a caller's model alive)
_TEMPLATE_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# models with more weights than this keep their own functions (copying them per use,
# and a second copy in memory, would cost more than a compilation saves)
_MAX_SHARED = 5_000_000


def cached(model, key: Hashable, build: Callable):
    """``build(template)`` the first time ``(architecture of model, key)`` is asked for,
    the same function afterwards, with `model`'s weights copied into the template it
    closes over. Use the function before asking for another model's."""
    template = _template(model)
    if template is not model:
        template.set_weights(model.get_weights())
    per_template = _FUNCTIONS.setdefault(template, {})
    if key not in per_template:
        per_template[key] = build(template)
    return per_template[key]


def clear() -> None:
    """Forget every compiled function and template (the next search compiles anew)."""
    _FUNCTIONS.clear()
    _TEMPLATES.clear()
    _TEMPLATE_OF.clear()


def architecture(model) -> str | None:
    """The model's architecture as a canonical JSON string: its configuration with layer
    and model names replaced by their order of appearance, and its weights' shapes and
    types; None where Keras cannot describe it."""
    try:
        config = model.get_config()
    except Exception:  # a subclassed model without get_config
        return None
    names: dict[str, str] = {}

    def collect(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "name" and isinstance(v, str):
                    names.setdefault(v, f"#{len(names)}")
                collect(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                collect(v)

    def rename(node):
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [rename(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    weights = [(tuple(w.shape), str(w.dtype)) for w in model.weights]
    try:
        return json.dumps(
            [type(model).__name__, rename(config), weights], sort_keys=True, default=repr
        )
    except (TypeError, ValueError):
        return None


def _template(model):
    """The shared template that serves `model` (checked once per model), or `model`."""
    template = _TEMPLATE_OF.get(model)
    if template is None:
        template = _shared_template(model) or model
        _TEMPLATE_OF[model] = template
    return template


def _shared_template(model):
    """The template of `model`'s architecture (cloned on first sight), if it computes what
    `model` computes once given its weights; else None."""
    import keras

    if sum(int(np.prod(w.shape)) for w in model.weights) > _MAX_SHARED:
        return None
    key = architecture(model)
    if key is None:
        return None
    template = _TEMPLATES.get(key)
    if template is None:
        try:
            template = keras.models.clone_model(model)
        except Exception:  # custom layers Keras cannot rebuild
            return None
        _TEMPLATES[key] = template
    try:
        template.set_weights(model.get_weights())
        probe = np.random.default_rng(0).uniform(size=(2, *model.input_shape[1:]))
        probe = probe.astype(np.float32)
        ours = np.asarray(template(probe, training=False))
        theirs = np.asarray(model(probe, training=False))
    except Exception:  # no single input shape to probe, or weights that do not fit
        return None
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=1e-5, atol=1e-6):
        return None
    return template


def logits_of(model, input_shape):
    """``z -> model(z reshaped to (n, *input_shape))``: the model on flat rows (graph code)."""
    import tensorflow as tf

    shape = (-1,) + tuple(input_shape)

    def logits(z):
        return model(tf.reshape(z, shape), training=False)

    return logits


def flat_size(input_shape) -> int:
    """Pixels per image: the length of one flat row."""
    return int(np.prod(input_shape))
