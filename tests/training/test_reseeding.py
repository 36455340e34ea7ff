"""Dead components: `reseed_component` and the re-seeding `fit` adds itself."""

import keras
import numpy as np
import pytest

from keras_mae.metrics import clustering_accuracy
from keras_mae.models import MixtureAutoencoder
from keras_mae.training import ReseedDeadComponents, reseed_component
from tests.testing import slow_except_on

CENTERS = np.array([[3, 0], [-3, 0], [0, 3], [0, -3]], "float32")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Four tight blobs, their labels, and a saved model with one per component."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CENTERS), 1024)
    x = (CENTERS[labels] + 0.1 * rng.standard_normal((1024, 2))).astype("float32")
    keras.utils.set_random_seed(0)
    model = MixtureAutoencoder(
        4,
        latent_dim=2,
        hidden_units=(16,),
        output_activation=None,
        # The model these tests were written for, before the defaults per
        # kind of data: raw inputs (the blobs are already of unit scale),
        # the balance weight and neighbour term of images (the vectors'
        # "auto" are 1.0, and 3.0 over 10 neighbours), no self-labelling.
        normalization=None,
        neighbor_weight=1.0,
        num_neighbors=5,
        batch_entropy_weight=5.0,
        reseed_threshold=0.0,
        self_labeling=None,  # training ends with the network's own clusters
        seed=0,
    )
    model.compile()
    model.fit(x, batch_size=128, epochs=15, verbose=0)
    assert clustering_accuracy(labels, model.predict_clusters(x)) == 1.0
    path = str(tmp_path_factory.mktemp("reseeding") / "fitted.keras")
    model.save(path)
    return x, labels, path


def _dead_copy(fitted, component, **changes):
    """A fresh copy of the fitted model in which `component` gets no sample.

    `changes` are constructor arguments (e.g. `reseed_threshold`) the copy
    gets instead of the fitted model's; its weights are the fitted ones.
    """
    x, labels, path = fitted
    model = keras.saving.load_model(path)
    if changes:
        model = MixtureAutoencoder.from_config({**model.get_config(), **changes})
        model.compile()
        model.load_weights(path)
    bias = keras.ops.convert_to_numpy(model.assignment._output.bias).copy()
    bias[component] -= 50.0  # far below every other logit
    model.assignment._output.bias.assign(bias)
    assert np.sum(model.predict_clusters(x) == component) == 0
    return model, x, labels


def test_reseeding_splits_the_busiest_component(fitted):
    model, x, labels = _dead_copy(fitted, 0)
    before = model.predict_clusters(x)
    source = int(np.argmax(np.bincount(before, minlength=4)))  # two blobs
    moved = model.reseed_component(0, source, x, seed=0)
    after = model.predict_clusters(x)
    assert moved == np.sum(after == 0) > 0.3 * np.sum(before == source)
    # One of the source's two blobs moved; every other sample stayed.
    np.testing.assert_array_equal(after[before != source], before[before != source])
    assert clustering_accuracy(labels, after) == 1.0


def test_reseeding_copies_the_autoencoder_of_the_source(fitted):
    model, x, _ = _dead_copy(fitted, 1)
    # The function behind the method, called on the model.
    moved = reseed_component(model, 1, 2, x, seed=0)
    assert moved == np.sum(model.predict_clusters(x) == 1) > 0
    codes, _ = model.encode(x[:64])
    np.testing.assert_allclose(codes[:, 1], codes[:, 2], rtol=1e-6, atol=1e-6)
    z = np.random.default_rng(0).standard_normal((8, 2)).astype("float32")
    np.testing.assert_allclose(model.decode(z, 1), model.decode(z, 2), atol=1e-6)


def test_fit_reseeds_a_dead_component_by_default(fitted, capsys):
    # The default reseed_threshold (0.2), 3 epochs of patience.
    model, x, labels = _dead_copy(fitted, 3, reseed_threshold=0.2)
    history = model.fit(x, batch_size=128, epochs=5, verbose=2).history
    output = capsys.readouterr().out
    assert "Epoch 3: component 3 had under 0.0500 of the samples for 3" in output
    # The split may leave the busiest component's other half to a neighbour,
    # which is re-seeded in turn; the end has one blob each.
    assert history["reseeded"][:3] == [0, 0, 1]
    assert min(history[f"usage_{k}"][-1] for k in range(4)) > 0.15
    assert clustering_accuracy(labels, model.predict_clusters(x)) == 1.0


@slow_except_on("jax", "callback ordering is backend-free")
def test_ones_own_callback_replaces_the_default_and_zero_turns_it_off(fitted):
    model, x, _ = _dead_copy(fitted, 2, reseed_threshold=0.2)
    own = ReseedDeadComponents(
        x, threshold=0.5, patience=1, max_samples=512, seed=0, verbose=0
    )
    history = model.fit(x, batch_size=128, epochs=2, verbose=0, callbacks=[own])
    # A default callback after ours would overwrite `reseeded` with its own 0.
    assert history.history["reseeded"][0] == 1
    assert sum(history.history["reseeded"]) == len(own.events)
    assert own.events[0][:2] == (1, 2) and own.events[0][3] > 0
    assert len(own.x) == 512
    model, x, _ = _dead_copy(fitted, 2, reseed_threshold=0.0)
    history = model.fit(x, batch_size=128, epochs=1, verbose=0)
    assert "reseeded" not in history.history
    assert np.sum(model.predict_clusters(x) == 2) == 0


def test_bad_reseeding_arguments_name_what_was_expected(fitted):
    model, x, _ = _dead_copy(fitted, 0)
    with pytest.raises(ValueError, match=r"`target` to be an integer in \[0, 4\)"):
        model.reseed_component(4, 1, x)
    with pytest.raises(ValueError, match="two different components; received 1"):
        model.reseed_component(1, 1, x)
    with pytest.raises(ValueError, match="at least 2 samples of `x` in component 0"):
        model.reseed_component(1, 0, x)
    with pytest.raises(ValueError, match="`steps` to be an integer >= 1; received 0"):
        model.reseed_component(1, 2, x, steps=0)
    with pytest.raises(
        ValueError, match=r"`reseed_threshold` to be in \[0, 1\); received 1.5"
    ):
        MixtureAutoencoder(4, latent_dim=2, reseed_threshold=1.5)
    with pytest.raises(TypeError, match=r"\['reseed_threshold'\] are hyper.*pass them"):
        model.compile(reseed_threshold=0.0)
    with pytest.raises(ValueError, match=r"`threshold` to be in \(0, 1\) \(a share"):
        ReseedDeadComponents(x, threshold=0.0)
    with pytest.raises(ValueError, match="`patience` to be an integer >= 1"):
        ReseedDeadComponents(x, patience=0)
    with pytest.raises(ValueError, match="`x` to be an array of at least 2"):
        ReseedDeadComponents("samples")
    shared = MixtureAutoencoder(
        2,
        latent_dim=2,
        input_shape=(2,),
        encoder=keras.Sequential(
            [keras.layers.Dense(4, name="shared"), keras.layers.Reshape((2, 2))]
        ),
        output_activation=None,
    )
    with pytest.raises(ValueError, match=r"'shared' \(Dense\) holds weights shared"):
        shared.reseed_component(0, 1, x)


def test_the_epochs_in_a_row_live_in_the_model_and_are_saved(fitted, tmp_path):
    # Patience 2: one low epoch, then saving and loading, then a new
    # callback in a new `fit` call: the second low epoch re-seeds.
    model, x, _ = _dead_copy(fitted, 1)
    np.testing.assert_array_equal(model.reseed_counters, [0, 0, 0, 0])

    def callback():
        return ReseedDeadComponents(x, patience=2, seed=0, verbose=0)

    first = callback()
    history = model.fit(x, batch_size=128, epochs=1, verbose=0, callbacks=[first])
    assert history.history["reseeded"] == [0] and first.events == []
    np.testing.assert_array_equal(model.reseed_counters, [0, 1, 0, 0])
    path = str(tmp_path / "one_low_epoch.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.reseed_counters, [0, 1, 0, 0])
    second = callback()
    history = loaded.fit(
        x, batch_size=128, epochs=2, initial_epoch=1, verbose=0, callbacks=[second]
    )
    assert history.history["reseeded"] == [1]
    # Keras's epoch number, counted from 1: the second epoch of the run.
    assert [event[:2] for event in second.events] == [(2, 1)]
    assert loaded.reseed_counters[1] == 0
    assert np.sum(loaded.predict_clusters(x) == 1) > 0


def test_reseeding_is_refused_when_processes_train_together(monkeypatch):
    """Under torch.distributed each process would re-seed from its own shard."""
    from keras_mae.models import mixture_data

    monkeypatch.setattr(mixture_data, "training_processes", lambda: 2)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model = MixtureAutoencoder(2, latent_dim=2, hidden_units=(8,), seed=0)
    model.compile()
    with pytest.raises(ValueError, match="2 processes train this model.*=0"):
        model.fit(x, batch_size=32, epochs=1, verbose=0)
    quiet = MixtureAutoencoder(
        2, latent_dim=2, hidden_units=(8,), reseed_threshold=0.0, seed=0
    )
    quiet.compile()
    assert "loss" in quiet.fit(x, batch_size=32, epochs=1, verbose=0).history
