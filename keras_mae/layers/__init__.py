"""Building blocks: conv and MLP encoders/decoders, assignment network, augmentation."""

from keras_mae.layers.assignment_network import AssignmentNetwork
from keras_mae.layers.conv_decoder import ConvDecoder
from keras_mae.layers.conv_encoder import ConvEncoder
from keras_mae.layers.mlp_decoder import MLPDecoder
from keras_mae.layers.mlp_encoder import MLPEncoder
from keras_mae.layers.parallel_dense import ParallelDense
from keras_mae.layers.random_affine import RandomAffine

__all__ = [
    "AssignmentNetwork",
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "ParallelDense",
    "RandomAffine",
]
