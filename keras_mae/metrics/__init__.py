"""Clustering scores and the Fréchet distance between image sets."""

from keras_mae.metrics.clustering import (
    adjusted_rand_index,
    clustering_accuracy,
    clustering_scores,
    normalized_mutual_info,
)
from keras_mae.metrics.frechet import FrechetDistance, frechet_distance

__all__ = [
    "FrechetDistance",
    "adjusted_rand_index",
    "clustering_accuracy",
    "clustering_scores",
    "frechet_distance",
    "normalized_mutual_info",
]
