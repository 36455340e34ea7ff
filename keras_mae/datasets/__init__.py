"""Dataset loaders: MNIST and scikit-learn's 8x8 digits."""

from keras_mae.datasets.digits import load_digits
from keras_mae.datasets.mnist import load_mnist, preprocess_images

__all__ = ["load_digits", "load_mnist", "preprocess_images"]
