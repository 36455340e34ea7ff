"""keras_mae: adversarially trained Mixture Autoencoders and GANs for Keras 3."""

from keras_mae import models, training
from keras_mae.models import GAN

__version__ = "0.1.0"

__all__ = ["GAN", "models", "training", "__version__"]
