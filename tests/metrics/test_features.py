import keras
import numpy as np
import pytest

import keras_mae.presets
from keras_mae.metrics import (
    FrechetDistance,
    ImprovedPrecisionRecall,
    KernelInceptionDistance,
)
from keras_mae.metrics.features import (
    DEFAULT_EXTRACTOR_PRESET,
    ImageFeatureMetric,
    check_feature_pair,
    check_features,
    compute_features,
    extractor_from_preset,
    resolve_extractor,
)
from keras_mae.models import ImageClassifier
from keras_mae.presets import list_presets, registry


def _flatten_extractor(shape=(4, 4, 1)):
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten()])


def _reshape(batch):
    return np.asarray(batch).reshape(len(batch), -1)


class _Classifier:
    """Anything with a `feature_extractor()` method, like an ImageClassifier."""

    def __init__(self, extractor):
        self.extractor = extractor

    def feature_extractor(self):
        return self.extractor


class _Autoencoder:
    """A preset model without features."""


@pytest.fixture
def fake_presets(monkeypatch):
    """`from_preset` returning a classifier; the handles it received."""
    loaded = []

    def fake_from_preset(preset):
        loaded.append(preset)
        return _Classifier(_reshape)

    monkeypatch.setattr(keras_mae.presets, "from_preset", fake_from_preset)
    return loaded


def test_the_default_preset_is_the_registered_mnist_classifier():
    assert DEFAULT_EXTRACTOR_PRESET == "mnist_classifier"
    assert DEFAULT_EXTRACTOR_PRESET in list_presets(ImageClassifier)


def test_models_and_callables_are_used_as_they_are():
    model = _flatten_extractor()
    assert resolve_extractor("Owner", model) is model
    assert resolve_extractor("Owner", _reshape) is _reshape


def test_objects_with_a_feature_extractor_contribute_it():
    assert resolve_extractor("Owner", _Classifier(_reshape)) is _reshape


def test_image_classifier_and_its_preset_folder(tmp_path):
    classifier = ImageClassifier(input_shape=(8, 8, 1), filters=(4,), feature_dim=6)
    classifier.save_to_preset(tmp_path / "classifier")
    images = np.random.default_rng(0).uniform(size=(6, 8, 8, 1)).astype("float32")
    extractor = resolve_extractor("Owner", classifier)
    assert isinstance(extractor, keras.Model)
    expected = compute_features("Owner", extractor, images, batch_size=6)
    assert expected.shape == (6, 6)
    # A folder, as a path or a string, loads the same classifier.
    for handle in (tmp_path / "classifier", str(tmp_path / "classifier")):
        from_folder = resolve_extractor("Owner", handle)
        assert isinstance(from_folder, keras.Model)
        np.testing.assert_allclose(
            compute_features("Owner", from_folder, images, batch_size=6),
            expected,
            rtol=1e-6,
        )


def test_preset_names_and_none_load_through_from_preset(fake_presets):
    assert resolve_extractor("Owner", "some/folder") is _reshape
    assert resolve_extractor("Owner", "mnist_classifier") is _reshape
    assert resolve_extractor("Owner", None) is _reshape
    assert extractor_from_preset("Owner", "hf://owner/name") is _reshape
    assert fake_presets == [
        "some/folder",
        "mnist_classifier",
        DEFAULT_EXTRACTOR_PRESET,
        "hf://owner/name",
    ]


@pytest.mark.parametrize(
    "feature_extractor, message",
    [
        (3, "Owner: `feature_extractor` must be a Keras model, .* received int"),
        (
            _Classifier("not callable"),
            "Owner: `feature_extractor` must be a Keras model, .* received str",
        ),
        ("inception", "Unknown preset name 'inception'"),
    ],
)
def test_unusable_extractors_are_refused(feature_extractor, message):
    with pytest.raises(ValueError, match=message):
        resolve_extractor("Owner", feature_extractor)


def test_presets_without_features_are_refused(monkeypatch):
    monkeypatch.setattr(keras_mae.presets, "from_preset", lambda preset: _Autoencoder())
    message = (
        "Owner expects the preset 'p' to hold a classifier .* holds a _Autoencoder"
    )
    with pytest.raises(ValueError, match=message):
        resolve_extractor("Owner", "p")
    with pytest.raises(ValueError, match=message):
        extractor_from_preset("Owner", "p")


def test_missing_default_preset_says_what_to_pass(monkeypatch):
    # Only possible if the built-in default preset is removed from the registry.
    monkeypatch.delitem(registry.BUILTIN_PRESETS, DEFAULT_EXTRACTOR_PRESET)
    with pytest.raises(ValueError, match="my_metric needs a `feature_extractor`") as e:
        resolve_extractor("my_metric", None)
    message = str(e.value)
    assert "`my_metric('weights_cards/mnist-classifier')`" in message
    assert "'mnist_classifier', is not registered" in message
    assert "keras_mae.list_presets()" in message


def test_callables_are_called_in_batches():
    calls = []

    def extractor(batch):
        calls.append(len(batch))
        return keras.ops.convert_to_tensor(_reshape(batch))

    images = np.arange(40, dtype="float32").reshape(10, 2, 2)
    features = compute_features("Owner", extractor, images, batch_size=4)
    assert calls == [4, 4, 2]
    assert features.dtype == np.float64
    np.testing.assert_array_equal(features, images.reshape(10, -1))
    calls.clear()
    compute_features("Owner", extractor, images[:3], batch_size=64)
    assert calls == [3]


def test_models_run_through_predict_in_batches(monkeypatch):
    model = _flatten_extractor()
    batch_sizes = []
    predict = model.predict

    def recording_predict(images, batch_size, verbose):
        batch_sizes.append(batch_size)
        return predict(images, batch_size=batch_size, verbose=verbose)

    monkeypatch.setattr(model, "predict", recording_predict)
    images = np.random.default_rng(1).uniform(size=(7, 4, 4, 1)).astype("float32")
    features = compute_features("Owner", model, images, batch_size=3)
    assert batch_sizes == [3]
    assert features.dtype == np.float64
    np.testing.assert_allclose(features, images.reshape(7, -1), rtol=1e-6)


@pytest.mark.parametrize(
    "extractor, images, batch_size, message",
    [
        (
            _reshape,
            np.zeros(5),
            2,
            r"Owner expects images as an array of shape \(n, \.\.\.\); "
            r"received shape \(5,\)",
        ),
        (_reshape, np.zeros((0, 2, 2)), 2, r"at least 1 image; .* \(0, 2, 2\)"),
        (_reshape, np.zeros((3, 2)), 0, "Owner expects `batch_size` .* received 0"),
        (_reshape, np.zeros((3, 2)), 1.5, "Owner expects `batch_size`"),
        (
            lambda batch: batch,
            np.zeros((3, 2, 2)),
            2,
            r"Owner: `feature_extractor` must return \(batch, features\) "
            r"vectors; for 3 images it returned shape \(3, 2, 2\)",
        ),
        (
            lambda batch: np.zeros((1, 4)),
            np.zeros((3, 2, 2)),
            3,
            r"for 3 images it returned shape \(1, 4\)",
        ),
    ],
)
def test_bad_feature_computations_are_refused(extractor, images, batch_size, message):
    with pytest.raises(ValueError, match=message):
        compute_features("Owner", extractor, images, batch_size=batch_size)


def test_model_outputs_that_are_not_vectors_are_refused():
    identity = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Identity()])
    with pytest.raises(ValueError, match=r"returned shape \(3, 4, 4, 1\)"):
        compute_features("Owner", identity, np.zeros((3, 4, 4, 1), "float32"))


def test_feature_checks_return_float64_arrays():
    checked = check_features("f", [[1, 2], [3, 4]], "x", minimum=2)
    assert checked.dtype == np.float64 and checked.shape == (2, 2)
    first, second = check_feature_pair(
        "f", np.zeros((3, 2), "float32"), [[1.0, 2.0]], ("a", "b")
    )
    assert first.dtype == second.dtype == np.float64
    assert (first.shape, second.shape) == ((3, 2), (1, 2))


@pytest.mark.parametrize(
    "features, kwargs, message",
    [
        (np.zeros(3), {}, r"f expects `x` to be a 2-D array .* \(3,\)"),
        (np.zeros((3, 0)), {}, r"f expects `x` to have at least 1 feature"),
        (
            np.zeros((2, 2)),
            {"minimum": 3, "why": "a reason"},
            r"f expects `x` to hold at least 3 samples \(a reason\); received 2\.",
        ),
        (
            np.zeros((2, 2)),
            {"minimum": 3},
            r"f expects `x` to hold at least 3 samples; received 2\.",
        ),
        (
            [[np.nan, 1.0], [np.inf, -np.inf]],
            {},
            "f expects `x` to be finite; received 3 NaN or infinite values",
        ),
    ],
)
def test_bad_features_are_refused(features, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_features("f", features, "x", **kwargs)


def test_feature_pairs_need_one_dimension():
    with pytest.raises(
        ValueError,
        match=r"f expects both feature sets to have the same feature dimension; "
        r"received `a` of shape \(3, 2\) and `b` of shape \(3, 4\)",
    ):
        check_feature_pair("f", np.zeros((3, 2)), np.zeros((3, 4)), ("a", "b"))
    with pytest.raises(ValueError, match=r"`b` to hold at least 2 samples \(why\)"):
        check_feature_pair(
            "f", np.zeros((3, 2)), np.zeros((1, 2)), ("a", "b"), minimum=2, why="why"
        )


class _MeanGap(ImageFeatureMetric):
    def __call__(self, real_images, generated_images):
        real, generated = self._features_of_both(real_images, generated_images)
        return float(np.abs(real.mean(0) - generated.mean(0)).max())


def test_base_class_extracts_both_sets_in_batches():
    calls = []

    def extractor(batch):
        calls.append(len(batch))
        return _reshape(batch)

    metric = _MeanGap(extractor, batch_size=2)
    assert metric.batch_size == 2 and metric.feature_extractor is extractor
    assert metric(np.zeros((3, 2, 2)), np.ones((4, 2, 2))) == 1.0
    assert calls == [2, 1, 2, 2]
    np.testing.assert_array_equal(metric.features(np.ones((3, 2, 2))), np.ones((3, 4)))


def test_base_class_messages_name_the_subclass(monkeypatch):
    with pytest.raises(ValueError, match="_MeanGap expects `batch_size`"):
        _MeanGap(_reshape, batch_size=0)
    with pytest.raises(ValueError, match="_MeanGap: `feature_extractor` must be"):
        _MeanGap(3)
    metric = _MeanGap(_reshape)
    with pytest.raises(
        ValueError,
        match=r"_MeanGap expects both image sets to have the same image shape; "
        r"received \(2, 2\) and \(2, 3\)",
    ):
        metric(np.zeros((3, 2, 2)), np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="_MeanGap expects images as an array"):
        metric.features(np.zeros(3))
    monkeypatch.delitem(registry.BUILTIN_PRESETS, DEFAULT_EXTRACTOR_PRESET)
    with pytest.raises(ValueError, match=r"`_MeanGap\('weights_cards/mnist"):
        _MeanGap()


def test_base_class_defaults_to_the_builtin_preset(fake_presets):
    metric = _MeanGap()
    assert metric.feature_extractor is _reshape and metric.batch_size == 64
    assert fake_presets == [DEFAULT_EXTRACTOR_PRESET]


@pytest.mark.parametrize(
    "metric_class", [FrechetDistance, KernelInceptionDistance, ImprovedPrecisionRecall]
)
def test_the_image_metrics_share_the_base_class(metric_class, fake_presets):
    assert issubclass(metric_class, ImageFeatureMetric)
    metric = metric_class("a/preset", batch_size=3)
    assert metric.feature_extractor is _reshape and metric.batch_size == 3
    name = metric_class.__name__
    with pytest.raises(ValueError, match=f"{name}: `feature_extractor` must be"):
        metric_class(3)
    with pytest.raises(ValueError, match=f"{name} expects both image sets"):
        metric(np.zeros((5, 2, 2)), np.zeros((5, 3, 2)))
