"""The networks of a Mixture Autoencoder: keras_mae/models/mixture_networks.py."""

import keras
import pytest

from keras_mae.layers import ParallelDense
from keras_mae.models import mixture_networks as networks


def test_default_encoder_and_decoder_shapes():
    encoder = networks.default_encoder(3, 4, (16, 8))
    networks.build_and_check(encoder, (None, 5, 5, 1), (3, 4), "encoder")
    decoder = networks.default_decoder(3, (5, 5, 1), (16, 8), "sigmoid")
    networks.build_and_check(decoder, (None, 3, 4), (3, 5, 5, 1), "decoder")
    assert decoder.layers[-2].activation == "sigmoid"
    assert len(networks.parallel_layers(encoder, decoder)) == 6


def test_build_and_check_names_the_role_and_both_shapes():
    layer = keras.layers.Dense(3)
    with pytest.raises(ValueError, match=r"decoder to map \(batch, 4\).*gives"):
        networks.build_and_check(layer, (None, 4), (5,), "decoder")


def test_layers_or_builder():
    assert networks.layers_or_builder("encoder", None, 2) is None
    built = networks.layers_or_builder(
        "encoder", lambda k: keras.layers.Dense(k + 1), 2
    )
    assert [layer.units for layer in built] == [1, 2]
    with pytest.raises(ValueError, match="hold 3 Keras layers"):
        networks.layers_or_builder("encoder", [keras.layers.Dense(1)], 3)
    with pytest.raises(TypeError, match="received int"):
        networks.layers_or_builder("decoder", 3, 3)


def test_serialize_round_trips_lists_and_none():
    layers = [ParallelDense(2, 3), ParallelDense(2, 4)]
    again = networks.deserialize(networks.serialize(layers))
    assert [layer.units for layer in again] == [3, 4]
    assert networks.deserialize(networks.serialize(None)) is None


def test_shared_weights_cannot_be_copied_per_component():
    shared = keras.Sequential([keras.layers.Dense(4)])
    shared.build((None, 3))
    with pytest.raises(ValueError, match="shared by all components"):
        networks.parallel_layers(shared, shared)


def test_the_data_discriminator_fits_the_data():
    assert type(networks.default_data_discriminator((28, 28, 1))).__name__ == (
        "ConvEncoder"
    )
    assert type(networks.default_data_discriminator((13,))).__name__ == "MLPEncoder"
