"""The networks of a Mixture Autoencoder: defaults, user-given layers, their checks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from keras_mae.layers import ConvEncoder, MLPEncoder, ParallelDense

_NAME = "MixtureAutoencoder"


def shape_tuple(shape) -> tuple:
    """A shape as a tuple of ints (None for unknown dimensions).

    Args:
        shape: A shape: a tuple, list or `TensorShape`.

    Examples:
    >>> import keras
    >>> from keras_mae.models.mixture_networks import shape_tuple
    >>> shape_tuple(keras.Input((28, 28, 1)).shape)
    (None, 28, 28, 1)
    """
    return tuple(None if d is None else int(d) for d in shape)


def format_shape(shape) -> str:
    """`(batch, d1, d2, ...)` for messages.

    Args:
        shape: The shape of one sample, without the batch axis.

    Examples:
    >>> from keras_mae.models.mixture_networks import format_shape
    >>> format_shape((28, 28, 1))
    '(batch, 28, 28, 1)'
    """
    return "(batch, " + ", ".join(str(d) for d in shape) + ")"


def layers_or_builder(argument: str, value, num_components: int):
    """Returns None, one layer, or a list of `num_components` layers.

    Args:
        argument: The constructor argument's name, for messages.
        value: None, a layer, a list of K layers or a builder `f(k) -> layer`.
        num_components: K.

    Raises:
        TypeError: If `value` is none of those.
        ValueError: If a list does not hold K layers.

    Examples:
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import layers_or_builder
    >>> encoders = layers_or_builder("encoder", lambda k: MLPEncoder(2), 3)
    >>> [type(layer).__name__ for layer in encoders]
    ['MLPEncoder', 'MLPEncoder', 'MLPEncoder']
    >>> layers_or_builder("encoder", [MLPEncoder(2)], 3)
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects `encoder` as a list to hold 3 Keras ...
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
    """Config of None, a layer or a list of layers.

    Args:
        value: None, a Keras layer or a list of them.

    Returns:
        None, the layer's `keras.saving` config, or a list of them.

    Examples:
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import serialize
    >>> serialize(MLPEncoder(2))["registered_name"]
    'keras_mae>MLPEncoder'
    >>> serialize(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, list):
        return [keras.saving.serialize_keras_object(layer) for layer in value]
    return keras.saving.serialize_keras_object(value)


def deserialize(value):
    """Inverse of `serialize`: new layers from their configs.

    Args:
        value: What `serialize` returned.

    Examples:
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import deserialize, serialize
    >>> layers = deserialize(serialize([MLPEncoder(2), MLPEncoder(3)]))
    >>> [layer.output_dim for layer in layers]
    [2, 3]
    """
    if isinstance(value, list):
        return [keras.saving.deserialize_keras_object(item) for item in value]
    return None if value is None else keras.saving.deserialize_keras_object(value)


# The config entries of a `MixtureAutoencoder` that hold serialized layers.
LAYER_KEYS = (
    "encoder",
    "decoder",
    "assignment",
    "augmentation",
    "latent_discriminator",
    "data_discriminator",
)


def deserialize_layers(config: dict) -> dict:
    """A copy of a model config with its serialized layers made (`deserialize`).

    Strings (such as `augmentation="auto"`) and None stay as they are.

    Args:
        config: A `MixtureAutoencoder.get_config()` dict.

    Examples:
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import deserialize_layers, serialize
    >>> config = {"encoder": serialize(MLPEncoder(2)), "augmentation": "auto"}
    >>> made = deserialize_layers(config)
    >>> made["encoder"].output_dim, made["augmentation"]
    (2, 'auto')
    """
    config = dict(config)
    for key in LAYER_KEYS:
        if isinstance(config.get(key), (dict, list)):
            config[key] = deserialize(config[key])
    return config


def default_encoder(
    num_components: int, latent_dim: int, hidden_units: Sequence[int]
) -> keras.layers.Layer:
    """K independent MLP encoders run as one network (`ParallelDense`).

    Args:
        num_components: K.
        latent_dim: Size of each component's code.
        hidden_units: Widths of the hidden layers.

    Returns:
        A `keras.Sequential` from data `(batch, ...)` (flattened) to codes
        `(batch, K, latent_dim)`.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models.mixture_networks import default_encoder
    >>> encoder = default_encoder(3, 2, hidden_units=(16,))
    >>> tuple(encoder(np.zeros((4, 5), "float32")).shape)
    (4, 3, 2)
    """
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
    """K independent MLP decoders from `(batch, K, latent)` to `(batch, K, *shape)`.

    Args:
        num_components: K.
        data_shape: The shape of one sample.
        hidden_units: Widths of the encoder's hidden layers (used reversed).
        output_activation: Activation of the outputs, e.g. `"sigmoid"`.

    Returns:
        A `keras.Sequential`.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models.mixture_networks import default_decoder
    >>> decoder = default_decoder(3, (5,), (16,), None)
    >>> tuple(decoder(np.zeros((4, 3, 2), "float32")).shape)
    (4, 3, 5)
    >>> images = default_decoder(3, (8, 8, 1), (16,), "sigmoid")
    >>> images.compute_output_shape((None, 3, 2))
    (None, 3, 8, 8, 1)
    """
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
    """A conv net for images whose sides divide by 4, else an MLP.

    Args:
        data_shape: The shape of one sample.

    Returns:
        An unbuilt layer from data to one logit per sample.

    Examples:
    >>> from keras_mae.models.mixture_networks import default_data_discriminator
    >>> type(default_data_discriminator((28, 28, 1))).__name__
    'ConvEncoder'
    >>> type(default_data_discriminator((13,))).__name__
    'MLPEncoder'
    """
    if len(data_shape) == 3 and data_shape[0] % 4 == 0 and data_shape[1] % 4 == 0:
        return ConvEncoder(1, name="data_discriminator")
    return MLPEncoder(1, hidden_units=(256,), name="data_discriminator")


def build_and_check(layer, input_shape, expected, role: str) -> None:
    """Builds `layer` for `input_shape`; raises unless it gives `expected`.

    Args:
        layer: The network.
        input_shape: Its input shape, with the batch axis.
        expected: The output shape it must give, without the batch axis.
        role: What the network is, for the message (e.g. `"encoder"`).

    Raises:
        ValueError: If the output shape is not `expected`.

    Examples:
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import build_and_check
    >>> build_and_check(MLPEncoder(2), (None, 5), (2,), "encoder")  # fits
    >>> build_and_check(MLPEncoder(3), (None, 5), (2,), "encoder")
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects the encoder ... it gives (batch, 3).
    """
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

    Examples:
    The constructor calls it when it knows the data's shape:

    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.layers import MLPEncoder
    >>> from keras_mae.models.mixture_networks import build_all
    >>> mae = MixtureAutoencoder(3, 2, input_shape=(5,), hidden_units=(16,))
    >>> build_all(mae)  # built and checked already: passes again
    >>> def encoder(k):
    ...     return MLPEncoder(4, hidden_units=(16,))
    >>> MixtureAutoencoder(3, 2, input_shape=(5,), encoder=encoder)
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects the encoder to map ... it gives (batch, 4).
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

    Args:
        encoder: The encoder: one layer, or a list of K (skipped).
        decoder: The decoder: one layer, or a list of K (skipped).

    Returns:
        The `ParallelDense` layers, encoder first.

    Examples:
    >>> from keras_mae.models.mixture_networks import (
    ...     default_decoder,
    ...     default_encoder,
    ...     parallel_layers,
    ... )
    >>> encoder = default_encoder(3, 2, hidden_units=(16,))
    >>> decoder = default_decoder(3, (5,), (16,), None)
    >>> len(parallel_layers(encoder, decoder))
    4
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
