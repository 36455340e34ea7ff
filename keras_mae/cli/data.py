"""The data sets the command line trains and evaluates on."""

from __future__ import annotations

import os

import numpy as np
from sklearn.model_selection import train_test_split

from keras_mae.datasets import load_digits, load_mnist, preprocess_images

DATA_CHOICES = "'mnist' (all 70k images), 'digits' (scikit-learn 8x8) or a .npz path"
# scikit-learn's digits come without a test set; this share is held out.
DIGITS_TEST_SIZE = 0.25


def load_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads images in [0, 1] with a channel axis, and their labels.

    Args:
        name: `"mnist"` (train and test sets together, from `$KERAS_MAE_MNIST`
            or Keras's download), `"digits"`, or the path of an `.npz` file in
            Keras's MNIST layout.

    Returns:
        `(x, y)`: float32 images `(n, height, width, channels)` and labels.

    Example:

    >>> from keras_mae.cli.data import load_data
    >>> x, y = load_data("digits")
    >>> x.shape, y.shape
    ((1797, 8, 8, 1), (1797,))
    """
    if name == "digits":
        return load_digits()
    (x_train, y_train), (x_test, y_test) = load_split(name)
    return np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])


def load_split(name: str) -> tuple[tuple, tuple]:
    """Loads a training and a held-out test set, for supervised models.

    Args:
        name: As for `load_data`. MNIST and `.npz` files keep their own
            train/test split; scikit-learn's digits hold out a stratified
            quarter (`random_state=0`).

    Returns:
        `((x_train, y_train), (x_test, y_test))`, images as in `load_data`.

    Example:

    >>> from keras_mae.cli.data import load_split
    >>> (x_train, _), (x_test, _) = load_split("digits")
    >>> len(x_train), len(x_test)
    (1347, 450)
    """
    if name == "digits":
        x, y = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=DIGITS_TEST_SIZE, random_state=0, stratify=y
        )
        return (x_train, y_train), (x_test, y_test)
    if name == "mnist" or name.endswith(".npz"):
        path = None if name == "mnist" else name
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"No such data file: {path!r}.")
        (x_train, y_train), (x_test, y_test) = load_mnist(path)
        return (
            (preprocess_images(x_train), y_train.astype(np.int64)),
            (preprocess_images(x_test), y_test.astype(np.int64)),
        )
    raise ValueError(f"Unknown data {name!r}; expected {DATA_CHOICES}.")
