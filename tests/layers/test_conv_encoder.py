import keras
import numpy as np
import pytest

from keras_mae.layers import ConvEncoder
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape",
    [
        ({"output_dim": 10}, (4, 28, 28, 1), (4, 10)),
        (
            {"output_dim": 1, "filters": (4, 8, 8), "normalization": "batch"},
            (4, 8, 8, 3),
            (4, 1),
        ),
        (
            {
                "output_dim": 3,
                "filters": (8,),
                "kernel_size": 3,
                "normalization": "layer",
                "negative_slope": 0.1,
                "output_activation": "tanh",
            },
            (2, 6, 10, 2),
            (2, 3),
        ),
    ],
)
def test_layer(init_kwargs, input_shape, expected_output_shape):
    run_layer_test(ConvEncoder, init_kwargs, input_shape, expected_output_shape)


def test_downsamples_by_two_per_stage():
    encoder = ConvEncoder(4, filters=(8, 16))
    encoder.build((None, 28, 28, 1))
    assert encoder._flatten.compute_output_shape((None, 7, 7, 16)) == (None, 784)
    # The final Dense reads the 7x7x16 map left by two stride-2 stages.
    assert tuple(encoder._dense.kernel.shape) == (7 * 7 * 16, 4)


def test_output_activation_bounds_outputs():
    encoder = ConvEncoder(5, output_activation="sigmoid")
    outputs = keras.ops.convert_to_numpy(
        encoder(np.random.default_rng(0).normal(size=(3, 8, 8, 1)))
    )
    assert outputs.min() >= 0.0 and outputs.max() <= 1.0


@pytest.mark.parametrize("shape", [(None, 784), (None, 28, 28), (None, None, 28, 1)])
def test_wrong_input_shape_names_expected_and_received(shape):
    received = "(batch, " + ", ".join(str(d) for d in shape[1:]) + ")"
    with pytest.raises(ValueError, match="ConvEncoder expects inputs of shape") as e:
        ConvEncoder(3).build(shape)
    assert received in str(e.value)


def test_later_call_with_other_image_size_is_rejected():
    encoder = ConvEncoder(3)
    encoder(np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(
        ValueError, match="expected axis 1 of input shape to have value 28"
    ):
        encoder(np.zeros((2, 14, 14, 1), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"output_dim": 0}, "`output_dim` to be an integer >= 1"),
        ({"output_dim": 2, "filters": (8, -1)}, "`filters` to be a sequence"),
        ({"output_dim": 2, "normalization": "group"}, "`normalization` to be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvEncoder(**kwargs)
