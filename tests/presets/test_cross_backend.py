"""A preset saved on this backend loads on the other two with the same outputs."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_mae.datasets import load_digits
from keras_mae.models import GAN, MixtureAutoencoder
from tests.presets import models_for_tests as m

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("tensorflow", "jax", "torch")

_LOAD_AND_RUN = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    from tests.presets import models_for_tests as m
    from keras_mae.presets import from_preset

    assert keras.backend.backend() == sys.argv[1]
    for folder, inputs, out in zip(sys.argv[2::3], sys.argv[3::3], sys.argv[4::3]):
        model = from_preset(folder)
        np.save(out, m.preset_outputs(model, np.load(inputs)))
    """
)


def _gan_preset(tmp_path):
    """A trained GAN preset, fixed noise, and its samples."""
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    discriminator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    gan = GAN(generator, discriminator, latent_dim=4, seed=0)
    gan.compile()
    gan.fit(
        np.random.default_rng(0).normal(size=(32, 3)).astype("float32"),
        epochs=1,
        verbose=0,
    )
    noise = m.latent_inputs(4)
    return gan.save_to_preset(tmp_path / "gan"), noise, m.preset_outputs(gan, noise)


def _mixture_autoencoder_preset(tmp_path):
    """A trained MixtureAutoencoder preset, digit images, and its outputs."""
    x, _ = load_digits()
    x = x[:128]
    keras.utils.set_random_seed(0)
    model = MixtureAutoencoder(
        3, latent_dim=2, input_shape=(8, 8, 1), hidden_units=(16,), seed=0
    )
    model.compile()
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    folder = model.save_to_preset(tmp_path / "mae")
    return folder, x[:16], m.preset_outputs(model, x[:16])


def _vector_mixture_autoencoder_preset(tmp_path):
    """A MixtureAutoencoder preset on unscaled vectors: its normalization too."""
    x = np.random.default_rng(0).normal(5.0, 3.0, (128, 5)).astype("float32")
    keras.utils.set_random_seed(0)
    model = MixtureAutoencoder(3, latent_dim=2, hidden_units=(16,), seed=0)
    model.compile()
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    assert model.normalizer is not None  # vectors are standardized
    folder = model.save_to_preset(tmp_path / "mae_vectors")
    return folder, x[:16], m.preset_outputs(model, x[:16])


def test_preset_loads_on_the_other_backends(tmp_path):
    current = keras.backend.backend()
    if current not in BACKENDS:
        pytest.skip(f"unknown backend {current}")
    model = m.make_trained_model()
    noise = m.latent_inputs(3)
    presets = [
        (
            model.save_to_preset(tmp_path / "model"),
            noise,
            m.preset_outputs(model, noise),
        ),
        _gan_preset(tmp_path),
        _mixture_autoencoder_preset(tmp_path),
        _vector_mixture_autoencoder_preset(tmp_path),
    ]
    for folder, inputs, _ in presets:
        np.save(tmp_path / f"{folder.name}-inputs.npy", inputs)
    for backend in (b for b in BACKENDS if b != current):
        args = []
        for folder, _, _ in presets:
            args += [
                str(folder),
                str(tmp_path / f"{folder.name}-inputs.npy"),
                str(tmp_path / f"{folder.name}-{backend}.npy"),
            ]
        result = subprocess.run(
            [sys.executable, "-c", _LOAD_AND_RUN, backend, *args],
            env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        for folder, _, expected in presets:
            loaded = np.load(tmp_path / f"{folder.name}-{backend}.npy")
            assert loaded.shape == expected.shape
            np.testing.assert_allclose(loaded, expected, rtol=0, atol=1e-5)
