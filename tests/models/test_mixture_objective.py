"""The game's losses: keras_mae/models/mixture_objective.py."""

import keras
import numpy as np
import pytest

from keras_mae.models import MixtureAutoencoder
from keras_mae.models.mixture_objective import split_pairs


def test_split_pairs():
    x = np.zeros((2, 3), "float32")
    assert split_pairs(x)[1] is None
    assert split_pairs({"x": x, "neighbor": x})[1] is x


@pytest.mark.parametrize("adversarial", [None, "latent", "data", "both"])
def test_each_term_is_logged_and_adds_up(adversarial):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(16, 8, 8, 1)).astype("float32")
    model = MixtureAutoencoder(2, 2, hidden_units=(8,), adversarial=adversarial, seed=0)
    model.compile()
    model.build((None, 8, 8, 1))
    pairs = {"x": images, "neighbor": images[::-1]}
    total, logs = model.autoencoder_loss(pairs, training=False)
    assert {"reconstruction", "consistency", "neighbor"} <= set(logs)
    assert ("adversarial" in logs) == (adversarial is not None)
    # Without noise (augmentation and prior samples), the total is the sum.
    # Reconstruction, entropies and the neighbour term are deterministic.
    expected = (
        logs["reconstruction"]
        + model.sample_entropy_weight * logs["sample_entropy"]
        - model.resolved("batch_entropy_weight") * logs["batch_entropy"]
        + model.consistency_weight * logs["consistency"]
        + model.resolved("neighbor_weight") * logs["neighbor"]
        + model.adversarial_weight * logs.get("adversarial", 0.0)
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(total), keras.ops.convert_to_numpy(expected), 1e-5
    )
    usage = [float(logs[f"usage_{k}"]) for k in range(2)]
    assert sum(usage) == pytest.approx(1.0)
    if adversarial is not None:
        d_loss, d_logs = model.discriminator_loss(images, training=False)
        assert np.isfinite(keras.ops.convert_to_numpy(d_loss))
        assert set(d_logs) == {"d_loss"}


def test_the_normalization_is_undone_exactly():
    x = np.random.default_rng(1).normal(7.0, 3.0, (64, 4)).astype("float32")
    model = MixtureAutoencoder(2, 2, hidden_units=(8,), seed=0)
    model.adapt(x)
    back = model._denormalized(model._normalized(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back), x, rtol=1e-5)
