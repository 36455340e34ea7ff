import keras
import numpy as np
import pytest

from keras_mae.layers import MLPEncoder
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"output_dim": 10}, (4, 784), (4, 10)),
        (
            {"output_dim": 1, "hidden_units": (16, 8), "normalization": "batch"},
            (4, 8, 8, 1),
            (4, 1),
        ),
        (
            {
                "output_dim": 2,
                "hidden_units": (),
                "activation": "tanh",
                "output_activation": "sigmoid",
            },
            (3, 5),
            (3, 2),
        ),
        (
            {"output_dim": 2, "hidden_units": (8,), "normalization": "layer"},
            (3, 5),
            (3, 2),
        ),
    ],
)
def test_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(MLPEncoder, init_kwargs, input_shape, expected_output_shape)


def test_images_are_flattened_in_row_major_order():
    encoder = MLPEncoder(3, hidden_units=())
    images = np.random.default_rng(0).uniform(size=(2, 4, 4, 1)).astype("float32")
    flat = images.reshape(2, 16)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(encoder(images)),
        flat @ encoder._output.kernel.numpy() + encoder._output.bias.numpy(),
        rtol=1e-5,
    )


@pytest.mark.parametrize("shape", [(None,), (None, None), (None, 4, None)])
def test_wrong_input_shape_names_expected_and_received(shape):
    with pytest.raises(ValueError, match="MLPEncoder expects inputs of shape") as e:
        MLPEncoder(3).build(shape)
    assert "received (batch" in str(e.value)


def test_bad_hidden_units():
    with pytest.raises(ValueError, match="`hidden_units` to be a sequence"):
        MLPEncoder(3, hidden_units=(8, 0))
