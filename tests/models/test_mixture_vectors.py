"""MixtureAutoencoder on vectors of any scale: the defaults per kind of data."""

import keras
import numpy as np
import pytest

from keras_mae.layers import RandomAffine
from keras_mae.models import MixtureAutoencoder


def _blobs(scale: float, offset: float, seed: int = 0):
    """Three separated blobs in 6 dimensions, in arbitrary units."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 6)) * 4.0
    labels = rng.integers(0, 3, 300)
    x = centers[labels] + rng.normal(size=(300, 6))
    return (x * scale + offset).astype("float32"), labels


def _small(**kwargs):
    return MixtureAutoencoder(3, 2, hidden_units=(16,), seed=0, **kwargs)


@pytest.mark.parametrize("scale,offset", [(1e-3, 0.0), (1e4, -5e4)])
def test_vectors_of_any_scale_train_and_predict_with_the_defaults(scale, offset):
    x, _ = _blobs(scale, offset)
    model = _small()
    model.compile()
    history = model.fit(x, epochs=2, batch_size=64, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.data_kind == "vectors"
    assert model.normalizer is not None and model.augmentation is None
    assert model.decoder.layers[-2].activation is None  # linear
    mean = keras.ops.convert_to_numpy(model.normalizer.mean).ravel()
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-4, atol=1e-6 * scale)
    probabilities = model.predict_proba(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # Reconstructions and samples come back in the data's own units.
    reconstructions = model.reconstruct(x)
    assert np.abs(reconstructions.mean() - x.mean()) < 3 * x.std()
    assert model.sample(5, component=0, seed=0).shape == (5, 6)
    assert model.anomaly_score(x).shape == (300,)


def test_the_normalization_is_saved_so_raw_data_predicts_after_loading(tmp_path):
    x, _ = _blobs(100.0, 20.0)
    model = _small()
    model.compile()
    model.fit(x, epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "vectors.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict_proba(x), model.predict_proba(x), atol=1e-6
    )
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), rtol=1e-5)
    # A second fit does not adapt again: the statistics stay those of fit 1.
    before = keras.ops.convert_to_numpy(loaded.normalizer.mean)
    loaded.fit(x * 2.0, epochs=1, batch_size=64, verbose=0)
    after = keras.ops.convert_to_numpy(loaded.normalizer.mean)
    np.testing.assert_array_equal(before, after)


def test_images_keep_the_sigmoid_and_get_random_affine():
    images = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
    model = MixtureAutoencoder(2, 2, hidden_units=(8,), seed=0)
    model.compile()
    model.fit(images, epochs=1, batch_size=32, verbose=0)
    assert model.data_kind == "images" and model.normalizer is None
    assert isinstance(model.augmentation, RandomAffine)
    assert model.decoder.layers[-2].activation == "sigmoid"
    assert "consistency" in model.get_metrics_result()
    with pytest.raises(ValueError, match=r"expects data in \[0, 1\].*divide"):
        model.predict_proba(images * 255.0)


def test_the_neighbour_term_defaults_per_kind_of_data():
    # "auto" in the config; vectors 3.0 over 10 neighbours, images 1.0 over 5.
    x, _ = _blobs(10.0, 3.0)
    vectors = _small()
    vectors.compile()
    vectors.fit(x, epochs=1, batch_size=64, verbose=0)
    assert (vectors.resolved("neighbor_weight"), vectors.resolved("num_neighbors")) == (
        3.0,
        10,
    )
    assert vectors.neighbors(x).shape == (len(x), 10)
    config = vectors.get_config()
    assert (config["neighbor_weight"], config["num_neighbors"]) == ("auto", "auto")
    images = MixtureAutoencoder(2, 2, input_shape=(8, 8, 1), hidden_units=(8,))
    assert (images.resolved("neighbor_weight"), images.resolved("num_neighbors")) == (
        1.0,
        5,
    )
    unbuilt = MixtureAutoencoder(2, 2)
    with pytest.raises(ValueError, match="num_neighbors='auto'.*not seen yet"):
        unbuilt.resolved("num_neighbors")


def _widths(model):
    return [layer.units for layer in model.encoder.layers[1:-1]]


def test_the_network_widths_default_per_kind_of_data():
    # "auto": (512, 256) for vectors, half as wide for images (the MNIST
    # time-to-quality protocol); saved as "auto", rebuilt the same.
    vectors = MixtureAutoencoder(2, 2, input_shape=(5,))
    images = MixtureAutoencoder(2, 2, input_shape=(8, 8, 1))
    assert vectors.resolved("hidden_units") == (512, 256)
    assert images.resolved("hidden_units") == (256, 128)
    assert _widths(vectors) == [512, 256]
    assert _widths(images) == [256, 128]
    config = images.get_config()
    assert config["hidden_units"] == "auto"
    restored = MixtureAutoencoder.from_config(config)
    assert restored.count_params() == images.count_params()
    explicit = MixtureAutoencoder(2, 2, input_shape=(8, 8, 1), hidden_units=[32])
    assert _widths(explicit) == [32]
    assert explicit.get_config()["hidden_units"] == [32]


def test_explicit_choices_override_auto():
    x, _ = _blobs(1.0, 0.0)
    model = _small(normalization=None, output_activation="tanh")
    model.compile()
    model.fit(x / np.abs(x).max(), epochs=1, batch_size=64, verbose=0)
    assert model.normalizer is None
    assert model.decoder.layers[-2].activation == "tanh"
    config = model.get_config()
    assert (config["normalization"], config["output_activation"]) == (None, "tanh")


def test_fit_on_a_dataset_needs_adapt_first():
    from keras_mae.datasets import ArrayBatches

    x, _ = _blobs(10.0, 3.0)
    model = _small(neighbor_weight=0.0)
    model.compile()
    model.build((None, 6))
    batches = ArrayBatches(x, batch_size=64, seed=0)
    model.fit(batches, epochs=1, verbose=0)  # adapts from batches.x
    assert model.normalizer_adapted

    class Plain(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return x[index * 64 : (index + 1) * 64]

    fresh = _small(neighbor_weight=0.0)
    fresh.compile()
    with pytest.raises(ValueError, match="call `model.adapt"):
        fresh.fit(Plain(), epochs=1, verbose=0)
    fresh.adapt(x)
    fresh.fit(Plain(), epochs=1, verbose=0)


def test_compile_refuses_the_hyperparameters_that_moved_to_the_constructor():
    model = _small()
    with pytest.raises(TypeError, match=r"\['neighbor_weight'\].*MixtureAutoencoder"):
        model.compile(neighbor_weight=0.5)


def test_loss_hyperparameters_are_in_the_config():
    model = _small(batch_entropy_weight=2.0, neighbor_weight=0.5, num_neighbors=3)
    config = model.get_config()
    assert (config["batch_entropy_weight"], config["neighbor_weight"]) == (2.0, 0.5)
    clone = MixtureAutoencoder.from_config(config)
    assert (clone.batch_entropy_weight, clone.num_neighbors) == (2.0, 3)


def test_old_compile_configs_are_migrated():
    """Presets saved before the move hold the loss weights in compile config."""
    model = MixtureAutoencoder(2, 2, input_shape=(8, 8, 1), hidden_units=(8,))
    old = {
        "optimizer": keras.optimizers.Adam(1e-3),
        "discriminator_optimizer": keras.optimizers.Adam(2e-4),
        "batch_entropy_weight": 3.0,
        "neighbor_weight": 0.5,
        "consistency_shear": 0.2,
        "reseed_threshold": 0.0,
    }
    model.compile_from_config(keras.saving.serialize_keras_object(old))
    assert model.compiled
    assert (model.batch_entropy_weight, model.neighbor_weight) == (3.0, 0.5)
    assert model.augmentation.shear == 0.2 and model.reseed_threshold == 0.0


def test_fit_searches_with_the_approximate_index_above_its_threshold(monkeypatch):
    from keras_mae.datasets import neighbors as neighbors_module
    from keras_mae.training.backend import on_accelerator

    if on_accelerator():
        pytest.skip("fit searches exactly on the accelerator")
    searched = []

    def approximate(flat, num_neighbors):  # pynndescent's graph, or as good
        searched.append(len(flat))
        return neighbors_module._search_on_cpu(flat, num_neighbors)

    monkeypatch.setattr(neighbors_module, "_search_approximate", approximate)
    monkeypatch.setattr(neighbors_module, "_import_pynndescent", lambda: True)
    monkeypatch.setattr(neighbors_module, "_APPROXIMATE_ABOVE", 100)
    monkeypatch.setattr(neighbors_module, "_CACHE", {})
    x, _ = _blobs(1.0, 0.0)
    model = _small()
    model.compile()
    model.fit(x[:100], epochs=1, batch_size=50, verbose=0)
    assert searched == []  # exact up to the threshold
    model.fit(x, epochs=1, batch_size=50, verbose=0)
    assert searched == [len(x)]
