import tracemalloc

import keras
import numpy as np
import pytest
from scipy.spatial.distance import cdist

import keras_mae.presets
from keras_mae.metrics import ImprovedPrecisionRecall, improved_precision_recall
from keras_mae.metrics.features import DEFAULT_EXTRACTOR_PRESET
from keras_mae.presets import registry


def _reference(real, generated, k):
    """The same metric from full distance matrices (small sets only)."""

    def radii(features):
        return np.sort(cdist(features, features), axis=1)[:, k]  # column 0: self

    def share_inside(queries, support):
        return np.mean(np.any(cdist(queries, support) <= radii(support), axis=1))

    return share_inside(generated, real), share_inside(real, generated)


def test_identical_sets_give_one_and_disjoint_sets_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 5))
    assert improved_precision_recall(real, real) == (1.0, 1.0)
    assert improved_precision_recall(real, 0.1 * real + 50.0) == (0.0, 0.0)
    # Each point repeated k + 1 times: every radius is 0, and the closed
    # balls still hold their own centres.
    repeated = np.repeat(real[:50], 4, axis=0)
    assert improved_precision_recall(repeated, repeated, k=3) == (1.0, 1.0)


def test_one_dimensional_case_worked_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    generated = np.array([[2.5], [3.0], [3.5], [6.0]])
    # k = 1. Real radii 1, 1, 1, 1, 1: the real manifold is [-1, 3] U [9, 12].
    # Generated radii 0.5, 0.5, 0.5, 2.5: the generated manifold is [2, 8.5].
    # Inside the real manifold: 2.5 and 3 (on the boundary): precision 2/4.
    # Inside the generated manifold: 2 only (on the boundary): recall 1/5.
    assert improved_precision_recall(real, generated, k=1) == (0.5, 0.2)
    # k = 2. Real radii 2, 1, 2, 8, 9 cover [-2, 20]: every generated point.
    # Generated radii 1, 0.5, 1, 3: [1.5, 3.5] U ... U [3, 9] = [1.5, 9] holds 2.
    assert improved_precision_recall(real, generated, k=2) == (1.0, 0.2)


def test_two_dimensional_case_worked_by_hand():
    # k = 2 on the unit square: each corner has two neighbours at 1, so the
    # real manifold is the four unit discs around the corners.
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # (0.5, 0.5) is inside, (2, 0) on the disc around (1, 0); (2, 2) is
    # sqrt(2) from (1, 1) and (5, 5) far away: precision 2/4. Generated radii
    # sqrt(4.5), 2, sqrt(4.5), sqrt(34); all corners are within sqrt(0.5) of
    # (0.5, 0.5): recall 1.
    generated = np.array([[0.5, 0.5], [2.0, 0.0], [2.0, 2.0], [5.0, 5.0]])
    assert improved_precision_recall(real, generated, k=2) == (0.5, 1.0)


def test_matches_full_distance_matrices():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 6))
    generated = 1.3 * rng.normal(size=(250, 6)) + 0.4
    for k in (1, 3, 10):
        expected = _reference(real, generated, k)
        assert improved_precision_recall(real, generated, k=k) == pytest.approx(
            expected, abs=1e-12
        )
        assert min(expected) > 0.0 and max(expected) < 1.0  # not saturated


def test_blocks_bound_memory_and_give_the_same_result():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(2000, 8))
    generated = rng.normal(size=(1500, 8)) + 0.3
    whole = improved_precision_recall(real, generated, max_block_bytes=2**30)
    budget = 2**20
    tracemalloc.start()
    try:
        blocked = improved_precision_recall(real, generated, max_block_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert blocked == whole
    # One (2000, 1500) float64 distance matrix would be 23 MiB; the blocks
    # share one buffer of the budget, plus the radii, norms and the
    # neighbour search (measured: 0.2 MiB).
    assert peak < budget + 2**19, peak / 2**20
    # A budget below one row still computes one row at a time.
    assert improved_precision_recall(
        real[:200], generated[:100], max_block_bytes=1
    ) == improved_precision_recall(real[:200], generated[:100])


def test_precision_and_recall_fall_as_a_gaussian_shifts_away():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(1000, 3))
    noise = rng.normal(size=(1000, 3))
    scores = [
        improved_precision_recall(real, noise + [shift, 0.0, 0.0])
        for shift in (0.0, 1.0, 2.0, 4.0, 8.0)
    ]
    precision, recall = np.array(scores).T
    assert np.all(np.diff(precision) < 0) and np.all(np.diff(recall) < 0)
    # The same distribution: most samples of each lie in the other's manifold.
    assert precision[0] > 0.9 and recall[0] > 0.9
    # Eight standard deviations apart: none.
    assert precision[-1] == 0.0 and recall[-1] == 0.0


def test_a_collapsed_generator_has_precision_but_no_recall():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(500, 2))
    # Samples of one mode only: all realistic, covering little of the data.
    collapsed = 0.05 * rng.normal(size=(500, 2)) + [1.0, 1.0]
    precision, recall = improved_precision_recall(real, collapsed)
    assert precision == 1.0
    assert recall < 0.05


def _dense_extractor():
    # A seeded initializer, not `keras.utils.set_random_seed`, which imports
    # TensorFlow on every backend (seconds).
    initializer = keras.initializers.RandomNormal(stddev=1.0, seed=0)
    dense = keras.layers.Dense(5, kernel_initializer=initializer)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), dense])


def test_image_sets_use_extractor_features():
    rng = np.random.default_rng(5)
    real = rng.uniform(size=(32, 4, 4, 1)).astype("float32")
    generated = (1.5 * rng.uniform(size=(24, 4, 4, 1))).astype("float32")
    extractor = _dense_extractor()
    # Whole batches only: each new batch shape costs a compilation.
    pr = ImprovedPrecisionRecall(extractor, batch_size=8, k=2)
    real_features = pr.features(real)
    assert real_features.shape == (32, 5)
    np.testing.assert_allclose(
        real_features, keras.ops.convert_to_numpy(extractor(real)), rtol=1e-5
    )
    expected = improved_precision_recall(
        real_features, keras.ops.convert_to_numpy(extractor(generated)), k=2
    )
    assert pr(real, generated) == pytest.approx(expected)
    assert 0.0 < expected[0] < 1.0
    assert pr(real, real) == (1.0, 1.0)
    assert pr(real, real + 20.0) == (0.0, 0.0)


def test_plain_callable_classifier_and_preset_extractors(monkeypatch):
    calls = []

    def extractor(batch):
        calls.append(len(batch))
        return keras.ops.reshape(keras.ops.convert_to_tensor(batch), (len(batch), -1))

    images = np.random.default_rng(6).uniform(size=(10, 2, 2)).astype("float32")
    pr = ImprovedPrecisionRecall(extractor, batch_size=4)
    np.testing.assert_allclose(pr.features(images), images.reshape(10, -1))
    assert calls == [4, 4, 2]

    class Classifier:
        def feature_extractor(self):
            return extractor

    assert ImprovedPrecisionRecall(Classifier()).feature_extractor is extractor
    loaded = []

    def fake_from_preset(preset):
        loaded.append(preset)
        return Classifier()

    monkeypatch.setattr(keras_mae.presets, "from_preset", fake_from_preset)
    assert ImprovedPrecisionRecall("a/folder").feature_extractor is extractor
    assert ImprovedPrecisionRecall().feature_extractor is extractor
    assert loaded == ["a/folder", DEFAULT_EXTRACTOR_PRESET]


def test_missing_default_names_the_class(monkeypatch):
    # Only possible if the built-in default preset is removed from the registry.
    monkeypatch.delitem(registry.BUILTIN_PRESETS, DEFAULT_EXTRACTOR_PRESET)
    with pytest.raises(ValueError, match="ImprovedPrecisionRecall needs a") as error:
        ImprovedPrecisionRecall()
    assert "ImprovedPrecisionRecall('weights_cards/mnist-classifier')" in str(
        error.value
    )


@pytest.mark.parametrize(
    "real, generated, kwargs, message",
    [
        (np.zeros(5), np.zeros((5, 2)), {}, r"`real_features` to be a 2-D .* \(5,\)"),
        (np.zeros((5, 2)), np.zeros((5, 1, 2)), {}, "`generated_features` to be a 2-D"),
        (
            np.zeros((5, 2)),
            np.zeros((5, 3)),
            {},
            r"same feature dimension; received `real_features` of shape \(5, 2\) "
            r"and `generated_features` of shape \(5, 3\)",
        ),
        (
            np.zeros((3, 2)),
            np.zeros((5, 2)),
            {},
            r"`real_features` to hold at least 4 samples \(k=3 neighbours besides "
            r"each sample itself\); received 3",
        ),
        (np.zeros((5, 2)), np.zeros((2, 2)), {"k": 2}, "at least 3 samples"),
        (
            np.zeros((5, 2)),
            np.full((5, 2), np.nan),
            {},
            "`generated_features` to be finite; received 10 NaN",
        ),
        (
            np.zeros((5, 2)),
            np.zeros((5, 2)),
            {"k": 0},
            "improved_precision_recall expects `k` to be an integer >= 1; received 0",
        ),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"k": 2.0}, "`k`"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"k": True}, "`k`"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"max_block_bytes": 0}, "`max_block"),
    ],
)
def test_bad_feature_arguments(real, generated, kwargs, message):
    with pytest.raises(ValueError, match=message):
        improved_precision_recall(real, generated, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feature_extractor": 3}, "must be a Keras model, a callable"),
        ({"feature_extractor": "inception"}, "Unknown preset name 'inception'"),
        (
            {"feature_extractor": lambda x: x, "batch_size": 0},
            "ImprovedPrecisionRecall expects `batch_size`",
        ),
        (
            {"feature_extractor": lambda x: x, "k": 0},
            "ImprovedPrecisionRecall expects `k` to be an integer >= 1",
        ),
        ({"feature_extractor": lambda x: x, "max_block_bytes": -1}, "`max_block"),
    ],
)
def test_bad_class_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImprovedPrecisionRecall(**kwargs)


def test_bad_image_sets(monkeypatch):
    pr = ImprovedPrecisionRecall(_dense_extractor())
    with pytest.raises(ValueError, match="same image shape"):
        pr(np.zeros((5, 4, 4, 1)), np.zeros((5, 4, 4, 2)))
    with pytest.raises(ValueError, match="at least 4 samples"):
        pr(np.zeros((3, 4, 4, 1)), np.zeros((5, 4, 4, 1)))
    identity = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Identity()])
    with pytest.raises(ValueError, match=r"returned shape \(3, 4, 4, 1\)"):
        ImprovedPrecisionRecall(identity).features(np.zeros((3, 4, 4, 1)))

    class Autoencoder:
        pass

    monkeypatch.setattr(keras_mae.presets, "from_preset", lambda preset: Autoencoder())
    with pytest.raises(ValueError, match="ImprovedPrecisionRecall expects the preset"):
        ImprovedPrecisionRecall("p")
