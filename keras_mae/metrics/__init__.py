"""Clustering scores and generative quality metrics for image sets.

Fréchet and kernel inception distances, improved precision and recall.
"""

from keras_mae.metrics.clustering import (
    adjusted_rand_index,
    clustering_accuracy,
    clustering_scores,
    normalized_mutual_info,
)
from keras_mae.metrics.frechet import FrechetDistance, frechet_distance
from keras_mae.metrics.kernel_inception import (
    KernelInceptionDistance,
    kernel_inception_distance,
)
from keras_mae.metrics.precision_recall import (
    ImprovedPrecisionRecall,
    improved_precision_recall,
)

__all__ = [
    "FrechetDistance",
    "ImprovedPrecisionRecall",
    "KernelInceptionDistance",
    "adjusted_rand_index",
    "clustering_accuracy",
    "clustering_scores",
    "frechet_distance",
    "improved_precision_recall",
    "kernel_inception_distance",
    "normalized_mutual_info",
]
