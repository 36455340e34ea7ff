"""keras_mae models."""

from keras_mae.models.gan import GAN, default_discriminator, default_generator
from keras_mae.models.image_classifier import ImageClassifier
from keras_mae.models.mixture_autoencoder import MixtureAutoencoder

__all__ = [
    "GAN",
    "ImageClassifier",
    "MixtureAutoencoder",
    "default_discriminator",
    "default_generator",
]
