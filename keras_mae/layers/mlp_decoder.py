"""Fully connected decoder: vectors to vectors or images of any shape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from keras_mae.layers._utils import (
    check_normalization,
    check_output_shape,
    check_units,
    check_vector_input,
    make_normalization,
    serialize_activation,
)


@keras.saving.register_keras_serializable(package="keras_mae")
class MLPDecoder(keras.layers.Layer):
    """Maps vectors `(batch, features)` to `(batch, *output_shape)` with `Dense` layers.

    Each entry of `hidden_units` adds a `Dense` layer, optional normalization
    and `activation`; a final `Dense` layer with `prod(output_shape)` units and
    `output_activation` is reshaped to `output_shape`. It is the default
    Mixture Autoencoder decoder for vector data and an MLP GAN generator.

    Args:
        output_shape: shape of one output sample, e.g. `2` or `(28, 28, 1)`.
        hidden_units: width of each hidden layer (may be empty).
        activation: activation of the hidden layers.
        normalization: `None`, `"batch"` or `"layer"`, applied before each
            hidden activation.
        output_activation: activation of the output layer: `None` (the
            default) for unbounded vectors, `"sigmoid"` for data in [0, 1],
            `"tanh"` for [-1, 1].
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import MLPDecoder
    >>> decoder = MLPDecoder((8, 8, 1), hidden_units=(32,), output_activation="sigmoid")
    >>> tuple(decoder(np.zeros((4, 2), "float32")).shape)
    (4, 8, 8, 1)
    """

    def __init__(
        self,
        output_shape: int | Sequence[int],
        hidden_units: Sequence[int] = (128, 256),
        activation: str = "relu",
        normalization: str | None = None,
        output_activation: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.output_shape = check_output_shape(name, output_shape)
        self.hidden_units = check_units(name, "hidden_units", hidden_units)
        check_normalization(name, normalization)
        self.activation = activation
        self.normalization = normalization
        self.output_activation = output_activation

        self._hidden = []
        self._norms = []
        for i, units in enumerate(self.hidden_units):
            self._hidden.append(
                keras.layers.Dense(
                    units,
                    # A bias before a normalization layer is cancelled by it.
                    use_bias=normalization is None,
                    dtype=self.dtype_policy,
                    name=f"dense_{i}",
                )
            )
            norm = make_normalization(normalization, self.dtype_policy, f"norm_{i}")
            if norm is not None:
                self._norms.append(norm)
        self._activation = keras.activations.get(activation)
        self._output = keras.layers.Dense(
            math.prod(self.output_shape),
            activation=output_activation,
            dtype=self.dtype_policy,
            name="output",
        )
        self._reshape = keras.layers.Reshape(
            self.output_shape, dtype=self.dtype_policy, name="reshape"
        )

    def build(self, input_shape: tuple) -> None:
        """Builds every sub-layer for inputs of shape `input_shape`.

        Args:
            input_shape: `(batch, features)`.
        """
        check_vector_input(type(self).__name__, input_shape)
        self.input_spec = keras.InputSpec(ndim=2, axes={-1: input_shape[-1]})
        shape = tuple(input_shape)
        for i, dense in enumerate(self._hidden):
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
            if self._norms:
                self._norms[i].build(shape)
        self._output.build(shape)
        self._reshape.build(self._output.compute_output_shape(shape))

    def call(self, inputs, training: bool | None = None):
        """Decodes vectors `(batch, features)` into `(batch, *output_shape)`.

        Args:
            inputs: Vectors `(batch, features)`.
            training: Whether batch normalization uses batch statistics.
        """
        x = inputs
        for i, dense in enumerate(self._hidden):
            x = dense(x)
            if self._norms:
                x = self._norms[i](x, training=training)
            x = self._activation(x)
        return self._reshape(self._output(x))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs `input_shape`: `(batch, *output_shape)`."""
        return (input_shape[0], *self.output_shape)

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "output_shape": list(self.output_shape),
                "hidden_units": list(self.hidden_units),
                "activation": serialize_activation(self.activation),
                "normalization": self.normalization,
                "output_activation": serialize_activation(self.output_activation),
            }
        )
        return config
