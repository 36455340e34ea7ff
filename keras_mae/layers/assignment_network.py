"""Mixture assignment network: K latent codes to p(k | x)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_mae.layers._utils import (
    check_units,
    format_shape,
    serialize_activation,
)
from keras_mae.utils.argument_checks import check_int


@keras.saving.register_keras_serializable(package="keras_mae")
class AssignmentNetwork(keras.layers.Layer):
    """Reads the K latent codes of a sample and returns p(k | x) over the K components.

    The input is either one tensor `(batch, K, latent_dim)` or a list of K
    tensors `(batch, latent_dim)`, one per autoencoder. The codes are
    concatenated, passed through `Dense` layers of `hidden_units` and mapped to
    K logits; the output is their softmax, shape `(batch, K)`. Call it with
    `return_logits=True` to get `(probabilities, logits)`: losses should use
    `keras.ops.log_softmax(logits)` rather than `log(probabilities)`, which
    underflows for confident assignments. Logits and probabilities are always
    float32, also under a `"mixed_float16"` policy, for the same reason.

    Args:
        num_components: number of mixture components K (at least 2).
        hidden_units: width of each hidden layer (may be empty).
        activation: activation of the hidden layers.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import AssignmentNetwork
    >>> assignment = AssignmentNetwork(num_components=3)
    >>> codes = np.zeros((5, 3, 10), "float32")
    >>> probabilities, logits = assignment(codes, return_logits=True)
    >>> tuple(probabilities.shape), tuple(logits.shape)
    ((5, 3), (5, 3))
    >>> tuple(assignment([codes[:, k] for k in range(3)]).shape)
    (5, 3)
    """

    def __init__(
        self,
        num_components: int,
        hidden_units: Sequence[int] = (64,),
        activation: str = "relu",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.num_components = check_int(name, "num_components", num_components, 2)
        self.hidden_units = check_units(name, "hidden_units", hidden_units)
        self.activation = activation

        self._hidden = [
            keras.layers.Dense(
                units, activation=activation, dtype=self.dtype_policy, name=f"dense_{i}"
            )
            for i, units in enumerate(self.hidden_units)
        ]
        self._output = keras.layers.Dense(
            self.num_components, dtype=self.dtype_policy, name="logits"
        )

    def _stacked_shape(self, input_shape) -> tuple:
        """Shape of the stacked codes `(batch, K, latent_dim)`, validated."""
        name = type(self).__name__
        expected = (
            f"inputs of shape (batch, {self.num_components}, latent_dim) or a list "
            f"of {self.num_components} tensors of shape (batch, latent_dim)"
        )
        if isinstance(input_shape, (list, tuple)) and all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            shapes = [tuple(s) for s in input_shape]
            if (
                len(shapes) != self.num_components
                or any(len(s) != 2 or s[1] is None for s in shapes)
                or len({s[1] for s in shapes}) != 1
            ):
                received = ", ".join(format_shape(s) for s in shapes)
                raise ValueError(
                    f"{name} expects {expected}; received a list of {received}."
                )
            return (shapes[0][0], len(shapes), shapes[0][1])
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[1] != self.num_components or shape[2] is None:
            raise ValueError(
                f"{name} expects {expected}; received {format_shape(shape)}."
            )
        return shape

    def build(self, input_shape) -> None:
        """Builds the dense layers for codes of shape `input_shape`.

        Args:
            input_shape: `(batch, K, latent_dim)`, or a list of K shapes
                `(batch, latent_dim)`.
        """
        # No `input_spec`: it would tie the layer to the form (list or stacked)
        # of its first call, and both forms must keep working.
        self._latent_dim = self._stacked_shape(input_shape)[2]
        shape = (None, self.num_components * self._latent_dim)
        for dense in self._hidden:
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
        self._output.build(shape)

    def call(self, codes, return_logits: bool = False):
        """The assignment probabilities p(k | x) of the samples whose codes are `codes`.

        Args:
            codes: `(batch, K, latent_dim)`, or a list of K tensors
                `(batch, latent_dim)`.
            return_logits: Also return the logits.

        Returns:
            float32 probabilities `(batch, K)`, or `(probabilities, logits)` with
            `return_logits=True`.
        """
        if isinstance(codes, (list, tuple)):
            shape = self._stacked_shape([tuple(c.shape) for c in codes])
            codes = keras.ops.stack(codes, axis=1)
        else:
            shape = self._stacked_shape(tuple(codes.shape))
        if shape[2] != self._latent_dim:
            raise ValueError(
                f"{type(self).__name__} was built for latent_dim={self._latent_dim}; "
                f"received codes of latent_dim={shape[2]}."
            )
        x = keras.ops.reshape(codes, (-1, self.num_components * self._latent_dim))
        for dense in self._hidden:
            x = dense(x)
        logits = keras.ops.cast(self._output(x), "float32")
        probabilities = keras.ops.softmax(logits, axis=-1)
        if return_logits:
            return probabilities, logits
        return probabilities

    def copy_component(self, source: int, target: int) -> None:
        """Gives component `target` the logit weights and bias of `source`.

        Both then get the same logit: a start from which re-seeding trains
        the network to split `source`'s samples between the two.

        Args:
            source: The component to copy.
            target: The component to overwrite.
        """
        for variable in (self._output.kernel, self._output.bias):
            values = keras.ops.convert_to_numpy(variable).copy()
            values[..., target] = values[..., source]
            variable.assign(values)

    def compute_output_shape(self, input_shape) -> tuple:
        """The output shape for inputs of shape `input_shape`: `(batch, K)`."""
        return (self._stacked_shape(input_shape)[0], self.num_components)

    def compute_output_spec(self, codes, return_logits: bool = False):
        """The float32 output spec(s) of `call` on symbolic `codes`."""
        # The default spec would use the compute dtype; outputs are float32.
        shape = self.compute_output_shape(
            keras.tree.map_structure(lambda t: tuple(t.shape), codes)
        )
        spec = keras.KerasTensor(shape, dtype="float32")
        if return_logits:
            return spec, keras.KerasTensor(shape, dtype="float32")
        return spec

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "num_components": self.num_components,
                "hidden_units": list(self.hidden_units),
                "activation": serialize_activation(self.activation),
            }
        )
        return config
