import keras
import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from keras_mae.layers.affine_resample import affine_resample
from keras_mae.layers.random_affine import affine_transforms
from tests.conftest import BACKEND

SHAPE = (6, 9, 7, 2)  # height != width: a swapped axis would show
# keras_mae's fill modes and scipy.ndimage's names for the same reading.
SCIPY_MODES = {
    "constant": "grid-constant",
    "nearest": "nearest",
    "wrap": "grid-wrap",
    "reflect": "reflect",
}
INTERPOLATIONS = {"bilinear": 1, "nearest": 0}


def random_case(seed=0):
    """Images and large random affine maps that read far outside the image."""
    rng = np.random.default_rng(seed)
    batch, height, width, _ = SHAPE
    x = rng.uniform(size=SHAPE).astype("float32")

    def uniform(limit):
        return rng.uniform(-limit, limit, batch).astype("float32")

    rows = affine_transforms(
        uniform(0.8),
        uniform(0.4),
        1.0 + uniform(0.3),
        uniform(0.5) * width,
        uniform(0.5) * height,
        height,
        width,
    )
    return x, ops.convert_to_numpy(rows)


def scipy_reference(x, rows, interpolation, fill_mode):
    """Each image and channel through `scipy.ndimage.map_coordinates`."""
    _, height, width, channels = x.shape
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    out = np.empty_like(x)
    for i, (a0, a1, a2, b0, b1, b2, _, _) in enumerate(rows.astype("float64")):
        coordinates = [b0 * xs + b1 * ys + b2, a0 * xs + a1 * ys + a2]
        for c in range(channels):
            out[i, :, :, c] = ndimage.map_coordinates(
                x[i, :, :, c].astype("float64"),
                coordinates,
                order=INTERPOLATIONS[interpolation],
                mode=SCIPY_MODES[fill_mode],
                cval=0.0,
            )
    return out


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
@pytest.mark.parametrize("fill_mode", sorted(SCIPY_MODES))
def test_pixels_are_those_of_scipy_map_coordinates(interpolation, fill_mode):
    x, rows = random_case()
    out = ops.convert_to_numpy(affine_resample(x, rows, interpolation, fill_mode))
    expected = scipy_reference(x, rows, interpolation, fill_mode)
    np.testing.assert_allclose(out, expected, atol=2e-6)


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect"])
def test_pixels_are_those_of_keras_affine_transform(interpolation, fill_mode):
    # "wrap" is left out: TensorFlow's affine_transform wraps otherwise than
    # the other backends' (and scipy's, above).
    x, rows = random_case(seed=1)
    expected = ops.image.affine_transform(
        x, rows.copy(), interpolation=interpolation, fill_mode=fill_mode
    )
    out = affine_resample(x, rows, interpolation, fill_mode)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), ops.convert_to_numpy(expected), atol=2e-6
    )


def test_the_identity_and_a_whole_pixel_shift_are_exact():
    x, _ = random_case()
    identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], "float32"), (len(x), 1))
    np.testing.assert_array_equal(ops.convert_to_numpy(affine_resample(x, identity)), x)
    down = identity.copy()
    down[:, 5] = -2.0  # output row r reads input row r - 2
    out = ops.convert_to_numpy(affine_resample(x, down))
    np.testing.assert_array_equal(out[:, 2:], x[:, :-2])
    np.testing.assert_array_equal(out[:, :2], 0.0)


def test_dtype_is_kept_and_it_compiles_in_a_model():
    x, rows = random_case()
    half = affine_resample(x.astype("float16"), rows)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    images = keras.Input(SHAPE[1:])
    maps = keras.Input((8,))
    layer = keras.layers.Lambda(lambda args: affine_resample(*args))
    model = keras.Model([images, maps], layer([images, maps]))
    eager = ops.convert_to_numpy(affine_resample(x, rows))
    # Compiled as Keras chooses, then with and without XLA (TensorFlow's CPU
    # uses XLA for large models; torch has no XLA).
    for jit_compile in ("auto", False) + ((True,) if BACKEND != "torch" else ()):
        model.compile(jit_compile=jit_compile)
        predicted = model.predict([x, rows], batch_size=4, verbose=0)
        np.testing.assert_allclose(predicted, eager, atol=1e-6)


def test_unknown_image_sides_are_refused():
    with pytest.raises(ValueError, match="known height, width and channels"):
        affine_resample(keras.KerasTensor((None, None, 7, 1)), np.zeros((1, 8)))
