import keras
import numpy as np
import pytest

from keras_mae.layers import ConvDecoder
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"output_shape": (28, 28, 1)}, (4, 10), (4, 28, 28, 1)),
        ({"output_shape": (8, 8, 1)}, (4, 3), (4, 8, 8, 1)),
        (
            {
                "output_shape": (16, 8, 3),
                "filters": (8, 4, 4),
                "kernel_size": 5,
                "normalization": "layer",
                "output_activation": "tanh",
            },
            (2, 5),
            (2, 16, 8, 3),
        ),
        (
            {"output_shape": (6, 6, 2), "filters": (8,), "normalization": None},
            (2, 4),
            (2, 6, 6, 2),
        ),
    ],
)
def test_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(ConvDecoder, init_kwargs, input_shape, expected_output_shape)


@pytest.mark.parametrize(
    "output_shape, filters, initial_shape",
    [((28, 28, 1), (64, 32), (7, 7, 64)), ((8, 8, 1), (64, 32), (2, 2, 64))],
)
def test_starts_from_a_map_halved_once_per_stage(output_shape, filters, initial_shape):
    decoder = ConvDecoder(output_shape, filters=filters)
    decoder.build((None, 10))
    assert tuple(decoder._projection.kernel.shape) == (10, int(np.prod(initial_shape)))


@pytest.mark.parametrize(
    "activation, low, high",
    [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)],
)
def test_output_activation_bounds_images(activation, low, high):
    decoder = ConvDecoder((8, 8, 1), output_activation=activation)
    images = keras.ops.convert_to_numpy(
        decoder(np.random.default_rng(0).normal(size=(3, 4)) * 10)
    )
    assert images.min() >= low and images.max() <= high


def test_no_output_activation_is_unbounded():
    decoder = ConvDecoder((8, 8, 1), output_activation=None, normalization=None)
    images = keras.ops.convert_to_numpy(
        decoder(np.random.default_rng(0).normal(size=(16, 4)) * 100)
    )
    assert images.min() < 0.0


def test_indivisible_size_suggests_stage_count():
    with pytest.raises(ValueError) as e:
        ConvDecoder((28, 28, 1), filters=(64, 32, 16))
    message = str(e.value)
    assert "needs height and width divisible by 8" in message
    assert "received output_shape=(28, 28, 1)" in message
    assert "at most 2 stages" in message


@pytest.mark.parametrize("output_shape", [(28, 28), (28,), (28, 0, 1)])
def test_bad_output_shape(output_shape):
    with pytest.raises(ValueError, match="ConvDecoder expects `output_shape`"):
        ConvDecoder(output_shape)


@pytest.mark.parametrize("shape", [(None, 28, 28, 1), (None, None)])
def test_wrong_input_shape_names_expected_and_received(shape):
    received = "(batch, " + ", ".join(str(d) for d in shape[1:]) + ")"
    with pytest.raises(ValueError, match="ConvDecoder expects inputs of shape") as e:
        ConvDecoder((8, 8, 1)).build(shape)
    assert received in str(e.value)
