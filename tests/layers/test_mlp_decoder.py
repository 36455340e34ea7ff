import keras
import numpy as np
import pytest

from keras_mae.layers import MLPDecoder
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"output_shape": (2,)}, (4, 8), (4, 2)),
        (
            {
                "output_shape": (28, 28, 1),
                "hidden_units": (16,),
                "output_activation": "sigmoid",
                "normalization": "batch",
            },
            (4, 10),
            (4, 28, 28, 1),
        ),
        (
            {
                "output_shape": (3, 2),
                "hidden_units": (),
                "activation": "tanh",
                "normalization": "layer",
            },
            (2, 4),
            (2, 3, 2),
        ),
    ],
)
def test_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(MLPDecoder, init_kwargs, input_shape, expected_output_shape)


def test_default_output_is_linear():
    decoder = MLPDecoder(2, hidden_units=())
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(decoder(z)),
        z @ decoder._output.kernel.numpy() + decoder._output.bias.numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("output_shape", [0, (), (4, -1), "28"])
def test_bad_output_shape(output_shape):
    with pytest.raises(ValueError, match="MLPDecoder expects `output_shape`"):
        MLPDecoder(output_shape)


@pytest.mark.parametrize("shape", [(None, 4, 4), (None, None)])
def test_wrong_input_shape_names_expected_and_received(shape):
    received = "(batch, " + ", ".join(str(d) for d in shape[1:]) + ")"
    with pytest.raises(ValueError, match="MLPDecoder expects inputs of shape") as e:
        MLPDecoder(2).build(shape)
    assert received in str(e.value)


def test_integer_output_shape_means_vectors():
    decoder = MLPDecoder(2)
    assert decoder.output_shape == (2,)
    assert decoder.get_config()["output_shape"] == [2]
