"""Dataset loaders (MNIST, scikit-learn's 8x8 digits) and nearest-neighbour pairs."""

from keras_mae.datasets.batches import ArrayBatches
from keras_mae.datasets.digits import load_digits
from keras_mae.datasets.mnist import load_mnist, preprocess_images
from keras_mae.datasets.neighbors import NeighborPairs, nearest_neighbors

__all__ = [
    "ArrayBatches",
    "NeighborPairs",
    "load_digits",
    "load_mnist",
    "nearest_neighbors",
    "preprocess_images",
]
