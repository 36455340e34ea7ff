"""A preset saved on this backend loads on the other two with the same outputs."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

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
    for folder, out in zip(sys.argv[2::2], sys.argv[3::2]):
        model = from_preset(folder)
        np.save(out, m.outputs(model, m.latent_inputs(model.latent_dim)))
    """
)


def _gan_preset(tmp_path):
    """A trained GAN preset and its samples, or None before GAN exists."""
    try:
        from keras_mae.models import GAN
    except ImportError:
        return None
    from keras_mae.presets.saving import save_to_preset

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
    return save_to_preset(gan, tmp_path / "gan"), m.outputs(gan, m.latent_inputs(4))


def test_preset_loads_on_the_other_backends(tmp_path):
    current = keras.backend.backend()
    if current not in BACKENDS:
        pytest.skip(f"unknown backend {current}")
    model = m.make_trained_model()
    presets = [
        (model.save_to_preset(tmp_path / "model"), m.outputs(model, m.latent_inputs(3)))
    ]
    gan = _gan_preset(tmp_path)
    if gan is not None:
        presets.append(gan)
    for backend in (b for b in BACKENDS if b != current):
        args = []
        for folder, _ in presets:
            args += [str(folder), str(tmp_path / f"{folder.name}-{backend}.npy")]
        result = subprocess.run(
            [sys.executable, "-c", _LOAD_AND_RUN, backend, *args],
            env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        for folder, expected in presets:
            loaded = np.load(tmp_path / f"{folder.name}-{backend}.npy")
            assert loaded.shape == expected.shape
            np.testing.assert_allclose(loaded, expected, rtol=0, atol=1e-5)
