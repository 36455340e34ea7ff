import os

import keras
import numpy as np
import pytest

from keras_mae.datasets import load_mnist, preprocess_images
from keras_mae.datasets import mnist as mnist_module

SHARED_MNIST = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "data", "mnist.npz"
)


def _write_mnist(path, num_train=6, num_test=4, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, num_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, num_test, dtype=np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


@pytest.fixture(autouse=True)
def no_env_var(monkeypatch):
    monkeypatch.delenv(mnist_module.MNIST_ENV_VAR, raising=False)


@pytest.fixture
def no_download(monkeypatch):
    def fail():
        raise AssertionError("keras.datasets.mnist.load_data() must not be called")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)


@pytest.mark.skipif(
    not os.path.isfile(SHARED_MNIST),
    reason=f"the shared MNIST copy is not at {os.path.abspath(SHARED_MNIST)}",
)
def test_real_mnist_file(no_download):
    (x_train, y_train), (x_test, y_test) = load_mnist(SHARED_MNIST)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10))
    assert x_train.max() == 255 and x_train.min() == 0


def test_path_is_read_as_is(tmp_path, no_download):
    arrays = _write_mnist(tmp_path / "mnist.npz")
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_path_takes_precedence_over_env_var(tmp_path, monkeypatch, no_download):
    _write_mnist(tmp_path / "given.npz", num_train=3)
    _write_mnist(tmp_path / "env.npz", num_train=5)
    monkeypatch.setenv(mnist_module.MNIST_ENV_VAR, str(tmp_path / "env.npz"))
    assert len(load_mnist(tmp_path / "given.npz")[0][0]) == 3
    assert len(load_mnist()[0][0]) == 5


def test_download_only_without_path_or_env_var(monkeypatch):
    calls = []
    fake = (
        (np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8)),
        (np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)),
    )

    def load_data():
        calls.append(True)
        return fake

    monkeypatch.setattr(keras.datasets.mnist, "load_data", load_data)
    (x_train, _), (x_test, _) = load_mnist()
    assert calls == [True]
    assert x_train.shape == (2, 28, 28) and x_test.shape == (1, 28, 28)


def test_integer_labels_are_returned_as_uint8(tmp_path):
    _write_mnist(tmp_path / "m.npz", y_train=np.arange(6, dtype=np.int64))
    (_, y_train), _ = load_mnist(tmp_path / "m.npz")
    assert y_train.dtype == np.uint8
    np.testing.assert_array_equal(y_train, np.arange(6))


def test_missing_file_names_the_file_and_its_source(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere.npz")
    with pytest.raises(FileNotFoundError, match="given as `path`"):
        load_mnist(missing)
    monkeypatch.setenv(mnist_module.MNIST_ENV_VAR, missing)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz' \(from \$KERAS_MAE"):
        load_mnist()


def test_missing_keys_are_listed(tmp_path):
    _write_mnist(tmp_path / "m.npz", y_test=None, x_test=None)
    with pytest.raises(ValueError) as e:
        load_mnist(tmp_path / "m.npz")
    message = str(e.value)
    assert "m.npz" in message
    assert "is missing x_test, y_test" in message
    assert "found x_train, y_train" in message


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"x_train": np.zeros((6, 784), np.uint8)}, r"`x_train` must have shape"),
        ({"x_test": np.zeros((4, 28, 28), np.float32)}, "must be uint8 pixels"),
        ({"y_train": np.zeros(5, np.uint8)}, r"`y_train` must have shape \(6,\)"),
        ({"y_test": np.zeros(4, np.float64)}, "integer labels in"),
        ({"x_test": np.zeros((4, 32, 32), np.uint8)}, "same image shape"),
    ],
)
def test_bad_arrays(tmp_path, overrides, message):
    _write_mnist(tmp_path / "m.npz", **overrides)
    with pytest.raises(ValueError, match=message) as e:
        load_mnist(tmp_path / "m.npz")
    assert "m.npz" in str(e.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match=r"junk\.npz.*not a readable \.npz"):
        load_mnist(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="holds a single array"):
        load_mnist(tmp_path / "single.npy")


def test_pickled_arrays_are_refused(tmp_path):
    _write_mnist(tmp_path / "m.npz", x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="does not hold plain numeric arrays"):
        load_mnist(tmp_path / "m.npz")


def test_preprocess_images():
    images = np.array([[[0, 51], [102, 255]]], dtype=np.uint8)
    x = preprocess_images(images)
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, :, 0], [[0.0, 0.2], [0.4, 1.0]], rtol=1e-6)
    assert preprocess_images(np.zeros((2, 4, 4, 3), np.uint8)).shape == (2, 4, 4, 3)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 4, 4), np.float32), "expects uint8 images"),
        (np.zeros((2, 16), np.uint8), r"received shape \(2, 16\)"),
    ],
)
def test_preprocess_images_rejects_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        preprocess_images(images)
