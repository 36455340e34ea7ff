"""Self-labelling: a mixture model's final clusters from its most confident samples.

At the end of training, `SelfLabeling` takes each cluster's most confident
share of the samples (its core), fits a linear discriminant to the cores
(scikit-learn's `LinearDiscriminantAnalysis` with Ledoit-Wolf shrinkage, on
the standardized features), and trains the model's assignment network to the
discriminant's clusters of all samples (`fit_assignment`). The cores say what
the clusters are; the discriminant decides the samples between them, which on
tables the nearest-neighbour term alone places worse than K-means does. It is
the self-labelling stage of SCAN, with a linear classifier of the features in
place of the network's own, and the vector default of
`keras_mae.models.MixtureAutoencoder` (`self_labeling`, measured in
docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import math
import numbers

import keras
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from keras_mae.training.warm_start import checked_samples, fit_assignment
from keras_mae.utils.argument_checks import check_int

logger = logging.getLogger(__name__)

# Above this many features the discriminant's covariance (features squared)
# is not worth its memory and time; `SelfLabeling` then keeps the clusters.
MAX_FEATURES = 4096


def check_core_fraction(owner: str, argument: str, value) -> float:
    """`value` as a float if it is a share in (0, 1], else a ValueError.

    Examples:

    >>> from keras_mae.training.self_labeling import check_core_fraction
    >>> check_core_fraction("SelfLabeling", "core_fraction", 1)
    1.0
    """
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0.0 < value <= 1.0
    ):
        raise ValueError(
            f"{owner} expects `{argument}` in (0, 1] (the share of each "
            "cluster's samples that trains the discriminant); received "
            f"{value!r}."
        )
    return float(value)


def core_mask(probabilities, core_fraction: float) -> np.ndarray:
    """Which samples form the cores: each cluster's most confident share.

    Cluster k's core is the `ceil(core_fraction * n_k)` of its `n_k`
    samples (those whose most likely component is k) with the highest
    p(k | x); ties go to the earlier sample.

    Args:
        probabilities: p(k | x), an array `(n, K)`.
        core_fraction: The share of each cluster in its core, in (0, 1].

    Returns:
        A boolean array `(n,)`.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.training.self_labeling import core_mask
    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]])
    >>> core_mask(p, 0.5).tolist()
    [True, False, True, False]
    """
    fraction = check_core_fraction("core_mask", "core_fraction", core_fraction)
    probabilities = np.asarray(probabilities)
    labels = np.argmax(probabilities, axis=1)
    confidence = probabilities[np.arange(len(labels)), labels]
    core = np.zeros(len(labels), bool)
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        order = members[np.argsort(-confidence[members], kind="stable")]
        core[order[: math.ceil(fraction * len(members))]] = True
    return core


def self_labels(x, probabilities, core_fraction: float = 0.8) -> np.ndarray:
    """The clusters a linear discriminant of the cores gives every sample.

    Args:
        x: Samples `(n, ...)`, flattened to features and standardized.
        probabilities: The model's p(k | x), an array `(n, K)`.
        core_fraction: The share of each cluster that trains the
            discriminant (`core_mask`).

    Returns:
        Integer labels `(n,)` in [0, K). They are the most likely components
        unchanged where the cores hold fewer than two clusters, or a cluster
        of one sample, or the samples have more than `MAX_FEATURES`
        features.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.training.self_labeling import self_labels
    >>> x = np.array([[0.0], [1.0], [2.0], [8.0], [9.0], [10.0]])
    >>> p = np.array([[0.9, 0.1]] * 2 + [[0.4, 0.6]] + [[0.1, 0.9]] * 3)
    >>> self_labels(x, p, core_fraction=0.75).tolist()  # sample 2 joins cluster 0
    [0, 0, 0, 1, 1, 1]
    """
    probabilities = np.asarray(probabilities)
    flat = np.asarray(x, "float64").reshape(len(x), -1)
    if probabilities.shape[0] != len(flat) or probabilities.ndim != 2:
        raise ValueError(
            f"self_labels expects `probabilities` of shape ({len(flat)}, K), one "
            f"row per sample of `x`; received {probabilities.shape}."
        )
    labels = np.argmax(probabilities, axis=1)
    core = core_mask(probabilities, core_fraction)
    _, counts = np.unique(labels[core], return_counts=True)
    if len(counts) < 2 or counts.min() < 2 or flat.shape[1] > MAX_FEATURES:
        return labels.astype("int64")
    flat = StandardScaler().fit_transform(flat)
    discriminant = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    discriminant.fit(flat[core], labels[core])
    return discriminant.predict(flat).astype("int64")


class SelfLabeling(keras.callbacks.Callback):
    """Ends training with self-labelling: cores, a discriminant, the assignment.

    When `fit` ends, the model's clusters of `x` (`predict_proba`) give
    each cluster's core (`core_fraction` of its most confident samples); a
    linear discriminant of the cores labels every sample (`self_labels`),
    and the model's assignment network is trained to those labels
    (`fit_assignment`; the autoencoders stay as they are). Afterwards it
    holds `changed` (the share of `x` whose cluster the discriminant
    changed) and `agreement` (the share the assignment then puts in its
    new cluster).

    `keras_mae.models.MixtureAutoencoder.fit` adds it on arrays of vectors
    (the model's `self_labeling`); add it yourself for other data or
    another `core_fraction`.

    Args:
        x: The training samples, an array `(n, *input_shape)`.
        core_fraction: The share of each cluster, in (0, 1], that trains
            the discriminant.
        steps: Steps of assignment training (`fit_assignment`).
        batch_size: Its batch size, and that of `predict_proba`.
        seed: Seed of the assignment training's batch order.

    Examples:

    >>> import keras, numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.training import SelfLabeling
    >>> keras.utils.set_random_seed(0)  # repeatable initial weights
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (128, 4)), rng.normal(6, 1, (128, 4))])
    >>> x = x.astype("float32")
    >>> mae = MixtureAutoencoder(2, 2, hidden_units=(16,), self_labeling=None, seed=0)
    >>> mae.compile()
    >>> labeling = SelfLabeling(x, core_fraction=0.8, steps=100, seed=0)
    >>> history = mae.fit(x, batch_size=64, epochs=3, callbacks=[labeling], verbose=0)
    >>> 0.0 <= labeling.changed <= 1.0, labeling.agreement > 0.9
    (True, True)
    """

    def __init__(
        self,
        x,
        core_fraction: float = 0.8,
        steps: int = 200,
        batch_size: int = 256,
        seed: int | None = None,
    ):
        super().__init__()
        owner = "SelfLabeling"
        self.x = checked_samples(owner, x)
        self.core_fraction = check_core_fraction(owner, "core_fraction", core_fraction)
        self.steps = check_int(owner, "steps", steps)
        self.batch_size = check_int(owner, "batch_size", batch_size)
        self.seed = seed
        self.changed: float | None = None
        self.agreement: float | None = None

    def on_train_end(self, logs=None):
        """Relabels `x` by the discriminant and trains the assignment to it."""
        probabilities = self.model.predict_proba(self.x, self.batch_size)
        labels = self_labels(self.x, probabilities, self.core_fraction)
        self.changed = float(np.mean(labels != np.argmax(probabilities, axis=1)))
        self.agreement = fit_assignment(
            self.model, self.x, labels, self.steps, self.batch_size, self.seed
        )
        logger.info(
            "Self-labelling changed the cluster of %.4f of the samples; the "
            "assignment puts %.4f in their new cluster.",
            self.changed,
            self.agreement,
        )
