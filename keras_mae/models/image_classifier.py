"""A small convolutional image classifier: the features of `FrechetDistance`."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_mae.layers._utils import check_units, format_shape
from keras_mae.presets.mixin import PresetMixin
from keras_mae.utils.argument_checks import check_int

_NAME = "ImageClassifier"


@keras.saving.register_keras_serializable(package="keras_mae")
class ImageClassifier(PresetMixin, keras.Model):
    """A LeNet-style classifier whose penultimate layer gives image features.

    Each entry of `filters` adds a stage of a 3x3 `Conv2D` with ReLU and a 2x2
    max-pooling; a ReLU `Dense` layer of `feature_dim` units (the features)
    and a `Dense` layer of `num_classes` logits follow, with dropout between
    them while training. Trained on MNIST it is the feature extractor that
    makes a Fréchet distance between digit images meaningful (FID uses an
    Inception network the same way): `FrechetDistance(classifier)` uses
    `classifier.feature_extractor()`.

    The model returns logits; compile it with
    `SparseCategoricalCrossentropy(from_logits=True)` (what `compile()` with
    no arguments does). Images are floats in [0, 1] of shape `input_shape`.

    Args:
        num_classes: Number of classes, at least 2.
        input_shape: Shape of one image `(height, width, channels)`; every
            side must divide by `2 ** len(filters)`.
        filters: Filters of each convolution stage.
        feature_dim: Size of the feature vector (the penultimate layer).
        dropout: Dropout rate on the features while training.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    import numpy as np
    from keras_mae.models import ImageClassifier
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 64)
    classifier = ImageClassifier(num_classes=10, input_shape=(28, 28, 1))
    classifier.compile()  # Adam(1e-3), cross-entropy on logits, accuracy
    classifier.fit(x, y, epochs=1, verbose=0)
    features = classifier.feature_extractor().predict(x, verbose=0)  # (64, 128)
    ```
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (28, 28, 1),
        filters: Sequence[int] = (32, 64),
        feature_dim: int = 128,
        dropout: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = check_int(_NAME, "num_classes", num_classes)
        if self.num_classes < 2:
            raise ValueError(
                f"{_NAME} expects `num_classes` to be at least 2; received "
                f"{num_classes!r}."
            )
        self.filters = check_units(_NAME, "filters", filters)
        self.image_shape = check_units(_NAME, "input_shape", input_shape)
        factor = 2 ** len(self.filters)
        if len(self.image_shape) != 3 or any(
            side % factor for side in self.image_shape[:2]
        ):
            raise ValueError(
                f"{_NAME} expects `input_shape` to be (height, width, channels) "
                f"with height and width divisible by {factor} (one halving per "
                f"entry of `filters`); received {tuple(input_shape)!r}."
            )
        self.feature_dim = check_int(_NAME, "feature_dim", feature_dim)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"{_NAME} expects `dropout` in [0, 1); received {dropout!r}."
            )
        self.dropout = float(dropout)

        self._convs = [
            keras.layers.Conv2D(
                units,
                3,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            for i, units in enumerate(self.filters)
        ]
        self._pool = keras.layers.MaxPooling2D(2, dtype=self.dtype_policy, name="pool")
        self._flatten = keras.layers.Flatten(dtype=self.dtype_policy, name="flatten")
        self._features = keras.layers.Dense(
            self.feature_dim,
            activation="relu",
            dtype=self.dtype_policy,
            name="features",
        )
        self._dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        self._logits = keras.layers.Dense(
            self.num_classes, dtype=self.dtype_policy, name="logits"
        )
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        """Creates the weights (done by the constructor already).

        Args:
            input_shape: `(batch, *input_shape)` of the constructor.
        """
        input_shape = tuple(input_shape)
        if input_shape[1:] != self.image_shape:
            raise ValueError(
                f"{_NAME} expects images of shape "
                f"{format_shape((None, *self.image_shape))}; received "
                f"{format_shape(input_shape)}."
            )
        if self.built:
            return
        shape = input_shape
        for conv in self._convs:
            conv.build(shape)
            shape = self._pool.compute_output_shape(conv.compute_output_shape(shape))
        shape = self._flatten.compute_output_shape(shape)
        self._features.build(shape)
        self._logits.build((None, self.feature_dim))
        self.built = True

    def features(self, images, training: bool | None = None):
        """The feature vectors `(batch, feature_dim)` of an image batch.

        Args:
            images: Images `(batch, *input_shape)`, floats in [0, 1].
            training: Whether the call is part of training.

        Returns:
            The outputs of the penultimate (`features`) layer.
        """
        dtype = keras.backend.standardize_dtype(images.dtype)
        if "float" not in dtype:
            raise ValueError(
                f"{_NAME} expects float images in [0, 1]; received dtype {dtype}. "
                "Scale integer pixels first, e.g. `images / 255`."
            )
        shape = tuple(images.shape)[1:]
        if shape != self.image_shape:
            raise ValueError(
                f"{_NAME} expects images of shape "
                f"{format_shape((None, *self.image_shape))}; received "
                f"{format_shape(tuple(images.shape))}."
            )
        x = images
        for conv in self._convs:
            x = self._pool(conv(x))
        return self._features(self._flatten(x))

    def call(self, images, training: bool | None = None):
        """The class logits `(batch, num_classes)` of an image batch.

        Args:
            images: Images `(batch, *input_shape)`, floats in [0, 1].
            training: Whether dropout is applied.
        """
        features = self.features(images, training=training)
        return self._logits(self._dropout(features, training=training))

    def feature_extractor(self) -> keras.Model:
        """A new `keras.Model` from images to features, sharing these weights.

        Use it with `predict` (compiled, batched) or as the extractor of
        `keras_mae.metrics.FrechetDistance`. It is built on each call and not
        kept on the classifier, so saving the classifier saves each weight
        once.

        Returns:
            A functional model `(batch, *input_shape) -> (batch, feature_dim)`.
        """
        inputs = keras.Input(self.image_shape, name="images")
        return keras.Model(inputs, self.features(inputs), name=f"{self.name}_features")

    def compile(
        self,
        optimizer="adam",
        loss=None,
        metrics=None,
        **kwargs,
    ):
        """`keras.Model.compile` with defaults for this classifier.

        Args:
            optimizer: Default `"adam"` (learning rate 1e-3).
            loss: Default `SparseCategoricalCrossentropy(from_logits=True)`.
            metrics: Default `["accuracy"]`.
            **kwargs: Passed to `keras.Model.compile`.
        """
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics is None:
            metrics = ["accuracy"]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded classifier again as it was saved (`keras.saving`)."""
        # Keras skips `compile_from_config` for models that override
        # `compile`, so a loaded classifier would come back uncompiled.
        self.compile(**keras.saving.deserialize_keras_object(config))
        # An optimizer that is not built when weights load skips its state.
        self.optimizer.build(self.trainable_variables)

    def predict_classes(self, images, batch_size: int = 256):
        """The most likely class of each image, as an int numpy array.

        Args:
            images: Images `(n, *input_shape)`.
            batch_size: Images per batch.

        Returns:
            An int array of shape `(n,)`.
        """
        logits = self.predict(images, batch_size=batch_size, verbose=0)
        return logits.argmax(axis=-1)

    def get_config(self) -> dict:
        """The constructor arguments, for `from_config` and saving."""
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "input_shape": list(self.image_shape),
                "filters": list(self.filters),
                "feature_dim": self.feature_dim,
                "dropout": self.dropout,
            }
        )
        return config
