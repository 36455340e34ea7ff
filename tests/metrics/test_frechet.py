import keras
import numpy as np
import pytest
from scipy import linalg

from keras_mae.cli.data import load_split
from keras_mae.metrics import FrechetDistance, frechet_distance
from keras_mae.metrics import frechet as frechet_module
from keras_mae.models import ImageClassifier
from keras_mae.presets import hub, list_presets, registry
from tests.conftest import MNIST_PATH
from tests.models.test_image_classifier import MNIST_PRESET
from tests.presets import models_for_tests


def _random_covariance(rng, dim):
    a = rng.normal(size=(dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def _reference_distance(mu1, sigma1, mu2, sigma2):
    """The same distance through a symmetric eigen-decomposition, not sqrtm."""
    root1 = linalg.sqrtm(sigma1).real
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_root = np.sum(np.sqrt(np.clip(eigenvalues, 0, None)))
    return np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * trace_root


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=8), _random_covariance(rng, 8)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_shifted_gaussians_give_squared_shift():
    shift = np.array([3.0, -1.0, 0.5])
    sigma = np.diag([1.0, 2.0, 3.0])
    assert frechet_distance(np.zeros(3), sigma, shift, sigma) == pytest.approx(10.25)


def test_diagonal_covariances_match_closed_form():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # For commuting covariances: sum of (sqrt(a) - sqrt(b))^2 = 1 + 1 + 0.
    assert frechet_distance(
        np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)
    ) == pytest.approx(2.0)


def test_general_covariances_match_independent_computation():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    sigma1, sigma2 = _random_covariance(rng, 6), _random_covariance(rng, 6)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        _reference_distance(mu1, sigma1, mu2, sigma2), rel=1e-8
    )
    # Symmetric in its two arguments.
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        frechet_distance(mu2, sigma2, mu1, sigma1), rel=1e-8
    )


def test_singular_covariances_give_finite_accurate_distance():
    rng = np.random.default_rng(2)
    # 5 samples in 20 dimensions: rank-4 covariances, a singular product.
    x, y = rng.normal(size=(5, 20)), rng.normal(size=(5, 20)) + 1.0
    mu1, sigma1 = x.mean(0), np.cov(x, rowvar=False)
    mu2, sigma2 = y.mean(0), np.cov(y, rowvar=False)
    distance = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert np.isfinite(distance)
    assert distance == pytest.approx(
        _reference_distance(mu1, sigma1, mu2, sigma2), rel=1e-3
    )


def test_zero_covariances_leave_mean_term():
    zeros = np.zeros((4, 4))
    assert frechet_distance(np.zeros(4), zeros, np.full(4, 2.0), zeros) == (
        pytest.approx(16.0, abs=1e-4)
    )


@pytest.mark.parametrize(
    "sigma, details",
    [
        (-np.eye(2), "smallest eigenvalue -1"),
        (np.array([[1.0, 1.0], [0.0, 1.0]]), "asymmetry 1"),
    ],
)
def test_non_covariance_inputs_are_rejected(sigma, details):
    with pytest.raises(ValueError, match="`sigma2` must be a symmetric positive") as e:
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), sigma)
    assert details in str(e.value)


def test_float32_rounding_of_a_covariance_is_accepted():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 30)).astype("float32")
    sigma = np.cov(x, rowvar=False).astype("float32")
    assert np.linalg.eigvalsh(sigma.astype(np.float64))[0] < 0
    distance = frechet_distance(np.zeros(30), sigma, np.zeros(30), sigma)
    assert distance == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((2, 1)), np.eye(2), np.zeros(2), np.eye(2)), "`mu1` must be a 1-D"),
        (
            (np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)),
            r"`sigma1` must be a \(2, 2\)",
        ),
        ((np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "same feature dimension"),
        ((np.zeros(2), np.eye(2), [np.nan, 0], np.eye(2)), "must be finite"),
    ],
)
def test_bad_statistics(args, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(*args)


def _flatten_extractor():
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])


def test_image_sets_use_feature_statistics():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(50, 4, 4, 1)).astype("float32")
    generated = (rng.normal(size=(70, 4, 4, 1)) * 1.5 + 0.3).astype("float32")
    # batch_size 16 does not divide 50 or 70: the last partial batch counts.
    distance = FrechetDistance(_flatten_extractor(), batch_size=16)(real, generated)
    flat_real, flat_generated = real.reshape(50, -1), generated.reshape(70, -1)
    expected = frechet_distance(
        flat_real.mean(0),
        np.cov(flat_real, rowvar=False),
        flat_generated.mean(0),
        np.cov(flat_generated, rowvar=False),
    )
    assert distance == pytest.approx(expected, rel=1e-5)
    assert distance > 1.0


def test_identical_image_sets_give_zero():
    images = np.random.default_rng(4).uniform(size=(40, 4, 4, 1)).astype("float32")
    assert FrechetDistance(_flatten_extractor())(images, images) == pytest.approx(
        0.0, abs=1e-6
    )


def test_plain_callable_extractor_is_batched():
    calls = []

    def extractor(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1)

    images = np.random.default_rng(5).uniform(size=(10, 2, 2)).astype("float32")
    mu, sigma = FrechetDistance(extractor, batch_size=4).statistics(images)
    assert calls == [4, 4, 2]
    np.testing.assert_allclose(mu, images.reshape(10, -1).mean(0), rtol=1e-6)
    assert sigma.shape == (4, 4)


def test_missing_default_explains_what_is_needed(monkeypatch):
    # Only possible if the built-in default preset is removed from the registry.
    default = frechet_module.DEFAULT_EXTRACTOR_PRESET
    monkeypatch.delitem(registry.BUILTIN_PRESETS, default)
    assert default not in list_presets()
    with pytest.raises(
        ValueError, match="FrechetDistance needs a `feature_extractor`"
    ) as error:
        FrechetDistance()
    assert "FrechetDistance('weights_cards/mnist-classifier')" in str(error.value)
    assert "'mnist_classifier', is not registered" in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feature_extractor": 3}, "must be a Keras model, a callable"),
        ({"feature_extractor": "inception"}, "Unknown preset name 'inception'"),
        ({"feature_extractor": lambda x: x, "batch_size": 0}, "`batch_size`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrechetDistance(**kwargs)


def test_extractor_must_return_vectors():
    extractor = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Identity()])
    images = np.zeros((3, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match=r"returned shape \(3, 4, 4, 1\)"):
        FrechetDistance(extractor).features(images)


def test_image_sets_must_match_and_have_two_images():
    fd = FrechetDistance(_flatten_extractor())
    with pytest.raises(ValueError, match="same image shape"):
        fd(np.zeros((3, 4, 4, 1)), np.zeros((3, 4, 4, 2)))
    with pytest.raises(ValueError, match="at least 2 images; received 1"):
        fd.statistics(np.zeros((1, 4, 4, 1), "float32"))


def test_classifier_and_its_preset_contribute_their_features(tmp_path):
    keras.utils.set_random_seed(0)
    classifier = ImageClassifier(input_shape=(8, 8, 1), filters=(4,), feature_dim=6)
    classifier.save_to_preset(tmp_path / "classifier")
    rng = np.random.default_rng(7)
    real = rng.uniform(size=(30, 8, 8, 1)).astype("float32")
    fake = rng.uniform(size=(20, 8, 8, 1)).astype("float32") ** 2
    features = classifier.feature_extractor()
    expected = FrechetDistance(features)(real, fake)
    assert FrechetDistance(features).features(real).shape == (30, 6)
    assert FrechetDistance(classifier)(real, fake) == pytest.approx(expected)
    from_folder = FrechetDistance(tmp_path / "classifier")
    assert from_folder(real, fake) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_preset_without_features_is_refused(tmp_path):
    models_for_tests.make_model().save_to_preset(tmp_path / "p")
    with pytest.raises(ValueError, match="holds a PresetTestModel"):
        FrechetDistance(str(tmp_path / "p"))


def test_registered_mnist_classifier_is_the_default(monkeypatch):
    """FrechetDistance() uses the built-in "mnist_classifier", offline."""
    assert frechet_module.DEFAULT_EXTRACTOR_PRESET == "mnist_classifier"
    assert "mnist_classifier" in list_presets()

    def no_download(*args, **kwargs):
        raise AssertionError("the built-in default must load its bundled copy")

    monkeypatch.setattr(hub, "download", no_download)
    images = np.random.default_rng(8).uniform(size=(40, 28, 28, 1)).astype("float32")
    default = FrechetDistance().features(images)
    # MNIST_PRESET is the checkout's weights_cards/mnist-classifier folder.
    local = FrechetDistance(MNIST_PRESET).features(images)
    assert default.shape == (40, 128)
    np.testing.assert_array_equal(default, local)


def test_mnist_classifier_features_rank_image_sets():
    """Real digits are closer to real digits than noisy or one-sided sets."""
    (x_train, y_train), (x_test, _) = load_split(MNIST_PATH)
    fd = FrechetDistance(MNIST_PRESET, batch_size=500)
    n = 1000
    reference = fd.statistics(x_test[:n])

    def distance(images):
        return frechet_distance(*reference, *fd.statistics(images))

    real = distance(x_train[:n])
    rng = np.random.default_rng(0)
    noisy = np.clip(x_train[:n] + rng.normal(0, 0.3, (n, 28, 28, 1)), 0, 1)
    # Measured 2026-11-27: real 22.7, noisy 156, digits 0-4 only 125.
    assert 4 * real < distance(noisy.astype("float32"))
    assert 4 * real < distance(x_train[y_train < 5][:n])
