"""Random rotation, shear, scaling and shift of images, as one affine transform."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_mae.layers._utils import format_shape
from keras_mae.layers.affine_resample import affine_resample
from keras_mae.training.replica_seeds import step_seeds
from keras_mae.utils.argument_checks import check_int, check_number

# The values that `keras.ops.image.affine_transform` accepts on every backend
# ("mirror" exists on JAX, NumPy and PyTorch only, so it is left out).
INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("constant", "nearest", "wrap", "reflect")
_SEED_STATE_KEY = "seed_generator_state"


def affine_transforms(
    angle: Any,
    shear: Any,
    scale: Any,
    shift_x: Any,
    shift_y: Any,
    height: Any,
    width: Any,
) -> Any:
    """Rows for `keras.ops.image.affine_transform`, one per image.

    About the image centre, an input pixel is sheared (`x += shear * y`, the
    slant of handwriting), rotated by `angle` radians (from the x axis towards
    the y axis of pixel coordinates, i.e. clockwise on screen), scaled by
    `scale`, then shifted by `(shift_x, shift_y)` pixels. Each row holds the
    inverse map that `affine_transform` wants, from an output pixel `(x, y)`
    to the input pixel it reads: `[a0, a1, a2, b0, b1, b2, 0, 0]` with
    `x_in = a0 x + a1 y + a2` and `y_in = b0 x + b1 y + b2`.

    Args:
        angle: Rotation angles in radians, shape `(batch,)`.
        shear: Horizontal shear factors, shape `(batch,)`.
        scale: Scale factors (positive), shape `(batch,)`.
        shift_x: Horizontal shifts in pixels, shape `(batch,)`.
        shift_y: Vertical shifts in pixels, shape `(batch,)`.
        height: The image height in pixels.
        width: The image width in pixels.

    Returns:
        A `(batch, 8)` tensor.

    Examples:

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_mae.layers.random_affine import affine_transforms
    >>> one = np.ones((1,), "float32")
    >>> rows = affine_transforms(0 * one, 0 * one, one, 0 * one, 0 * one, 28, 28)
    >>> ops.convert_to_numpy(rows).tolist()
    [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    angle, shear, scale, shift_x, shift_y = (
        ops.convert_to_tensor(value, "float32")
        for value in (angle, shear, scale, shift_x, shift_y)
    )
    center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
    # The inverse of shear-then-rotate-and-scale: un-rotate and un-scale
    # [[cos, sin], [-sin, cos]], then un-shear [[1, -shear], [0, 1]].
    a0, a1 = cos + shear * sin, sin - shear * cos
    # `0 - sin`, not `-sin`: the same value, but the identity's row then reads
    # +0.0 rather than -0.0.
    b0, b1 = 0.0 - sin, cos
    from_x, from_y = center_x + shift_x, center_y + shift_y
    a2 = center_x - a0 * from_x - a1 * from_y
    b2 = center_y - b0 * from_x - b1 * from_y
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _check_choice(owner: str, argument: str, value: Any, choices: tuple) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{owner} expects `{argument}` to be one of {choices}; received {value!r}."
        )
    return value


@keras.saving.register_keras_serializable(package="keras_mae")
class RandomAffine(keras.layers.Layer):
    """Each image under its own random rotation, shear, scaling and shift.

    In training, every image of a `(batch, height, width, channels)` batch
    is sheared (`x += s * y`, `s ~ U[-shear, shear]`), rotated by an angle
    `~ U[-rotation, rotation]` degrees, scaled by `1 + U[-scale, scale]` and
    shifted by `U[-shift, shift]` times the image width (horizontally) and
    height (vertically), all about the image centre and as one resampling
    (see `affine_transforms`; the pixels are read by `affine_resample`, one
    batched gather on every backend). Outside training (`training=False`, e.g. in
    `predict`) the images pass through unchanged, as they do when every
    amount is 0.

    The draws come from the layer's own `keras.random.SeedGenerator`, whose
    state is saved with the weights: a model reloaded from its weights goes
    on with the same transforms. Inputs keep their dtype (the layer does not
    cast them to its compute dtype).

    Args:
        rotation: Largest rotation angle in degrees, in [0, 180).
        scale: Largest relative zoom, in [0, 1): factors in
            `[1 - scale, 1 + scale]`.
        shift: Largest shift as a fraction of the image side, in [0, 1).
        shear: Largest horizontal shear factor, in [0, 1).
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: How points outside the image are filled: `"constant"`
            (zeros), `"nearest"`, `"wrap"` or `"reflect"` (as
            `keras.ops.image.map_coordinates` reads them, on every backend).
        seed: Integer seed of the layer's random draws, or None for a random
            one.
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, ...).

    Examples:

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_mae.layers import RandomAffine
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1))
    >>> images = images.astype("float32")
    >>> layer = RandomAffine(rotation=10.0, shift=0.05, seed=0)
    >>> augmented = ops.convert_to_numpy(layer(images))
    >>> augmented.shape, augmented.dtype.name, bool(np.allclose(augmented, images))
    ((4, 8, 8, 1), 'float32', False)
    >>> unchanged = ops.convert_to_numpy(layer(images, training=False))
    >>> bool(np.array_equal(unchanged, images))
    True
    """

    def __init__(
        self,
        rotation: float = 15.0,
        scale: float = 0.1,
        shift: float = 0.1,
        shear: float = 0.4,
        interpolation: str = "bilinear",
        fill_mode: str = "constant",
        seed: int | None = None,
        **kwargs,
    ) -> None:
        # An augmentation must not change the images' dtype: float16 or
        # bfloat16 batches would otherwise come back in the compute dtype.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        name = type(self).__name__
        self.rotation = check_number(
            name, "rotation", rotation, 0.0, 180.0, what="the largest angle in degrees"
        )
        self.scale = check_number(
            name, "scale", scale, 0.0, 1.0, what="the largest relative zoom"
        )
        self.shift = check_number(
            name, "shift", shift, 0.0, 1.0, what="a fraction of the image side"
        )
        self.shear = check_number(
            name, "shear", shear, 0.0, 1.0, what="the largest horizontal shear factor"
        )
        self.interpolation = _check_choice(
            name, "interpolation", interpolation, INTERPOLATIONS
        )
        self.fill_mode = _check_choice(name, "fill_mode", fill_mode, FILL_MODES)
        self.seed = None if seed is None else check_int(name, "seed", seed, minimum=0)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _check_rank(self, shape) -> None:
        if len(shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects images of shape (batch, height, "
                f"width, channels); received a rank-{len(shape)} input of shape "
                f"{format_shape(shape)}."
            )

    @property
    def _is_identity(self) -> bool:
        return not (self.rotation or self.scale or self.shift or self.shear)

    def call(self, images, training=True):
        """The images, each under its own random transform when `training`.

        Args:
            images: `(batch, height, width, channels)`.
            training: Transform the images; `False` returns them unchanged.

        Returns:
            The transformed images, same shape and dtype as `images`.
        """
        images = ops.convert_to_tensor(images)
        self._check_rank(images.shape)
        # No resampling for the identity: bilinear gives the input back for
        # finite pixels, but 0 * inf from a neighbour would still make NaNs.
        if not training or self._is_identity:
            return images
        batch_size = ops.shape(images)[0]
        height, width = (
            images.shape[axis]
            if images.shape[axis] is not None
            else ops.cast(ops.shape(images)[axis], "float32")
            for axis in (1, 2)
        )

        # Under tf.distribute / torch.distributed each replica its own draws.
        seeds = step_seeds(self.seed_generator)

        def uniform(limit):
            return keras.random.uniform((batch_size,), -limit, limit, seed=seeds)

        # This order of draws is part of the behaviour: the same seed gives
        # the same transforms as the MixtureAutoencoder augmentation had.
        transform = affine_transforms(
            angle=uniform(self.rotation * math.pi / 180.0),
            shear=uniform(self.shear),
            scale=1.0 + uniform(self.scale),
            shift_x=uniform(self.shift) * width,
            shift_y=uniform(self.shift) * height,
            height=height,
            width=width,
        )
        if None in images.shape[1:]:
            return ops.image.affine_transform(
                images,
                transform,
                interpolation=self.interpolation,
                fill_mode=self.fill_mode,
                data_format="channels_last",
            )
        # The same pixels as affine_transform (but "wrap", where TensorFlow
        # differs from the other backends), batched on every backend.
        return affine_resample(images, transform, self.interpolation, self.fill_mode)

    def compute_output_shape(self, input_shape):
        """The output shape for inputs of shape `input_shape`: `input_shape` itself."""
        self._check_rank(input_shape)
        return tuple(input_shape)

    def compute_output_spec(self, images, training=True):
        """The output spec of `call` on symbolic `images`: their shape and dtype."""
        # The default spec would be in the compute dtype; the images keep theirs.
        return keras.KerasTensor(
            self.compute_output_shape(images.shape), dtype=images.dtype
        )

    # The seed generator's state is not among the layer's weights, so Keras
    # neither saves nor restores it (the base method stores nothing for this
    # layer); save it ourselves so a reloaded model draws on where it was.
    def save_own_variables(self, store) -> None:
        """Saves the layer's variables and its seed generator's state into `store`."""
        super().save_own_variables(store)
        store[_SEED_STATE_KEY] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store) -> None:
        """Restores what `save_own_variables` saved (also files without seed state)."""
        # The store may be an HDF5 entry without `in`; list its keys.
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if k != _SEED_STATE_KEY})
        # Files written before the state was saved lack the key: keep the
        # state as it is then.
        if _SEED_STATE_KEY in keys:
            dtype = keras.backend.standardize_dtype(self.seed_generator.state.dtype)
            state = np.asarray(store[_SEED_STATE_KEY]).astype(dtype)
            self.seed_generator.state.assign(state)

    def get_config(self) -> dict[str, Any]:
        """The layer's config: its constructor arguments, for `from_config`."""
        config = super().get_config()
        config.update(
            {
                "rotation": self.rotation,
                "scale": self.scale,
                "shift": self.shift,
                "shear": self.shear,
                "interpolation": self.interpolation,
                "fill_mode": self.fill_mode,
                "seed": self.seed,
            }
        )
        return config
