import keras
import numpy as np
import pytest

from keras_mae.layers import AssignmentNetwork
from tests.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, input_shape, call_kwargs, expected_output_shape",
    [
        ({"num_components": 3}, (4, 3, 10), {}, (4, 3)),
        (
            {"num_components": 2, "hidden_units": (8, 8), "activation": "tanh"},
            [(4, 5), (4, 5)],
            {},
            (4, 2),
        ),
        (
            {"num_components": 4, "hidden_units": ()},
            (4, 4, 2),
            {"return_logits": True},
            ((4, 4), (4, 4)),
        ),
    ],
)
def test_layer(init_kwargs, input_shape, call_kwargs, expected_output_shape):
    run_layer_test(
        AssignmentNetwork,
        init_kwargs,
        input_shape,
        expected_output_shape,
        call_kwargs=call_kwargs,
        # Softmax and logits stay float32 for stable log-probabilities.
        expected_mixed_output_dtype="float32",
    )


def test_probabilities_are_softmax_of_logits():
    codes = np.random.default_rng(0).normal(size=(6, 3, 4)).astype("float32") * 5
    probabilities, logits = AssignmentNetwork(3)(codes, return_logits=True)
    probabilities = keras.ops.convert_to_numpy(probabilities)
    logits = keras.ops.convert_to_numpy(logits)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)


def test_list_and_stacked_inputs_agree():
    codes = np.random.default_rng(0).normal(size=(6, 3, 4)).astype("float32")
    layer = AssignmentNetwork(3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(codes)),
        keras.ops.convert_to_numpy(layer([codes[:, k] for k in range(3)])),
        rtol=1e-6,
    )


def test_output_depends_on_the_order_of_components():
    codes = np.random.default_rng(0).normal(size=(6, 3, 4)).astype("float32")
    layer = AssignmentNetwork(3)
    swapped = codes[:, [1, 0, 2]]
    assert not np.allclose(
        keras.ops.convert_to_numpy(layer(codes)),
        keras.ops.convert_to_numpy(layer(swapped)),
    )


def test_symbolic_outputs_are_float32_under_mixed_precision():
    layer = AssignmentNetwork(2, dtype="mixed_float16")
    probabilities, logits = layer(keras.Input((2, 3)), return_logits=True)
    assert probabilities.dtype == "float32" and logits.dtype == "float32"


@pytest.mark.parametrize(
    "shape, received",
    [
        ((None, 4, 10), "received (batch, 4, 10)"),
        ((None, 30), "received (batch, 30)"),
        ([(None, 10), (None, 10)], "received a list of (batch, 10), (batch, 10)"),
        (
            [(None, 10), (None, 10), (None, 8)],
            "received a list of (batch, 10), (batch, 10), (batch, 8)",
        ),
    ],
)
def test_wrong_input_shape_names_expected_and_received(shape, received):
    with pytest.raises(ValueError) as e:
        AssignmentNetwork(3).build(shape)
    message = str(e.value)
    assert "AssignmentNetwork expects inputs of shape (batch, 3, latent_dim)" in message
    assert "or a list of 3 tensors of shape (batch, latent_dim)" in message
    assert received in message


@pytest.mark.parametrize("num_components", [0, 1])
def test_needs_two_components(num_components):
    message = f"`num_components` to be an integer >= 2; received {num_components}"
    with pytest.raises(ValueError, match=message):
        AssignmentNetwork(num_components)


def test_later_call_with_other_latent_dim_is_rejected():
    layer = AssignmentNetwork(2)
    layer(np.zeros((3, 2, 4), "float32"))
    with pytest.raises(ValueError, match="built for latent_dim=4; received codes of"):
        layer(np.zeros((3, 2, 5), "float32"))


def test_copy_component_gives_two_components_the_same_logit():
    network = AssignmentNetwork(num_components=3)
    codes = np.random.default_rng(0).standard_normal((6, 3, 2)).astype("float32")
    _, before = network(codes, return_logits=True)
    network.copy_component(1, 0)
    _, after = network(codes, return_logits=True)
    after = keras.ops.convert_to_numpy(after)
    np.testing.assert_allclose(after[:, 0], after[:, 1], rtol=1e-6)
    np.testing.assert_allclose(after[:, 1:], keras.ops.convert_to_numpy(before)[:, 1:])
