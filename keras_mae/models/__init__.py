"""keras_mae models."""

from keras_mae.models.gan import GAN

__all__ = ["GAN"]
