"""K independent dense layers run as one einsum (K small networks at once)."""

from __future__ import annotations

import keras

from keras_mae.layers._utils import (
    format_shape,
    serialize_activation,
)
from keras_mae.utils.argument_checks import check_int


@keras.saving.register_keras_serializable(package="keras_mae")
class ParallelDense(keras.layers.Layer):
    """K independent `Dense` layers, one per mixture component, as one einsum.

    With inputs `(batch, features)` every component reads the same vector;
    with inputs `(batch, K, features)` component `k` reads slice `k`. The
    output is `(batch, K, units)`: `outputs[:, k] = activation(x_k @ W_k + b_k)`
    with separate weights per component. Stacking these layers runs K small
    MLPs (the K autoencoders of a `MixtureAutoencoder`) in one matrix product
    per layer, several times faster on CPU than K separate networks.

    Args:
        num_components: number of components K (independent weight sets).
        units: output size of each component.
        activation: activation applied to the outputs.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import ParallelDense
    >>> layer = ParallelDense(num_components=3, units=4)
    >>> tuple(layer(np.zeros((2, 5), "float32")).shape)
    (2, 3, 4)
    >>> tuple(layer(np.zeros((2, 3, 5), "float32")).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        num_components: int,
        units: int,
        activation: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.num_components = check_int(name, "num_components", num_components)
        self.units = check_int(name, "units", units)
        self.activation = activation
        self._activation = keras.activations.get(activation)

    def _features(self, input_shape) -> int:
        shape = tuple(input_shape)
        if (len(shape) == 2 and shape[1] is not None) or (
            len(shape) == 3 and shape[1] == self.num_components and shape[2] is not None
        ):
            return shape[-1]
        raise ValueError(
            f"{type(self).__name__} expects inputs of shape (batch, features) or "
            f"(batch, {self.num_components}, features); "
            f"received {format_shape(shape)}."
        )

    def build(self, input_shape) -> None:
        """Creates the kernel `(K, features, units)` and the bias `(K, units)`.

        Args:
            input_shape: `(batch, features)` or `(batch, K, features)`.
        """
        # No `input_spec`: a layer built on one form must accept the other
        # (shared vectors for a first layer, per-component slices after it).
        features = self._features(input_shape)
        # Glorot-uniform per component: Keras's own initializers would count
        # the K axis into the fans and shrink the weights by sqrt(K).
        limit = (6.0 / (features + self.units)) ** 0.5
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_components, features, self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit),
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.num_components, self.units), initializer="zeros"
        )

    def call(self, inputs):
        """Applies the K dense layers.

        Args:
            inputs: `(batch, features)`, read by every component, or
                `(batch, K, features)`, slice `k` read by component `k`.

        Returns:
            `(batch, K, units)`.
        """
        features = self._features(tuple(inputs.shape))
        if features != self.kernel.shape[1]:
            raise ValueError(
                f"{type(self).__name__} was built for {self.kernel.shape[1]} "
                f"features; received {format_shape(tuple(inputs.shape))}."
            )
        kernel = keras.ops.cast(self.kernel, self.compute_dtype)
        bias = keras.ops.cast(self.bias, self.compute_dtype)
        if len(inputs.shape) == 2:
            outputs = keras.ops.einsum("bi,kio->bko", inputs, kernel)
        else:
            outputs = keras.ops.einsum("bki,kio->bko", inputs, kernel)
        return self._activation(outputs + bias)

    def copy_component(self, source: int, target: int) -> None:
        """Overwrites component `target`'s weights with those of `source`.

        Args:
            source: The component to copy.
            target: The component to overwrite.
        """
        for variable in (self.kernel, self.bias):
            values = keras.ops.convert_to_numpy(variable).copy()
            values[target] = values[source]
            variable.assign(values)

    def compute_output_shape(self, input_shape) -> tuple:
        """The output shape for inputs of shape `input_shape`: `(batch, K, units)`."""
        self._features(input_shape)
        return (tuple(input_shape)[0], self.num_components, self.units)

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "num_components": self.num_components,
                "units": self.units,
                "activation": serialize_activation(self.activation),
            }
        )
        return config
