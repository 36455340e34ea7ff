"""The Mixture Autoencoder: K autoencoders, an assignment network, a discriminator."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops
from sklearn.cluster import KMeans

from keras_mae.datasets.neighbors import NeighborPairs, nearest_neighbors
from keras_mae.layers import (
    AssignmentNetwork,
    ConvEncoder,
    MLPEncoder,
    ParallelDense,
)
from keras_mae.models import losses
from keras_mae.training import AdversarialModel, Player
from keras_mae.training.callbacks import ReseedDeadComponents
from keras_mae.utils.argument_checks import check_int, check_number

ADVERSARIAL_MODES = (None, "latent", "data", "both")
# Random affine transforms for the consistency term on images: small enough to
# keep a digit's class, large enough to change most of its pixels. The shear
# is `compile(consistency_shear=...)`.
AUGMENTATION_DEGREES = 15.0
AUGMENTATION_SCALE = 0.1
AUGMENTATION_SHIFT = 0.1
_NAME = "MixtureAutoencoder"


def _shape_tuple(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


def _format(shape) -> str:
    return "(batch, " + ", ".join(str(d) for d in shape) + ")"


def _layers_or_builder(argument: str, value, num_components: int):
    """Returns None, one layer, or a list of `num_components` layers."""
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


def _serialize(value):
    if isinstance(value, list):
        return [keras.saving.serialize_keras_object(layer) for layer in value]
    return keras.saving.serialize_keras_object(value)


def _deserialize(value):
    if isinstance(value, list):
        return [keras.saving.deserialize_keras_object(item) for item in value]
    return None if value is None else keras.saving.deserialize_keras_object(value)


def affine_transforms(angle, shear, scale, shift_x, shift_y, height, width):
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
    b0, b1 = -sin, cos
    from_x, from_y = center_x + shift_x, center_y + shift_y
    a2 = center_x - a0 * from_x - a1 * from_y
    b2 = center_y - b0 * from_x - b1 * from_y
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _split_pairs(data):
    """`(samples, neighbours)` of a batch; neighbours None for a plain batch."""
    if isinstance(data, dict):
        return data["x"], data["neighbor"]
    return data, None


def _build_and_check(layer, input_shape, expected, role: str) -> None:
    if not layer.built:
        layer.build(input_shape)
    received = _shape_tuple(layer.compute_output_shape(input_shape))[1:]
    if received != expected:
        raise ValueError(
            f"{_NAME} expects the {role} to map {_format(input_shape[1:])} to "
            f"{_format(expected)}; it gives {_format(received)}."
        )


@keras.saving.register_keras_serializable(package="keras_mae")
class MixtureAutoencoder(AdversarialModel):
    """K autoencoders and an assignment network, trained adversarially.

    Each of the K autoencoders encodes a sample to a code of size
    `latent_dim` and decodes it back; the assignment network reads the K codes
    and returns p(k | x). Training (MIXAE, Zhang et al. 2017) minimises

        sum_k p(k|x) * reconstruction_k(x)
        + sample_entropy_weight * H(p(.|x))       (confident assignments)
        - batch_entropy_weight * H(mean_x p(.|x))  (balanced components)

    and, for images, `consistency_weight` times a SCAN-style consistency term
    that asks a randomly rotated, scaled and shifted copy of `x` to get the
    same assignment (plain MIXAE clusters by pose as much as by class),
    `neighbor_weight` times the same term between `x` and one of its nearest
    neighbours in the training data (look-alike samples share a component;
    `fit` finds the neighbours of array inputs, see `compile`), plus, with
    `adversarial`, a generator loss against a discriminator:

    - `"latent"` (default): the codes of the samples assigned to component k
      are matched to the prior N(0, I) (adversarial-autoencoder style), so
      `decode(z ~ N(0, I), k)` samples cluster k;
    - `"data"`: a discriminator tells real inputs from decoded prior samples;
    - `"both"`, or `None` for plain MIXAE.

    Dead components are guarded against three times: the batch-entropy term
    keeps the average assignment balanced, every autoencoder reconstructs
    every sample with at least `component_floor / K` of the weight, so no
    component stops learning, and `fit` on an array re-seeds a component
    that ends 3 epochs in a row (nearly) empty with one half of the busiest
    (`reseed_component`, `compile(reseed_threshold=...)`). `fit`/`evaluate`
    log `loss`, `reconstruction`,
    `sample_entropy`, `batch_entropy`, `consistency` (images), `neighbor`
    (with the neighbour term), `adversarial` and `d_loss` (with a
    discriminator) and `usage_k`, the share of samples assigned to component k.

    The default autoencoders are K independent MLPs of `hidden_units`, run as
    one network by `ParallelDense` (one einsum per layer for all K), also for
    images: K convolutional autoencoders cost K conv nets per sample, too slow
    on CPU. Pass `encoder` and `decoder` builders (e.g.
    `lambda k: ConvEncoder(latent_dim)`) for them.

    Args:
        num_components: Number of components K (clusters), at least 2.
        latent_dim: Size of each component's code.
        input_shape: Shape of one sample, e.g. `(28, 28, 1)` or `(784,)`;
            inferred from the first batch if None.
        encoder: None (default), a layer from data to codes
            `(batch, K, latent_dim)`, a list of K layers from data to
            `(batch, latent_dim)`, or a builder `f(k) -> layer` called K times.
        decoder: None (default), a layer from `(batch, K, latent_dim)` to
            `(batch, K, *input_shape)`, a list of K layers from
            `(batch, latent_dim)` to `(batch, *input_shape)`, or a builder.
        assignment: The network from codes `(batch, K, latent_dim)` to
            p(k | x); default `AssignmentNetwork(K)`. It must accept
            `return_logits=True`.
        adversarial: `"latent"`, `"data"`, `"both"` or None.
        hidden_units: Widths of the default encoder/decoder hidden layers.
        output_activation: Output activation of the default decoder:
            `"sigmoid"` for data in [0, 1] (checked), None for unbounded data.
        latent_discriminator: Scores `(batch, latent_dim + K)` (a code and its
            one-hot component); default `MLPEncoder(1, (128, 128))`.
        data_discriminator: Scores data; default `ConvEncoder(1)` for images
            whose sides divide by 4, else `MLPEncoder(1, (256,))`.
        seed: Seed of the model's noise (prior samples).
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    import numpy as np
    from keras_mae.models import MixtureAutoencoder
    x = np.random.default_rng(0).uniform(size=(512, 8, 8, 1)).astype("float32")
    mae = MixtureAutoencoder(num_components=3, latent_dim=4, seed=0)
    mae.compile()  # Adam(1e-3); discriminator Adam(2e-4, beta_1=0.5)
    mae.fit(x, batch_size=128, epochs=1, verbose=0)
    labels = mae.predict_clusters(x)  # (512,) ints in [0, 3)
    samples = mae.sample(6, component=1, seed=0)  # (6, 8, 8, 1)
    ```
    """

    def __init__(
        self,
        num_components: int,
        latent_dim: int,
        input_shape: Sequence[int] | None = None,
        encoder: keras.layers.Layer | Sequence | Callable | None = None,
        decoder: keras.layers.Layer | Sequence | Callable | None = None,
        assignment: keras.layers.Layer | None = None,
        adversarial: str | None = "latent",
        hidden_units: Sequence[int] = (512, 256),
        output_activation: str | None = "sigmoid",
        latent_discriminator: keras.layers.Layer | None = None,
        data_discriminator: keras.layers.Layer | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.num_components = check_int(_NAME, "num_components", num_components, 2)
        self.latent_dim = check_int(_NAME, "latent_dim", latent_dim)
        if adversarial not in ADVERSARIAL_MODES:
            raise ValueError(
                f"{_NAME} expects `adversarial` to be one of {ADVERSARIAL_MODES}; "
                f"received {adversarial!r}."
            )
        self.adversarial = adversarial
        self.hidden_units = tuple(
            check_int(_NAME, "hidden_units", units) for units in hidden_units
        )
        if not self.hidden_units:
            raise ValueError(f"{_NAME} expects at least one entry in `hidden_units`.")
        self.output_activation = output_activation
        self.data_shape = None
        if input_shape is not None:
            shape = (input_shape,) if isinstance(input_shape, int) else input_shape
            self.data_shape = tuple(check_int(_NAME, "input_shape", d) for d in shape)

        self.encoder = _layers_or_builder("encoder", encoder, self.num_components)
        self.decoder = _layers_or_builder("decoder", decoder, self.num_components)
        if assignment is not None and not isinstance(assignment, keras.layers.Layer):
            raise TypeError(
                f"{_NAME} expects `assignment` to be a Keras layer or None; "
                f"received {type(assignment).__name__}."
            )
        self.assignment = assignment or AssignmentNetwork(
            self.num_components, name="assignment"
        )
        self.latent_discriminator = None
        if adversarial in ("latent", "both"):
            self.latent_discriminator = latent_discriminator or MLPEncoder(
                1, hidden_units=(128, 128), name="latent_discriminator"
            )
        self.data_discriminator = (
            data_discriminator
            if adversarial
            in (
                "data",
                "both",
            )
            else None
        )
        if self.data_shape is not None:
            self._build_networks(self.data_shape)

    # ------------------------------------------------------------------
    # Building.
    def _default_encoder(self) -> keras.layers.Layer:
        return keras.Sequential(
            [
                keras.layers.Flatten(),
                *[
                    ParallelDense(self.num_components, units, activation="relu")
                    for units in self.hidden_units
                ],
                ParallelDense(self.num_components, self.latent_dim),
            ],
            name="encoder",
        )

    def _default_decoder(self) -> keras.layers.Layer:
        return keras.Sequential(
            [
                *[
                    ParallelDense(self.num_components, units, activation="relu")
                    for units in reversed(self.hidden_units)
                ],
                ParallelDense(
                    self.num_components,
                    math.prod(self.data_shape),
                    activation=self.output_activation,
                ),
                keras.layers.Reshape((self.num_components, *self.data_shape)),
            ],
            name="decoder",
        )

    def _default_data_discriminator(self) -> keras.layers.Layer:
        shape = self.data_shape
        if len(shape) == 3 and shape[0] % 4 == 0 and shape[1] % 4 == 0:
            return ConvEncoder(1, name="data_discriminator")
        return MLPEncoder(1, hidden_units=(256,), name="data_discriminator")

    def build(self, input_shape) -> None:
        if isinstance(input_shape, dict):  # NeighborPairs batches
            input_shape = input_shape.get("x", next(iter(input_shape.values())))
        self._build_networks(_shape_tuple(input_shape)[1:])

    def _build_networks(self, shape: tuple) -> None:
        # Called directly, not through `build`: Keras locks a layer's state
        # after `build`, and `compile` must still add the loss trackers.
        if self.data_shape is None:
            self.data_shape = tuple(check_int(_NAME, "input_shape", d) for d in shape)
        elif shape != self.data_shape:
            raise ValueError(
                f"{_NAME} expects data of shape {_format(self.data_shape)}; "
                f"received {_format(shape)}."
            )
        data = (None, *self.data_shape)
        codes = (self.num_components, self.latent_dim)
        if self.encoder is None:
            self.encoder = self._default_encoder()
        if self.decoder is None:
            self.decoder = self._default_decoder()
        if isinstance(self.encoder, list):
            for layer in self.encoder:
                _build_and_check(layer, data, (self.latent_dim,), "encoder")
        else:
            _build_and_check(self.encoder, data, codes, "encoder")
        if isinstance(self.decoder, list):
            for layer in self.decoder:
                _build_and_check(
                    layer, (None, self.latent_dim), self.data_shape, "decoder"
                )
        else:
            _build_and_check(
                self.decoder,
                (None, *codes),
                (self.num_components, *self.data_shape),
                "decoder",
            )
        _build_and_check(
            self.assignment, (None, *codes), (self.num_components,), "assignment"
        )
        if self.latent_discriminator is not None:
            _build_and_check(
                self.latent_discriminator,
                (None, self.latent_dim + self.num_components),
                (1,),
                "latent discriminator",
            )
        if self.adversarial in ("data", "both"):
            if self.data_discriminator is None:
                self.data_discriminator = self._default_data_discriminator()
            _build_and_check(self.data_discriminator, data, (1,), "data discriminator")
        self.built = True
        if self.compiled:
            self._complete_compile(self._log_names())

    # ------------------------------------------------------------------
    # Compilation.
    def compile(
        self,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        discriminator_optimizer: keras.optimizers.Optimizer | str | None = None,
        reconstruction_loss: str = "mse",
        sample_entropy_weight: float = 0.002,
        batch_entropy_weight: float = 5.0,
        adversarial_weight: float = 0.01,
        adversarial_loss: str = "non_saturating",
        component_floor: float = 0.1,
        consistency_weight: float = 1.0,
        consistency_shear: float = 0.4,
        neighbor_weight: float = 1.0,
        num_neighbors: int = 5,
        reseed_threshold: float = 0.2,
        **kwargs,
    ):
        """Configures training; every argument has a default that works on MNIST.

        Args:
            optimizer: Optimizer of the autoencoders and the assignment
                network; default `Adam(1e-3)`.
            discriminator_optimizer: Optimizer of the discriminator(s);
                default `Adam(2e-4, beta_1=0.5)`.
            reconstruction_loss: `"mse"` or `"binary_crossentropy"`, per
                sample and averaged over features.
            sample_entropy_weight: Weight of the sample-wise assignment
                entropy (minimised: confident assignments).
            batch_entropy_weight: Weight of the batch-wise assignment entropy
                (maximised: balanced components).
            adversarial_weight: Weight of the autoencoders' adversarial loss.
            adversarial_loss: One of `losses.ADVERSARIAL_LOSSES`.
            component_floor: In [0, 1): share of the reconstruction weight
                spread evenly over all components, so none stops learning.
            consistency_weight: Weight of the consistency term on images
                (`-log sum_k p(k|x) p(k|x')`, `x'` a randomly sheared,
                rotated, scaled and shifted `x`, as in SCAN): assignments that
                survive small transforms follow a digit's class, not its pose.
                Keep it well below `batch_entropy_weight`, or all samples
                join one component. Ignored for vector data.
            consistency_shear: In [0, 1): the largest shear of those
                transforms (`x += shear * y` about the centre, drawn
                uniformly in `[-shear, shear]`), i.e. the slant of
                handwriting. Without it, look-alike digits such as 4 and 9
                are often split by slant instead of by digit (MNIST fours and
                nines alone, 30 epochs: 12 of 12 runs separated them at 0.4, 4
                of 8 at 0; all MNIST, one seed: ACC 0.976 against 0.884;
                docs/benchmarks.md). Set 0 for images whose classes change
                under shear.
            neighbor_weight: Weight of the nearest-neighbour term
                (`-log sum_k p(k|x) p(k|n)`, `n` one of the `num_neighbors`
                nearest samples of `x` in the training data, by raw-feature
                distance, a new one every epoch): samples that look alike
                share a component. `fit` and `evaluate` find the neighbours
                of array inputs themselves (`nearest_neighbors`, once per
                array: 80 to 84 s for the 70,000 MNIST images on 2 CPU cores, on
                the GPU where there is one); other inputs
                must yield `keras_mae.datasets.NeighborPairs` batches, or
                train without the term (with a warning). Like the
                consistency term, keep it well below `batch_entropy_weight`.
                On MNIST (10 epochs, 3 seeds, docs/benchmarks.md) it raised
                ACC from 0.65 to 0.85 for about a third more time per epoch.
                The exact search is quadratic in the number of samples: for
                much more than 10^5 samples set 0 (off), or feed
                `NeighborPairs` built from your own (approximate) neighbours.
            num_neighbors: How many nearest neighbours to draw from.
            reseed_threshold: When `fit` gets an array, a component that ends
                3 epochs in a row with less than this share of a fair `1 / K`
                of the samples is re-seeded: the busiest component is split
                in two and one half given to it (`ReseedDeadComponents`,
                added unless `callbacks` holds one; pass your own for a
                dataset). 0 turns it off.
            **kwargs: `steps_per_execution`, `jit_compile`, `run_eagerly`.
        """
        losses.check_adversarial_loss(adversarial_loss)
        if reconstruction_loss not in losses.RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"{_NAME} expects `reconstruction_loss` in "
                f"{losses.RECONSTRUCTION_LOSSES}; received {reconstruction_loss!r}."
            )
        weights = {
            "sample_entropy_weight": sample_entropy_weight,
            "batch_entropy_weight": batch_entropy_weight,
            "adversarial_weight": adversarial_weight,
            "consistency_weight": consistency_weight,
            "neighbor_weight": neighbor_weight,
        }
        for argument, value in weights.items():
            check_number(_NAME, argument, value)
        check_number(_NAME, "component_floor", component_floor, 0.0, 1.0)
        self.consistency_shear = check_number(
            _NAME, "consistency_shear", consistency_shear, 0.0, 1.0
        )
        num_neighbors = check_int(_NAME, "num_neighbors", num_neighbors)
        self.reseed_threshold = check_number(
            _NAME, "reseed_threshold", reseed_threshold, 0.0, 1.0
        )
        self.reconstruction_loss = reconstruction_loss
        self.sample_entropy_weight = float(sample_entropy_weight)
        self.batch_entropy_weight = float(batch_entropy_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.consistency_weight = float(consistency_weight)
        self.neighbor_weight = float(neighbor_weight)
        self.num_neighbors = num_neighbors
        self.adversarial_loss = adversarial_loss
        self.component_floor = float(component_floor)

        optimizers = {"autoencoder": optimizer or keras.optimizers.Adam(1e-3)}
        if self.adversarial is not None:
            optimizers = {
                "discriminator": discriminator_optimizer
                or keras.optimizers.Adam(2e-4, beta_1=0.5),
                **optimizers,
            }
        config = {
            "optimizer": optimizers["autoencoder"],
            "discriminator_optimizer": optimizers.get("discriminator"),
            "reconstruction_loss": reconstruction_loss,
            **{name: float(value) for name, value in weights.items()},
            "adversarial_loss": adversarial_loss,
            "component_floor": self.component_floor,
            "consistency_shear": self.consistency_shear,
            "num_neighbors": self.num_neighbors,
            "reseed_threshold": self.reseed_threshold,
            **kwargs,
        }
        self._compile_players(optimizers, self._log_names(), config, **kwargs)

    def _log_names(self) -> list[str]:
        """What `fit`/`evaluate` log; `consistency` once the data are images."""
        names = ["loss", "reconstruction", "sample_entropy", "batch_entropy"]
        if self._uses_consistency():
            names.append("consistency")
        if self._uses_neighbors():
            names.append("neighbor")
        if self.adversarial is not None:
            names += ["adversarial", "d_loss"]
        return names + [f"usage_{k}" for k in range(self.num_components)]

    def _autoencoder_layers(self) -> list[keras.layers.Layer]:
        layers = []
        for part in (self.encoder, self.decoder):
            layers += part if isinstance(part, list) else [part]
        return [*layers, self.assignment]

    def _discriminators(self) -> list[keras.layers.Layer]:
        return [
            layer
            for layer in (self.latent_discriminator, self.data_discriminator)
            if layer is not None
        ]

    def players(self) -> list[Player]:
        autoencoder = Player(
            name="autoencoder",
            variables=[
                v
                for layer in self._autoencoder_layers()
                for v in layer.trainable_variables
            ],
            optimizer=self.player_optimizer("autoencoder"),
            loss=self.autoencoder_loss,
        )
        if self.adversarial is None:
            return [autoencoder]
        discriminator = Player(
            name="discriminator",
            variables=[
                v for layer in self._discriminators() for v in layer.trainable_variables
            ],
            optimizer=self.player_optimizer("discriminator"),
            loss=self.discriminator_loss,
        )
        return [discriminator, autoencoder]

    # ------------------------------------------------------------------
    # The networks, applied to all K components at once.
    def _encode_all(self, x, training=False):
        if isinstance(self.encoder, list):
            return ops.stack([e(x, training=training) for e in self.encoder], axis=1)
        return self.encoder(x, training=training)

    def _decode_all(self, codes, training=False):
        if isinstance(self.decoder, list):
            return ops.stack(
                [d(codes[:, k], training=training) for k, d in enumerate(self.decoder)],
                axis=1,
            )
        return self.decoder(codes, training=training)

    def _select(self, per_component, one_hot):
        """Picks, for each sample, the entry of its component (one-hot rows)."""
        weights = one_hot
        for _ in range(len(per_component.shape) - 2):
            weights = ops.expand_dims(weights, -1)
        return ops.sum(ops.cast(weights, per_component.dtype) * per_component, axis=1)

    def _prior_codes(self, batch_size, seed=None):
        seed = self.seed_generator if seed is None else seed
        return keras.random.normal((batch_size, self.latent_dim), seed=seed)

    def _random_components(self, batch_size, seed=None):
        seed = self.seed_generator if seed is None else seed
        return keras.random.randint((batch_size,), 0, self.num_components, seed=seed)

    def _decode_prior(self, batch_size, training):
        """Decoded prior samples of uniformly drawn components."""
        z = self._prior_codes(batch_size)
        one_hot = ops.one_hot(self._random_components(batch_size), self.num_components)
        tiled = ops.repeat(ops.expand_dims(z, 1), self.num_components, axis=1)
        return self._select(self._decode_all(tiled, training=training), one_hot)

    def _assigned_codes(self, codes, probabilities):
        """The code of each sample under its assigned component, and that one-hot."""
        one_hot = ops.one_hot(ops.argmax(probabilities, axis=-1), self.num_components)
        one_hot = ops.stop_gradient(one_hot)
        return self._select(codes, one_hot), one_hot

    def _uses_neighbors(self) -> bool:
        return bool(getattr(self, "neighbor_weight", 0.0))

    def _uses_consistency(self) -> bool:
        return bool(self.consistency_weight) and len(self.data_shape or ()) == 3

    def _augment(self, images):
        """Each image under a random rotation, shear, scaling and shift."""
        batch_size = ops.shape(images)[0]
        height, width = self.data_shape[0], self.data_shape[1]

        def uniform(limit):
            return keras.random.uniform(
                (batch_size,), -limit, limit, seed=self.seed_generator
            )

        transform = affine_transforms(
            angle=uniform(AUGMENTATION_DEGREES * math.pi / 180.0),
            shear=uniform(self.consistency_shear),
            scale=1.0 + uniform(AUGMENTATION_SCALE),
            shift_x=uniform(AUGMENTATION_SHIFT) * width,
            shift_y=uniform(AUGMENTATION_SHIFT) * height,
            height=height,
            width=width,
        )
        return ops.image.affine_transform(
            images, transform, interpolation="bilinear", fill_mode="constant"
        )

    # ------------------------------------------------------------------
    # The game, written once with keras.ops.
    def autoencoder_loss(self, x, training: bool = True):
        """The autoencoders' and assignment network's loss on a batch.

        Args:
            x: A batch of samples, or `{"x": samples, "neighbor": one
                neighbour of each}` (a `NeighborPairs` batch) for the
                nearest-neighbour term.
            training: Whether the networks run in training mode.

        Returns:
            `(loss, logs)`: the scalar loss and the named terms `fit` logs.
        """
        x, neighbor = _split_pairs(x)
        codes = self._encode_all(x, training=training)
        probabilities, logits = self.assignment(codes, return_logits=True)
        reconstructions = self._decode_all(codes, training=training)
        errors = losses.component_reconstruction_errors(
            x, reconstructions, self.reconstruction_loss
        )
        floor = self.component_floor
        weights = (1.0 - floor) * probabilities + floor / self.num_components
        reconstruction = losses.weighted_reconstruction(errors, weights)
        sample_entropy = losses.sample_assignment_entropy(logits)
        batch_entropy = losses.batch_assignment_entropy(probabilities)
        total = (
            reconstruction
            + self.sample_entropy_weight * sample_entropy
            - self.batch_entropy_weight * batch_entropy
        )
        logs = {
            "reconstruction": reconstruction,
            "sample_entropy": sample_entropy,
            "batch_entropy": batch_entropy,
        }
        if self._uses_consistency():
            augmented = self.assignment(
                self._encode_all(self._augment(x), training=training)
            )
            consistency = losses.assignment_consistency(probabilities, augmented)
            total = total + self.consistency_weight * consistency
            logs["consistency"] = consistency
        if neighbor is not None and self._uses_neighbors():
            neighbor_probabilities = self.assignment(
                self._encode_all(neighbor, training=training)
            )
            agreement = losses.assignment_consistency(
                probabilities, neighbor_probabilities
            )
            total = total + self.neighbor_weight * agreement
            logs["neighbor"] = agreement
        if self.adversarial is not None:
            adversarial = 0.0
            if self.latent_discriminator is not None:
                assigned, one_hot = self._assigned_codes(codes, probabilities)
                scores = self.latent_discriminator(
                    ops.concatenate([assigned, one_hot], axis=-1), training=training
                )
                adversarial = adversarial + losses.generator_loss(
                    self.adversarial_loss, scores
                )
            if self.data_discriminator is not None:
                fake = self._decode_prior(ops.shape(x)[0], training)
                scores = self.data_discriminator(fake, training=training)
                adversarial = adversarial + losses.generator_loss(
                    self.adversarial_loss, scores
                )
            total = total + self.adversarial_weight * adversarial
            logs["adversarial"] = adversarial
        logs["loss"] = total
        usage = ops.mean(
            ops.one_hot(ops.argmax(probabilities, axis=-1), self.num_components),
            axis=0,
        )
        for k in range(self.num_components):
            logs[f"usage_{k}"] = usage[k]
        return total, logs

    def discriminator_loss(self, x, training: bool = True):
        """The discriminator(s)' loss on a batch `x`, prior codes and samples."""
        x, _ = _split_pairs(x)
        total = 0.0
        if self.latent_discriminator is not None:
            codes = self._encode_all(x, training=training)
            probabilities = self.assignment(codes)
            assigned, one_hot = self._assigned_codes(codes, probabilities)
            # Real codes carry the same components as the fake ones, so the
            # component alone tells the discriminator nothing.
            prior = self._prior_codes(ops.shape(x)[0])
            real_scores = self.latent_discriminator(
                ops.concatenate([prior, one_hot], axis=-1), training=training
            )
            fake_scores = self.latent_discriminator(
                ops.concatenate([ops.stop_gradient(assigned), one_hot], axis=-1),
                training=training,
            )
            total = total + losses.discriminator_loss(
                self.adversarial_loss, real_scores, fake_scores
            )
        if self.data_discriminator is not None:
            fake = ops.stop_gradient(self._decode_prior(ops.shape(x)[0], training))
            total = total + losses.discriminator_loss(
                self.adversarial_loss,
                self.data_discriminator(x, training=training),
                self.data_discriminator(fake, training=training),
            )
        return total, {"d_loss": total}

    # ------------------------------------------------------------------
    # Input checks.
    def check_inputs(self, x) -> None:
        shape = _shape_tuple(x.shape)[1:]
        if self.data_shape is not None and shape != self.data_shape:
            raise ValueError(
                f"{_NAME} expects data of shape {_format(self.data_shape)}; "
                f"received {_format(shape)}."
            )
        dtype = keras.backend.standardize_dtype(x.dtype)
        if "float" not in dtype:
            raise ValueError(
                f"{_NAME} expects float data (e.g. images scaled to [0, 1] with "
                f"`x.astype('float32') / 255`); received dtype {dtype}."
            )

    def _unpack(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            if sorted(x) != ["neighbor", "x"]:
                raise ValueError(
                    f"{_NAME} expects batches of samples, or dicts with keys "
                    f"'x' and 'neighbor' (NeighborPairs); received keys {sorted(x)}."
                )
            self.check_inputs(x["x"])
            self.check_inputs(x["neighbor"])
        else:
            self.check_inputs(x)
        return x

    def _validated(self, x) -> np.ndarray:
        """`x` as a float32 numpy array, after the checks a traced step cannot do."""
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(
                f"{_NAME} expects an array of shape {_format(self.data_shape or ())}"
                f"; received {type(x).__name__}."
            )
        array = keras.ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x
        if array.ndim < 2:
            raise ValueError(
                f"{_NAME} expects a batch of samples, shape (batch, ...); "
                f"received shape {array.shape}."
            )
        self.check_inputs(array)
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"{_NAME} expects finite data; received "
                f"{int(np.sum(~np.isfinite(array)))} NaN or infinite values."
            )
        if self.output_activation == "sigmoid" and (
            array.min() < 0.0 or array.max() > 1.0
        ):
            raise ValueError(
                f"{_NAME} with output_activation='sigmoid' expects data in "
                f"[0, 1]; received values in [{array.min()}, {array.max()}]. "
                "Scale the data (images: divide by 255) or pass "
                "output_activation=None."
            )
        if not self.built:
            self._build_networks(tuple(array.shape[1:]))
        return array.astype("float32", copy=False)

    def fit(self, x=None, y=None, **kwargs):
        for argument in ("sample_weight", "class_weight"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"{_NAME} is unsupervised and its loss does not weight "
                    f"samples; received `{argument}`. Leave it out."
                )
        if hasattr(x, "shape"):
            x = self._validated(x)
            kwargs = self._with_reseeding(x, kwargs)
            if self._uses_neighbors():
                x, kwargs = self._neighbor_pairs_for_fit(x, kwargs)
                y = None
        elif self._uses_neighbors() and not isinstance(x, NeighborPairs):
            warnings.warn(
                f"{_NAME}: neighbor_weight is {self.neighbor_weight} but `fit` "
                f"received a {type(x).__name__}, in which it cannot find "
                "neighbours; batches that are not {'x', 'neighbor'} dicts "
                "(keras_mae.datasets.NeighborPairs) train without the "
                "nearest-neighbour term.",
                stacklevel=2,
            )
        if self._uses_neighbors():
            kwargs = self._neighbor_pairs_for_validation(kwargs)
        return super().fit(x, y, **kwargs)

    def _with_reseeding(self, x: np.ndarray, kwargs: dict) -> dict:
        """`fit` arguments with a `ReseedDeadComponents` on `x` added."""
        callbacks = list(kwargs.get("callbacks") or [])
        threshold = getattr(self, "reseed_threshold", 0.0)
        if not threshold or any(
            isinstance(callback, ReseedDeadComponents) for callback in callbacks
        ):
            return kwargs
        verbose = int(kwargs.get("verbose", "auto") != 0)
        callbacks.append(
            ReseedDeadComponents(x, threshold, seed=self.seed, verbose=verbose)
        )
        return {**kwargs, "callbacks": callbacks}

    def evaluate(self, x=None, y=None, **kwargs):
        if hasattr(x, "shape"):
            x = self._validated(x)
            if self._uses_neighbors():
                batch_size = kwargs.pop("batch_size", None) or 32
                x, y = self._evaluation_pairs(x, batch_size), None
        return super().evaluate(x, y, **kwargs)

    def _evaluation_pairs(self, x: np.ndarray, batch_size: int) -> NeighborPairs:
        # One fixed neighbour per sample, so repeated evaluations agree.
        return NeighborPairs(
            x,
            nearest_neighbors(x, self.num_neighbors),
            batch_size,
            shuffle=False,
            resample=False,
            seed=0,
        )

    def _neighbor_pairs_for_fit(self, x: np.ndarray, kwargs: dict):
        """Training arrays as `NeighborPairs`, and the `fit` arguments left.

        Mirrors what Keras does with arrays: `validation_split` holds out the
        last samples (before shuffling) unless `validation_data` is given.
        """
        kwargs = dict(kwargs)
        batch_size = kwargs.pop("batch_size", None) or 32
        shuffle = kwargs.pop("shuffle", True)
        split = kwargs.pop("validation_split", 0.0)
        if not 0.0 <= split < 1.0:
            raise ValueError(
                f"{_NAME} expects `validation_split` in [0, 1); received {split!r}."
            )
        if split and kwargs.get("validation_data") is None:
            cut = int(math.floor(len(x) * (1.0 - split)))
            x, kwargs["validation_data"] = x[:cut], x[cut:]
        kwargs.setdefault("validation_batch_size", batch_size)
        pairs = NeighborPairs(
            x,
            nearest_neighbors(x, self.num_neighbors),
            batch_size,
            shuffle=bool(shuffle),
            seed=self.seed,
        )
        return pairs, kwargs

    def _neighbor_pairs_for_validation(self, kwargs: dict) -> dict:
        """`fit` arguments with validation arrays turned into `NeighborPairs`."""
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            validation = validation[0]  # (x_val, y_val): labels are not used
        if not hasattr(validation, "shape"):
            return kwargs  # None, or a dataset: used as it is
        kwargs = dict(kwargs)
        batch_size = kwargs.pop("validation_batch_size", None) or 32
        kwargs["validation_data"] = self._evaluation_pairs(
            self._validated(validation), batch_size
        )
        return kwargs

    # ------------------------------------------------------------------
    # Dead components.
    def _parallel_layers(self) -> list[ParallelDense]:
        """The ParallelDense layers of a single-layer encoder and decoder.

        Raises a ValueError for any other layer with weights there: those
        hold weights shared by all components, which cannot be copied.
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

        for part in (self.encoder, self.decoder):
            if not isinstance(part, list):
                collect(part)
        return parallel

    def _copy_autoencoder(self, source: int, target: int) -> None:
        """Gives component `target` the encoder and decoder of `source`."""
        for layer in self._parallel_layers():
            layer.copy_component(source, target)
        for part in (self.encoder, self.decoder):
            if isinstance(part, list):
                part[target].set_weights(part[source].get_weights())

    def reseed_component(
        self,
        target: int,
        source: int,
        x,
        steps: int = 200,
        batch_size: int = 256,
        seed: int | None = None,
    ) -> int:
        """Replaces component `target` by half of component `source`.

        The cure for a dead component (one no sample is assigned to): the
        samples of `x` assigned to `source` are split in two by 2-means on
        their `source` codes; `target` gets a copy of `source`'s encoder and
        decoder (and logit, with the default assignment network), and the
        assignment network is trained for `steps` steps on `x` (cross-entropy,
        Adam 1e-3) to keep every sample's component except one half of
        `source`'s, which moves to `target`. Training then lets the two
        autoencoders part.
        `ReseedDeadComponents` calls it during `fit`.

        Args:
            target: The component to replace (usually a dead one).
            source: The component to split (usually the busiest).
            x: Samples to split and to train the assignment network on.
            steps: Steps of assignment training (whole epochs over `x`, at
                least this many steps).
            batch_size: Its batch size.
            seed: Seed of the 2-means split.

        Returns:
            How many samples of `x` `target` now holds.
        """
        owner = f"{_NAME}.reseed_component"
        target = check_int(owner, "target", target, 0, self.num_components)
        source = check_int(owner, "source", source, 0, self.num_components)
        steps = check_int(owner, "steps", steps)
        batch_size = check_int(owner, "batch_size", batch_size)
        if target == source:
            raise ValueError(
                f"{owner} expects two different components; received {target} twice."
            )
        x = self._validated(x)
        self._parallel_layers()  # fails early for weights it cannot copy
        codes, probabilities = self.encode(x, batch_size)
        labels = np.argmax(probabilities, axis=-1)
        members = np.flatnonzero(labels == source)
        if len(members) < 2:
            raise ValueError(
                f"{owner} needs at least 2 samples of `x` in "
                f"component {source} to split; it holds {len(members)}."
            )
        halves = KMeans(2, n_init=3, random_state=seed).fit_predict(
            codes[members, source]
        )
        labels[members[halves == 1]] = target
        self._copy_autoencoder(source, target)
        if hasattr(self.assignment, "copy_component"):
            self.assignment.copy_component(source, target)
        codes, _ = self.encode(x, batch_size)
        inputs = keras.Input(codes.shape[1:])
        trainer = keras.Model(inputs, self.assignment(inputs))
        trainer.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
        )
        steps_per_epoch = math.ceil(len(x) / batch_size)
        epochs = max(1, math.ceil(steps / steps_per_epoch))
        trainer.fit(codes, labels, batch_size=batch_size, epochs=epochs, verbose=0)
        return int(np.sum(self.predict_clusters(x, batch_size) == target))

    # ------------------------------------------------------------------
    # Inference.
    def call(self, x, training=False):
        x, _ = _split_pairs(x)
        return self.assignment(self._encode_all(x, training=training))

    def _batches(self, fn, arrays, batch_size: int):
        """Applies `fn` to slices of `arrays` and concatenates the numpy outputs."""
        outputs = []
        for start in range(0, len(arrays[0]), batch_size):
            result = fn(*[a[start : start + batch_size] for a in arrays])
            outputs.append(
                [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(result)]
            )
        return [np.concatenate(parts) for parts in zip(*outputs, strict=True)]

    def predict_proba(self, x, batch_size: int = 512) -> np.ndarray:
        """p(k | x) for each sample: float32 array `(n, K)` whose rows sum to 1."""
        x = self._validated(x)
        return self._batches(self, [x], batch_size)[0]

    def predict_clusters(self, x, batch_size: int = 512) -> np.ndarray:
        """The most likely component of each sample: int array `(n,)`."""
        return np.argmax(self.predict_proba(x, batch_size), axis=-1)

    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Codes of every component and assignment probabilities.

        Returns:
            `(codes, probabilities)`: float32 arrays of shapes
            `(n, K, latent_dim)` and `(n, K)`. The code of sample `i` under
            its assigned component is `codes[i, probabilities[i].argmax()]`.
        """
        x = self._validated(x)

        def fn(batch):
            codes = self._encode_all(batch)
            return codes, self.assignment(codes)

        codes, probabilities = self._batches(fn, [x], batch_size)
        return codes, probabilities

    def _component_one_hot(self, component, num_samples: int) -> np.ndarray:
        components = np.broadcast_to(np.asarray(component), (num_samples,))
        if not np.issubdtype(components.dtype, np.integer) or (
            np.any(components < 0) or np.any(components >= self.num_components)
        ):
            raise ValueError(
                f"{_NAME} expects `component` to be an integer (or integers) in "
                f"[0, {self.num_components}); received {component!r}."
            )
        return np.eye(self.num_components, dtype="float32")[components]

    def decode(self, z, component, batch_size: int = 512) -> np.ndarray:
        """Decodes codes `z` `(n, latent_dim)` with component(s) `component`.

        Args:
            z: Codes, shape `(n, latent_dim)`.
            component: One component index for all codes, or `n` indices.
            batch_size: How many codes to decode at once.

        Returns:
            A float32 array `(n, *input_shape)`.
        """
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"{_NAME}.decode expects codes of shape (n, {self.latent_dim}); "
                f"received {z.shape}."
            )
        one_hot = self._component_one_hot(component, len(z))

        def fn(codes, selector):
            tiled = ops.repeat(ops.expand_dims(codes, 1), self.num_components, axis=1)
            return self._select(self._decode_all(tiled), selector)

        return self._batches(fn, [z, one_hot], batch_size)[0]

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Reconstructs each sample with its assigned component: `(n, *input_shape)`."""
        x = self._validated(x)

        def fn(batch):
            codes = self._encode_all(batch)
            one_hot = ops.one_hot(
                ops.argmax(self.assignment(codes), axis=-1), self.num_components
            )
            return self._select(self._decode_all(codes), one_hot)

        return self._batches(fn, [x], batch_size)[0]

    def anomaly_score(self, x, batch_size: int = 512) -> np.ndarray:
        """Mean squared reconstruction error under the assigned component: `(n,)`.

        High scores mark samples that no component reconstructs well.
        """
        x = self._validated(x)
        reconstructions = self.reconstruct(x, batch_size)
        return np.mean(np.square(x - reconstructions).reshape(len(x), -1), axis=1)

    def sample(
        self,
        num_samples: int,
        component: int | Sequence[int] | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Decodes codes drawn from the prior N(0, I).

        Args:
            num_samples: How many samples.
            component: The component to sample from, `num_samples` of them,
                or None to draw components uniformly.
            seed: Integer seed for repeatable samples; None draws from the
                model's seed generator (different on every call).

        Returns:
            A float32 array `(num_samples, *input_shape)`.
        """
        num_samples = check_int(_NAME, "num_samples", num_samples)
        if not self.built:
            raise RuntimeError(
                f"{_NAME} is not built: pass `input_shape` or fit it first."
            )
        generator = (
            self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        )
        z = self._prior_codes(num_samples, seed=generator)
        if component is None:
            component = keras.ops.convert_to_numpy(
                self._random_components(num_samples, seed=generator)
            )
        return self.decode(z, component)

    # ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            num_components=self.num_components,
            latent_dim=self.latent_dim,
            input_shape=None if self.data_shape is None else list(self.data_shape),
            encoder=None if self.encoder is None else _serialize(self.encoder),
            decoder=None if self.decoder is None else _serialize(self.decoder),
            assignment=_serialize(self.assignment),
            adversarial=self.adversarial,
            hidden_units=list(self.hidden_units),
            output_activation=self.output_activation,
            latent_discriminator=None
            if self.latent_discriminator is None
            else _serialize(self.latent_discriminator),
            data_discriminator=None
            if self.data_discriminator is None
            else _serialize(self.data_discriminator),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in (
            "encoder",
            "decoder",
            "assignment",
            "latent_discriminator",
            "data_discriminator",
        ):
            config[key] = _deserialize(config.get(key))
        return cls(**config)

    def preset_training_layers(self) -> list[keras.layers.Layer]:
        """Layers needed only to train: the discriminator(s)."""
        return self._discriminators()
