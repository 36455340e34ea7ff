"""What a Mixture Autoencoder accepts as data, and the messages when it does not."""

from __future__ import annotations

import keras
import numpy as np

from keras_mae.models.mixture_networks import format_shape, shape_tuple

_NAME = "MixtureAutoencoder"


def data_kind(sample_shape: tuple) -> str:
    """`"images"` for `(H, W, C)` samples, `"vectors"` for `(d,)`, else `"other"`.

    Args:
        sample_shape: The shape of one sample, without the batch axis.

    Examples:
    >>> from keras_mae.models.mixture_inputs import data_kind
    >>> data_kind((28, 28, 1)), data_kind((13,)), data_kind((4, 4))
    ('images', 'vectors', 'other')
    """
    if len(sample_shape) == 3:
        return "images"
    if len(sample_shape) == 1:
        return "vectors"
    return "other"


def check_batch(x, data_shape: tuple | None) -> None:
    """Checks a batch's shape and dtype (also on symbolic or traced tensors).

    Args:
        x: A batch `(batch, ...)`: an array, or a symbolic or traced tensor.
        data_shape: The shape of one sample the model was built for, or None.

    Raises:
        ValueError: If the samples do not have shape `data_shape` or are not
            floats.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models.mixture_inputs import check_batch
    >>> check_batch(np.zeros((4, 3), "float32"), (3,))  # fits: no error
    >>> check_batch(np.zeros((4, 3), "uint8"), (3,))
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects float data ...; received dtype uint8.
    """
    shape = shape_tuple(x.shape)[1:]
    if data_shape is not None and shape != data_shape:
        raise ValueError(
            f"{_NAME} expects data of shape {format_shape(data_shape)}; "
            f"received {format_shape(shape)}."
        )
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"{_NAME} expects float data (e.g. images scaled to [0, 1] with "
            f"`x.astype('float32') / 255`); received dtype {dtype}."
        )


def as_array(x, data_shape: tuple | None) -> np.ndarray:
    """`x` as a finite float32 NumPy array of samples, or a clear error.

    Args:
        x: An array-like of samples, shape `(n, ...)`: NumPy, a backend
            tensor, or nested lists of numbers.
        data_shape: The shape of one sample the model was built for, or None.

    Returns:
        A float32 array `(n, ...)`.

    Raises:
        TypeError: For non-numeric data.
        ValueError: For no batch of samples, another sample shape than
            `data_shape`, or NaN or infinite values.

    Examples:
    >>> from keras_mae.models.mixture_inputs import as_array
    >>> as_array([[1, 2], [3, 4]], None).dtype
    dtype('float32')
    >>> as_array([1.0, 2.0], None)
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects a batch of samples, shape (n, features); ...
    """
    expected = format_shape(data_shape) if data_shape else "(n, features)"
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(
            f"{_NAME} expects an array of samples of shape {expected}; "
            f"received {type(x).__name__}."
        )
    if not isinstance(x, np.ndarray):
        try:
            x = keras.ops.convert_to_numpy(x) if hasattr(x, "shape") else np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{_NAME} expects an array of samples of shape {expected}; "
                f"received {type(x).__name__} ({error})."
            ) from None
    if x.dtype.kind not in "fiub":
        raise TypeError(
            f"{_NAME} expects numeric data of shape {expected}; received an "
            f"array of dtype {x.dtype} (kind {x.dtype.kind!r}). Convert text or "
            "categorical columns to numbers first (e.g. "
            "sklearn.preprocessing.OneHotEncoder)."
        )
    if x.ndim < 2:
        raise ValueError(
            f"{_NAME} expects a batch of samples, shape {expected}; received shape "
            f"{x.shape}. Reshape a single feature with `x.reshape(-1, 1)`, or one "
            "sample with `x[None]`."
        )
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise ValueError(
            f"{_NAME} expects at least one sample with at least one feature, shape "
            f"{expected}; received an empty array of shape {x.shape}."
        )
    if x.dtype.kind != "f":
        # Integer features are numbers like any other; uint8 images fail the
        # [0, 1] check of a sigmoid decoder with a message saying to scale them.
        x = x.astype("float32")
    check_batch(x, data_shape)
    finite = np.isfinite(x)
    if not finite.all():
        raise ValueError(
            f"{_NAME} expects finite data; received {int(x.size - finite.sum())} "
            "NaN or infinite values. Impute or drop them first (e.g. "
            "sklearn.impute.SimpleImputer)."
        )
    return x.astype("float32", copy=False)


def check_unit_range(x: np.ndarray) -> None:
    """Raises unless `x` lies in [0, 1], which a sigmoid decoder can reproduce.

    Args:
        x: The data.

    Raises:
        ValueError: If a value of `x` is outside [0, 1].

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models.mixture_inputs import check_unit_range
    >>> check_unit_range(np.array([[0.0, 0.5, 1.0]]))  # in range: no error
    >>> check_unit_range(np.array([[0.0, 255.0]]))
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder ... in [0, 1]; received values in [0.0, 255.0]. ...
    """
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"{_NAME} with a sigmoid decoder (the default for images) expects "
            f"data in [0, 1]; received values in [{low}, {high}]. Scale the "
            "images (e.g. divide uint8 pixels by 255), or pass "
            "output_activation=None for unbounded data."
        )
