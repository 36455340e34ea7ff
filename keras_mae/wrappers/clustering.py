"""`MixtureClustering`: a scikit-learn clusterer and transformer around the MAE."""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
from collections.abc import Mapping

import keras
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from keras_mae.models import MixtureAutoencoder
from keras_mae.models.mixture_inputs import data_kind
from keras_mae.utils.argument_checks import check_int

_NAME = "MixtureClustering"

# The `"auto"` rules (see `auto_batch_size` and `auto_epochs`).
AUTO_BATCHES_PER_EPOCH = 8
AUTO_MIN_BATCH_SIZE = 16
AUTO_MAX_BATCH_SIZE = 256
AUTO_STEPS = 2000
AUTO_MIN_EPOCHS = 30
AUTO_MAX_EPOCHS = 300

# MixtureAutoencoder arguments that MixtureClustering sets from its own.
_OWN_MODEL_ARGUMENTS = {
    "num_components": "n_clusters",
    "latent_dim": "latent_dim",
    "seed": "random_state",
}


def auto_batch_size(n_samples: int) -> int:
    """The batch size that `MixtureClustering(batch_size="auto")` trains with.

    About an eighth of the data (`round(n_samples / 8)`), clipped to
    [16, 256], and never more than `n_samples`. Eight batches an epoch give a
    small data set several optimizer steps per epoch; at least 16 samples a
    batch keep the batch-wise entropy term, which balances the clusters over
    each batch, from being mostly noise; at most 256 is the batch of the
    measured MNIST protocol (docs/benchmarks.md), which every set of 2,048
    samples or more gets.

    Args:
        n_samples: Number of training samples, at least 1.

    Returns:
        The batch size, an int in [1, 256].

    Examples:

    >>> from keras_mae.wrappers import auto_batch_size
    >>> auto_batch_size(178), auto_batch_size(1797), auto_batch_size(70000)
    (22, 225, 256)
    """
    n_samples = check_int("auto_batch_size", "n_samples", n_samples)
    batch_size = round(n_samples / AUTO_BATCHES_PER_EPOCH)
    batch_size = min(max(batch_size, AUTO_MIN_BATCH_SIZE), AUTO_MAX_BATCH_SIZE)
    return min(batch_size, n_samples)


def auto_epochs(n_samples: int, batch_size: int) -> int:
    """The number of epochs that `MixtureClustering(epochs="auto")` trains.

    Enough epochs for about 2,000 optimizer steps,
    `ceil(2000 / ceil(n_samples / batch_size))`, clipped to [30, 300]. Small
    data sets need many epochs to converge: with `auto_batch_size` every set
    of 128 to 2,048 samples has 8 or 9 batches an epoch and trains 223 or 250
    epochs (wine, 178 samples: 223 epochs of 9 steps; digits, 1797: 250 of
    8), a set of 5,000 trains 100 epochs of 20 steps, one of 10,000 50 of 40.
    The floor of 30 epochs is the measured MNIST protocol (70,000 images: 274
    steps an epoch, 8,220 steps; ACC 0.975 over 4 seeds, where 15 epochs
    gave 0.9735 and 25 gave 0.974, docs/benchmarks.md); it applies from about
    17,000 samples on, which therefore train more than 2,000 steps. The cap
    of 300 bounds the epochs of tiny sets (under 100 samples: fewer than
    2,000 steps).

    Args:
        n_samples: Number of training samples, at least 1.
        batch_size: The batch size, at least 1.

    Returns:
        The number of epochs, an int in [30, 300].

    Examples:

    >>> from keras_mae.wrappers import auto_batch_size, auto_epochs
    >>> auto_epochs(178, auto_batch_size(178)), auto_epochs(70000, 256)
    (223, 30)
    """
    n_samples = check_int("auto_epochs", "n_samples", n_samples)
    batch_size = check_int("auto_epochs", "batch_size", batch_size)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    epochs = math.ceil(AUTO_STEPS / steps_per_epoch)
    return min(max(epochs, AUTO_MIN_EPOCHS), AUTO_MAX_EPOCHS)


def _auto_or_int(argument: str, value) -> str | int:
    if isinstance(value, str) and value == "auto":
        return value
    try:
        return check_int(_NAME, argument, value)
    except ValueError:
        raise ValueError(
            f'{_NAME} expects `{argument}` to be "auto" or an integer >= 1; '
            f"received {value!r}."
        ) from None


@contextlib.contextmanager
def _python_random_seeded(seed: int | None):
    """Seeds Python's `random` for the block (if `seed` is an int), then restores it.

    Keras draws the seed of every unseeded weight initializer from Python's
    `random` module (`keras.random.make_default_seed`), so this fixes the
    initial weights of a model built in the block without touching anyone
    else's random state.
    """
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _model_to_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def _model_from_bytes(data: bytes) -> keras.Model:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        with open(path, "wb") as file:
            file.write(data)
        return keras.saving.load_model(path)


class MixtureClustering(
    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator
):
    """Clusters data with a `MixtureAutoencoder`, the scikit-learn way.

    `fit` trains a `keras_mae.models.MixtureAutoencoder` with
    `num_components=n_clusters` on `X` (the backend is Keras's,
    `KERAS_BACKEND`); `predict` assigns each sample to its most likely
    component, `predict_proba` gives p(k | x), and `transform` gives each
    sample's code under its assigned component, so the estimator also works
    as a transformer (`fit_transform`, pipelines; `get_feature_names_out`
    names the columns `mixtureclustering0`, `mixtureclustering1`, ...).

    `X` is either a 2-D array `(n_samples, n_features)` of real values of any
    scale (vectors; the model standardizes them itself), or images
    `(n_samples, height, width, channels)` in [0, 1]; pass
    `image_shape=(height, width, channels)` to fit images stored flat, one
    row each.

    On vectors, the defaults end `fit` with self-labelling
    (`MixtureAutoencoder(self_labeling=0.8)`): a linear discriminant of each
    cluster's most confident 80% relabels the samples between the clusters,
    and the model's assignment learns its labels; pass
    `model_kwargs={"self_labeling": None}` to keep the network's own.

    With an integer `random_state`, `fit` is repeatable on the same backend
    and machine: the model's `seed` (its noise, batch order and neighbour
    partners) is drawn from it, and so are the initial weights, by seeding
    Python's `random` module, from which Keras draws the seeds of unseeded
    initializers, during `fit` only (its state is restored afterwards).

    Args:
        n_clusters: Number of clusters K, at least 2 and at most the number
            of training samples.
        latent_dim: Size of each component's code, the number of columns of
            `transform`.
        epochs: Training epochs, or `"auto"`: `auto_epochs(n_samples,
            batch_size)` (about 2,000 optimizer steps, 30 to 300 epochs).
        batch_size: Training batch size, or `"auto"`:
            `auto_batch_size(n_samples)` (about an eighth of the data, 16 to
            256).
        random_state: None (not repeatable), an int, or a
            `numpy.random.RandomState` from which the model's seed is drawn
            (`check_random_state(random_state).randint(2**31 - 1)`).
        verbose: Keras's `fit` verbosity: 0 (silent), 1 (progress bar) or 2
            (one line per epoch).
        model_kwargs: Optional dict of further `MixtureAutoencoder`
            arguments, e.g. `{"hidden_units": (64,), "adversarial": None}`;
            it may not hold `num_components`, `latent_dim` or `seed`, which
            come from `n_clusters`, `latent_dim` and `random_state`.
        image_shape: Optional `(height, width, channels)`: 2-D `X` holds
            images of that shape, one per row, which the model then sees as
            images (its consistency term applies to them).

    Attributes:
        model_: The fitted `MixtureAutoencoder`.
        labels_: Cluster of each training sample, int array `(n_samples,)`.
        n_features_in_: Number of features of a sample: `n_features` for 2-D
            `X`, `height * width * channels` for images (so `predict`
            accepts images as 4-D arrays or flat rows alike).
        feature_names_in_: Column names of `X`, when `fit` got a DataFrame
            with string column names.
        image_shape_: `(height, width, channels)` of the training images, or
            None for vectors.
        batch_size_: The batch size `fit` used (`batch_size` resolved).
        n_iter_: Number of epochs `fit` trained.
        history_: The training history: a dict from each logged value
            (`loss`, `reconstruction`, ...) to its value after every epoch
            (Keras's `History.history`).

    Examples:

    ```python
    from sklearn.datasets import make_blobs
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from keras_mae.metrics import clustering_accuracy
    from keras_mae.wrappers import MixtureClustering

    x, y = make_blobs(n_samples=256, n_features=5, centers=3, random_state=0)
    clustering = MixtureClustering(
        n_clusters=3,
        latent_dim=2,
        epochs=1,
        batch_size=64,
        random_state=0,
        model_kwargs={"hidden_units": (16,)},
    )
    pipeline = make_pipeline(StandardScaler(), clustering)
    labels = pipeline.fit_predict(x)  # (256,) ints in [0, 3)
    accuracy = clustering_accuracy(y, labels)  # in [0, 1]
    codes = pipeline.transform(x)  # (256, 2): each sample's code
    probabilities = pipeline.predict_proba(x)  # (256, 3), rows sum to 1
    ```

    One epoch of small networks keeps the example quick; the defaults
    (`epochs="auto"`, `batch_size="auto"`, `hidden_units="auto"`) train
    these 256 samples 250 epochs of 8 batches (scikit-learn's wine data, 178
    samples: 223 epochs of 9).
    """

    def __init__(
        self,
        n_clusters=8,
        latent_dim=10,
        epochs="auto",
        batch_size="auto",
        random_state=None,
        verbose=0,
        model_kwargs=None,
        image_shape=None,
    ):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.model_kwargs = model_kwargs
        self.image_shape = image_shape

    # ------------------------------------------------------------------
    # Checks.
    def _checked_params(self) -> dict:
        """The parameters, checked; raises a ValueError naming a bad one."""
        model_kwargs = self.model_kwargs
        if model_kwargs is None:
            model_kwargs = {}
        elif not isinstance(model_kwargs, Mapping):
            raise ValueError(
                f"{_NAME} expects `model_kwargs` to be None or a dict of "
                "MixtureAutoencoder arguments; received "
                f"{type(model_kwargs).__name__}."
            )
        clashes = [key for key in _OWN_MODEL_ARGUMENTS if key in model_kwargs]
        if clashes:
            instead = ", ".join(
                f"`{key}` (set `{_OWN_MODEL_ARGUMENTS[key]}` instead)"
                for key in clashes
            )
            raise ValueError(
                f"{_NAME} sets some MixtureAutoencoder arguments from its own; "
                f"`model_kwargs` may not hold {instead}."
            )
        return {
            "n_clusters": check_int(_NAME, "n_clusters", self.n_clusters, 2),
            "latent_dim": check_int(_NAME, "latent_dim", self.latent_dim),
            "epochs": _auto_or_int("epochs", self.epochs),
            "batch_size": _auto_or_int("batch_size", self.batch_size),
            "verbose": check_int(_NAME, "verbose", self.verbose, 0, 3),
            "model_kwargs": dict(model_kwargs),
            "image_shape": self._checked_image_shape(),
        }

    def _checked_image_shape(self) -> tuple[int, int, int] | None:
        shape = self.image_shape
        if shape is None:
            return None
        if not isinstance(shape, (tuple, list)) or len(shape) != 3:
            raise ValueError(
                f"{_NAME} expects `image_shape` to be None or (height, width, "
                f"channels); received {shape!r}."
            )
        return tuple(check_int(_NAME, "image_shape", d) for d in shape)

    def _model_input(self, X, reset: bool, image_shape=None) -> np.ndarray:
        """`X` validated, as a float32 array in the model's shape.

        2-D `X` goes through scikit-learn's `validate_data` (feature names,
        `n_features_in_` and their checks); images, which it does not accept
        in 4-D, through `check_array(allow_nd=True)` and the same checks here.
        """
        shape = getattr(X, "shape", None)
        if shape is None:
            try:
                shape = np.asarray(X).shape
            except (TypeError, ValueError):  # e.g. a ragged list: validate_data
                shape = ()  # says what is wrong with it
        if len(shape) not in (0, 1, 2, 4):
            raise ValueError(
                f"{_NAME} expects X of shape (n_samples, n_features) or images "
                "of shape (n_samples, height, width, channels); received an "
                f"array of shape {tuple(shape)}."
            )
        if len(shape) == 4:
            X = check_array(
                X, allow_nd=True, dtype=np.float32, estimator=self, input_name="X"
            )
            shape = tuple(X.shape[1:])
            if reset:
                if image_shape is not None and shape != image_shape:
                    raise ValueError(
                        f"{_NAME} got images of shape {shape} but "
                        f"image_shape={image_shape}; pass image_shape=None for "
                        "4-D X, or X of that shape."
                    )
                self.n_features_in_ = math.prod(shape)
                self.image_shape_ = shape
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
                return X
            if shape != self.image_shape_:
                if self.image_shape_ is None:
                    expected = f"2-D X with {self.n_features_in_} features"
                else:
                    expected = f"images of shape {self.image_shape_}"
                raise ValueError(
                    f"X holds images of shape {shape}, but {_NAME} is expecting "
                    f"{expected} as input."
                )
            return X
        try:
            X = validate_data(self, X, reset=reset, dtype=np.float32)
        except ValueError as error:
            if "could not convert string to float" not in str(error):
                raise
            raise ValueError(
                f"{_NAME} expects numeric X (floats or integers); it holds "
                f"text ({error}). Encode text columns as numbers first, e.g. "
                "with sklearn.preprocessing.OneHotEncoder in a pipeline."
            ) from error
        if reset:
            self.image_shape_ = image_shape
            if image_shape is not None and X.shape[1] != math.prod(image_shape):
                raise ValueError(
                    f"{_NAME} expects X with image_shape={image_shape} to have "
                    f"{math.prod(image_shape)} features (height * width * "
                    f"channels), one image a row; received {X.shape[1]}."
                )
        if self.image_shape_ is not None:
            X = X.reshape(len(X), *self.image_shape_)
        return X

    # ------------------------------------------------------------------
    # Fitting.
    def fit(self, X, y=None, callbacks=None):
        """Trains a new `MixtureAutoencoder` on `X`.

        Args:
            X: Array-like `(n_samples, n_features)`, or images
                `(n_samples, height, width, channels)` in [0, 1].
            y: Ignored; present for scikit-learn's API.
            callbacks: Optional list of `keras.callbacks.Callback`s for the
                model's `fit` (e.g. `keras.callbacks.BackupAndRestore`, or
                `keras_mae.training.AssignmentWarmStart` to start from
                other clusters). They are used, not kept.

        Returns:
            self, fitted.
        """
        params = self._checked_params()
        X = self._model_input(X, reset=True, image_shape=params["image_shape"])
        n_samples, n_clusters = len(X), params["n_clusters"]
        seed = None
        if self.random_state is not None:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        batch_size = params["batch_size"]
        if batch_size == "auto":
            batch_size = auto_batch_size(n_samples)
        epochs = params["epochs"]
        if epochs == "auto":
            epochs = auto_epochs(n_samples, batch_size)
        with _python_random_seeded(seed):
            model = MixtureAutoencoder(
                num_components=n_clusters,
                latent_dim=params["latent_dim"],
                seed=seed,
                **params["model_kwargs"],
            )
            model.compile()
            # The nearest-neighbour term needs more samples than neighbours.
            kind = data_kind(X.shape[1:])
            neighbors = 0
            if model.resolved("neighbor_weight", kind):
                neighbors = model.neighbor_count(n_samples, kind)
            minimum = max(n_clusters, neighbors + 1)
            if n_samples < minimum:
                raise ValueError(
                    f"{_NAME} with n_clusters={n_clusters} needs at least "
                    f"{minimum} samples (n_clusters, and one more than the "
                    f"model's {neighbors} nearest neighbours); received "
                    f"n_samples={n_samples}."
                )
            history = model.fit(
                X,
                epochs=epochs,
                batch_size=batch_size,
                verbose=params["verbose"],
                callbacks=list(callbacks or []),
            )
        self.model_ = model
        self.batch_size_ = batch_size
        self.history_ = dict(history.history)
        self.n_iter_ = len(history.epoch)
        self.labels_ = np.argmax(model.predict_proba(X), axis=1)
        self._n_features_out = params["latent_dim"]  # get_feature_names_out
        return self

    # ------------------------------------------------------------------
    # Inference.
    def predict_proba(self, X) -> np.ndarray:
        """p(k | x): float32 array `(n_samples, n_clusters)`, rows summing to 1."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._model_input(X, reset=False))

    def predict(self, X) -> np.ndarray:
        """The most likely cluster of each sample: int array `(n_samples,)`."""
        return np.argmax(self.predict_proba(X), axis=1)

    def transform(self, X) -> np.ndarray:
        """Each sample's code under its assigned component.

        Returns:
            A float32 array `(n_samples, latent_dim)`: row `i` is the code of
            sample `i` from the autoencoder of its cluster `predict(X)[i]`.
        """
        check_is_fitted(self)
        codes, probabilities = self.model_.encode(self._model_input(X, reset=False))
        return codes[np.arange(len(codes)), np.argmax(probabilities, axis=1)]

    # ------------------------------------------------------------------
    # scikit-learn protocol.
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # `transform` returns float32 codes, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __getstate__(self):
        # A Keras model is pickled as its `.keras` file, saved and loaded
        # with Keras's public API on every backend.
        state = dict(super().__getstate__())  # a copy: self keeps its model
        if isinstance(state.get("model_"), keras.Model):
            state["model_"] = _model_to_bytes(state["model_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            state = {**state, "model_": _model_from_bytes(state["model_"])}
        super().__setstate__(state)
