"""keras_mae: adversarially trained Mixture Autoencoders and GANs for Keras 3.

The same models train with `model.fit` on TensorFlow, JAX and PyTorch
(`KERAS_BACKEND`), and load pretrained weights with `from_preset`.
"""

from keras_mae import datasets, layers, metrics, models, presets, training
from keras_mae.models import GAN
from keras_mae.presets import from_preset, list_presets, upload_preset

__version__ = "0.1.0"

__all__ = [
    "GAN",
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
]
