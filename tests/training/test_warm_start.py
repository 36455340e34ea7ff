"""`fit_assignment`, `warm_start_labels` and the `AssignmentWarmStart` callback."""

import keras
import numpy as np
import pytest

from keras_mae.metrics import clustering_accuracy
from keras_mae.models import MixtureAutoencoder
from keras_mae.training import AssignmentWarmStart, fit_assignment
from keras_mae.training.warm_start import warm_start_labels
from keras_mae.wrappers import MixtureClustering
from tests import resume
from tests.testing import scaled_blobs

BACKEND = keras.backend.backend()


@pytest.fixture(scope="module")
def blobs():
    return scaled_blobs()


def _model(x=None, seed=0):
    """A small compiled model; built (and adapted) on `x` when given."""
    keras.utils.set_random_seed(seed)
    model = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=seed)
    if x is not None:
        model.adapt(x)
    model.compile()
    return model


def test_fit_assignment_moves_every_sample_to_its_label_repeatably(blobs):
    x, labels = blobs
    # The components in an order of our choosing, not the data's.
    wanted = (labels + 1) % 3
    first, second = _model(x), _model(x)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    before = np.mean(first.predict_clusters(x) == wanted)
    agreement = fit_assignment(first, x, wanted, steps=400, batch_size=64, seed=3)
    assert before < 0.6 and agreement > 0.9
    assert np.mean(first.predict_clusters(x) == wanted) == agreement
    assert fit_assignment(second, x, wanted, steps=400, batch_size=64, seed=3) == (
        agreement
    )
    for a, b in zip(
        first.assignment.get_weights(), second.assignment.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-6 if BACKEND == "torch" else 0.0)


@pytest.mark.parametrize(
    "labels, received",
    [
        (np.zeros(299, "int64"), "of shape (299,)"),
        (np.zeros(300, "float32"), "float32"),
        (np.full(300, 3), "in [0, 3)"),
        (np.full(300, -1), "in [0, 3)"),
    ],
)
def test_fit_assignment_refuses_labels_that_are_not_components(blobs, labels, received):
    x, _ = blobs
    model = _model(x)
    with pytest.raises(ValueError, match="expects `labels` as 300 integers") as error:
        fit_assignment(model, x, labels)
    assert received in str(error.value)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_warm_start_labels_find_the_blobs_whatever_their_scale(blobs, method):
    x, labels = blobs
    found = warm_start_labels(x, 3, method, seed=0)
    assert found.dtype == np.int64 and found.shape == labels.shape
    assert clustering_accuracy(labels, found) == 1.0
    np.testing.assert_array_equal(found, warm_start_labels(x, 3, method, seed=0))


def test_the_callback_starts_training_from_the_clusters_once_per_model(
    blobs, monkeypatch
):
    x, labels = blobs
    model = _model()
    warm_start = AssignmentWarmStart(x, method="kmeans", steps=400, seed=0)
    model.fit(x, batch_size=64, epochs=1, callbacks=[warm_start], verbose=0)
    assert warm_start.agreement > 0.9
    assert clustering_accuracy(labels, warm_start.labels) == 1.0
    assert clustering_accuracy(labels, model.predict_clusters(x)) > 0.9
    # A second `fit` (training on) does not start over.
    calls = []
    monkeypatch.setattr(
        "keras_mae.training.warm_start.fit_assignment",
        lambda *args, **kwargs: calls.append(args) or 1.0,
    )
    model.fit(x, batch_size=64, epochs=1, callbacks=[warm_start], verbose=0)
    assert calls == []
    # Another model, given the same callback, is warm-started too.
    _model(x, seed=1).fit(x, batch_size=64, epochs=1, callbacks=[warm_start], verbose=0)
    assert len(calls) == 1


def test_the_callback_takes_ones_own_labels(blobs):
    x, labels = blobs
    model = _model()
    warm_start = AssignmentWarmStart(x, labels=labels, steps=400, seed=0)
    model.fit(x, batch_size=64, epochs=1, callbacks=[warm_start], verbose=0)
    assert warm_start.agreement > 0.9
    # The components are the labels themselves, not a permutation of them.
    assert np.mean(model.predict_clusters(x) == labels) > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": [[1.0, 2.0]] * 4}, "an array of at least 2 samples"),
        ({"x": np.zeros(8, "float32")}, "received (8,)"),
        ({"method": "spectral"}, "`method` in ('kmeans', 'gmm')"),
        ({"steps": 0}, "steps"),
        # Labels are checked against `x` at once, not when `fit` begins.
        ({"labels": np.zeros(5, "int64")}, "as 300 integers >= 0"),
        ({"labels": np.zeros(300, "float32")}, "received float32 of shape (300,)"),
        ({"labels": np.full(300, -1)}, "integers >= 0"),
    ],
)
def test_bad_warm_start_arguments_say_what_was_expected(blobs, kwargs, message):
    kwargs = {"x": blobs[0], **kwargs}
    with pytest.raises(ValueError) as error:
        AssignmentWarmStart(**kwargs)
    assert message in str(error.value)


def test_the_estimator_passes_callbacks_to_the_model(blobs):
    x, labels = blobs
    epochs = []
    counter = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: epochs.append(e)
    )
    warm_start = AssignmentWarmStart(x, method="gmm", steps=400, seed=0)
    clustering = MixtureClustering(
        3,
        latent_dim=2,
        epochs=2,
        batch_size=64,
        random_state=0,
        model_kwargs={"hidden_units": (16,)},
    ).fit(x, callbacks=[warm_start, counter])
    assert epochs == [0, 1] and clustering.n_iter_ == 2
    assert warm_start.agreement > 0.9
    assert clustering_accuracy(labels, clustering.labels_) > 0.9


def test_a_killed_warm_started_run_resumes_to_the_uninterrupted_model(tmp_path):
    result = resume.kill_and_resume(
        "tests.resume:make_warm_started_mae", epochs=3, kill_after=1, workdir=tmp_path
    )
    assert result.resumed_epochs == [1, 2]
    result.assert_same(atol=1e-6 if BACKEND == "torch" else 0.0)
