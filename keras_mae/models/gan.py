"""A generative adversarial network that trains with `fit` on every backend."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_mae.layers import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from keras_mae.models import losses
from keras_mae.presets.mixin import PresetMixin
from keras_mae.training import AdversarialModel, Player, step_seeds
from keras_mae.utils.argument_checks import check_int


def _default_optimizer():
    # DCGAN's settings (Radford et al. 2016).
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)


def _clone_architecture(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh, unbuilt copy of `layer`'s architecture (no weights shared)."""
    if isinstance(layer, keras.Model) and not type(layer).__module__.startswith(
        "keras_mae"
    ):
        try:
            return keras.models.clone_model(layer)
        except Exception:  # noqa: BLE001 - fall back to the layer's config
            pass
    return keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )


def _shape_tuple(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


def default_generator(data_shape) -> keras.layers.Layer:
    """The default generator for `data_shape`.

    DCGAN-style `ConvDecoder` (sigmoid outputs in [0, 1]) for images
    `(height, width, channels)`; an `MLPDecoder` with linear outputs for
    vectors `(features,)`.

    Args:
        data_shape: Shape of one sample, without the batch axis.

    Returns:
        An unbuilt Keras layer.

    Examples:

    >>> from keras_mae.models import default_generator
    >>> type(default_generator((28, 28, 1))).__name__
    'ConvDecoder'
    >>> generator = default_generator((2,))
    >>> type(generator).__name__, generator.compute_output_shape((None, 64))
    ('MLPDecoder', (None, 2))
    """
    data_shape = _shape_tuple(data_shape)
    if len(data_shape) == 3:
        return ConvDecoder(data_shape, name="generator")
    if len(data_shape) == 1:
        return MLPDecoder(data_shape, name="generator")
    raise ValueError(
        "GAN's default networks expect `data_shape` (height, width, channels) "
        f"or (features,); received {data_shape}."
    )


def default_discriminator(data_shape) -> keras.layers.Layer:
    """The default discriminator for `data_shape`: one logit per sample.

    A `ConvEncoder` (strided convolutions, LeakyReLU, no normalization) for
    images; an `MLPEncoder` for vectors.

    Args:
        data_shape: Shape of one sample, without the batch axis.

    Returns:
        An unbuilt Keras layer.

    Examples:

    >>> from keras_mae.models import default_discriminator
    >>> type(default_discriminator((28, 28, 1))).__name__
    'ConvEncoder'
    >>> discriminator = default_discriminator((2,))
    >>> type(discriminator).__name__, discriminator.compute_output_shape((None, 2))
    ('MLPEncoder', (None, 1))
    """
    data_shape = _shape_tuple(data_shape)
    if len(data_shape) == 3:
        return ConvEncoder(1, name="discriminator")
    if len(data_shape) == 1:
        return MLPEncoder(1, name="discriminator")
    raise ValueError(
        "GAN's default networks expect `data_shape` (height, width, channels) "
        f"or (features,); received {data_shape}."
    )


@keras.saving.register_keras_serializable(package="keras_mae")
class GAN(PresetMixin, AdversarialModel):
    """A GAN whose losses are written once and train on TF, JAX and PyTorch.

    The generator maps noise `z ~ N(0, I)` of size `latent_dim` to data; the
    discriminator maps data to one unbounded score per sample. `fit(x)` takes
    real data only (labels, if given, are ignored) and logs `d_loss` and
    `g_loss` (plus the penalties in use).

    Args:
        generator: Any Keras layer or model from `(batch, latent_dim)` to data;
            `None` builds `default_generator(data_shape)`.
        discriminator: Any Keras layer or model from data to `(batch, 1)` scores;
            `None` builds `default_discriminator(data_shape)`.
        latent_dim: Size of the noise vector.
        data_shape: Shape of one sample; needed only when a default network is
            built, otherwise read from the generator (and checked if given).
        ema_decay: If set (e.g. `0.999`), keeps an exponential moving average of
            the generator's weights, which `generate`, `call` and `predict` use.
        seed: Seed of the model's noise; fixed, training is repeatable on the
            same backend.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    import keras, numpy as np
    from keras_mae.models import GAN
    generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    gan = GAN(generator, discriminator, latent_dim=8, seed=0)
    gan.compile()  # Adam(2e-4, beta_1=0.5) for both, non-saturating loss
    gan.fit(np.random.randn(256, 2).astype("float32"), batch_size=64, verbose=0)
    samples = gan.generate(16, seed=1)  # numpy, shape (16, 2)

    # Default DCGAN-style networks for 28x28 grey images in [0, 1]:
    mnist_gan = GAN(latent_dim=64, data_shape=(28, 28, 1))
    ```
    """

    def __init__(
        self,
        generator: keras.layers.Layer | None = None,
        discriminator: keras.layers.Layer | None = None,
        latent_dim: int = 64,
        data_shape: tuple[int, ...] | None = None,
        ema_decay: float | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        latent_dim = check_int("GAN", "latent_dim", latent_dim)
        if (generator is None or discriminator is None) and data_shape is None:
            raise ValueError(
                "GAN needs `data_shape` to build a default generator or "
                "discriminator; received data_shape=None."
            )
        if generator is None:
            generator = default_generator(data_shape)
        if discriminator is None:
            discriminator = default_discriminator(data_shape)
        for role, layer in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(
                    f"GAN expects `{role}` to be a Keras layer or model; "
                    f"received {type(layer).__name__}."
                )
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(
                f"GAN expects `ema_decay` in (0, 1) or None; received {ema_decay!r}."
            )
        self.latent_dim = int(latent_dim)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.generator = generator
        self.discriminator = discriminator

        if not generator.built:
            generator.build((None, self.latent_dim))
        self.data_shape = _shape_tuple(
            generator.compute_output_shape((None, self.latent_dim))
        )[1:]
        if data_shape is not None and _shape_tuple(data_shape) != self.data_shape:
            raise ValueError(
                f"GAN received data_shape={_shape_tuple(data_shape)} but the "
                f"generator outputs samples of shape {self.data_shape}."
            )
        if not discriminator.built:
            discriminator.build((None, *self.data_shape))
        score_shape = _shape_tuple(
            discriminator.compute_output_shape((None, *self.data_shape))
        )
        if math.prod(d for d in score_shape[1:] if d is not None) != 1:
            raise ValueError(
                "GAN expects the discriminator to output one score per sample, "
                f"shape (batch, 1); received {score_shape}."
            )

        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = _clone_architecture(generator)
            self.ema_generator.build((None, self.latent_dim))
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self.built = True

    # ------------------------------------------------------------------
    def compile(
        self,
        generator_optimizer: keras.optimizers.Optimizer | str | None = None,
        discriminator_optimizer: keras.optimizers.Optimizer | str | None = None,
        loss: str = "non_saturating",
        gradient_penalty_weight: float = 0.0,
        r1_penalty_weight: float = 0.0,
        discriminator_steps: int = 1,
        **kwargs,
    ):
        """Configures the game.

        Args:
            generator_optimizer: Optimizer of the generator; default
                `Adam(2e-4, beta_1=0.5)`.
            discriminator_optimizer: Optimizer of the discriminator; same
                default (a separate instance).
            loss: `"non_saturating"` (default), `"minimax"`, `"hinge"`,
                `"wasserstein"` or `"least_squares"`.
            gradient_penalty_weight: Weight of the WGAN-GP penalty (e.g. 10 with
                `loss="wasserstein"`); 0 disables it.
            r1_penalty_weight: Weight of the R1 penalty on real data (its
                `gamma / 2`); 0 disables it.
            discriminator_steps: Discriminator updates per generator update,
                each on the same batch with fresh noise.
            **kwargs: `steps_per_execution`, `jit_compile`, `run_eagerly`.
        """
        losses.check_adversarial_loss(loss)
        if gradient_penalty_weight < 0 or r1_penalty_weight < 0:
            raise ValueError(
                "GAN expects non-negative penalty weights; received "
                f"gradient_penalty_weight={gradient_penalty_weight}, "
                f"r1_penalty_weight={r1_penalty_weight}."
            )
        discriminator_steps = check_int(
            "GAN", "discriminator_steps", discriminator_steps
        )
        self.adversarial_loss = loss
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.r1_penalty_weight = float(r1_penalty_weight)
        self.discriminator_steps = discriminator_steps
        optimizers = {
            "discriminator": discriminator_optimizer or _default_optimizer(),
            "generator": generator_optimizer or _default_optimizer(),
        }
        log_names = ["d_loss", "g_loss"]
        if self.gradient_penalty_weight:
            log_names.append("gradient_penalty")
        if self.r1_penalty_weight:
            log_names.append("r1_penalty")
        config = {
            "generator_optimizer": optimizers["generator"],
            "discriminator_optimizer": optimizers["discriminator"],
            "loss": loss,
            "gradient_penalty_weight": self.gradient_penalty_weight,
            "r1_penalty_weight": self.r1_penalty_weight,
            "discriminator_steps": discriminator_steps,
            **kwargs,
        }
        self._compile_players(optimizers, log_names, config, **kwargs)

    def players(self) -> list[Player]:
        """The discriminator, then the generator (after `compile`)."""
        return [
            Player(
                name="discriminator",
                variables=self.discriminator.trainable_variables,
                optimizer=self.player_optimizer("discriminator"),
                loss=self.discriminator_loss,
                steps=self.discriminator_steps,
            ),
            Player(
                name="generator",
                variables=self.generator.trainable_variables,
                optimizer=self.player_optimizer("generator"),
                loss=self.generator_loss,
                after_update=self._update_ema if self.ema_generator else None,
            ),
        ]

    # ------------------------------------------------------------------
    # The game, written once with keras.ops.
    def _noise(self, batch_size, seed=None):
        # Each replica of a tf.distribute / torch.distributed step its own.
        seed = step_seeds(self.seed_generator) if seed is None else seed
        return keras.random.normal((batch_size, self.latent_dim), seed=seed)

    def discriminator_loss(self, x, training: bool = True):
        """The discriminator's loss on a real batch `x` (and fresh fakes)."""
        fake = self.generator(self._noise(ops.shape(x)[0]), training=training)
        real_scores = self.discriminator(x, training=training)
        fake_scores = self.discriminator(fake, training=training)
        total = losses.discriminator_loss(
            self.adversarial_loss, real_scores, fake_scores
        )
        logs = {}
        if self.gradient_penalty_weight:
            penalty = losses.gradient_penalty(
                lambda t: self.discriminator(t, training=training),
                x,
                fake,
                step_seeds(self.seed_generator),
            )
            total = total + self.gradient_penalty_weight * penalty
            logs["gradient_penalty"] = penalty
        if self.r1_penalty_weight:
            penalty = losses.r1_penalty(
                lambda t: self.discriminator(t, training=training), x
            )
            total = total + self.r1_penalty_weight * penalty
            logs["r1_penalty"] = penalty
        logs["d_loss"] = total
        return total, logs

    def generator_loss(self, x, training: bool = True):
        """The generator's loss for a batch the size of `x`."""
        fake = self.generator(self._noise(ops.shape(x)[0]), training=training)
        fake_scores = self.discriminator(fake, training=training)
        loss = losses.generator_loss(self.adversarial_loss, fake_scores)
        return loss, {"g_loss": loss}

    def _update_ema(self):
        decay = self.ema_decay
        for average, weight in zip(
            self.ema_generator.weights, self.generator.weights, strict=True
        ):
            if weight.trainable:
                average.assign(decay * average + (1.0 - decay) * weight)
            else:
                average.assign(weight)

    # ------------------------------------------------------------------
    # Inference.
    @property
    def sampler(self) -> keras.layers.Layer:
        """The generator used for sampling: the EMA copy if there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def check_inputs(self, x) -> None:
        """Raises `ValueError` unless `x` is a batch of shape `(batch, *data_shape)`."""
        shape = _shape_tuple(x.shape)
        if shape[1:] != self.data_shape:
            raise ValueError(
                f"GAN expects data of shape (batch, "
                f"{', '.join(map(str, self.data_shape))}); received {shape}."
            )

    def call(self, z, training=False):
        """Generated samples for the noise `z` `(batch, latent_dim)`, from `sampler`."""
        return self.sampler(z, training=training)

    def generate(
        self, num_samples: int, seed: int | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """Generates `num_samples` samples as a numpy array.

        Args:
            num_samples: How many samples.
            seed: Integer seed for repeatable samples; `None` draws from the
                model's seed generator (different on every call).
            batch_size: How many samples to run through the generator at once.

        Returns:
            A float32 array of shape `(num_samples, *data_shape)`.
        """
        num_samples = check_int("GAN.generate", "num_samples", num_samples)
        noise = keras.ops.convert_to_numpy(self._noise(int(num_samples), seed=seed))
        chunks = [
            keras.ops.convert_to_numpy(
                self.sampler(noise[start : start + batch_size], training=False)
            )
            for start in range(0, int(num_samples), batch_size)
        ]
        return np.concatenate(chunks).astype("float32")

    def get_config(self):
        """The constructor arguments, the two networks serialized."""
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            latent_dim=self.latent_dim,
            data_shape=list(self.data_shape),
            ema_decay=self.ema_decay,
        )
        return config

    @classmethod
    def from_config(cls, config):
        """A new, untrained GAN from `get_config()`'s output."""
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def preset_training_layers(self) -> list[keras.layers.Layer]:
        """Layers needed only to train: the discriminator."""
        return [self.discriminator]
