"""Image features through a feature extractor, shared by the image-set metrics.

`FrechetDistance`, `KernelInceptionDistance` and `ImprovedPrecisionRecall`
turn images into feature vectors the same way, all through this module:

- `resolve_extractor` turns what the user passed (a Keras model, a callable,
  an `ImageClassifier`, a preset handle or name, or None for the built-in
  preset `DEFAULT_EXTRACTOR_PRESET`) into a callable mapping an image batch
  to `(batch, features)` vectors;
- `compute_features` runs it over an image array in batches;
- `check_features` and `check_feature_pair` validate feature arrays;
- `ImageFeatureMetric` is the base class of the image-set metrics.

Every message names its owner (the class or function the user called), so
an error reads the same whichever metric raised it.

Example:

>>> import keras, numpy as np
>>> from keras_mae.metrics.features import (
...     check_features,
...     compute_features,
...     resolve_extractor,
... )
>>> flatten = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten()])
>>> extractor = resolve_extractor("MyMetric", flatten)
>>> images = np.arange(20, dtype="float32").reshape(5, 2, 2, 1)
>>> features = compute_features("MyMetric", extractor, images, batch_size=2)
>>> features.shape, features.dtype
((5, 4), dtype('float64'))
>>> check_features("my_metric", features[:1], "features", minimum=2)
Traceback (most recent call last):
...
ValueError: my_metric expects `features` to hold at least 2 samples; received 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import numpy as np
from numpy.typing import ArrayLike

from keras_mae.utils.argument_checks import check_int

__all__ = [
    "DEFAULT_EXTRACTOR_PRESET",
    "ImageFeatureMetric",
    "check_feature_pair",
    "check_features",
    "compute_features",
    "extractor_from_preset",
    "resolve_extractor",
]

# The built-in preset (see `keras_mae.list_presets()`) whose classifier gives
# the features when no `feature_extractor` is passed: 28x28x1 MNIST digits in
# [0, 1].
DEFAULT_EXTRACTOR_PRESET = "mnist_classifier"


def extractor_from_preset(owner: str, preset: str | os.PathLike) -> Callable:
    """The feature extractor of the classifier held by `preset`.

    Args:
        owner: the class or function name that messages name.
        preset: anything `keras_mae.from_preset` accepts: a built-in name,
            `"hf://owner/name"` or a folder.

    Returns:
        The classifier's `feature_extractor()`, a Keras model.

    Raises:
        ValueError: if the preset holds no classifier with a
            `feature_extractor()` (or cannot be loaded).

    Examples:
    >>> from keras_mae.metrics.features import extractor_from_preset
    >>> extractor = extractor_from_preset("MyMetric", "mnist_classifier")
    >>> extractor.input_shape, extractor.output_shape
    ((None, 28, 28, 1), (None, 128))
    """
    # Looked up on each call, so that `keras_mae.presets` can be patched.
    from keras_mae.presets import from_preset

    model = from_preset(preset)
    if not callable(getattr(model, "feature_extractor", None)):
        raise ValueError(
            f"{owner} expects the preset {str(preset)!r} to hold a classifier with "
            f"a `feature_extractor()` (an `ImageClassifier`); it holds a "
            f"{type(model).__name__}."
        )
    return model.feature_extractor()


def _load_default_extractor(owner: str) -> Callable:
    from keras_mae.presets import list_presets

    if DEFAULT_EXTRACTOR_PRESET not in list_presets():
        raise ValueError(
            f"{owner} needs a `feature_extractor`: a Keras model (or callable) "
            "mapping images to (batch, features) vectors, an `ImageClassifier`, "
            "or a preset of one, e.g. the MNIST classifier in a keras_mae "
            f"checkout: `{owner}('weights_cards/mnist-classifier')`. The "
            f"default, the built-in preset {DEFAULT_EXTRACTOR_PRESET!r}, is not "
            "registered in this version of keras_mae (see "
            "`keras_mae.list_presets()`)."
        )
    return extractor_from_preset(owner, DEFAULT_EXTRACTOR_PRESET)


def resolve_extractor(
    owner: str, feature_extractor: keras.Model | Callable | str | os.PathLike | None
) -> Callable:
    """The callable mapping image batches to features behind `feature_extractor`.

    Args:
        owner: the class or function name that messages name.
        feature_extractor: a `keras.Model` or other callable (returned as
            is), an object with a `feature_extractor()` method such as an
            `ImageClassifier` (its result), a preset handle or name (`str` or
            path: the feature extractor of the classifier it holds), or None:
            the built-in preset `DEFAULT_EXTRACTOR_PRESET`.

    Returns:
        A callable taking an image batch and returning `(batch, features)`.

    Raises:
        ValueError: if `feature_extractor` is none of the above, if a preset
            holds no classifier, or if None is passed while the default
            preset is not registered.

    Examples:
    >>> import keras
    >>> from keras_mae.metrics.features import resolve_extractor
    >>> flatten = keras.layers.Flatten()
    >>> resolve_extractor("MyMetric", flatten) is flatten
    True
    >>> resolve_extractor("MyMetric", 3)
    Traceback (most recent call last):
    ...
    ValueError: MyMetric: `feature_extractor` must be a Keras model, a callable, ...
    """
    if feature_extractor is None:
        feature_extractor = _load_default_extractor(owner)
    elif isinstance(feature_extractor, (str, os.PathLike)):
        feature_extractor = extractor_from_preset(owner, feature_extractor)
    elif callable(getattr(feature_extractor, "feature_extractor", None)):
        feature_extractor = feature_extractor.feature_extractor()
    if not callable(feature_extractor):
        raise ValueError(
            f"{owner}: `feature_extractor` must be a Keras model, a callable, an "
            "`ImageClassifier` or a preset handle; received "
            f"{type(feature_extractor).__name__}."
        )
    return feature_extractor


def compute_features(
    owner: str, extractor: Callable, images: ArrayLike, batch_size: int = 64
) -> np.ndarray:
    """Runs `extractor` over `images` in batches and stacks the features.

    A `keras.Model` runs through `predict`; any other callable is called on
    consecutive slices of `batch_size` images (the last one may be shorter)
    and its outputs are converted to NumPy.

    Args:
        owner: the class or function name that messages name.
        extractor: a resolved extractor (see `resolve_extractor`).
        images: image batch `(n, ...)`, `n >= 1`, in the extractor's input
            format.
        batch_size: number of images per extractor call, at least 1.

    Returns:
        The features of all images, a float64 array `(n, features)`.

    Raises:
        ValueError: if `images` is not a non-empty batch or the extractor
            does not return `(batch, features)` vectors.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.metrics.features import compute_features
    >>> def flatten(batch):
    ...     return batch.reshape(len(batch), -1)
    >>> features = compute_features("MyMetric", flatten, np.ones((5, 2, 2)), 2)
    >>> features.shape, features.dtype
    ((5, 4), dtype('float64'))
    """
    batch_size = check_int(owner, "batch_size", batch_size)
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(
            f"{owner} expects images as an array of shape (n, ...); received "
            f"shape {images.shape}."
        )
    if len(images) == 0:
        raise ValueError(
            f"{owner} expects at least 1 image; received shape {images.shape}."
        )
    if isinstance(extractor, keras.Model):
        features = extractor.predict(images, batch_size=batch_size, verbose=0)
    else:
        features = np.concatenate(
            [
                keras.ops.convert_to_numpy(extractor(images[i : i + batch_size]))
                for i in range(0, len(images), batch_size)
            ]
        )
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(images):
        raise ValueError(
            f"{owner}: `feature_extractor` must return (batch, features) vectors; "
            f"for {len(images)} images it returned shape {features.shape}. End "
            "it with pooling or `Flatten`."
        )
    return features


def check_features(
    owner: str,
    features: ArrayLike,
    name: str,
    minimum: int = 1,
    why: str | None = None,
) -> np.ndarray:
    """`features` as a finite float64 `(samples, features)` array.

    Args:
        owner: the class or function name that messages name.
        features: the array to check.
        name: the argument's name, as the caller wrote it.
        minimum: the fewest samples accepted.
        why: optional reason for `minimum`, quoted in the message.

    Returns:
        `features` as a float64 array of shape `(n, d)`, `n >= minimum`,
        `d >= 1`.

    Raises:
        ValueError: if the array is not 2-D, has no features, has fewer than
            `minimum` samples or holds NaN or infinite values.

    Examples:
    >>> from keras_mae.metrics.features import check_features
    >>> check_features("my_metric", [[1, 2], [3, 4]], "features").dtype
    dtype('float64')
    >>> check_features("my_metric", [[1.0, float("nan")]], "features")
    Traceback (most recent call last):
    ...
    ValueError: my_metric expects `features` to be finite; received 1 NaN or ...
    """
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{owner} expects `{name}` to be a 2-D array of shape (samples, "
            f"features); received shape {array.shape}."
        )
    if array.shape[1] < 1:
        raise ValueError(
            f"{owner} expects `{name}` to have at least 1 feature; received shape "
            f"{array.shape}."
        )
    if len(array) < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(
            f"{owner} expects `{name}` to hold at least {minimum} samples{reason}; "
            f"received {len(array)}."
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(
            f"{owner} expects `{name}` to be finite; received {bad} NaN or "
            "infinite values."
        )
    return array


def check_feature_pair(
    owner: str,
    features1: ArrayLike,
    features2: ArrayLike,
    names: tuple[str, str],
    minimum: int = 1,
    why: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets checked by `check_features`, with equal dimensions.

    Args:
        owner: the class or function name that messages name.
        features1: the first feature set.
        features2: the second feature set.
        names: the two arguments' names, as the caller wrote them.
        minimum: the fewest samples accepted in each set.
        why: optional reason for `minimum`, quoted in the message.

    Returns:
        The two sets as float64 arrays `(n, d)` and `(m, d)`.

    Raises:
        ValueError: if either set fails `check_features` or their feature
            dimensions differ.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.metrics.features import check_feature_pair
    >>> names = ("real", "generated")
    >>> real, generated = check_feature_pair(
    ...     "my_metric", np.ones((3, 2)), np.zeros((4, 2)), names
    ... )
    >>> real.shape, generated.shape
    ((3, 2), (4, 2))
    >>> check_feature_pair("my_metric", np.ones((3, 2)), np.zeros((4, 5)), names)
    Traceback (most recent call last):
    ...
    ValueError: my_metric expects both feature sets to have the same feature ...
    """
    first = check_features(owner, features1, names[0], minimum, why)
    second = check_features(owner, features2, names[1], minimum, why)
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"{owner} expects both feature sets to have the same feature "
            f"dimension; received `{names[0]}` of shape {first.shape} and "
            f"`{names[1]}` of shape {second.shape}."
        )
    return first, second


class ImageFeatureMetric:
    """Base class of the metrics comparing two image sets in a model's features.

    Resolves `feature_extractor` with `resolve_extractor` and computes
    features in batches with `compute_features`; messages name the subclass.
    Subclasses implement `__call__(real_images, generated_images)`, usually
    from `_features_of_both`.

    Args:
        feature_extractor: a `keras.Model` (run with `predict`), a callable
            mapping an image batch to `(batch, features)`, an object with a
            `feature_extractor()` method (`ImageClassifier`), or a preset
            handle of one. None (default) loads the built-in preset
            `DEFAULT_EXTRACTOR_PRESET` (`"mnist_classifier"`, 28x28x1 MNIST
            digits in [0, 1]).
        batch_size: number of images per extractor call.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.metrics.features import ImageFeatureMetric
    >>> class MeanGap(ImageFeatureMetric):
    ...     def __call__(self, real_images, generated_images):
    ...         real, generated = self._features_of_both(real_images, generated_images)
    ...         return float(np.abs(real.mean(0) - generated.mean(0)).max())
    >>> metric = MeanGap(lambda batch: batch.reshape(len(batch), -1), batch_size=3)
    >>> metric(np.zeros((4, 2, 2)), np.ones((5, 2, 2)))
    1.0
    >>> metric(np.zeros((4, 2, 2)), np.ones((5, 3, 3)))
    Traceback (most recent call last):
    ...
    ValueError: MeanGap expects both image sets to have the same image shape; ...
    """

    def __init__(
        self,
        feature_extractor: keras.Model | Callable | str | os.PathLike | None = None,
        batch_size: int = 64,
    ) -> None:
        owner = type(self).__name__
        self.batch_size = check_int(owner, "batch_size", batch_size)
        self.feature_extractor = resolve_extractor(owner, feature_extractor)

    def features(self, images: ArrayLike) -> np.ndarray:
        """Features of `images`, shape `(n, features)`, as float64.

        Args:
            images: image batch `(n, ...)` in the extractor's input format.

        Returns:
            The extractor's outputs for all images.
        """
        return compute_features(
            type(self).__name__, self.feature_extractor, images, self.batch_size
        )

    def _check_image_shapes(
        self, real_images: ArrayLike, generated_images: ArrayLike
    ) -> None:
        real_shape = np.shape(real_images)[1:]
        generated_shape = np.shape(generated_images)[1:]
        if real_shape != generated_shape:
            raise ValueError(
                f"{type(self).__name__} expects both image sets to have the same "
                f"image shape; received {real_shape} and {generated_shape}."
            )

    def _features_of_both(
        self, real_images: ArrayLike, generated_images: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of both sets, after checking that their image shapes match."""
        self._check_image_shapes(real_images, generated_images)
        return self.features(real_images), self.features(generated_images)
