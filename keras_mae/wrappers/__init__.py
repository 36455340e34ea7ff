"""scikit-learn estimators around keras_mae models."""

from keras_mae.wrappers.clustering import (
    MixtureClustering,
    auto_batch_size,
    auto_epochs,
)

__all__ = ["MixtureClustering", "auto_batch_size", "auto_epochs"]
