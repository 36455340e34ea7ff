"""Shared fixtures. Each pytest process runs one backend (KERAS_BACKEND)."""

import os

import keras
import numpy as np
import pytest

from tests.presets.hub_server import FakeHub

BACKEND = keras.backend.backend()
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_PATH = os.environ.get(
    "KERAS_MAE_MNIST", os.path.join(REPO_ROOT, "..", "shared", "data", "mnist.npz")
)


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """On JAX, reuse compiled steps across the many small models of the suite.

    Every test builds new models, so JAX compiles their steps again (1 to 15
    s each on the 2-core CPU; check_estimator alone fits 80 times); steps of
    the same shapes hit JAX's persistent cache, one per session, instead.
    Restored afterwards.
    """
    if BACKEND != "jax":
        yield
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    before = {name: getattr(jax.config, name) for name in names}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()
    yield
    for name, value in before.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()


MIXTURE_CENTERS = np.array([[2, 0], [-2, 0], [0, 2], [0, -2]], "float32")


@pytest.fixture
def toy_mixture():
    """1024 points from four tight 2-D Gaussians on a circle of radius 2."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(MIXTURE_CENTERS), 1024)
    noise = 0.05 * rng.standard_normal((1024, 2))
    return (MIXTURE_CENTERS[labels] + noise).astype("float32")


def mlp(input_dim, output_dim, units=32, name=None):
    """A small functional MLP used as generator or discriminator in tests."""
    return keras.Sequential(
        [
            keras.Input((input_dim,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(output_dim),
        ],
        name=name,
    )


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hub cache for this test."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return cache


@pytest.fixture
def fake_hub(hub_cache, monkeypatch):
    """A running local Hub; keras_mae reaches it through HF_ENDPOINT."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    yield hub
    hub.stop()
