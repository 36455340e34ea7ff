import keras
import numpy as np
import pytest

from keras_mae.layers import ParallelDense
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"num_components": 3, "units": 4}, (2, 5), (2, 3, 4)),
        ({"num_components": 3, "units": 4, "activation": "relu"}, (2, 3, 5), (2, 3, 4)),
    ],
)
def test_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(ParallelDense, init_kwargs, input_shape, expected_output_shape)


def test_each_component_is_its_own_dense_layer():
    layer = ParallelDense(num_components=3, units=2, activation="tanh")
    x = np.random.default_rng(0).normal(size=(4, 3, 5)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias)
    for k in range(3):
        expected = np.tanh(x[:, k] @ kernel[k] + bias[k])
        np.testing.assert_allclose(outputs[:, k], expected, rtol=1e-5, atol=1e-6)
    shared = keras.ops.convert_to_numpy(layer(x[:, 0]))
    for k in range(3):
        expected = np.tanh(x[:, 0] @ kernel[k] + bias[k])
        np.testing.assert_allclose(shared[:, k], expected, rtol=1e-5, atol=1e-6)


def test_components_start_different_and_glorot_scaled():
    layer = ParallelDense(num_components=4, units=30)
    layer.build((None, 50))
    kernel = layer.kernel.numpy()
    assert not np.allclose(kernel[0], kernel[1])
    limit = np.sqrt(6.0 / (50 + 30))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit


@pytest.mark.parametrize("shape", [(None, 2, 5), (None, 4, 5, 6), (None, None)])
def test_wrong_input_shape_names_expected_and_received(shape):
    received = "(batch, " + ", ".join(str(d) for d in shape[1:]) + ")"
    with pytest.raises(ValueError, match=r"expects inputs of shape") as error:
        ParallelDense(num_components=4, units=2).build(shape)
    assert "(batch, 4, features)" in str(error.value)
    assert received in str(error.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`units` to be an integer >= 1"):
        ParallelDense(num_components=2, units=0)


def test_copy_component_overwrites_one_component_only():
    layer = ParallelDense(num_components=3, units=4, activation="relu")
    x = np.random.default_rng(0).standard_normal((5, 6)).astype("float32")
    layer.build(x.shape)
    layer.bias.assign(np.random.default_rng(1).standard_normal((3, 4)))
    before = keras.ops.convert_to_numpy(layer(x))
    layer.copy_component(0, 2)
    after = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(after[:, 2], before[:, 0])
    np.testing.assert_allclose(after[:, :2], before[:, :2])
