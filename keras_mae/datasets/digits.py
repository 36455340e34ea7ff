"""scikit-learn's bundled 8x8 handwritten digits, ready for the models."""

from __future__ import annotations

import numpy as np
from sklearn import datasets as sk_datasets

# The digits' pixels are counts of set pixels in 4x4 blocks: 0 to 16.
_DIGITS_MAX_VALUE = 16.0


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Loads scikit-learn's 1797 8x8 digit images (shipped with it, no download).

    Returns:
        `(x, y)`: float32 images of shape `(1797, 8, 8, 1)` scaled to [0, 1],
        and int64 labels 0-9 of shape `(1797,)`.

    Examples:
    >>> from keras_mae.datasets import load_digits
    >>> x, y = load_digits()
    >>> x.shape, x.dtype, y.shape
    ((1797, 8, 8, 1), dtype('float32'), (1797,))
    """
    digits = sk_datasets.load_digits()
    x = (digits.images / _DIGITS_MAX_VALUE).astype(np.float32)[..., None]
    return x, digits.target.astype(np.int64)
