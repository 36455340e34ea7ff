"""Improved precision and recall of generated samples (Kynkäänniemi et al. 2019)."""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import numpy as np
from numpy.typing import ArrayLike
from sklearn.neighbors import NearestNeighbors

from keras_mae.metrics.features import ImageFeatureMetric, check_feature_pair
from keras_mae.utils.argument_checks import check_int

# Default memory for the membership test: one (rows, n) float64 block of
# squared distances, reused for all blocks.
_DEFAULT_BLOCK_BYTES = 128 * 2**20
_BYTES_PER_ENTRY = 8

# A point counts as inside a ball when its squared distance exceeds the
# squared radius by at most this share of `|q|^2 + |x|^2`: the float64
# rounding of `|q|^2 + |x|^2 - 2 q.x` (and of the radii) is a few
# `feature_dim * eps` of that, far below this, and a distance this close to a
# radius means nothing. It keeps closed balls closed: duplicates of a point
# (radius 0) lie inside its ball.
_ROUNDING_ALLOWANCE = 1e-10


def _manifold_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each sample to its k-th nearest other sample of the set."""
    # With no query, `kneighbors` leaves each sample out of its own
    # neighbours (by index, so duplicates still count at distance 0).
    distances, _ = NearestNeighbors(n_neighbors=k).fit(features).kneighbors()
    return distances[:, k - 1]


def _inside_manifold(
    queries: np.ndarray, support: np.ndarray, radii: np.ndarray, block_bytes: int
) -> np.ndarray:
    """Whether each query lies in some ball `|q - support_i| <= radii_i`."""
    keep = 1.0 - _ROUNDING_ALLOWANCE
    support_norms = np.einsum("ij,ij->i", support, support)
    # Per support point: keep * |x|^2 - r^2; per query: keep * |q|^2.
    offsets = keep * support_norms - radii**2
    query_norms = keep * np.einsum("ij,ij->i", queries, queries)
    rows = min(len(queries), max(1, block_bytes // (_BYTES_PER_ENTRY * len(support))))
    # One buffer for all blocks, so two blocks are never alive at once.
    buffer = np.empty((rows, len(support)))
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), rows):
        stop = min(start + rows, len(queries))
        # keep * (|q|^2 + |x|^2) - 2 q.x - r^2 <= 0, built in place.
        block = np.matmul(queries[start:stop], support.T, out=buffer[: stop - start])
        block *= -2.0
        block += query_norms[start:stop, None]
        block += offsets[None, :]
        inside[start:stop] = block.min(axis=1) <= 0.0
    return inside


def improved_precision_recall(
    real_features: ArrayLike,
    generated_features: ArrayLike,
    k: int = 3,
    *,
    max_block_bytes: int = _DEFAULT_BLOCK_BYTES,
) -> tuple[float, float]:
    """Improved precision and recall of generated samples in a feature space.

    Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
    Assessing Generative Models". The manifold of a set is the union of the
    closed balls around its samples, each with radius the distance from the
    sample to its `k`-th nearest neighbour in the same set (itself left out;
    found with scikit-learn's `NearestNeighbors`). Precision is the share of
    generated samples inside the real manifold (how realistic they are),
    recall the share of real samples inside the generated manifold (how much
    of the real data the generator covers). Points on a ball's boundary are
    inside, with an allowance of 1e-10 of the squared norms for rounding.
    The membership tests run over blocks of query rows in one reused
    float64 buffer of about `max_block_bytes`, so sets of tens of thousands
    of samples fit (10,000 x 10,000 in 64 features: ~130 MiB at the default).
    Each test costs `O(n m d)` time.

    Args:
        real_features: features of the real samples, shape `(n, d)`, `n > k`.
        generated_features: features of the generated samples, shape
            `(m, d)`, `m > k`.
        k: which nearest neighbour sets the radii, at least 1 (paper: 3).
        max_block_bytes: memory of the distance block of the membership
            test, at least 1 (default 128 MiB); a block holds at least one
            query row.

    Returns:
        `(precision, recall)`, floats in [0, 1].

    Examples:
    >>> import numpy as np
    >>> from keras_mae.metrics import improved_precision_recall
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 2))
    >>> improved_precision_recall(real, real)
    (1.0, 1.0)
    >>> improved_precision_recall(real, real + 100.0)
    (0.0, 0.0)
    >>> centre = 0.1 * rng.normal(size=(500, 2))
    >>> precision, recall = improved_precision_recall(real, centre)
    >>> precision > 0.9 and recall < 0.5  # realistic, but only the centre
    True
    """
    owner = "improved_precision_recall"
    k = check_int(owner, "k", k)
    max_block_bytes = check_int(owner, "max_block_bytes", max_block_bytes)
    real, generated = check_feature_pair(
        owner,
        real_features,
        generated_features,
        ("real_features", "generated_features"),
        minimum=k + 1,
        why=f"k={k} neighbours besides each sample itself",
    )
    real_radii = _manifold_radii(real, k)
    generated_radii = _manifold_radii(generated, k)
    precision = _inside_manifold(generated, real, real_radii, max_block_bytes).mean()
    recall = _inside_manifold(real, generated, generated_radii, max_block_bytes).mean()
    return float(precision), float(recall)


class ImprovedPrecisionRecall(ImageFeatureMetric):
    """Improved precision and recall of generated images in a model's features.

    Both sets go through `feature_extractor` in batches, exactly as in
    `FrechetDistance`, and `improved_precision_recall` compares the features:
    precision is the share of generated images that fall in the manifold of
    the real ones, recall the share of real images that fall in the manifold
    of the generated ones.

    Args:
        feature_extractor: a `keras.Model` (run with `predict`), a callable
            mapping an image batch to `(batch, features)`, an object with a
            `feature_extractor()` method (`ImageClassifier`), or a preset
            handle of one. None (default) loads the built-in preset
            `"mnist_classifier"`, as `FrechetDistance` does.
        batch_size: number of images per extractor call.
        k: which nearest neighbour sets the radii of the manifolds (paper: 3).
        max_block_bytes: memory of the distance block of the membership
            test (see `improved_precision_recall`).

    Examples:
    >>> import keras, numpy as np
    >>> from keras_mae.metrics import ImprovedPrecisionRecall
    >>> extractor = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    >>> pr = ImprovedPrecisionRecall(extractor, batch_size=32)
    >>> images = np.random.default_rng(0).uniform(size=(100, 8, 8, 1))
    >>> pr(images, images)
    (1.0, 1.0)
    >>> pr(images, images + 10.0)
    (0.0, 0.0)
    """

    def __init__(
        self,
        feature_extractor: keras.Model | Callable | str | os.PathLike | None = None,
        batch_size: int = 64,
        k: int = 3,
        max_block_bytes: int = _DEFAULT_BLOCK_BYTES,
    ) -> None:
        owner = type(self).__name__
        self.k = check_int(owner, "k", k)
        self.max_block_bytes = check_int(owner, "max_block_bytes", max_block_bytes)
        super().__init__(feature_extractor, batch_size)

    def __call__(
        self, real_images: ArrayLike, generated_images: ArrayLike
    ) -> tuple[float, float]:
        """Precision and recall of `generated_images` against `real_images`.

        Args:
            real_images: reference images `(n, ...)`, `n > k`.
            generated_images: images to score `(m, ...)`, same image shape,
                `m > k`.

        Returns:
            `(precision, recall)`, floats in [0, 1].
        """
        real, generated = self._features_of_both(real_images, generated_images)
        return improved_precision_recall(
            real, generated, k=self.k, max_block_bytes=self.max_block_bytes
        )
