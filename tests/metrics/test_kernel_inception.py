import itertools

import keras
import numpy as np
import pytest

import keras_mae.presets
from keras_mae.metrics import (
    KernelInceptionDistance,
    frechet_distance,
    kernel_inception_distance,
)
from keras_mae.metrics.features import DEFAULT_EXTRACTOR_PRESET
from keras_mae.presets import registry


def _kernel(a, b):
    return (sum(p * q for p, q in zip(a, b, strict=True)) / len(a) + 1.0) ** 3


def _mmd2_by_loops(x, y):
    """The unbiased MMD^2 estimate, one pair at a time."""
    n, m = len(x), len(y)
    within_x = sum(_kernel(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    within_y = sum(_kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    between = sum(_kernel(x[i], y[j]) for i in range(n) for j in range(m))
    return within_x / (n * (n - 1)) + within_y / (m * (m - 1)) - 2 * between / (n * m)


def _shifted_gaussian_kid(shift_squared, d):
    """Exact MMD^2 of N(0, I) and N(mu, I) under (x.y/d + 1)^3, |mu|^2 = m.

    With s = x.y/d the kernel is 1 + 3s + 3s^2 + s^3, and for independent
    x ~ N(a, I), y ~ N(b, I): E[x.y] = a.b, E[(x.y)^2] = d + |a|^2 + |b|^2 +
    (a.b)^2, E[(x.y)^3] = (a.b)^3 + 3 (a.b)(|a|^2 + |b|^2) + (3d + 6) a.b.
    """
    m = shift_squared
    return (
        3 * m / d
        + 3 * m / d**2
        + 6 * m / d**3
        + 3 * m**2 / d**2
        + 6 * m**2 / d**3
        + m**3 / d**3
    )


def test_tiny_case_matches_explicit_pair_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)) + 0.7
    expected = _mmd2_by_loops(x.tolist(), y.tolist())
    # Both sets are smaller than the subsets: each is used whole.
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=10)
    assert mean == pytest.approx(expected, abs=1e-10)
    assert std == 0.0
    # Symmetric in the two sets.
    assert kernel_inception_distance(y, x, subset_size=10)[0] == pytest.approx(
        expected, abs=1e-10
    )


def test_subset_estimates_average_to_the_whole_set_estimate():
    """Each subset's estimate is unbiased for the whole-set estimate."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(7, 2)) + 0.5
    whole = _mmd2_by_loops(x.tolist(), y.tolist())
    # Subsets of 3 of 6 and of 7: checked against all C(6,3) x C(7,3) pairs.
    exhaustive = np.mean(
        [
            _mmd2_by_loops(x[list(i)].tolist(), y[list(j)].tolist())
            for i in itertools.combinations(range(6), 3)
            for j in itertools.combinations(range(7), 3)
        ]
    )
    assert exhaustive == pytest.approx(whole, abs=1e-10)
    num_subsets = 2000
    mean, std = kernel_inception_distance(
        x, y, num_subsets=num_subsets, subset_size=3, seed=5
    )
    assert std > 0
    # The mean of 2000 independent draws is within 5 standard errors.
    assert abs(mean - whole) < 5 * std / np.sqrt(num_subsets)


def test_identical_sets_give_near_zero_and_disjoint_sets_a_large_value():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4))
    same, std = kernel_inception_distance(x, x, subset_size=200)
    # Whole sets: the cross term includes the n pairs (x_i, x_i), so the
    # estimate is exactly -2 (mean k(x_i, x_i) - mean_{i != j} k(x_i, x_j)) / n.
    kxx = np.array([[_kernel(a, b) for b in x] for a in x])
    off_diagonal = (kxx.sum() - np.trace(kxx)) / (200 * 199)
    assert same == pytest.approx(
        -2 * (np.trace(kxx) / 200 - off_diagonal) / 200, rel=1e-9
    )
    assert same < 0 and std == 0.0
    far = 0.1 * rng.normal(size=(200, 4)) + 10.0
    disjoint, _ = kernel_inception_distance(x, far, subset_size=200)
    assert disjoint > 1000.0
    assert abs(same) < 1e-4 * disjoint
    # Independent subsets of one large set: unbiased, so near 0 either sign.
    large = rng.normal(size=(2000, 4))
    subsets, _ = kernel_inception_distance(
        large, large, num_subsets=20, subset_size=200
    )
    assert abs(subsets) < 1e-4 * disjoint


def _shifted_gaussian_samples(n, seed):
    mu = np.array([2.0, -1.0, 1.0, 0.0])
    rng = np.random.default_rng(seed)
    return mu, rng.normal(size=(n, len(mu))), rng.normal(size=(n, len(mu))) + mu


def test_shifted_gaussians_give_the_squared_shift_as_frechet_distance():
    n = 100_000
    mu, x, y = _shifted_gaussian_samples(n, seed=3)
    d, shift_squared = len(mu), float(mu @ mu)
    fd = frechet_distance(
        x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    )
    # The estimate's mean term |mu + e|^2, e ~ N(0, 2I/n), has standard
    # deviation 2 |mu| sqrt(2/n) = 0.022 and bias 2d/n; the covariance term
    # adds a bias of about d(d + 1) / (2n). Allow the biases plus 5 sigma
    # (0.11 + 0.0005, 2% of |mu|^2 = 6).
    tolerance = 5 * 2 * np.sqrt(shift_squared) * np.sqrt(2 / n) + 3 * d * d / n
    assert fd == pytest.approx(shift_squared, abs=tolerance)


def test_shifted_gaussians_give_the_exact_kernel_distance():
    pool, subset_size, num_subsets = 3000, 500, 20
    mu, x, y = _shifted_gaussian_samples(pool, seed=4)
    d, shift_squared = len(mu), float(mu @ mu)
    expected = _shifted_gaussian_kid(shift_squared, d)
    assert expected == 19.6875
    mean, std = kernel_inception_distance(
        x, y, num_subsets=num_subsets, subset_size=subset_size
    )
    # KID is unbiased, so only its noise counts. `std`, the spread of one
    # subset's estimate, shrinks as 1/sqrt(size) for the whole pool (a
    # non-degenerate U-statistic) and averages over the subsets.
    standard_error = std * np.sqrt(subset_size / pool + 1 / num_subsets)
    assert abs(mean - expected) < 5 * standard_error
    assert 5 * standard_error < 0.25 * expected  # the check has teeth
    # It grows with the shift.
    kids = [
        kernel_inception_distance(x[:500], y[:500] + t * mu, subset_size=500)[0]
        for t in (-1.0, -0.5, 0.0, 1.0)
    ]
    assert np.all(np.diff(kids) > 0)


def test_seed_makes_subsets_reproducible():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(250, 3)) + 0.3
    first = kernel_inception_distance(x, y, num_subsets=5, subset_size=50, seed=7)
    again = kernel_inception_distance(x, y, num_subsets=5, subset_size=50, seed=7)
    other = kernel_inception_distance(x, y, num_subsets=5, subset_size=50, seed=8)
    assert first == again
    assert first != other
    fresh = kernel_inception_distance(x, y, num_subsets=5, subset_size=50, seed=None)
    assert np.isfinite(fresh).all()
    # Only the larger set is subsampled when the other is smaller.
    one_sided = kernel_inception_distance(x[:40], y, num_subsets=4, subset_size=50)
    assert one_sided[1] > 0


def _dense_extractor():
    # A seeded initializer, not `keras.utils.set_random_seed`, which imports
    # TensorFlow on every backend (seconds).
    dense = keras.layers.Dense(
        5, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0)
    )
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), dense])


def test_image_sets_use_extractor_features():
    rng = np.random.default_rng(5)
    real = rng.uniform(size=(32, 4, 4, 1)).astype("float32")
    generated = (rng.uniform(size=(24, 4, 4, 1)) ** 2 + 0.5).astype("float32")
    extractor = _dense_extractor()
    # Whole batches only: each new batch shape costs a compilation.
    kid = KernelInceptionDistance(
        extractor, batch_size=8, num_subsets=6, subset_size=20, seed=3
    )
    real_features = kid.features(real)
    assert real_features.shape == (32, 5)
    np.testing.assert_allclose(
        real_features, keras.ops.convert_to_numpy(extractor(real)), rtol=1e-5
    )
    expected = kernel_inception_distance(
        real_features,
        keras.ops.convert_to_numpy(extractor(generated)),
        num_subsets=6,
        subset_size=20,
        seed=3,
    )
    mean, std = kid(real, generated)
    assert mean == pytest.approx(expected[0], rel=1e-5, abs=1e-7)
    assert std == pytest.approx(expected[1], rel=1e-5, abs=1e-7)
    assert mean > 0 and std > 0  # different sets, subsets of 20 vary
    same, _ = kid(real, real)
    far, _ = kid(real, real + 5.0)
    assert abs(same) < 1e-3 * far


def test_plain_callable_and_classifier_like_extractors():
    calls = []

    def extractor(batch):
        calls.append(len(batch))
        return keras.ops.reshape(keras.ops.convert_to_tensor(batch), (len(batch), -1))

    images = np.random.default_rng(6).uniform(size=(10, 2, 2)).astype("float32")
    kid = KernelInceptionDistance(extractor, batch_size=4)
    np.testing.assert_allclose(kid.features(images), images.reshape(10, -1))
    assert calls == [4, 4, 2]

    class Classifier:
        def feature_extractor(self):
            return extractor

    assert KernelInceptionDistance(Classifier()).feature_extractor is extractor


def test_preset_handles_and_the_default(monkeypatch):
    class Classifier:
        def feature_extractor(self):
            return _dense_extractor()

    loaded = []

    def fake_from_preset(preset):
        loaded.append(preset)
        return Classifier()

    monkeypatch.setattr(keras_mae.presets, "from_preset", fake_from_preset)
    assert isinstance(
        KernelInceptionDistance("some/folder").feature_extractor, keras.Model
    )
    KernelInceptionDistance()
    assert loaded == ["some/folder", DEFAULT_EXTRACTOR_PRESET]


def test_missing_default_names_the_class(monkeypatch):
    # Only possible if the built-in default preset is removed from the registry.
    monkeypatch.delitem(registry.BUILTIN_PRESETS, DEFAULT_EXTRACTOR_PRESET)
    with pytest.raises(ValueError, match="KernelInceptionDistance needs a") as error:
        KernelInceptionDistance()
    assert "KernelInceptionDistance('weights_cards/mnist-classifier')" in str(
        error.value
    )


def test_preset_without_features_is_refused(monkeypatch):
    class Autoencoder:
        pass

    monkeypatch.setattr(keras_mae.presets, "from_preset", lambda preset: Autoencoder())
    with pytest.raises(
        ValueError,
        match="KernelInceptionDistance expects the preset 'p' .* holds a Autoencoder",
    ):
        KernelInceptionDistance("p")


@pytest.mark.parametrize(
    "features1, features2, kwargs, message",
    [
        (np.zeros(5), np.zeros((5, 2)), {}, r"`features1` to be a 2-D .* \(5,\)"),
        (np.zeros((5, 2)), np.zeros((5, 2, 1)), {}, r"`features2` to be a 2-D"),
        (
            np.zeros((5, 2)),
            np.zeros((5, 3)),
            {},
            r"same feature dimension; received `features1` of shape \(5, 2\)",
        ),
        (np.zeros((1, 2)), np.zeros((5, 2)), {}, "at least 2 samples .* received 1"),
        (np.zeros((5, 0)), np.zeros((5, 0)), {}, "at least 1 feature"),
        (
            np.zeros((5, 2)),
            np.array([[np.nan, 0.0]] * 4 + [[np.inf, 1.0]]),
            {},
            "`features2` to be finite; received 5 NaN or infinite",
        ),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"num_subsets": 0}, "`num_subsets`"),
        (
            np.zeros((5, 2)),
            np.zeros((5, 2)),
            {"subset_size": 1},
            "`subset_size` to be an integer >= 2; received 1",
        ),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"subset_size": 2.0}, "`subset_size`"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"seed": -1}, "`seed` .* >= 0"),
    ],
)
def test_bad_feature_arguments(features1, features2, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernel_inception_distance(features1, features2, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feature_extractor": 3}, "must be a Keras model, a callable"),
        ({"feature_extractor": "inception"}, "Unknown preset name 'inception'"),
        (
            {"feature_extractor": lambda x: x, "batch_size": 0},
            "KernelInceptionDistance expects `batch_size`",
        ),
        (
            {"feature_extractor": lambda x: x, "subset_size": 1},
            "KernelInceptionDistance expects `subset_size`",
        ),
        ({"feature_extractor": lambda x: x, "num_subsets": 0}, "`num_subsets`"),
        ({"feature_extractor": lambda x: x, "seed": 1.5}, "`seed`"),
    ],
)
def test_bad_class_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KernelInceptionDistance(**kwargs)


def test_bad_image_sets():
    kid = KernelInceptionDistance(_dense_extractor())
    with pytest.raises(ValueError, match="same image shape"):
        kid(np.zeros((3, 4, 4, 1)), np.zeros((3, 4, 4, 2)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(np.zeros((1, 4, 4, 1)), np.zeros((3, 4, 4, 1)))
    identity = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Identity()])
    with pytest.raises(ValueError, match=r"returned shape \(3, 4, 4, 1\)"):
        KernelInceptionDistance(identity).features(np.zeros((3, 4, 4, 1)))
