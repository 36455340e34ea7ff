"""Convolutional encoder: an image to a vector (MAE encoder, DCGAN discriminator)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_mae.layers._utils import (
    check_normalization,
    check_units,
    format_shape,
    make_normalization,
    serialize_activation,
)
from keras_mae.utils.argument_checks import check_int


@keras.saving.register_keras_serializable(package="keras_mae")
class ConvEncoder(keras.layers.Layer):
    """Maps images `(batch, height, width, channels)` to vectors `(batch, output_dim)`.

    Each entry of `filters` adds a stage: a stride-2 `Conv2D` (halving height
    and width), optional normalization and a LeakyReLU. A final `Dense` layer
    maps the flattened features to `output_dim`. With `output_dim=latent_dim`
    it is the Mixture Autoencoder's encoder; with `output_dim=1` and the
    default `normalization=None` it is a DCGAN discriminator that returns
    logits. Normalization is off by default because batch statistics mix real
    and generated samples in a discriminator and break gradient penalties.

    Args:
        output_dim: size of the output vector.
        filters: number of filters of each downsampling stage.
        kernel_size: kernel size of the stride-2 convolutions.
        normalization: `None`, `"batch"` or `"layer"`, applied after each
            convolution.
        negative_slope: slope of the LeakyReLU for negative inputs.
        output_activation: activation of the final `Dense` layer; `None` gives
            linear outputs (codes or logits).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import ConvEncoder
    >>> encoder = ConvEncoder(output_dim=10)
    >>> tuple(encoder(np.zeros((2, 8, 8, 1), "float32")).shape)
    (2, 10)
    """

    def __init__(
        self,
        output_dim: int,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 4,
        normalization: str | None = None,
        negative_slope: float = 0.2,
        output_activation: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.output_dim = check_int(name, "output_dim", output_dim)
        self.filters = check_units(name, "filters", filters)
        self.kernel_size = check_int(name, "kernel_size", kernel_size)
        check_normalization(name, normalization)
        self.normalization = normalization
        self.negative_slope = negative_slope
        self.output_activation = output_activation

        self._convs = []
        self._norms = []
        for i, num_filters in enumerate(self.filters):
            self._convs.append(
                keras.layers.Conv2D(
                    num_filters,
                    self.kernel_size,
                    strides=2,
                    padding="same",
                    # A bias before a normalization layer is cancelled by it.
                    use_bias=normalization is None,
                    dtype=self.dtype_policy,
                    name=f"conv_{i}",
                )
            )
            norm = make_normalization(normalization, self.dtype_policy, f"norm_{i}")
            if norm is not None:
                self._norms.append(norm)
        self._flatten = keras.layers.Flatten(dtype=self.dtype_policy, name="flatten")
        self._dense = keras.layers.Dense(
            self.output_dim,
            activation=output_activation,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape: tuple) -> None:
        """Builds every sub-layer for images of shape `input_shape`.

        Args:
            input_shape: `(batch, height, width, channels)`.
        """
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, height, "
                f"width, channels) with known height, width and channels; "
                f"received {format_shape(input_shape)}."
            )
        self.input_spec = keras.InputSpec(
            ndim=4, axes={1: input_shape[1], 2: input_shape[2], 3: input_shape[3]}
        )
        shape = input_shape
        for i, conv in enumerate(self._convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self._norms:
                self._norms[i].build(shape)
        self._flatten.build(shape)
        self._dense.build(self._flatten.compute_output_shape(shape))

    def call(self, inputs, training: bool | None = None):
        """Encodes images `(batch, height, width, channels)` into `(batch, output_dim)`.

        Args:
            inputs: Images of the shape the layer was built for.
            training: Whether batch normalization uses batch statistics.
        """
        x = inputs
        for i, conv in enumerate(self._convs):
            x = conv(x)
            if self._norms:
                x = self._norms[i](x, training=training)
            x = keras.ops.leaky_relu(x, negative_slope=self.negative_slope)
        return self._dense(self._flatten(x))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs of shape `input_shape`: `(batch, output_dim)`."""
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "normalization": self.normalization,
                "negative_slope": self.negative_slope,
                "output_activation": serialize_activation(self.output_activation),
            }
        )
        return config
