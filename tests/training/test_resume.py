"""A crashed training run resumes to the same model.

Batch orders are a function of the model's seed and the epoch
(`ArrayBatches`, told the epoch by `SetDatasetEpoch`); every seed state is
saved with the backup. The last test kills a GAN's training in a subprocess
and resumes it in another (harness: `tests/resume.py`).
"""

import re

import keras
import numpy as np
import pytest

from keras_mae.datasets import ArrayBatches
from keras_mae.models import GAN
from keras_mae.training import AdversarialModel, SetDatasetEpoch
from tests import resume
from tests.conftest import BACKEND, mlp


def samples(n=10):
    """Sample `i` is `[i, 0]`: batches show which samples they hold."""
    return np.stack([np.arange(n), np.zeros(n)], axis=1).astype("float32")


def served(batches):
    """The sample indices of each batch of the current epoch."""
    return [batches[i][:, 0].astype(int).tolist() for i in range(len(batches))]


# ----------------------------------------------------------------------
# ArrayBatches.
def test_an_epoch_visits_every_sample_once():
    batches = ArrayBatches(samples(10), batch_size=4, seed=0)
    assert len(batches) == 3
    order = [i for batch in served(batches) for i in batch]
    assert sorted(order) == list(range(10))
    assert order == batches.order.tolist()
    assert [len(batch) for batch in served(batches)] == [4, 4, 2]  # last: partial


def test_the_order_is_a_function_of_seed_and_epoch():
    a = ArrayBatches(samples(50), batch_size=8, seed=3)
    b = ArrayBatches(samples(50), batch_size=8, seed=3)
    assert served(a) == served(b)
    b.set_epoch(5)
    a.set_epoch(5)
    assert served(a) == served(b)
    expected = np.random.default_rng([3, 5, 0]).permutation(50)
    np.testing.assert_array_equal(a.order, expected)
    assert not np.array_equal(
        ArrayBatches(samples(50), seed=4).order, ArrayBatches(samples(50), seed=3).order
    )


def test_epochs_differ_and_set_epoch_reproduces_one():
    batches = ArrayBatches(samples(50), batch_size=8, seed=0)
    orders = []
    for epoch in range(4):
        batches.set_epoch(epoch)
        assert batches.epoch == epoch
        orders.append(batches.order.copy())
    assert len({tuple(order) for order in orders}) == 4
    batches.set_epoch(2)
    np.testing.assert_array_equal(batches.order, orders[2])


def test_on_epoch_end_moves_to_the_next_epoch():
    batches = ArrayBatches(samples(50), seed=0)
    first = batches.order.copy()
    batches.on_epoch_end()
    assert batches.epoch == 1
    assert not np.array_equal(batches.order, first)


def test_without_a_seed_one_is_drawn_once():
    batches = ArrayBatches(samples(50))
    assert isinstance(batches.seed, int) and 0 <= batches.seed < 2**32
    first = batches.order.copy()
    np.testing.assert_array_equal(batches.order, first)  # cached, not redrawn
    batches.set_epoch(1)
    assert not np.array_equal(batches.order, first)
    batches.set_epoch(0)
    np.testing.assert_array_equal(batches.order, first)


def test_without_shuffling_the_order_is_the_samples_order():
    batches = ArrayBatches(samples(5), batch_size=2, shuffle=False, seed=0)
    batches.set_epoch(7)
    assert served(batches) == [[0, 1], [2, 3], [4]]


def test_rng_streams_are_independent_and_repeatable():
    batches = ArrayBatches(samples(5), seed=1)
    batches.set_epoch(2)
    draw = batches.rng(1).integers(0, 2**31, 4)
    np.testing.assert_array_equal(batches.rng(1).integers(0, 2**31, 4), draw)
    assert not np.array_equal(batches.rng(2).integers(0, 2**31, 4), draw)
    np.testing.assert_array_equal(
        draw, np.random.default_rng([1, 2, 1]).integers(0, 2**31, 4)
    )


def test_a_subclass_adds_to_each_batch():
    class WithPartner(ArrayBatches):
        def batch(self, indices):
            partner = self.rng(1).permutation(len(self.x))[indices]
            return {"x": self.x[indices], "partner": self.x[partner]}

    batches = WithPartner(samples(6), batch_size=4, seed=0)
    batch = batches[1]
    assert batch["x"].shape == batch["partner"].shape == (2, 2)


@pytest.mark.parametrize("index", [-1, 3, 1.0, True])
def test_index_out_of_range_says_how_many_batches(index):
    batches = ArrayBatches(samples(10), batch_size=4)
    with pytest.raises(
        IndexError,
        match=re.escape(f"has 3 batches (indices 0 to 2); received index {index!r}"),
    ):
        batches[index]


@pytest.mark.parametrize(
    "x, kwargs, error, message",
    [
        ([1, 2, 3], {}, TypeError, "`x` to be a NumPy array .*received list"),
        (np.float32(1.0), {}, TypeError, "`x` .*; received float32"),
        (
            np.array(1.0),
            {},
            ValueError,
            r"`x` to be an array of shape \(n, \.\.\.\) with at least one sample; "
            r"received shape \(\)",
        ),
        (np.zeros((0, 2)), {}, ValueError, r"`x` .*; received shape \(0, 2\)"),
        (samples(), {"batch_size": 0}, ValueError, "`batch_size` to be an integer"),
        (samples(), {"batch_size": 2.0}, ValueError, "`batch_size` .*; received 2.0"),
        (
            samples(),
            {"shuffle": "batch"},
            ValueError,
            "`shuffle` to be True or False; received 'batch'",
        ),
        (samples(), {"seed": -1}, ValueError, "`seed` to be an integer >= 0"),
        (samples(), {"seed": 1.5}, ValueError, "`seed`.*received 1.5"),
    ],
)
def test_bad_arguments_name_expected_and_received(x, kwargs, error, message):
    with pytest.raises(error, match=f"ArrayBatches expects {message}"):
        ArrayBatches(x, **kwargs)


def test_bad_epoch_and_stream():
    batches = ArrayBatches(samples())
    with pytest.raises(ValueError, match="`epoch` to be an integer >= 0"):
        batches.set_epoch(-1)
    with pytest.raises(ValueError, match="`stream` to be an integer >= 0"):
        batches.rng(-2)


def test_workers_reach_the_py_dataset():
    batches = ArrayBatches(samples(), workers=2, max_queue_size=3)
    assert (batches.workers, batches.max_queue_size) == (2, 3)


# ----------------------------------------------------------------------
# SetDatasetEpoch.
def test_set_dataset_epoch_sets_the_epoch():
    batches = ArrayBatches(samples(), seed=0)
    SetDatasetEpoch(batches).on_epoch_begin(4)
    assert batches.epoch == 4


def test_set_dataset_epoch_needs_set_epoch():
    with pytest.raises(TypeError, match="`set_epoch\\(epoch\\)` method.*list"):
        SetDatasetEpoch([1, 2])


# ----------------------------------------------------------------------
# How fit wraps arrays (Keras's own fit replaced by a recorder).
def make_gan(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    gan = GAN(mlp(4, 2, 8), mlp(2, 1, 8), latent_dim=4, seed=seed, **kwargs)
    gan.compile()
    return gan


@pytest.fixture
def keras_fit(monkeypatch):
    """Records what `AdversarialModel.fit` passes on to `keras.Model.fit`."""
    calls = []

    def record(self, x=None, y=None, **kwargs):
        calls.append((x, y, kwargs))

    monkeypatch.setattr(keras.Model, "fit", record)
    return calls


def test_fit_wraps_arrays_in_seeded_batches(keras_fit):
    gan = make_gan(seed=5)
    x = samples(100)
    gan.fit(x, np.ones(100), batch_size=16, epochs=3, verbose=0)
    ((data, y, kwargs),) = keras_fit
    assert isinstance(data, ArrayBatches)
    assert (data.batch_size, data.shuffle, data.seed) == (16, True, 5)
    np.testing.assert_array_equal(data.x, x)
    assert y is None  # labels are ignored, as GAN documents
    assert kwargs["shuffle"] is False  # the batches shuffle themselves
    assert "batch_size" not in kwargs and "validation_split" not in kwargs
    assert kwargs["validation_batch_size"] == 16
    assert (kwargs["epochs"], kwargs["verbose"]) == (3, 0)
    assert isinstance(kwargs["callbacks"][0], SetDatasetEpoch)
    assert kwargs["callbacks"][0].dataset is data


def test_fit_defaults_are_keras_defaults(keras_fit):
    make_gan().fit(samples(100), shuffle=False)
    ((data, _, kwargs),) = keras_fit
    assert (data.batch_size, data.shuffle) == (32, False)
    assert "validation_data" not in kwargs


def test_validation_split_holds_out_the_last_samples(keras_fit):
    x = samples(100)
    backup = keras.callbacks.BackupAndRestore("unused")
    make_gan().fit(x, validation_split=0.25, batch_size=8, callbacks=[backup])
    ((data, _, kwargs),) = keras_fit
    np.testing.assert_array_equal(data.x, x[:75])
    np.testing.assert_array_equal(kwargs["validation_data"], x[75:])
    assert kwargs["validation_batch_size"] == 8
    assert kwargs["callbacks"][1:] == [backup]  # the caller's, after ours


def test_given_validation_data_wins_over_the_split(keras_fit):
    x, validation = samples(100), samples(7)
    make_gan().fit(
        x, validation_split=0.5, validation_data=validation, validation_batch_size=3
    )
    ((data, _, kwargs),) = keras_fit
    assert len(data.x) == 100
    assert kwargs["validation_data"] is validation
    assert kwargs["validation_batch_size"] == 3


def test_backend_tensors_are_wrapped_too(keras_fit):
    x = samples(20)
    make_gan().fit(keras.ops.convert_to_tensor(x), batch_size=5)
    ((data, _, _),) = keras_fit
    assert isinstance(data, ArrayBatches) and isinstance(data.x, np.ndarray)
    np.testing.assert_array_equal(data.x, x)


def test_a_dataset_with_set_epoch_gets_the_callback_once(keras_fit):
    gan = make_gan()
    batches = ArrayBatches(samples(), seed=0)
    gan.fit(batches, shuffle=True)
    mine = SetDatasetEpoch(batches)
    gan.fit(batches, callbacks=[mine])
    (_, _, first), (_, _, second) = keras_fit
    assert first["shuffle"] is False
    assert [type(c) for c in first["callbacks"]] == [SetDatasetEpoch]
    assert second["callbacks"] == [mine]


def test_other_datasets_go_to_keras_as_they_are(keras_fit):
    class Plain(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return samples()

    data = Plain()
    make_gan().fit(data, epochs=2)
    ((got, _, kwargs),) = keras_fit
    assert got is data and kwargs == {"epochs": 2}


def test_training_data_takes_another_batch_maker():
    made = []

    def make_batches(x, batch_size, shuffle, seed):
        made.append((len(x), batch_size, shuffle, seed))
        return ArrayBatches(x, batch_size, shuffle, seed)

    gan = make_gan(seed=2)
    kwargs = {"batch_size": 4, "validation_split": 0.2, "epochs": 1}
    data, left = gan._training_data(samples(10), kwargs, make_batches=make_batches)
    assert made == [(8, 4, True, 2)]
    assert kwargs == {"batch_size": 4, "validation_split": 0.2, "epochs": 1}
    assert set(left) == {"epochs", "validation_data", "validation_batch_size"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shuffle": "batch"}, "True or False \\(not Keras's 'batch'\\); received"),
        ({"shuffle": None}, "received None"),
        ({"validation_split": 1.0}, "`validation_split` to be in \\[0, 1\\)"),
        ({"validation_split": -0.1}, "`validation_split`.*received -0.1"),
        ({"validation_split": 0.95}, "leaves 0 for training and 10 for validation"),
        ({"validation_split": 1e-17}, "leaves 10 for training and 0 for validation"),
        ({"batch_size": 0}, "`batch_size` to be an integer >= 1; received 0"),
        ({"sample_weight": np.ones(10)}, "do not weight samples.*`sample_weight`"),
        ({"class_weight": {0: 1.0}}, "do not weight samples.*`class_weight`"),
    ],
)
def test_bad_fit_arguments_are_refused(kwargs, message, keras_fit):
    with pytest.raises(ValueError, match=f"GAN.fit.*{message}"):
        make_gan().fit(samples(10), **kwargs)
    assert not keras_fit


def test_the_trainer_core_does_not_inherit_presets():
    from keras_mae.presets import PresetMixin

    assert not issubclass(AdversarialModel, PresetMixin)
    assert issubclass(GAN, PresetMixin) and hasattr(GAN, "from_preset")


# ----------------------------------------------------------------------
# Real fits: the batches each epoch trains on.
class RecordingGAN(GAN):
    """Records the samples of every training batch (run eagerly)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def adversarial_train_step(self, data):
        x = self._unpack(data)
        self.seen.append(keras.ops.convert_to_numpy(x)[:, 0].astype(int).tolist())
        return super().adversarial_train_step(data)


def recording_gan(seed=7):
    keras.utils.set_random_seed(0)
    gan = RecordingGAN(mlp(4, 2, 8), mlp(2, 1, 8), latent_dim=4, seed=seed)
    gan.compile(run_eagerly=True)
    return gan


def expected_batches(x, batch_size, seed, epochs):
    batches = ArrayBatches(x, batch_size, seed=seed)
    out = []
    for epoch in epochs:
        batches.set_epoch(epoch)
        out += served(batches)
    return out


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("workers", [1, 2])
def test_each_epoch_trains_on_its_own_order(workers):
    x = samples(40)
    gan = recording_gan()
    batches = ArrayBatches(x, 16, seed=gan.seed, workers=workers)
    gan.fit(batches, epochs=3, verbose=0)
    assert gan.seen == expected_batches(x, 16, gan.seed, range(3))


def test_a_resumed_fit_trains_on_the_orders_of_its_epochs(tmp_path):
    x = samples(40)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    interrupted = recording_gan()
    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted.fit(
            x, batch_size=16, epochs=4, verbose=0, callbacks=[backup, Interrupt()]
        )
    assert interrupted.seen == expected_batches(x, 16, 7, range(2))
    resumed = recording_gan()
    resumed.fit(x, batch_size=16, epochs=4, verbose=0, callbacks=[backup])
    assert resumed.seen == expected_batches(x, 16, 7, [2, 3])


def test_validation_split_trains_and_validates_on_the_right_samples():
    class Recording(RecordingGAN):
        def adversarial_test_step(self, data):
            x = self._unpack(data)
            self.validated.append(keras.ops.convert_to_numpy(x)[:, 0].astype(int))
            return super().adversarial_test_step(data)

    keras.utils.set_random_seed(0)
    gan = Recording(mlp(4, 2, 8), mlp(2, 1, 8), latent_dim=4, seed=1)
    gan.validated = []
    gan.compile(run_eagerly=True)
    history = gan.fit(samples(40), validation_split=0.25, batch_size=8, verbose=0)
    assert sorted(i for batch in gan.seen for i in batch) == list(range(30))
    assert np.concatenate(gan.validated).tolist() == list(range(30, 40))
    assert [len(b) for b in gan.validated] == [8, 2]
    assert "val_d_loss" in history.history


def test_dropout_seed_states_are_saved(tmp_path):
    def gan_with_dropout(seed):
        keras.utils.set_random_seed(seed)
        discriminator = keras.Sequential(
            [keras.Input((2,)), keras.layers.Dropout(0.5), keras.layers.Dense(1)]
        )
        return GAN(mlp(4, 2, 8), discriminator, latent_dim=4, seed=seed)

    gan = gan_with_dropout(0)
    (dropout_seed,) = gan._layer_seed_generators()
    dropout_seed.next()  # any state other than the initial one
    path = str(tmp_path / "gan.weights.h5")
    gan.save_weights(path)
    other = gan_with_dropout(1)
    other.load_weights(path)
    (loaded,) = other._layer_seed_generators()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.state),
        keras.ops.convert_to_numpy(dropout_seed.state),
    )


def test_a_model_without_layer_seeds_saves_no_extra_keys():
    store = {}
    make_gan().save_own_variables(store)
    assert list(store) == ["seed_generator_state"]


# ----------------------------------------------------------------------
# Killed in one process, resumed in another.
def test_a_killed_gan_run_resumes_to_the_same_weights(tmp_path):
    result = resume.kill_and_resume(
        "tests.resume:make_gan", epochs=4, kill_after=2, workdir=tmp_path
    )
    assert result.resumed_epochs == [2, 3]
    result.assert_same(atol=1e-6 if BACKEND == "torch" else 0.0)
