"""Presets of keras_mae.models.GAN: inference round trip and resumed training."""

import json

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_mae.presets import from_preset, weights
from keras_mae.presets.saving import save_to_preset

GAN = pytest.importorskip("keras_mae.models").GAN
LATENT_DIM = 4


def _trained_gan(seed=0):
    keras.utils.set_random_seed(seed)
    generator = keras.Sequential(
        [
            keras.Input((LATENT_DIM,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ],
        name="generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="discriminator",
    )
    gan = GAN(generator, discriminator, latent_dim=LATENT_DIM, seed=seed)
    gan.compile()
    gan.fit(_data(), batch_size=16, epochs=1, verbose=0, shuffle=False)
    return gan


def _data():
    return np.random.default_rng(1).normal(size=(32, 3)).astype("float32")


def test_gan_inference_round_trip(tmp_path):
    gan = _trained_gan()
    folder = save_to_preset(gan, tmp_path / "gan")
    loaded = from_preset(str(folder))
    assert type(loaded) is GAN and loaded.latent_dim == LATENT_DIM
    np.testing.assert_array_equal(loaded.generate(8, seed=0), gan.generate(8, seed=0))
    # The discriminator is training state: not restored for inference.
    assert not np.allclose(
        loaded.discriminator.weights[0].numpy(), gan.discriminator.weights[0].numpy()
    )
    # The GAN's own seed state is inference weights, restored exactly.
    for saved, restored in zip(
        weights.inference_tensors(gan).items(),
        weights.inference_tensors(loaded).items(),
        strict=True,
    ):
        assert restored[0] == saved[0]
        np.testing.assert_array_equal(restored[1], saved[1])


def test_gan_preset_files_split_generator_and_discriminator(tmp_path):
    gan = _trained_gan()
    folder = save_to_preset(gan, tmp_path / "gan")
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["format_version"] == 2
    assert sorted(metadata["files"]) == [
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    inference = load_file(str(folder / "model.safetensors"))
    training = load_file(str(folder / "training_state.safetensors"))
    assert "vars/seed_generator_state" in inference
    generator = {k: v for k, v in inference.items() if k.startswith("generator/")}
    assert len(generator) == len(inference) - 1 == len(gan.generator.weights)
    inference_count = metadata["inference_parameter_count"]
    assert sum(a.size for a in generator.values()) == inference_count
    # The training layers are a list: Keras names its items by class.
    discriminator = [
        a for k, a in training.items() if k.startswith("training_layers/sequential/")
    ]
    assert len(discriminator) == len(gan.discriminator.weights)
    assert sum(a.size for a in discriminator) == (
        metadata["parameter_count"] - inference_count
    )
    assert any(k.startswith("optimizer/") for k in training)
    assert not any(k.startswith("generator/") for k in training)


@pytest.mark.skipif(
    not hasattr(GAN, "from_preset"), reason="GAN has no PresetMixin yet"
)
def test_gan_class_methods(tmp_path):
    gan = _trained_gan()
    gan.save_to_preset(tmp_path / "gan")
    loaded = GAN.from_preset(tmp_path / "gan")
    np.testing.assert_array_equal(loaded.generate(4, seed=3), gan.generate(4, seed=3))


def test_gan_resumes_training_from_training_state(tmp_path):
    gan = _trained_gan()
    folder = save_to_preset(gan, tmp_path / "gan")
    resumed = from_preset(str(folder), load_training_state=True)
    for saved, restored in zip(
        gan.discriminator.weights, resumed.discriminator.weights, strict=True
    ):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    saved_state = [keras.ops.convert_to_numpy(v) for v in gan.optimizer.variables]
    restored_state = [
        keras.ops.convert_to_numpy(v) for v in resumed.optimizer.variables
    ]
    assert len(restored_state) == len(saved_state) > 1
    for saved, restored in zip(saved_state, restored_state, strict=True):
        np.testing.assert_array_equal(restored, saved)
    # One more epoch on each gives the same generator.
    gan.fit(_data(), batch_size=16, epochs=1, verbose=0, shuffle=False)
    resumed.fit(_data(), batch_size=16, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(
        resumed.generate(8, seed=0), gan.generate(8, seed=0), rtol=1e-5, atol=1e-5
    )
