import numpy as np

from keras_mae.datasets import load_digits


def test_load_digits():
    x, y = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    # Every class is present about 180 times.
    assert np.bincount(y).min() > 170


def test_images_keep_pixel_layout():
    from sklearn.datasets import load_digits as sklearn_load_digits

    x, _ = load_digits()
    raw = sklearn_load_digits()
    np.testing.assert_allclose(x[5, :, :, 0] * 16, raw.images[5])
