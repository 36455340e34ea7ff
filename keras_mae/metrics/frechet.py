"""Fréchet distance between Gaussian feature statistics of two image sets."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

# `DEFAULT_EXTRACTOR_PRESET` is re-exported: it used to live here.
from keras_mae.metrics.features import (
    DEFAULT_EXTRACTOR_PRESET as DEFAULT_EXTRACTOR_PRESET,
)
from keras_mae.metrics.features import ImageFeatureMetric

# Relative tolerance for symmetry and for negative eigenvalues of a covariance,
# loose enough for covariances accumulated in float32.
_COVARIANCE_TOLERANCE = 1e-5


def _check_statistics(mu: ArrayLike, sigma: ArrayLike, which: str):
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise ValueError(
            f"`mu{which}` must be a 1-D mean vector; received shape {mu.shape}."
        )
    if sigma.shape != (len(mu), len(mu)):
        raise ValueError(
            f"`sigma{which}` must be a ({len(mu)}, {len(mu)}) covariance matching "
            f"`mu{which}`; received shape {sigma.shape}."
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"`mu{which}` and `sigma{which}` must be finite.")
    scale = max(np.abs(sigma).max(), np.finfo(np.float64).tiny)
    asymmetry = np.abs(sigma - sigma.T).max()
    smallest = np.linalg.eigvalsh((sigma + sigma.T) / 2)[0]
    if asymmetry > _COVARIANCE_TOLERANCE * scale or (
        smallest < -_COVARIANCE_TOLERANCE * scale
    ):
        raise ValueError(
            f"`sigma{which}` must be a symmetric positive semi-definite "
            f"covariance; received a matrix with asymmetry {asymmetry:.3g} and "
            f"smallest eigenvalue {smallest:.3g}."
        )
    return mu, sigma


def _trace_sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """`Tr(sqrtm(sigma1 @ sigma2))` for positive semi-definite covariances."""
    with warnings.catch_warnings():
        # sqrtm warns on singular products, which are expected here (fewer
        # samples than features, constant features) and harmless: the product
        # of two PSD matrices is similar to a PSD matrix, so its root exists
        # and scipy's Schur method computes it accurately.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(sigma1 @ sigma2)
    # The exact root has real non-negative eigenvalues; eigenvalues of a
    # singular product that round to tiny negatives give a small imaginary
    # residue, which is dropped.
    return float(np.trace(root).real)


def frechet_distance(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike
) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    `||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 @ sigma2))`, the
    squared 2-Wasserstein distance between the two Gaussians (the quantity FID
    reports). The matrix root comes from `scipy.linalg.sqrtm`. Singular and
    near-singular covariances (fewer samples than features, constant
    features) need no regularization: the product of two positive
    semi-definite matrices always has a real root, so only the imaginary
    rounding residue of `sqrtm` is dropped. Inputs that are not symmetric
    positive semi-definite are rejected.

    Args:
        mu1: mean of the first set, shape `(d,)`.
        sigma1: covariance of the first set, shape `(d, d)`.
        mu2: mean of the second set, shape `(d,)`.
        sigma2: covariance of the second set, shape `(d, d)`.

    Returns:
        The distance, a non-negative float.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.metrics import frechet_distance
    >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)), 6)
    2.0
    """
    mu1, sigma1 = _check_statistics(mu1, sigma1, "1")
    mu2, sigma2 = _check_statistics(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(
            "Both sets must have the same feature dimension; received `mu1` of "
            f"shape {mu1.shape} and `mu2` of shape {mu2.shape}."
        )
    difference = mu1 - mu2
    distance = (
        difference @ difference
        + np.trace(sigma1)
        + np.trace(sigma2)
        - 2.0 * _trace_sqrtm_product(sigma1, sigma2)
    )
    # The exact value is non-negative; tiny negatives are rounding.
    return float(max(distance, 0.0))


def _feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a `(n, d)` feature array, `n >= 2`."""
    if len(features) < 2:
        raise ValueError(
            f"A covariance needs at least 2 images; received {len(features)}."
        )
    return features.mean(axis=0), np.cov(features, rowvar=False)


class FrechetDistance(ImageFeatureMetric):
    """Fréchet distance between two image sets in the feature space of a model.

    Both sets go through `feature_extractor` in batches; the Fréchet distance
    of the two feature Gaussians (mean and covariance) is returned. Any Keras
    model (or callable) mapping a batch of images to `(batch, features)`
    vectors works, e.g. the penultimate layer of a classifier trained on the
    same data, the setting in which FID is meaningful. A
    `keras_mae.models.ImageClassifier`, or a preset holding one (a built-in
    name, `hf://owner/name` or a folder), contributes its penultimate layer.

    Args:
        feature_extractor: a `keras.Model` (run with `predict`), a callable
            mapping an image batch to `(batch, features)`, an object with a
            `feature_extractor()` method (`ImageClassifier`), or a preset
            handle of one. None (default) loads the built-in preset
            `"mnist_classifier"` (28x28x1 MNIST digits in [0, 1]).
        batch_size: number of images per extractor call.

    Examples:
    >>> import keras, numpy as np
    >>> from keras_mae.metrics import FrechetDistance
    >>> extractor = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    >>> fd = FrechetDistance(extractor, batch_size=32)
    >>> images = np.random.default_rng(0).uniform(size=(100, 8, 8, 1))
    >>> fd(images, images) < 1e-6
    True

    In the features of the built-in MNIST classifier (the default), e.g. on
    MNIST-shaped images:

    >>> mnist_fd = FrechetDistance()
    >>> digits = np.random.default_rng(1).uniform(size=(8, 28, 28, 1))
    >>> mnist_fd(digits[:4], digits[4:]) > 0.0
    True
    """

    def statistics(self, images: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the features of `images`.

        Args:
            images: image batch `(n, ...)` with `n >= 2`.

        Returns:
            `(mu, sigma)` with shapes `(features,)` and `(features, features)`.
        """
        return _feature_statistics(self.features(images))

    def __call__(self, real_images: ArrayLike, generated_images: ArrayLike) -> float:
        """Fréchet distance between the feature statistics of the two sets.

        Args:
            real_images: reference images `(n, ...)`.
            generated_images: images to compare `(m, ...)`, same image shape.

        Returns:
            The distance, a non-negative float.
        """
        real, generated = self._features_of_both(real_images, generated_images)
        return frechet_distance(
            *_feature_statistics(real), *_feature_statistics(generated)
        )
