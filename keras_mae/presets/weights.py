"""Writing and reading a model's weights as two Keras `.weights.h5` files.

- `model.weights.h5`: everything inference needs (all layer weights, and the
  model's own variables) except the layers named by the model's
  `preset_training_layers()`.
- `training_state.weights.h5`: those training-only layers (e.g. a GAN's
  discriminator) and the optimizer state, for resuming training.

Optimizer and metric state never enter the inference file. Both files are
written and read by Keras' own H5 store (no pickle). The inference file may
store its float32 arrays as float16 (`weights_dtype="float16"`: half the
size); Keras casts them back to the variables' dtype when it loads them.

Keras' public `save_weights` cannot leave objects out, so this module uses
`keras.src.saving.saving_lib.save_weights_only`/`load_weights_only` and their
`objects_to_skip` argument (Keras >= 3.15); it is the only module touching
Keras saving internals.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import keras
import numpy as np
from keras.src.saving import saving_lib
from keras.src.saving.keras_saveable import KerasSaveable


def training_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The sub-layers `model` needs only for training.

    Args:
        model: A keras_mae model; it may define
            `preset_training_layers() -> list[keras.layers.Layer]`.

    Returns:
        The layers (empty if the method is absent).

    Raises:
        TypeError: If the method returns something other than layers.

    Examples:
    >>> training_layers(gan)  # doctest: +SKIP
    [<Sequential name=discriminator, built=True>]
    """
    method = getattr(model, "preset_training_layers", None)
    layers = list(method()) if callable(method) else []
    for layer in layers:
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"{type(model).__name__}.preset_training_layers() must return "
                f"keras layers; received {layer!r}."
            )
    return layers


def built_optimizer(model: keras.Model) -> keras.optimizers.Optimizer | None:
    """The model's optimizer if it is compiled and its variables exist."""
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.Optimizer) and optimizer.built:
        return optimizer
    return None


def _reachable_state_objects(root: KerasSaveable) -> list[KerasSaveable]:
    """Optimizers and metrics reachable from `root` the way Keras saving walks.

    A model may keep optimizers in more places than `model.optimizer` (e.g. one
    per player next to a `MultiOptimizer`); all of them are training state.
    """
    found, seen = [], set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (keras.optimizers.Optimizer, keras.metrics.Metric)):
            found.append(obj)
        if isinstance(obj, KerasSaveable):
            stack.extend(child for _, child in saving_lib._walk_saveable(obj))
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
    return found


class _TrainingState(keras.layers.Layer):
    """Holds the training-only objects so Keras saves them as one tree."""

    def __init__(self, layers: list[keras.layers.Layer], optimizer):
        super().__init__(name="training_state")
        self.training_layers = layers
        self.optimizer = optimizer
        self.built = True


def _metrics(root: KerasSaveable) -> list[KerasSaveable]:
    return [
        obj
        for obj in _reachable_state_objects(root)
        if isinstance(obj, keras.metrics.Metric)
    ]


def _inference_skip_list(model: keras.Model) -> list[KerasSaveable]:
    return training_layers(model) + _reachable_state_objects(model)


# Storage dtypes `save_inference_weights` can write (None: the variables' own).
WEIGHTS_DTYPES = (None, "float16")


def check_weights_dtype(weights_dtype: str | None) -> str | None:
    """Returns `weights_dtype` if it is one of `WEIGHTS_DTYPES`, else raises."""
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(
            f"`weights_dtype` must be one of {WEIGHTS_DTYPES}; "
            f"received {weights_dtype!r}."
        )
    return weights_dtype


def _copy_converted(source: h5py.Group, target: h5py.Group, dtype) -> None:
    """Copies `source` into `target`, float32 datasets converted to `dtype`."""
    target.attrs.update(source.attrs)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            _copy_converted(item, target.create_group(name), dtype)
            continue
        data = item[()]
        if isinstance(data, np.ndarray) and data.dtype == np.float32:
            with np.errstate(over="ignore"):
                converted = data.astype(dtype)
            overflow = np.isfinite(data) & ~np.isfinite(converted)
            if overflow.any():
                raise ValueError(
                    f"Cannot store the weights as {np.dtype(dtype).name}: "
                    f"{item.name} holds values up to "
                    f"{np.abs(data[overflow]).max():.4g}, beyond its range "
                    f"(+-{np.finfo(dtype).max:.4g}). Save them as float32."
                )
            data = converted
        target.create_dataset(name, data=data).attrs.update(item.attrs)


def _store_as(path: Path, dtype: str) -> None:
    """Rewrites the Keras weights file `path` with float32 arrays in `dtype`."""
    converted = path.with_name(f".{dtype}-{path.name}")
    try:
        with h5py.File(path, "r") as source, h5py.File(converted, "w") as target:
            _copy_converted(source, target, np.dtype(dtype))
        os.replace(converted, path)
    finally:
        converted.unlink(missing_ok=True)


def save_inference_weights(
    model: keras.Model, path: Path, weights_dtype: str | None = None
) -> None:
    """Writes all weights except training layers, optimizers and metrics.

    Args:
        model: A built model.
        path: The target, ending in `.weights.h5`.
        weights_dtype: None stores each variable in its own dtype; "float16"
            stores float32 variables as float16 (half the file; about three
            significant digits). Loading casts them back.

    Raises:
        ValueError: If `weights_dtype` is unknown, or a weight does not fit it.

    Examples:
    >>> save_inference_weights(gan, Path("p/model.weights.h5"))  # doctest: +SKIP
    """
    check_weights_dtype(weights_dtype)
    saving_lib.save_weights_only(
        model, str(path), objects_to_skip=_inference_skip_list(model)
    )
    if weights_dtype is not None:
        _store_as(path, weights_dtype)


def load_inference_weights(model: keras.Model, path: Path) -> None:
    """Reads a file written by `save_inference_weights` into `model`.

    Args:
        model: A built model of the same architecture.
        path: The `.weights.h5` file.

    Examples:
    >>> load_inference_weights(gan, Path("p/model.weights.h5"))  # doctest: +SKIP
    """
    saving_lib.load_weights_only(
        model, str(path), objects_to_skip=_inference_skip_list(model)
    )


def has_training_state(model: keras.Model) -> bool:
    """Whether `model` has training-only layers or a built optimizer."""
    return bool(training_layers(model)) or built_optimizer(model) is not None


def save_training_state(model: keras.Model, path: Path) -> dict:
    """Writes the training-only layers and the optimizer state.

    Args:
        model: A built model.
        path: The target, ending in `.weights.h5`.

    Returns:
        A summary for `metadata.json`: the training layers' names and whether
        optimizer state was written.

    Examples:
    >>> save_training_state(gan, Path("p/training_state.weights.h5"))  # doctest: +SKIP
    {'layers': ['discriminator'], 'optimizer': True}
    """
    optimizer = built_optimizer(model)
    state = _TrainingState(training_layers(model), optimizer)
    saving_lib.save_weights_only(state, str(path), objects_to_skip=_metrics(state))
    return {
        "layers": [layer.name for layer in state.training_layers],
        "optimizer": optimizer is not None,
    }


def load_training_state(model: keras.Model, path: Path, summary: dict) -> None:
    """Reads a file written by `save_training_state` into `model`.

    If the file holds optimizer state, `model` must be compiled; its optimizer
    is built on `model.trainable_variables` if it is not built yet.

    Args:
        model: A built model of the same architecture.
        path: The `.weights.h5` file.
        summary: The summary `save_training_state` returned (from metadata).

    Raises:
        ValueError: If optimizer state was saved but `model` is not compiled.

    Examples:
    >>> path = Path("p/training_state.weights.h5")
    >>> load_training_state(gan, path, summary)  # doctest: +SKIP
    """
    optimizer = None
    if summary.get("optimizer"):
        optimizer = getattr(model, "optimizer", None)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"{path.name!r} holds optimizer state, but the loaded "
                f"{type(model).__name__} is not compiled (its config.json has no "
                "compile_config), so there is no optimizer to restore it into."
            )
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
    state = _TrainingState(training_layers(model), optimizer)
    saving_lib.load_weights_only(state, str(path), objects_to_skip=_metrics(state))
