"""A preset saved on this backend loads on the other two with the same outputs.

The weights files are safetensors; the variables' dtypes differ between
backends (seed states are uint32 on JAX, int32 on PyTorch, int64 on
TensorFlow), so loading the inference weights and the training state on
another backend also checks that integer widths may change.
"""

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
from keras_mae.presets import from_preset, weights
from tests.presets import models_for_tests as m
from tests.testing import slow_except_on

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("tensorflow", "jax", "torch")

_LOAD_AND_RUN = textwrap.dedent(
    """
    import json
    import sys
    import keras
    import numpy as np
    from tests.presets import models_for_tests as m
    from tests.presets.test_cross_backend import training_state_values
    from keras_mae.presets import from_preset

    assert keras.backend.backend() == sys.argv[1]
    for folder, inputs, out in zip(sys.argv[2::3], sys.argv[3::3], sys.argv[4::3]):
        with open(f"{folder}/metadata.json") as f:
            metadata = json.load(f)
        assert metadata["format_version"] == 2
        resume = metadata["training_state"] is not None
        model = from_preset(folder, load_training_state=resume)
        np.savez(
            out,
            outputs=m.preset_outputs(model, np.load(inputs)),
            state=training_state_values(model) if resume else np.zeros(0),
        )
    """
)


def training_state_values(model) -> np.ndarray:
    """The optimizer variables and training-only weights, flattened, as float64."""
    optimizer = weights.built_optimizer(model)
    variables = list(optimizer.variables) if optimizer is not None else []
    for layer in weights.training_layers(model):
        variables += layer.weights
    arrays = [keras.ops.convert_to_numpy(v).astype("float64") for v in variables]
    return np.concatenate([a.ravel() for a in arrays])


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
    folder = gan.save_to_preset(tmp_path / "gan")
    return folder, noise, m.preset_outputs(gan, noise), gan


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
    half = model.save_to_preset(
        tmp_path / "mae_float16", include_training_state=False, weights_dtype="float16"
    )
    # What the float16 preset gives on this backend.
    expected_half = m.preset_outputs(from_preset(str(half)), x[:16])
    return [
        (folder, x[:16], m.preset_outputs(model, x[:16]), model),
        (half, x[:16], expected_half, None),
    ]


def _vector_mixture_autoencoder_preset(tmp_path):
    """A MixtureAutoencoder preset on unscaled vectors: its normalization too."""
    x = np.random.default_rng(0).normal(5.0, 3.0, (128, 5)).astype("float32")
    keras.utils.set_random_seed(0)
    model = MixtureAutoencoder(3, latent_dim=2, hidden_units=(16,), seed=0)
    model.compile()
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    assert model.normalizer is not None  # vectors are standardized
    folder = model.save_to_preset(tmp_path / "mae_vectors")
    return folder, x[:16], m.preset_outputs(model, x[:16]), model


@slow_except_on(
    "jax",
    "saved here, loaded in a subprocess of each other backend; from JAX the "
    "default suite covers JAX to TensorFlow and JAX to PyTorch, -m slow the rest",
)
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
            model,
        ),
        _gan_preset(tmp_path),
        *_mixture_autoencoder_preset(tmp_path),
        _vector_mixture_autoencoder_preset(tmp_path),
    ]
    for folder, inputs, _, _ in presets:
        np.save(tmp_path / f"{folder.name}-inputs.npy", inputs)
    for backend in (b for b in BACKENDS if b != current):
        args = []
        for folder, _, _, _ in presets:
            args += [
                str(folder),
                str(tmp_path / f"{folder.name}-inputs.npy"),
                str(tmp_path / f"{folder.name}-{backend}.npz"),
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
        for folder, _, expected, original in presets:
            with np.load(tmp_path / f"{folder.name}-{backend}.npz") as result:
                loaded, state = result["outputs"], result["state"]
            assert loaded.shape == expected.shape
            np.testing.assert_allclose(loaded, expected, rtol=0, atol=1e-5)
            # The training state is stored values: restored exactly.
            if original is None:
                assert state.size == 0
            else:
                np.testing.assert_array_equal(state, training_state_values(original))
