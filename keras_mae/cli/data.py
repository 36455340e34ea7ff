"""The data sets the command line trains and evaluates on."""

from __future__ import annotations

import os

import numpy as np

from keras_mae.datasets import load_digits, load_mnist, preprocess_images

DATA_CHOICES = "'mnist' (all 70k images), 'digits' (scikit-learn 8x8) or a .npz path"


def load_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads images in [0, 1] with a channel axis, and their labels.

    Args:
        name: `"mnist"` (train and test sets together, from `$KERAS_MAE_MNIST`
            or Keras's download), `"digits"`, or the path of an `.npz` file in
            Keras's MNIST layout.

    Returns:
        `(x, y)`: float32 images `(n, height, width, channels)` and labels.
    """
    if name == "digits":
        return load_digits()
    if name == "mnist" or name.endswith(".npz"):
        path = None if name == "mnist" else name
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"No such data file: {path!r}.")
        (x_train, y_train), (x_test, y_test) = load_mnist(path)
        x = preprocess_images(np.concatenate([x_train, x_test]))
        return x, np.concatenate([y_train, y_test]).astype(np.int64)
    raise ValueError(f"Unknown data {name!r}; expected {DATA_CHOICES}.")
