"""Starting a mixture model's assignment from given clusters (K-means, a GMM, yours).

`fit_assignment` trains the assignment network of a mixture model to give
each sample a given component; `AssignmentWarmStart` is the callback that
does so once, when training begins, from labels you pass or from K-means or
a Gaussian mixture on the standardized data (the warm start of DEC and
IDEC). Re-seeding (`reseeding.py`) uses `fit_assignment` too.
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from keras_mae.utils.argument_checks import check_int

logger = logging.getLogger(__name__)

WARM_START_METHODS = ("kmeans", "gmm")


def _check_method(owner: str, method) -> None:
    if method not in WARM_START_METHODS:
        raise ValueError(
            f"{owner} expects `method` in {WARM_START_METHODS}; received {method!r}."
        )


def checked_samples(owner: str, x) -> np.ndarray:
    """`x` as float32 if it is an array of at least 2 samples, else a ValueError.

    Examples:
        >>> import numpy as np
        >>> from keras_mae.training.warm_start import checked_samples
        >>> checked_samples("SelfLabeling", np.zeros((3, 2))).dtype
        dtype('float32')
    """
    if not hasattr(x, "shape") or len(x.shape) < 2 or len(x) < 2:
        raise ValueError(
            f"{owner} expects `x` to be an array of at least 2 samples, shape "
            f"(n, ...); received {getattr(x, 'shape', type(x).__name__)}."
        )
    return np.asarray(x, "float32")


def _checked_labels(owner: str, labels, n_samples: int, num_components=None):
    """`labels` as an array if it is one component per sample, else a ValueError.

    Without `num_components` only the lower bound, 0, is checked.
    """
    labels = np.asarray(labels)
    high = np.inf if num_components is None else num_components
    if (
        labels.shape != (n_samples,)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels < 0).any()
        or (labels >= high).any()
    ):
        allowed = ">= 0" if num_components is None else f"in [0, {num_components})"
        raise ValueError(
            f"{owner} expects `labels` as {n_samples} integers {allowed} (one "
            f"component per sample of `x`); received {labels.dtype} of shape "
            f"{labels.shape}."
        )
    return labels


def fit_assignment(
    model,
    x,
    labels,
    steps: int = 200,
    batch_size: int = 256,
    seed: int | np.random.Generator | None = None,
) -> float:
    """Trains `model`'s assignment network to put sample `i` of `x` in `labels[i]`.

    The encoders stay as they are: the assignment network is trained on the
    codes of `x` for `steps` steps (whole epochs over `x`, at least this
    many; sparse cross-entropy, Adam 1e-3) in a batch order drawn from
    `seed`, so the same call gives the same network.

    Args:
        model: A built mixture model (anything with `num_components`,
            `encode`, `assignment` and `predict_clusters`, such as
            `keras_mae.models.MixtureAutoencoder`).
        x: Samples, an array `(n, *input_shape)`.
        labels: Integer components `(n,)` in `[0, num_components)`.
        steps: Steps of assignment training.
        batch_size: Its batch size.
        seed: Seed of the batch order, or a `np.random.Generator` to draw
            it from (which it advances).

    Returns:
        The share of `x` whose most likely component is its label afterwards.

    Raises:
        ValueError: If `labels` is not one component per sample of `x`.

    Examples:

    >>> import keras, numpy as np
    >>> from keras_mae.models import MixtureAutoencoder
    >>> from keras_mae.training import fit_assignment
    >>> keras.utils.set_random_seed(0)  # repeatable initial weights
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (128, 4)), rng.normal(4, 1, (128, 4))])
    >>> x = x.astype("float32")
    >>> labels = np.repeat([1, 0], 128)  # the second blob in component 0
    >>> mae = MixtureAutoencoder(2, 2, input_shape=(4,), hidden_units=(16,), seed=0)
    >>> fit_assignment(mae, x, labels, steps=100, batch_size=64, seed=0) > 0.9
    True
    """
    owner = "fit_assignment"
    steps = check_int(owner, "steps", steps)
    batch_size = check_int(owner, "batch_size", batch_size)
    labels = _checked_labels(owner, labels, len(x), model.num_components)
    codes, _ = model.encode(x, batch_size)
    inputs = keras.Input(codes.shape[1:])
    trainer = keras.Model(inputs, model.assignment(inputs))
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
    )
    rng = np.random.default_rng(seed)
    epochs = max(1, math.ceil(steps / math.ceil(len(codes) / batch_size)))
    # Our own order, not Keras's process-global shuffle: repeatable. One
    # `train_on_batch` a batch: the batches of `epochs` one-epoch `fit`
    # calls, without their overhead on small data.
    for _ in range(epochs):
        order = rng.permutation(len(codes))
        for start in range(0, len(codes), batch_size):
            rows = order[start : start + batch_size]
            trainer.train_on_batch(codes[rows], labels[rows])
    return float(np.mean(model.predict_clusters(x, batch_size) == labels))


def warm_start_labels(
    x, num_components: int, method: str, seed: int | None
) -> np.ndarray:
    """Clusters of `x` by `method` on its standardized, flattened features.

    Args:
        x: Samples `(n, ...)`.
        num_components: How many clusters.
        method: `"kmeans"` (`KMeans(n_init=10)`) or `"gmm"` (a
            `GaussianMixture` with full covariances).
        seed: Their `random_state`.

    Returns:
        Integer labels `(n,)`.

    Examples:
        >>> import numpy as np
        >>> from keras_mae.training.warm_start import warm_start_labels
        >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
        >>> labels = warm_start_labels(x, 2, "kmeans", seed=0)
        >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
        True
    """
    _check_method("warm_start_labels", method)
    flat = np.asarray(x, "float64").reshape(len(x), -1)
    flat = StandardScaler().fit_transform(flat)
    if method == "kmeans":
        estimator = KMeans(num_components, n_init=10, random_state=seed)
    else:
        estimator = GaussianMixture(num_components, random_state=seed)
    return estimator.fit_predict(flat).astype("int64")


class AssignmentWarmStart(keras.callbacks.Callback):
    """Starts training from given clusters: trains the assignment once, at the start.

    When `fit` begins (the first time only, for each model), the model's
    assignment network is trained (`fit_assignment`) to give every sample
    of `x` its component in `labels`, or, without labels, in the clusters
    that `method` finds on the standardized data. Training then goes on
    from there. It writes `agreement` (the share of `x` the assignment put
    in its warm-start component) and `labels` (those components).

    Put it before a `keras.callbacks.BackupAndRestore`: a resumed run warm
    starts again (seeded, so alike) and the backup then restores the
    weights of the last saved epoch over it.

    Measured on wine and breast cancer (docs/benchmarks.md): training
    leaves a K-means or GMM start and ends near where a cold start does,
    so it is not a default. It is for a user who has clusters (from
    another method or from domain knowledge) to start from.

    Args:
        x: The training samples, an array `(n, *input_shape)`.
        labels: Integer components `(n,)`, or None to find them with
            `method`.
        method: Without `labels`, `"kmeans"` or `"gmm"` on the
            standardized, flattened `x` (`warm_start_labels`).
        steps: Steps of assignment training (`fit_assignment`).
        batch_size: Its batch size.
        seed: Seed of `method` and of the batch order.

    Examples:

    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.training import AssignmentWarmStart
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (128, 4)), rng.normal(8, 1, (128, 4))])
    >>> x = x.astype("float32")
    >>> mae = MixtureAutoencoder(2, 2, hidden_units=(16,), seed=0)
    >>> mae.compile()
    >>> warm = AssignmentWarmStart(x, method="kmeans", steps=50, seed=0)
    >>> history = mae.fit(x, batch_size=64, callbacks=[warm], verbose=0)
    >>> warm.agreement > 0.9
    True
    """

    def __init__(
        self,
        x,
        labels=None,
        method: str = "kmeans",
        steps: int = 200,
        batch_size: int = 256,
        seed: int | None = None,
    ):
        super().__init__()
        owner = "AssignmentWarmStart"
        self.x = checked_samples(owner, x)
        self.labels = None
        if labels is None:
            _check_method(owner, method)
        else:
            # The number of components is checked when training begins.
            self.labels = _checked_labels(owner, labels, len(self.x))
        self.method = method
        self.steps = check_int("AssignmentWarmStart", "steps", steps)
        self.batch_size = check_int("AssignmentWarmStart", "batch_size", batch_size)
        self.seed = seed
        self.agreement: float | None = None
        self._started = None  # the model it warm-started last

    def on_train_begin(self, logs=None):
        """Trains the assignment on the warm-start clusters (once per model)."""
        if self._started is self.model:
            return
        self._started = self.model
        if self.labels is None:
            self.labels = warm_start_labels(
                self.x, self.model.num_components, self.method, self.seed
            )
        self.agreement = fit_assignment(
            self.model, self.x, self.labels, self.steps, self.batch_size, self.seed
        )
        logger.info(
            "Warm start: the assignment puts %.4f of the samples in their "
            "warm-start component.",
            self.agreement,
        )
