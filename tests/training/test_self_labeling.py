"""`core_mask`, `self_labels`, the `SelfLabeling` callback, and where `fit` adds it."""

import keras
import numpy as np
import pytest

from keras_mae.models import MixtureAutoencoder
from keras_mae.training import SelfLabeling, self_labeling, self_labels
from keras_mae.training.self_labeling import check_core_fraction, core_mask
from tests.testing import scaled_blobs


@pytest.fixture(scope="module")
def blobs():
    return scaled_blobs()


def _probabilities(labels, confidence, num_components=3):
    """Rows with `confidence` on `labels` and the rest spread evenly."""
    rest = (1.0 - confidence) / (num_components - 1)
    p = np.full((len(labels), num_components), 0.0) + rest[:, None]
    p[np.arange(len(labels)), labels] = confidence
    return p


def test_core_mask_takes_each_clusters_most_confident_share():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    confidence = np.array([0.9, 0.5, 0.8, 0.6, 0.55, 0.95, 0.4])
    p = _probabilities(labels, confidence)
    # ceil(0.5 * 4) = 2 of cluster 0, ceil(0.5 * 2) = 1 of 1, the one of 2.
    assert core_mask(p, 0.5).tolist() == [1, 0, 1, 0, 0, 1, 1]
    assert core_mask(p, 1.0).all()


@pytest.mark.parametrize("value", [0, 0.0, 1.5, -0.2, float("nan"), True, "0.8"])
def test_bad_core_fractions_say_what_was_expected(value):
    with pytest.raises(ValueError, match=r"`core_fraction` in \(0, 1\]"):
        check_core_fraction("SelfLabeling", "core_fraction", value)


def test_self_labels_give_boundary_samples_to_the_clusters_their_cores_say(blobs):
    x, labels = blobs
    # The model's clusters: right, except a fifth of each cluster put,
    # unconfidently, in the next one.
    rng = np.random.default_rng(1)
    wrong = rng.uniform(size=len(x)) < 0.2
    given = np.where(wrong, (labels + 1) % 3, labels)
    p = _probabilities(given, np.where(wrong, 0.4, 0.9))
    relabelled = self_labels(x, p, core_fraction=0.8)
    assert relabelled.dtype == np.int64
    assert np.mean(given == labels) < 0.85
    np.testing.assert_array_equal(relabelled, labels)


def test_self_labels_keep_the_clusters_when_there_is_nothing_to_discriminate(
    blobs, monkeypatch
):
    x, labels = blobs
    one = _probabilities(np.zeros(len(x), "int64"), np.full(len(x), 0.9))
    assert (self_labels(x, one) == 0).all()  # one cluster: no discriminant
    lonely = labels.copy()
    lonely[np.flatnonzero(labels == 2)[1:]] = 0  # cluster 2: one sample
    p = _probabilities(lonely, np.full(len(x), 0.9))
    np.testing.assert_array_equal(self_labels(x, p), lonely)
    monkeypatch.setattr(self_labeling, "MAX_FEATURES", 3)  # x has 4 features
    noisy = np.where(np.arange(len(x)) % 7 == 0, (labels + 1) % 3, labels)
    p = _probabilities(noisy, np.full(len(x), 0.9))
    np.testing.assert_array_equal(self_labels(x, p), noisy)


def test_self_labels_refuse_probabilities_of_another_shape(blobs):
    x, _ = blobs
    with pytest.raises(ValueError, match=r"of shape \(300, K\).*received \(299, 3\)"):
        self_labels(x, np.full((299, 3), 1 / 3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": np.zeros(5)}, "at least 2 samples"),
        ({"core_fraction": 0.0}, "core_fraction"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_self_labeling_arguments_say_what_was_expected(blobs, kwargs, message):
    arguments = {"x": blobs[0], **kwargs}
    with pytest.raises(ValueError, match=message):
        SelfLabeling(**arguments)


def _model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=seed, **kwargs)
    model.compile()
    return model


def test_the_callback_ends_training_with_the_discriminants_clusters(blobs):
    x, _ = blobs
    model = _model(self_labeling=None)
    labeling = SelfLabeling(x, core_fraction=0.8, steps=300, batch_size=64, seed=0)
    model.fit(x, epochs=2, batch_size=64, callbacks=[labeling], verbose=0)
    assert 0.0 <= labeling.changed <= 1.0 and labeling.agreement > 0.95
    # What the discriminant of the trained model's cores says is what the
    # assignment now says, up to the share it did not learn.
    wanted = self_labels(x, model.predict_proba(x), 0.8)
    assert np.mean(model.predict_clusters(x) == wanted) >= labeling.agreement - 0.02


class _Recording(SelfLabeling):
    """A `SelfLabeling` that remembers its instances."""

    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _Recording.made.append(self)


@pytest.fixture
def recording(monkeypatch):
    import keras_mae.models.mixture_data as mixture_data

    _Recording.made = []
    monkeypatch.setattr(mixture_data, "SelfLabeling", _Recording)
    return _Recording.made


def test_fit_on_vectors_ends_with_self_labelling_of_its_training_part(blobs, recording):
    x, _ = blobs
    model = _model()
    model.fit(x, epochs=1, batch_size=64, validation_split=0.2, verbose=0)
    assert model.resolved("self_labeling") == 0.8
    (labeling,) = recording
    assert labeling.core_fraction == 0.8 and labeling.agreement is not None
    np.testing.assert_array_equal(labeling.x, x[:240])  # not the held-out 60
    # The held-out samples take no part in the normalization either.
    mean = keras.ops.convert_to_numpy(model.normalizer.mean).ravel()
    np.testing.assert_allclose(mean, x[:240].mean(axis=0), rtol=1e-4)


def test_fit_adds_no_second_self_labelling_and_none_when_it_is_off(blobs, recording):
    x, _ = blobs
    mine = _Recording(x, core_fraction=0.5, steps=10)
    _model().fit(x, epochs=1, batch_size=64, callbacks=[mine], verbose=0)
    assert recording == [mine] and mine.agreement is not None
    _model(self_labeling=None).fit(x, epochs=1, batch_size=64, verbose=0)
    assert recording == [mine]


def test_images_train_without_self_labelling(recording):
    x = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
    model = _model()
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    assert model.resolved("self_labeling") is None and recording == []


def test_self_labeling_is_a_checked_hyperparameter_in_the_config():
    model = MixtureAutoencoder(3, 2, self_labeling=0.5)
    assert model.get_config()["self_labeling"] == 0.5
    clone = MixtureAutoencoder.from_config(model.get_config())
    assert clone.self_labeling == 0.5
    assert (
        MixtureAutoencoder(3, 2, self_labeling=None).get_config()["self_labeling"]
        is None
    )
    with pytest.raises(ValueError, match=r"`self_labeling` in \(0, 1\]"):
        MixtureAutoencoder(3, 2, self_labeling=1.5)


def test_replicas_in_step_skip_self_labelling_with_a_warning(
    blobs, recording, monkeypatch
):
    import keras_mae.models.mixture_data as mixture_data

    x, _ = blobs
    monkeypatch.setattr(mixture_data, "training_replicas", lambda model: 2)
    with pytest.warns(UserWarning, match="2 replicas train this model.*skipped"):
        _model().fit(x, epochs=1, batch_size=64, verbose=0)
    assert recording == []
