import json
import os

import keras
import numpy as np
import pytest

import keras_mae
from keras_mae.cli.data import load_split
from keras_mae.models import ImageClassifier
from tests.conftest import MNIST_PATH, REPO_ROOT

MNIST_PRESET = os.path.join(REPO_ROOT, "weights_cards", "mnist-classifier")


@pytest.fixture(scope="module")
def digits():
    return load_split("digits")


@pytest.fixture(scope="module")
def trained(digits):
    """A classifier trained briefly on scikit-learn's 8x8 digits."""
    (x_train, y_train), _ = digits
    keras.utils.set_random_seed(0)
    model = ImageClassifier(num_classes=10, input_shape=(8, 8, 1), filters=(16, 32))
    model.compile()
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=0)
    return model


def test_learns_to_classify_held_out_digits(trained, digits):
    _, (x_test, y_test) = digits
    accuracy = np.mean(trained.predict_classes(x_test) == y_test)
    # Chance is 0.1; a brief training of this small net reaches about 0.95.
    assert accuracy > 0.85, accuracy


def test_feature_extractor_shares_the_weights(trained, digits):
    _, (x_test, _) = digits
    extractor = trained.feature_extractor()
    features = extractor.predict(x_test[:32], verbose=0)
    assert features.shape == (32, 128)
    np.testing.assert_allclose(
        features,
        keras.ops.convert_to_numpy(trained.features(keras.ops.array(x_test[:32]))),
        rtol=1e-5,
        atol=1e-5,
    )
    # The logits are the last layer applied to those features (no dropout at
    # inference).
    logits = trained.predict(x_test[:32], verbose=0)
    head = trained.get_layer("logits")
    np.testing.assert_allclose(
        logits, keras.ops.convert_to_numpy(head(features)), rtol=1e-4, atol=1e-4
    )
    # The extractor is not kept on the model, so saving writes each weight once.
    assert len(trained.weights) == len({id(w) for w in trained.weights}) == 8


def test_preset_round_trip(trained, digits, tmp_path):
    _, (x_test, _) = digits
    trained.save_to_preset(tmp_path / "p", include_training_state=False)
    assert not (tmp_path / "p" / "training_state.safetensors").exists()
    assert (tmp_path / "p" / "model.safetensors").is_file()
    loaded = keras_mae.from_preset(str(tmp_path / "p"))
    assert isinstance(loaded, ImageClassifier)
    assert loaded.get_config() == trained.get_config()
    np.testing.assert_array_equal(
        loaded.predict(x_test, verbose=0), trained.predict(x_test, verbose=0)
    )


def test_keras_file_round_trip_keeps_the_optimizer(trained, tmp_path):
    path = str(tmp_path / "classifier.keras")
    trained.save(path)
    loaded = keras.saving.load_model(path)
    # Keras skips compile_from_config for models overriding compile(); this
    # model restores it, so the optimizer state comes back too.
    assert int(loaded.optimizer.iterations) == int(trained.optimizer.iterations) > 0
    for a, b in zip(
        loaded.optimizer.variables, trained.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 8, 7, 1), "float32"), r"shape \(batch, 8, 8, 1\); received"),
        (np.zeros((4, 8, 8, 1), "uint8"), "float images in \\[0, 1\\]; received dtype"),
    ],
)
def test_bad_images_name_what_was_expected(images, message):
    model = ImageClassifier(input_shape=(8, 8, 1), filters=(4,))
    with pytest.raises(ValueError, match=message):
        model.predict(images, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "`num_classes` to be at least 2"),
        ({"input_shape": (30, 30, 1)}, "divisible by 4"),
        ({"input_shape": (28, 28)}, r"\(height, width, channels\)"),
        ({"filters": (0,)}, "`filters`"),
        ({"dropout": 1.0}, "`dropout` in \\[0, 1\\)"),
    ],
)
def test_bad_arguments_name_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageClassifier(**kwargs)


def test_published_mnist_classifier_preset():
    """weights_cards/mnist-classifier loads on this backend and classifies MNIST."""
    with open(os.path.join(MNIST_PRESET, "metadata.json")) as file:
        metadata = json.load(file)
    assert metadata["registered_name"] == "keras_mae>ImageClassifier"
    assert metadata["training_state"] is None  # inference weights only
    model = keras_mae.from_preset(MNIST_PRESET)
    _, (x_test, y_test) = load_split(MNIST_PATH)
    accuracy = np.mean(model.predict_classes(x_test[:2000]) == y_test[:2000])
    # The card reports 0.992 on all 10,000 test images.
    assert accuracy >= 0.985, accuracy
