"""The networks of a Mixture Autoencoder: defaults, user-given layers, their checks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from keras_mae.layers import ConvEncoder, MLPEncoder, ParallelDense

_NAME = "MixtureAutoencoder"


def shape_tuple(shape) -> tuple:
    """A shape as a tuple of ints (None for unknown dimensions)."""
    return tuple(None if d is None else int(d) for d in shape)


def format_shape(shape) -> str:
    """`(batch, d1, d2, ...)` for messages."""
    return "(batch, " + ", ".join(str(d) for d in shape) + ")"


def layers_or_builder(argument: str, value, num_components: int):
    """Returns None, one layer, or a list of `num_components` layers.

    Args:
        argument: The constructor argument's name, for messages.
        value: None, a layer, a list of K layers or a builder `f(k) -> layer`.
        num_components: K.
    """
    if value is None or isinstance(value, keras.layers.Layer):
        return value
    if isinstance(value, (list, tuple)):
        layers = list(value)
    elif callable(value):
        layers = [value(k) for k in range(num_components)]
    else:
        raise TypeError(
            f"{_NAME} expects `{argument}` to be None, a Keras layer, a list of "
            f"{num_components} layers or a builder `f(component) -> layer`; "
            f"received {type(value).__name__}."
        )
    if len(layers) != num_components or not all(
        isinstance(layer, keras.layers.Layer) for layer in layers
    ):
        raise ValueError(
            f"{_NAME} expects `{argument}` as a list to hold {num_components} "
            f"Keras layers (one per component); received "
            f"{[type(layer).__name__ for layer in layers]}."
        )
    return layers


def serialize(value):
    """Config of None, a layer or a list of layers."""
    if value is None:
        return None
    if isinstance(value, list):
        return [keras.saving.serialize_keras_object(layer) for layer in value]
    return keras.saving.serialize_keras_object(value)


def deserialize(value):
    """Inverse of `serialize`."""
    if isinstance(value, list):
        return [keras.saving.deserialize_keras_object(item) for item in value]
    return None if value is None else keras.saving.deserialize_keras_object(value)


def default_encoder(
    num_components: int, latent_dim: int, hidden_units: Sequence[int]
) -> keras.layers.Layer:
    """K independent MLP encoders run as one network (`ParallelDense`)."""
    return keras.Sequential(
        [
            keras.layers.Flatten(),
            *[
                ParallelDense(num_components, units, activation="relu")
                for units in hidden_units
            ],
            ParallelDense(num_components, latent_dim),
        ],
        name="encoder",
    )


def default_decoder(
    num_components: int,
    data_shape: tuple,
    hidden_units: Sequence[int],
    output_activation: str | None,
) -> keras.layers.Layer:
    """K independent MLP decoders from `(batch, K, latent)` to `(batch, K, *shape)`."""
    return keras.Sequential(
        [
            *[
                ParallelDense(num_components, units, activation="relu")
                for units in reversed(hidden_units)
            ],
            ParallelDense(
                num_components, math.prod(data_shape), activation=output_activation
            ),
            keras.layers.Reshape((num_components, *data_shape)),
        ],
        name="decoder",
    )


def default_data_discriminator(data_shape: tuple) -> keras.layers.Layer:
    """A conv net for images whose sides divide by 4, else an MLP."""
    if len(data_shape) == 3 and data_shape[0] % 4 == 0 and data_shape[1] % 4 == 0:
        return ConvEncoder(1, name="data_discriminator")
    return MLPEncoder(1, hidden_units=(256,), name="data_discriminator")


def build_and_check(layer, input_shape, expected, role: str) -> None:
    """Builds `layer` for `input_shape`; raises unless it gives `expected`."""
    if not layer.built:
        layer.build(input_shape)
    received = shape_tuple(layer.compute_output_shape(input_shape))[1:]
    if received != expected:
        raise ValueError(
            f"{_NAME} expects the {role} to map {format_shape(input_shape[1:])} to "
            f"{format_shape(expected)}; it gives {format_shape(received)}."
        )


def build_all(model) -> None:
    """Builds a MixtureAutoencoder's networks and checks their output shapes.

    Args:
        model: A `MixtureAutoencoder` whose `data_shape` is set and whose
            networks exist (defaults filled in).

    Raises:
        ValueError: naming the network whose output has the wrong shape.
    """
    data = (None, *model.data_shape)
    codes = (model.num_components, model.latent_dim)
    if isinstance(model.encoder, list):
        for layer in model.encoder:
            build_and_check(layer, data, (model.latent_dim,), "encoder")
    else:
        build_and_check(model.encoder, data, codes, "encoder")
    if isinstance(model.decoder, list):
        for layer in model.decoder:
            build_and_check(
                layer, (None, model.latent_dim), model.data_shape, "decoder"
            )
    else:
        build_and_check(
            model.decoder,
            (None, *codes),
            (model.num_components, *model.data_shape),
            "decoder",
        )
    build_and_check(
        model.assignment, (None, *codes), (model.num_components,), "assignment"
    )
    if model.latent_discriminator is not None:
        build_and_check(
            model.latent_discriminator,
            (None, model.latent_dim + model.num_components),
            (1,),
            "latent discriminator",
        )
    if model.data_discriminator is not None:
        build_and_check(model.data_discriminator, data, (1,), "data discriminator")


def parallel_layers(encoder, decoder) -> list[ParallelDense]:
    """The `ParallelDense` layers of a single-layer encoder and decoder.

    Raises a ValueError for any other layer with weights there: those hold
    weights shared by all components, which cannot be copied per component.
    """
    parallel = []

    def collect(layer):
        if isinstance(layer, ParallelDense):
            parallel.append(layer)
        elif hasattr(layer, "layers"):
            for inner in layer.layers:
                collect(inner)
        elif layer.weights:
            raise ValueError(
                f"{_NAME} can re-seed a component of ParallelDense stacks "
                "(the default networks) or of lists of K layers; the layer "
                f"{layer.name!r} ({type(layer).__name__}) holds weights "
                "shared by all components."
            )

    for part in (encoder, decoder):
        if not isinstance(part, list):
            collect(part)
    return parallel
