"""Dataset loaders (MNIST, scikit-learn's 8x8 digits, a user's CSV, array and
image files) and nearest-neighbour pairs."""

from keras_mae.datasets.batches import ArrayBatches
from keras_mae.datasets.digits import load_digits
from keras_mae.datasets.files import (
    Samples,
    load_array_file,
    load_csv,
    load_image_folder,
    load_samples,
)
from keras_mae.datasets.mnist import load_mnist, preprocess_images
from keras_mae.datasets.neighbors import NeighborPairs, nearest_neighbors

__all__ = [
    "ArrayBatches",
    "NeighborPairs",
    "Samples",
    "load_array_file",
    "load_csv",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "load_samples",
    "nearest_neighbors",
    "preprocess_images",
]
