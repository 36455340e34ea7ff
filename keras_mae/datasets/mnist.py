"""MNIST from an .npz file, `$KERAS_MAE_MNIST` or the Keras download."""

from __future__ import annotations

import os
import zipfile

import keras
import numpy as np

MNIST_ENV_VAR = "KERAS_MAE_MNIST"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _read_npz(path: str, source: str) -> tuple[tuple, tuple]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MNIST file {path!r} ({source}) does not exist.")
    origin = f"MNIST file {path!r} ({source})"
    unreadable = (zipfile.BadZipFile, OSError, EOFError, ValueError)
    try:
        # allow_pickle=False: an .npz from elsewhere must not run code on load.
        archive = np.load(path, allow_pickle=False)
    except unreadable as error:
        raise ValueError(f"{origin} is not a readable .npz archive: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{origin} holds a single array; expected an .npz archive with keys "
            f"{', '.join(_KEYS)}."
        )
    with archive:
        missing = [key for key in _KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"{origin} is missing {', '.join(missing)}; expected keys "
                f"{', '.join(_KEYS)}, found {', '.join(archive.files) or 'none'}."
            )
        try:
            arrays = {key: archive[key] for key in _KEYS}
        except unreadable as error:
            raise ValueError(
                f"{origin} does not hold plain numeric arrays: {error}"
            ) from error
    return _validated(arrays, origin)


def _validated(arrays: dict[str, np.ndarray], origin: str) -> tuple[tuple, tuple]:
    """Checks the Keras MNIST layout and returns it as uint8 arrays."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3:
            raise ValueError(
                f"{origin}: `x_{split}` must have shape (num_images, height, "
                f"width); received shape {x.shape}."
            )
        if x.dtype != np.uint8:
            raise ValueError(
                f"{origin}: `x_{split}` must be uint8 pixels in [0, 255]; "
                f"received dtype {x.dtype}."
            )
        if y.shape != (len(x),):
            raise ValueError(
                f"{origin}: `y_{split}` must have shape ({len(x)},), one label per "
                f"image of `x_{split}`; received shape {y.shape}."
            )
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() > 255)):
            raise ValueError(
                f"{origin}: `y_{split}` must hold integer labels in [0, 255]; "
                f"received dtype {y.dtype}."
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(
            f"{origin}: `x_train` and `x_test` must have the same image shape; "
            f"received {arrays['x_train'].shape[1:]} and "
            f"{arrays['x_test'].shape[1:]}."
        )
    return (
        (arrays["x_train"], arrays["y_train"].astype(np.uint8)),
        (arrays["x_test"], arrays["y_test"].astype(np.uint8)),
    )


def load_mnist(path: str | os.PathLike | None = None) -> tuple[tuple, tuple]:
    """Loads MNIST in the Keras layout `(x_train, y_train), (x_test, y_test)`.

    The data comes from the first of: `path`; the file named by the
    `KERAS_MAE_MNIST` environment variable; `keras.datasets.mnist.load_data()`
    (which downloads and caches it). A file must be an `.npz` archive with the
    arrays `x_train`, `y_train`, `x_test`, `y_test`, as Keras stores MNIST.

    Args:
        path: optional path of an `.npz` file.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape
        `(n, 28, 28)` and uint8 labels of shape `(n,)`.

    Examples:
    An `.npz` file in the Keras layout (here a tiny one):

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_mae.datasets import load_mnist
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "mnist.npz")
    >>> images, labels = np.zeros((3, 28, 28), "uint8"), np.arange(3, dtype="uint8")
    >>> np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
    >>> (x_train, y_train), (x_test, y_test) = load_mnist(path)
    >>> x_train.shape, x_train.dtype, y_test.tolist()
    ((3, 28, 28), dtype('uint8'), [0, 1, 2])
    >>> folder.cleanup()

    Without a path or `KERAS_MAE_MNIST`, Keras downloads MNIST:

    >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), (10000,))
    """
    if path is not None:
        return _read_npz(os.fspath(path), "given as `path`")
    env_path = os.environ.get(MNIST_ENV_VAR)
    if env_path:
        return _read_npz(env_path, f"from ${MNIST_ENV_VAR}")
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return _validated(
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        "keras.datasets.mnist.load_data()",
    )


def preprocess_images(images: np.ndarray) -> np.ndarray:
    """Turns uint8 images into float32 in [0, 1] with a trailing channel axis.

    Args:
        images: uint8 array `(n, height, width)` or `(n, height, width,
            channels)`, e.g. from `load_mnist`.

    Returns:
        float32 array `(n, height, width, channels)` with values in [0, 1].

    Examples:
    >>> import numpy as np
    >>> from keras_mae.datasets import preprocess_images
    >>> x = preprocess_images(np.full((2, 28, 28), 255, dtype="uint8"))
    >>> x.shape, x.dtype, float(x.max())
    ((2, 28, 28, 1), dtype('float32'), 1.0)
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"preprocess_images expects uint8 images in [0, 255]; received dtype "
            f"{images.dtype}."
        )
    if images.ndim == 3:
        images = images[..., None]
    elif images.ndim != 4:
        raise ValueError(
            "preprocess_images expects images of shape (n, height, width) or "
            f"(n, height, width, channels); received shape {images.shape}."
        )
    return images.astype(np.float32) / np.float32(255.0)
