"""Unsupervised clustering scores: accuracy with Hungarian matching, NMI and ARI."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as sk_metrics


def _check_labels(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Returns both label arrays as 1-D int64 arrays, or raises a ValueError."""
    checked = []
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        array = np.asarray(labels)
        if array.ndim != 1:
            raise ValueError(
                f"`{name}` must be a 1-D array of integer labels; received an "
                f"array of shape {array.shape}. Pass cluster indices (e.g. the "
                "argmax of probabilities), flattened with `.ravel()` if needed."
            )
        if array.size == 0:
            raise ValueError(f"`{name}` must hold at least one label; received none.")
        if array.dtype.kind in "iub":
            array = array.astype(np.int64)
        elif array.dtype.kind == "f" and np.all(np.isfinite(array)):
            # Labels often arrive as floats (e.g. from a float tensor); accept
            # them when every value is a whole number.
            if not np.all(array == np.round(array)):
                bad = array[array != np.round(array)][:3]
                raise ValueError(
                    f"`{name}` must hold integer labels; received non-integer "
                    f"values such as {bad.tolist()}."
                )
            array = array.astype(np.int64)
        else:
            raise ValueError(
                f"`{name}` must hold integer labels; received dtype {array.dtype}"
                + (" with NaN or infinite values." if array.dtype.kind == "f" else ".")
            )
        checked.append(array)
    y_true, y_pred = checked
    if len(y_true) != len(y_pred):
        raise ValueError(
            "`y_true` and `y_pred` must have the same length; received "
            f"{len(y_true)} and {len(y_pred)} labels."
        )
    return y_true, y_pred


def clustering_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unsupervised clustering accuracy: accuracy under the best one-to-one label map.

    Clusters are matched to classes by the Hungarian algorithm
    (`scipy.optimize.linear_sum_assignment`) so that the number of correctly
    labelled samples is largest. The numbers of clusters and classes may
    differ: with more clusters than classes, the samples of unmatched clusters
    count as errors; with fewer, the unmatched classes are never predicted.
    Label values need not be contiguous.

    Args:
        y_true: true class labels, shape `(n,)`.
        y_pred: predicted cluster indices, shape `(n,)`.

    Returns:
        The accuracy, in [0, 1].

    Examples:
    >>> from keras_mae.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1])
    1.0
    >>> clustering_accuracy([0, 0, 0, 1], [5, 5, 7, 7])
    0.75
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    classes, true_index = np.unique(y_true, return_inverse=True)
    clusters, pred_index = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (pred_index, true_index), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y_true))


def normalized_mutual_info(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized mutual information between classes and clusters (scikit-learn).

    Uses `sklearn.metrics.normalized_mutual_info_score` with its default
    arithmetic-mean normalization, the convention of the clustering papers
    this package compares with.

    Args:
        y_true: true class labels, shape `(n,)`.
        y_pred: predicted cluster indices, shape `(n,)`.

    Returns:
        NMI in [0, 1]; 1 for a perfect clustering up to relabelling.

    Examples:
    >>> from keras_mae.metrics import normalized_mutual_info
    >>> normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(sk_metrics.normalized_mutual_info_score(y_true, y_pred))


def adjusted_rand_index(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index between classes and clusters (scikit-learn).

    Args:
        y_true: true class labels, shape `(n,)`.
        y_pred: predicted cluster indices, shape `(n,)`.

    Returns:
        ARI: 1 for a perfect clustering up to relabelling, about 0 for a
        random one (it can be negative).

    Examples:
    >>> from keras_mae.metrics import adjusted_rand_index
    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(sk_metrics.adjusted_rand_score(y_true, y_pred))


def clustering_scores(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """All three clustering scores at once.

    Args:
        y_true: true class labels, shape `(n,)`.
        y_pred: predicted cluster indices, shape `(n,)`.

    Returns:
        `{"acc": ..., "nmi": ..., "ari": ...}` as plain floats.

    Examples:
    >>> from keras_mae.metrics import clustering_scores
    >>> clustering_scores([0, 0, 1, 1], [1, 1, 0, 0])
    {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0}
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return {
        "acc": clustering_accuracy(y_true, y_pred),
        "nmi": normalized_mutual_info(y_true, y_pred),
        "ari": adjusted_rand_index(y_true, y_pred),
    }
