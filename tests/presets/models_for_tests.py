"""Small models registered under package "keras_mae", used by the preset tests.

They live in an importable module (not a test file) so that the cross-backend
subprocesses can register them too.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from keras_mae.presets import PresetMixin

LATENT_DIM = 3


@keras.saving.register_keras_serializable(package="keras_mae", name="PresetTestModel")
class PresetTestModel(PresetMixin, keras.Model):
    """A generator used for inference and a discriminator used only in training."""

    def __init__(self, generator, discriminator, latent_dim=LATENT_DIM, **kwargs):
        super().__init__(**kwargs)
        if isinstance(generator, dict):
            generator = keras.saving.deserialize_keras_object(generator)
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(discriminator)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim

    def build(self, input_shape):
        self.generator.build(input_shape)
        self.discriminator.build(self.generator.compute_output_shape(input_shape))
        self.built = True

    def call(self, x):
        return self.generator(x)

    def preset_training_layers(self):
        return [self.discriminator]

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            latent_dim=self.latent_dim,
        )
        return config


@keras.saving.register_keras_serializable(
    package="keras_mae", name="PresetTestSubModel"
)
class PresetTestSubModel(PresetTestModel):
    """A subclass, to test which classes `from_preset` accepts."""


@keras.saving.register_keras_serializable(package="keras_mae", name="PresetTestPlain")
class PresetTestPlain(PresetMixin, keras.Model):
    """A model with no training-only layers."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def make_model(seed: int = 0, cls=PresetTestModel) -> PresetTestModel:
    """A built, uncompiled test model with seeded weights."""
    keras.utils.set_random_seed(seed)
    generator = keras.Sequential(
        [
            keras.Input((LATENT_DIM,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2),
        ],
        name="generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(1),
        ],
        name="discriminator",
    )
    model = cls(generator, discriminator)
    model.build((None, LATENT_DIM))
    return model


def make_trained_model(seed: int = 0) -> PresetTestModel:
    """A compiled test model after one epoch, so its optimizer has state."""
    model = make_model(seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x, y = sample_inputs(16, seed), np.ones((16, 2), "float32")
    fit(model, x, y)
    return model


def fit(model, x, y) -> None:
    """One epoch in batches of 8, in order."""
    with warnings.catch_warnings():
        # The discriminator is deliberately not trained by the plain `fit`.
        warnings.filterwarnings("ignore", message="Gradients do not exist")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)


def sample_inputs(n: int = 5, seed: int = 123) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, LATENT_DIM)).astype("float32")


def latent_inputs(latent_dim: int, n: int = 6) -> np.ndarray:
    """Fixed noise: keras.random draws differ between backends, numpy's do not."""
    return np.random.default_rng(7).normal(size=(n, latent_dim)).astype("float32")


def outputs(model, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x))


def preset_outputs(model, x) -> np.ndarray:
    """What a preset must reproduce on `x`: `model(x)`, and reconstructions if any.

    For a MixtureAutoencoder this covers the encoders and assignment network
    (probabilities) and the decoders (reconstructions).
    """
    parts = [outputs(model, x)]
    if hasattr(model, "reconstruct"):
        parts.append(model.reconstruct(x))
    return np.concatenate([np.reshape(p, (len(x), -1)) for p in parts], axis=1)
