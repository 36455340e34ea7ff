"""The augmentation of the consistency term, as the model sees it.

The layer itself (`RandomAffine`, `affine_transforms`) is tested pixel by
pixel in tests/layers/test_random_affine.py.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_mae.datasets import load_digits
from keras_mae.layers import RandomAffine
from keras_mae.models import MixtureAutoencoder


def small(**kwargs):
    """A small, quick model: no discriminator, no neighbour term."""
    arguments = {
        "num_components": 2,
        "latent_dim": 2,
        "hidden_units": (16,),
        "adversarial": None,
        "neighbor_weight": 0.0,
        "reseed_threshold": 0.0,
        "seed": 0,
        **kwargs,
    }
    return MixtureAutoencoder(**arguments)


def test_auto_gives_random_affine_for_images_and_none_for_vectors():
    images = small(input_shape=(8, 8, 1))
    assert isinstance(images.augmentation, RandomAffine)
    # The defaults of the layer: those the consistency term always had.
    config = images.augmentation.get_config()
    expected = {"rotation": 15.0, "scale": 0.1, "shift": 0.1, "shear": 0.4}
    assert {k: config[k] for k in expected} == expected
    assert images.augmentation.seed == 0  # the model's seed
    assert small(input_shape=(64,)).augmentation is None
    # Settled when the model first sees data.
    late = small()
    assert late.augmentation is None
    late.build((None, 8, 8, 1))
    assert isinstance(late.augmentation, RandomAffine)
    assert small(input_shape=(8, 8, 1), augmentation=None).augmentation is None


def test_augmented_images_keep_their_shape_and_range():
    images = np.random.default_rng(0).uniform(size=(16, 12, 12, 1)).astype("float32")
    model = small(input_shape=(12, 12, 1))
    model.compile()
    augmented = ops.convert_to_numpy(model.augmentation(images, training=True))
    assert augmented.shape == images.shape
    assert np.all(np.isfinite(augmented))
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    # Random transforms: every image changes, and differently.
    changes = np.abs(augmented - images).mean(axis=(1, 2, 3))
    assert np.all(changes > 0.01)
    assert len(np.unique(np.round(changes, 5))) == len(images)


def test_an_explicit_augmentation_is_saved_and_restored(tmp_path):
    x, _ = load_digits()
    model = small(augmentation=RandomAffine(shear=0.25, seed=3))
    model.compile()
    model.fit(x[:64], batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "shear.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.augmentation, RandomAffine)
    assert loaded.augmentation.shear == 0.25
    assert loaded.augmentation.get_config() == model.augmentation.get_config()
    # Its random state comes back too: the reloaded model draws on the same.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded.augmentation.seed_generator.state),
        ops.convert_to_numpy(model.augmentation.seed_generator.state),
    )
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded.augmentation(x[:8], training=True)),
        ops.convert_to_numpy(model.augmentation(x[:8], training=True)),
    )


@pytest.mark.parametrize(
    "data, kwargs, logged",
    [
        ("images", {}, True),
        ("images", {"augmentation": RandomAffine(shear=0.0)}, True),
        ("images", {"augmentation": None}, False),
        ("images", {"consistency_weight": 0.0}, False),
        ("vectors", {}, False),
    ],
)
def test_the_consistency_term_is_logged_only_with_augmentation(data, kwargs, logged):
    x, _ = load_digits()
    x = x[:64] if data == "images" else x[:64].reshape(64, -1)
    model = small(**kwargs)
    model.compile()
    history = model.fit(x, batch_size=32, epochs=1, verbose=0).history
    assert ("consistency" in history) == logged, sorted(history)
    if logged:
        assert np.isfinite(history["consistency"][0])
    logs = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    assert ("consistency" in logs) == logged


def test_bad_augmentation_and_the_old_compile_argument_are_refused():
    with pytest.raises(TypeError, match="`augmentation` to be 'auto', a Keras layer"):
        small(augmentation="rotate")
    model = small(input_shape=(8, 8, 1))
    with pytest.raises(TypeError, match=r"augmentation=RandomAffine\(shear=\.\.\.\)"):
        model.compile(consistency_shear=0.25)
    assert not model.compiled
    with pytest.raises(ValueError, match="`shear` to be in .*received 1.5"):
        RandomAffine(shear=1.5)
