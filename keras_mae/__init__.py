"""keras_mae: adversarially trained Mixture Autoencoders and GANs for Keras 3.

The same models train with `model.fit` on TensorFlow, JAX and PyTorch
(`KERAS_BACKEND`), and load pretrained weights with `from_preset`.
"""

from keras_mae import datasets, layers, metrics, models, presets, training, wrappers
from keras_mae.models import GAN, MixtureAutoencoder
from keras_mae.presets import from_preset, list_presets, upload_preset
from keras_mae.wrappers import MixtureClustering

__version__ = "0.1.0"

__all__ = [
    "GAN",
    "MixtureAutoencoder",
    "MixtureClustering",
    "__version__",
    "datasets",
    "from_preset",
    "layers",
    "list_presets",
    "metrics",
    "models",
    "presets",
    "training",
    "upload_preset",
    "wrappers",
]
