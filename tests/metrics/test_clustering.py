import numpy as np
import pytest

from keras_mae.metrics import (
    adjusted_rand_index,
    clustering_accuracy,
    clustering_scores,
    normalized_mutual_info,
)

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 10, size=500)


def test_permuted_labels_score_one():
    permutation = RNG.permutation(10)
    scores = clustering_scores(LABELS, permutation[LABELS])
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})


def test_accuracy_counts_the_best_matching():
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    # Best map 3->0, 7->1, 9->2 labels 2 + 3 + 3 samples correctly.
    y_pred = np.array([3, 3, 7, 7, 7, 7, 9, 9, 9, 3])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(8 / 10)


def test_accuracy_with_more_clusters_than_classes():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # Class 0 split in two clusters: only the larger half can be matched.
    y_pred = np.array([0, 0, 0, 2, 1, 1, 1, 1])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(7 / 8)


def test_accuracy_with_fewer_clusters_than_classes():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([5, 5, 5, 5, 6, 6])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_accuracy_matches_brute_force_on_random_labels():
    from itertools import permutations

    y_true = RNG.integers(0, 4, size=60)
    y_pred = RNG.integers(0, 4, size=60)
    best = max(
        np.mean(np.array(mapping)[y_pred] == y_true)
        for mapping in permutations(range(4))
    )
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(best)


def test_random_clustering_scores_near_zero():
    y_pred = np.random.default_rng(1).integers(0, 10, size=len(LABELS))
    scores = clustering_scores(LABELS, y_pred)
    assert scores["acc"] < 0.2
    assert scores["nmi"] < 0.05
    assert abs(scores["ari"]) < 0.02


def test_known_nmi_and_ari_values():
    y_true = [0, 0, 1, 1]
    y_pred = [0, 0, 0, 1]
    # Hand-computed: I = 1.5*log2 - (3/4)log3 nats; H_true = log2,
    # H_pred = log4 - (3/4)log3; NMI = I / mean(H_true, H_pred).
    mutual_info = 1.5 * np.log(2) - 0.75 * np.log(3)
    entropies = (np.log(2) + np.log(4) - 0.75 * np.log(3)) / 2
    assert normalized_mutual_info(y_true, y_pred) == pytest.approx(
        mutual_info / entropies
    )


def test_known_ari_value():
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 1, 2, 2]
    # Pair counts over 15 pairs: index 2, class pairs 6, cluster pairs 3,
    # expected index 6 * 3 / 15, maximum (6 + 3) / 2.
    expected_index = 6 * 3 / 15
    assert adjusted_rand_index(y_true, y_pred) == pytest.approx(
        (2 - expected_index) / (4.5 - expected_index)
    )


def test_scores_are_python_floats():
    scores = clustering_scores([0, 1, 1], [1, 0, 0])
    assert all(type(value) is float for value in scores.values())


def test_integral_float_labels_are_accepted():
    assert clustering_accuracy(np.array([0.0, 1.0, 1.0]), [1, 0, 0]) == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1, 2], [0, 1], "same length; received 3 and 2 labels"),
        ([0, 1], [0.5, 1.0], r"non-integer values such as \[0.5\]"),
        ([0, 1], [0, np.nan], "with NaN or infinite values"),
        ([[0], [1]], [0, 1], r"`y_true` must be a 1-D array .* shape \(2, 1\)"),
        ([], [], "at least one label"),
        (["a", "b"], [0, 1], "integer labels; received dtype <U1"),
    ],
)
def test_bad_labels(y_true, y_pred, message):
    for score in (clustering_accuracy, normalized_mutual_info, adjusted_rand_index):
        with pytest.raises(ValueError, match=message):
            score(y_true, y_pred)
