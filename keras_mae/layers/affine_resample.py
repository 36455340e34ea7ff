"""Images resampled under one affine map each: a batched gather with keras.ops.

`keras.ops.image.affine_transform` gives the same pixels, but on PyTorch it
resamples the batch one image at a time in Python (Keras 3.15): 290 ms for
256 MNIST images on the 2-core development CPU, against about 15 ms here,
and that loop was the largest part of a `MixtureAutoencoder` training step
after the matrix products (`benchmarks/backend_epochs.py`, docs/benchmarks.md).
This module computes every output pixel's source coordinates at once and reads
the (up to four) input pixels around them with one `take` each. The
interpolation and fill modes follow `keras.ops.image.map_coordinates`, which
every backend's `affine_transform` agrees with; the tests compare the two
pixel by pixel on each backend.
"""

from __future__ import annotations

from typing import Any

from keras import ops

__all__ = ["affine_resample"]


def _fixed_index(index, size: int, fill_mode: str):
    """`index` moved into [0, size) as `fill_mode` reads outside the image."""
    if fill_mode in ("constant", "nearest"):
        return ops.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return ops.mod(index, size)
    # "reflect": (d c b a | a b c d | d c b a), Keras's triangular wave.
    period = 2 * size
    index = ops.mod(index, period)
    return ops.where(index >= size, period - 1 - index, index)


def _nodes(coordinate, size: int, interpolation: str, fill_mode: str):
    """`[(index, weight, valid), ...]` of one axis: the pixels that a
    coordinate reads, their interpolation weights, and whether each lies in
    the image (only "constant" fills from outside)."""
    if interpolation == "nearest":
        lower = ops.floor(coordinate + 0.5)
        raw = [(lower, None)]
    else:
        lower = ops.floor(coordinate)
        upper_weight = coordinate - lower
        raw = [(lower, 1.0 - upper_weight), (lower + 1.0, upper_weight)]
    nodes = []
    for index, weight in raw:
        index = ops.cast(index, "int32")
        valid = None
        if fill_mode == "constant":
            valid = ops.logical_and(index >= 0, index < size)
        nodes.append((_fixed_index(index, size, fill_mode), weight, valid))
    return nodes


def affine_resample(
    images: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
) -> Any:
    """Each image resampled under its own affine map (channels last).

    Output pixel `(x, y)` of image `i` reads input pixel
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)` of that image, where
    `transform[i] = [a0, a1, a2, b0, b1, b2, 0, 0]` (the rows of
    `keras.ops.image.affine_transform`; the projective entries must be 0).

    Args:
        images: `(batch, height, width, channels)`, with known height and width.
        transform: `(batch, 8)` affine rows, e.g. from
            `keras_mae.layers.random_affine.affine_transforms`.
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: How pixels outside the image read: `"constant"` (as
            `fill_value`), `"nearest"`, `"wrap"` or `"reflect"`.
        fill_value: The value outside the image for `"constant"`.

    Returns:
        The resampled images, same shape and dtype as `images`.

    Examples:
    A shift by one pixel to the right (each output pixel reads the one to
    its left):

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_mae.layers.affine_resample import affine_resample
    >>> image = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    >>> shift = np.array([[1, 0, -1, 0, 1, 0, 0, 0]], "float32")
    >>> ops.convert_to_numpy(affine_resample(image, shift))[0, :, :, 0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 3.0, 4.0], [0.0, 6.0, 7.0]]
    """
    images = ops.convert_to_tensor(images)
    batch_size = ops.shape(images)[0]
    height, width, channels = images.shape[1:]
    if height is None or width is None or channels is None:
        raise ValueError(
            "affine_resample expects images of known height, width and "
            f"channels; received shape {tuple(images.shape)}."
        )
    transform = ops.cast(ops.convert_to_tensor(transform), "float32")
    rows, columns = ops.meshgrid(
        ops.arange(height, dtype="float32"),
        ops.arange(width, dtype="float32"),
        indexing="ij",
    )
    a0, a1, a2, b0, b1, b2 = (
        ops.reshape(transform[:, i], (-1, 1, 1)) for i in range(6)
    )
    source_x = a0 * columns + a1 * rows + a2  # (batch, height, width)
    source_y = b0 * columns + b1 * rows + b2
    flat = ops.reshape(ops.cast(images, "float32"), (-1, channels))
    offsets = ops.reshape(
        ops.arange(batch_size, dtype="int32") * (height * width), (-1, 1, 1)
    )
    output = 0.0
    for y, weight_y, valid_y in _nodes(source_y, height, interpolation, fill_mode):
        for x, weight_x, valid_x in _nodes(source_x, width, interpolation, fill_mode):
            pixels = ops.take(flat, offsets + y * width + x, axis=0)
            if valid_y is not None:
                valid = ops.expand_dims(ops.logical_and(valid_y, valid_x), -1)
                pixels = ops.where(valid, pixels, fill_value)
            weights = [w for w in (weight_y, weight_x) if w is not None]
            if weights:
                weight = weights[0] if len(weights) == 1 else weights[0] * weights[1]
                pixels = pixels * ops.expand_dims(weight, -1)
            output = output + pixels
    return ops.cast(output, images.dtype)
