"""Convolutional decoder: a vector to an image (MAE decoder, DCGAN generator)."""

from __future__ import annotations

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
from keras_mae.utils.argument_checks import check_int


def _largest_stage_count(height: int, width: int) -> int:
    """How many times both `height` and `width` can be halved exactly."""
    count = 0
    while height % 2 == 0 and width % 2 == 0:
        height, width, count = height // 2, width // 2, count + 1
    return count


@keras.saving.register_keras_serializable(package="keras_mae")
class ConvDecoder(keras.layers.Layer):
    """Maps vectors `(batch, features)` to images `(batch, *output_shape)`, DCGAN-style.

    A `Dense` layer projects the input to a small feature map of shape
    `(height / 2**n, width / 2**n, filters[0])`, where `n = len(filters)`.
    Each entry of `filters` then adds a stage: `UpSampling2D` (doubling height
    and width), a `Conv2D` with that many filters, optional normalization and
    a ReLU. A final `Conv2D` gives the image channels and applies
    `output_activation`. The default `filters=(32, 16)` gives `n = 2`: 28x28
    images start from 7x7 maps and 8x8 images from 2x2 maps.

    Upsampling followed by a convolution replaces `Conv2DTranspose` because
    the transposed convolution's weight gradient is several times slower on
    JAX on CPU, while this form is fast on all three backends.

    Args:
        output_shape: image shape `(height, width, channels)`; height and
            width must be divisible by `2 ** len(filters)`.
        filters: number of filters of each upsampling stage.
        kernel_size: kernel size of every convolution.
        normalization: `None`, `"batch"` or `"layer"`, applied after the
            projection and after each stage's convolution.
        output_activation: activation of the final convolution: `"sigmoid"`
            for images in [0, 1], `"tanh"` for [-1, 1], `None` for unbounded.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.layers import ConvDecoder
    >>> decoder = ConvDecoder(output_shape=(8, 8, 1))
    >>> tuple(decoder(np.zeros((2, 10), "float32")).shape)
    (2, 8, 8, 1)
    """

    def __init__(
        self,
        output_shape: Sequence[int],
        filters: Sequence[int] = (32, 16),
        kernel_size: int = 3,
        normalization: str | None = "batch",
        output_activation: str | None = "sigmoid",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.output_shape = check_output_shape(name, output_shape)
        if len(self.output_shape) != 3:
            raise ValueError(
                f"{name} expects `output_shape` (height, width, channels); "
                f"received {output_shape!r}."
            )
        self.filters = check_units(name, "filters", filters)
        if not self.filters:
            raise ValueError(f"{name} expects at least one entry in `filters`.")
        self.kernel_size = check_int(name, "kernel_size", kernel_size)
        check_normalization(name, normalization)
        self.normalization = normalization
        self.output_activation = output_activation

        height, width, channels = self.output_shape
        factor = 2 ** len(self.filters)
        if height % factor or width % factor:
            raise ValueError(
                f"{name} with {len(self.filters)} upsampling stages "
                f"(filters={self.filters}) needs height and width divisible by "
                f"{factor}; received output_shape={self.output_shape}. This "
                f"shape allows at most {_largest_stage_count(height, width)} "
                "stages: pass that many entries in `filters`."
            )
        self._initial_shape = (height // factor, width // factor, self.filters[0])

        # A bias before a normalization layer is cancelled by it.
        use_bias = normalization is None
        self._projection = keras.layers.Dense(
            self._initial_shape[0] * self._initial_shape[1] * self._initial_shape[2],
            use_bias=use_bias,
            dtype=self.dtype_policy,
            name="projection",
        )
        self._projection_norm = make_normalization(
            normalization, self.dtype_policy, "projection_norm"
        )
        self._reshape = keras.layers.Reshape(
            self._initial_shape, dtype=self.dtype_policy, name="reshape"
        )
        self._upsamplings = []
        self._convs = []
        self._norms = []
        for i, num_filters in enumerate(self.filters):
            self._upsamplings.append(
                keras.layers.UpSampling2D(
                    2, dtype=self.dtype_policy, name=f"upsampling_{i}"
                )
            )
            self._convs.append(
                keras.layers.Conv2D(
                    num_filters,
                    self.kernel_size,
                    padding="same",
                    use_bias=use_bias,
                    dtype=self.dtype_policy,
                    name=f"conv_{i}",
                )
            )
            norm = make_normalization(normalization, self.dtype_policy, f"norm_{i}")
            if norm is not None:
                self._norms.append(norm)
        self._output_conv = keras.layers.Conv2D(
            channels,
            self.kernel_size,
            padding="same",
            activation=output_activation,
            dtype=self.dtype_policy,
            name="output_conv",
        )

    def build(self, input_shape: tuple) -> None:
        """Builds every sub-layer for inputs of shape `input_shape`.

        Args:
            input_shape: `(batch, features)`.
        """
        check_vector_input(type(self).__name__, input_shape)
        self.input_spec = keras.InputSpec(ndim=2, axes={-1: input_shape[-1]})
        # Build every sub-layer, weightless ones too: `fit` and `load_model`
        # treat a model holding an unbuilt layer as unbuilt.
        self._projection.build(input_shape)
        shape = self._projection.compute_output_shape(input_shape)
        if self._projection_norm is not None:
            self._projection_norm.build(shape)
        self._reshape.build(shape)
        shape = (input_shape[0], *self._initial_shape)
        for i, conv in enumerate(self._convs):
            self._upsamplings[i].build(shape)
            shape = self._upsamplings[i].compute_output_shape(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self._norms:
                self._norms[i].build(shape)
        self._output_conv.build(shape)

    def call(self, inputs, training: bool | None = None):
        """Decodes vectors `(batch, features)` into images `(batch, *output_shape)`.

        Args:
            inputs: Vectors `(batch, features)`.
            training: Whether batch normalization uses batch statistics.
        """
        x = self._projection(inputs)
        if self._projection_norm is not None:
            x = self._projection_norm(x, training=training)
        x = self._reshape(keras.ops.relu(x))
        for i, conv in enumerate(self._convs):
            x = conv(self._upsamplings[i](x))
            if self._norms:
                x = self._norms[i](x, training=training)
            x = keras.ops.relu(x)
        return self._output_conv(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs `input_shape`: `(batch, *output_shape)`."""
        return (input_shape[0], *self.output_shape)

    def get_config(self) -> dict:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "output_shape": list(self.output_shape),
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "normalization": self.normalization,
                "output_activation": serialize_activation(self.output_activation),
            }
        )
        return config
