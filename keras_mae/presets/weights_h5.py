"""Format-1 presets: their weights as Keras `.weights.h5` files.

Presets of format 1 hold the two parts of `keras_mae.presets.weights` (the
inference weights and the training state) as Keras `.weights.h5` files.
This module reads them into a model, through the same saving walk of
`keras.src.saving.saving_lib` and the same objects left out, and lists their
arrays for conversion to format 2 (`keras-mae preset convert`).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
from keras.src.saving import saving_lib

from keras_mae.presets.weights import (
    inference_skip_list,
    metric_objects,
    training_state_root,
)


def legacy_tensors(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Keras `.weights.h5` file as a flat map (for conversion).

    Args:
        path: A `.weights.h5` file.

    Returns:
        Dataset path (`layers/dense/vars/0`) to array, float16 kept.

    Examples:
    A Keras weights file is what a format-1 preset holds:

    >>> import pathlib, tempfile
    >>> import keras
    >>> from keras_mae.presets.weights_h5 import legacy_tensors
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "model.weights.h5"
    ...     model.save_weights(path)
    ...     sorted(legacy_tensors(path))
    ['layers/dense/vars/0', 'layers/dense/vars/1']
    """
    found = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            found[name] = np.asarray(item[()])

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def load_legacy_inference_weights(model: keras.Model, path: Path) -> None:
    """Reads a format-1 inference file (`model.weights.h5`) into `model`.

    Args:
        model: A built model of the same architecture.
        path: The `.weights.h5` file.

    Examples:
    >>> import pathlib, tempfile
    >>> import keras, numpy as np
    >>> from keras_mae.presets.weights_h5 import load_legacy_inference_weights
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "model.weights.h5"
    ...     model.save_weights(path)
    ...     load_legacy_inference_weights(other, path)
    >>> bool(np.array_equal(other.get_weights()[0], model.get_weights()[0]))
    True
    """
    saving_lib.load_weights_only(
        model, str(path), objects_to_skip=inference_skip_list(model)
    )


def load_legacy_training_state(model: keras.Model, path: Path, summary: dict) -> None:
    """Reads a format-1 `training_state.weights.h5` into `model`.

    If the file holds optimizer state, `model` must be compiled; its optimizer
    is built on `model.trainable_variables` if it is not built yet.

    Args:
        model: A built model of the same architecture.
        path: The `.weights.h5` file.
        summary: The training-state summary from the preset's metadata.

    Raises:
        ValueError: If optimizer state was saved but `model` is not compiled.

    Examples:
    The format-1 GAN preset of a keras_mae source checkout (its tests'
    fixture; `from_preset(folder, load_training_state=True)` does the same):

    >>> import pathlib
    >>> import keras_mae
    >>> from keras_mae.presets.integrity import read_json
    >>> from keras_mae.presets.weights_h5 import load_legacy_training_state
    >>> folder = pathlib.Path(keras_mae.__file__).parents[1] / "weights_cards"
    >>> folder = folder / "format1-test-fixtures" / "gan"
    >>> gan = keras_mae.from_preset(folder)  # compiled, as it was saved
    >>> summary = read_json(folder / "metadata.json", "gan")["training_state"]
    >>> load_legacy_training_state(gan, folder / "training_state.weights.h5", summary)
    """
    state = training_state_root(model, build_optimizer=bool(summary.get("optimizer")))
    saving_lib.load_weights_only(
        state, str(path), objects_to_skip=metric_objects(state)
    )
