"""`GAN.fit` accepts what `keras.Model.fit` accepts, on every backend."""

import numpy as np
import pytest

from tests.models.test_gan import make_gan


def make_data():
    return np.random.default_rng(0).standard_normal((128, 2)).astype("float32")


def numpy_input():
    return make_data(), {"batch_size": 32}


def tf_dataset():
    tf = pytest.importorskip("tensorflow")
    return tf.data.Dataset.from_tensor_slices(make_data()).batch(32), {"shuffle": False}


def py_dataset():
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.data = make_data()

        def __len__(self):
            return 4

        def __getitem__(self, index):
            return self.data[index * 32 : (index + 1) * 32]

    return Batches(), {}


def torch_loader():
    torch = pytest.importorskip("torch")
    data = torch.utils.data.TensorDataset(torch.from_numpy(make_data()))
    # A DataLoader shuffles itself (or not): tell `fit` not to.
    return torch.utils.data.DataLoader(data, batch_size=32), {"shuffle": False}


@pytest.mark.parametrize("source", [numpy_input, tf_dataset, py_dataset, torch_loader])
def test_fit_accepts(source):
    data, kwargs = source()
    gan = make_gan()
    gan.compile()
    history = gan.fit(data, epochs=1, verbose=0, **kwargs).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    steps = int(np.asarray(gan.optimizer.iterations))
    assert steps == 4
