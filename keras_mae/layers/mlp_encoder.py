"""Fully connected encoder: vectors (or flattened images) to vectors."""

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
class MLPEncoder(keras.layers.Layer):
    """Maps inputs `(batch, ...)` to vectors `(batch, output_dim)` with `Dense` layers.

    Inputs of rank above 2 (e.g. images) are flattened first. Each entry of
    `hidden_units` adds a `Dense` layer, optional normalization and
    `activation`; a final `Dense` layer maps to `output_dim`. It is the default
    Mixture Autoencoder encoder for vector data and, with `output_dim=1`, an
    MLP GAN discriminator that returns logits.

    Args:
        output_dim: size of the output vector.
        hidden_units: width of each hidden layer (may be empty).
        activation: activation of the hidden layers.
        normalization: `None`, `"batch"` or `"layer"`, applied before each
            hidden activation.
        output_activation: activation of the output layer; `None` gives
            linear outputs (codes or logits).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import MLPEncoder
    >>> encoder = MLPEncoder(output_dim=2, hidden_units=(32,))
    >>> tuple(encoder(np.zeros((4, 8, 8, 1), "float32")).shape)
    (4, 2)
    """

    def __init__(
        self,
        output_dim: int,
        hidden_units: Sequence[int] = (256, 128),
        activation: str = "relu",
        normalization: str | None = None,
        output_activation: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.output_dim = check_int(name, "output_dim", output_dim)
        self.hidden_units = check_units(name, "hidden_units", hidden_units)
        check_normalization(name, normalization)
        self.activation = activation
        self.normalization = normalization
        self.output_activation = output_activation

        self._flatten = keras.layers.Flatten(dtype=self.dtype_policy, name="flatten")
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
            self.output_dim,
            activation=output_activation,
            dtype=self.dtype_policy,
            name="output",
        )

    def build(self, input_shape: tuple) -> None:
        """Builds every sub-layer for inputs of shape `input_shape`.

        Args:
            input_shape: Input shape including the batch size.
        """
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, features) "
                "or (batch, d1, d2, ...) with known non-batch dimensions; "
                f"received {format_shape(input_shape)}."
            )
        self.input_spec = keras.InputSpec(
            ndim=len(input_shape),
            axes={axis: dim for axis, dim in enumerate(input_shape) if axis > 0},
        )
        # Build every sub-layer, weightless ones too: `fit` and `load_model`
        # treat a model holding an unbuilt layer as unbuilt.
        self._flatten.build(input_shape)
        shape = self._flatten.compute_output_shape(input_shape)
        for i, dense in enumerate(self._hidden):
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
            if self._norms:
                self._norms[i].build(shape)
        self._output.build(shape)

    def call(self, inputs, training: bool | None = None):
        """Encodes `inputs` `(batch, ...)` into `(batch, output_dim)`.

        Args:
            inputs: Vectors or any samples of the shape the layer was built for
                (flattened first).
            training: Whether batch normalization uses batch statistics.
        """
        x = self._flatten(inputs)
        for i, dense in enumerate(self._hidden):
            x = dense(x)
            if self._norms:
                x = self._norms[i](x, training=training)
            x = self._activation(x)
        return self._output(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs of shape `input_shape`: `(batch, output_dim)`."""
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "hidden_units": list(self.hidden_units),
                "activation": serialize_activation(self.activation),
                "normalization": self.normalization,
                "output_activation": serialize_activation(self.output_activation),
            }
        )
        return config
