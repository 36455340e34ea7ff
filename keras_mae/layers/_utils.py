"""Helpers shared by the layers in this package (not public API)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

NORMALIZATIONS = (None, "batch", "layer")


def format_shape(shape: Sequence[int | None]) -> str:
    """Writes a shape the way error messages show it: `(batch, 28, 28, 1)`."""
    dims = ["batch", *("None" if d is None else str(d) for d in tuple(shape)[1:])]
    return "(" + ", ".join(dims) + ")"


def check_normalization(layer_name: str, normalization: str | None) -> None:
    """Raises a ValueError naming the layer if `normalization` is unknown."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"{layer_name} expects `normalization` to be one of {NORMALIZATIONS}; "
            f"received {normalization!r}."
        )


def check_units(layer_name: str, argument: str, units: Sequence[int]) -> tuple:
    """Returns `units` as a tuple of positive ints, or raises a ValueError."""
    units = tuple(units)
    if not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        raise ValueError(
            f"{layer_name} expects `{argument}` to be a sequence of positive "
            f"integers; received {units!r}."
        )
    return units


def make_normalization(
    normalization: str | None, dtype: keras.DTypePolicy, name: str
) -> keras.layers.Layer | None:
    """Builds the normalization layer named by `normalization` (or None)."""
    if normalization == "batch":
        return keras.layers.BatchNormalization(dtype=dtype, name=name)
    if normalization == "layer":
        return keras.layers.LayerNormalization(dtype=dtype, name=name)
    return None


def check_output_shape(layer_name: str, output_shape: int | Sequence[int]) -> tuple:
    """Returns `output_shape` as a tuple of positive ints, or raises a ValueError."""
    shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
    if not shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"{layer_name} expects `output_shape` to be a positive integer or a "
            f"sequence of positive integers; received {output_shape!r}."
        )
    return shape


def check_vector_input(layer_name: str, input_shape: Sequence[int | None]) -> None:
    """Raises a ValueError unless `input_shape` is `(batch, features)`."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 2 or input_shape[1] is None:
        raise ValueError(
            f"{layer_name} expects inputs of shape (batch, features) with known "
            f"features; received {format_shape(input_shape)}."
        )


def serialize_activation(activation) -> str | dict | None:
    """Config form of an activation given as a name, a callable or None."""
    if activation is None:
        return None
    return keras.activations.serialize(keras.activations.get(activation))
