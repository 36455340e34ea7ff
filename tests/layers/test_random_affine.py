import io
import math
from contextlib import redirect_stdout

import h5py
import keras
import numpy as np
import pytest
from keras import ops

from keras_mae.layers import RandomAffine
from keras_mae.layers.random_affine import affine_transforms

SIZE = 9  # centre pixel (4, 4)
# Two batch shapes for (nearly) every test: JAX compiles the resampling once
# per shape and dtype, a few seconds each on CPU.
SMALL = (4, 8, 8, 1)
LARGE = (64, 28, 28, 1)
KWARGS = {
    "rotation": 20.0,
    "scale": 0.2,
    "shift": 0.15,
    "shear": 0.3,
    "interpolation": "nearest",
    "fill_mode": "reflect",
    "seed": 7,
}


def numpy(x):
    return ops.convert_to_numpy(x)


def images(shape=SMALL, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


# ----------------------------------------------------------------------
# `affine_transforms`, pixel by pixel.
def moved(pixel, **parameters):
    """Where the one lit pixel `(x, y)` of a 9x9 image lands."""
    image = np.zeros((1, SIZE, SIZE, 1), "float32")
    image[0, pixel[1], pixel[0], 0] = 1.0
    defaults = {"angle": 0.0, "shear": 0.0, "scale": 1.0, "shift_x": 0.0}
    defaults["shift_y"] = 0.0
    defaults.update(parameters)
    batch = {k: np.full((1,), v, "float32") for k, v in defaults.items()}
    rows = affine_transforms(**batch, height=SIZE, width=SIZE)
    out = numpy(ops.image.affine_transform(image, rows, interpolation="nearest"))
    out = out[0, :, :, 0]
    assert out.sum() == pytest.approx(1.0), "the pixel must land inside once"
    y, x = np.unravel_index(np.argmax(out), out.shape)
    return int(x), int(y)


def test_identity_parameters_give_the_identity_row():
    one = np.ones((2,), "float32")
    rows = numpy(affine_transforms(0 * one, 0 * one, one, 0 * one, 0 * one, 28, 28))
    np.testing.assert_allclose(rows, [[1, 0, 0, 0, 1, 0, 0, 0]] * 2, atol=1e-6)


def test_bilinear_identity_transform_is_exact():
    x = images()
    one = np.ones((4,), "float32")
    rows = affine_transforms(0 * one, 0 * one, one, 0 * one, 0 * one, 8, 8)
    out = ops.image.affine_transform(x, rows, interpolation="bilinear")
    np.testing.assert_array_equal(numpy(out), x)


@pytest.mark.parametrize(
    "pixel, parameters, expected",
    [
        ((6, 4), {}, (6, 4)),
        # The x axis turns towards the y axis.
        ((6, 4), {"angle": math.pi / 2}, (4, 6)),
        # Shear slants: x moves by shear times the height above the centre.
        ((4, 6), {"shear": 1.0}, (6, 6)),
        ((4, 2), {"shear": 1.0}, (2, 2)),
        ((6, 4), {"scale": 0.5}, (5, 4)),
        ((4, 4), {"shift_x": 1.0, "shift_y": 2.0}, (5, 6)),
        # Shear first, then rotation, then the shift.
        ((4, 6), {"shear": 1.0, "angle": math.pi / 2, "shift_x": 1.0}, (3, 6)),
    ],
)
def test_transforms_move_a_pixel_as_documented(pixel, parameters, expected):
    assert moved(pixel, **parameters) == expected


def test_without_shear_vertical_strokes_stay_nearly_vertical():
    # A vertical bar through the centre: with shear=0 only the rotation (at
    # most 15 degrees) slants it; at 0.4 the shear adds up to about 22
    # degrees more.
    image = np.zeros(LARGE, "float32")
    image[:, 4:24, 13:15] = 1.0
    n = len(image)

    def slants(shear):
        out = numpy(RandomAffine(shear=shear, seed=0)(image))[..., 0]
        columns = np.arange(28)
        # Centre of mass of the bar's top and bottom rows, after the move.
        weight = out.sum(axis=2, keepdims=True)
        x = (out * columns).sum(axis=2) / np.maximum(weight[..., 0], 1e-6)
        rows = np.where(weight[..., 0] > 0.5, np.arange(28), np.nan)
        top, bottom = np.nanmin(rows, axis=1), np.nanmax(rows, axis=1)
        dx = x[np.arange(n), top.astype(int)] - x[np.arange(n), bottom.astype(int)]
        return np.degrees(np.abs(np.arctan2(dx, bottom - top)))

    assert slants(0.0).max() < 16.0
    assert slants(0.4).max() > 25.0


# ----------------------------------------------------------------------
# The layer.
def test_config_round_trip():
    layer = RandomAffine(**KWARGS, name="augment")
    config = layer.get_config()
    for key, value in KWARGS.items():
        assert config[key] == value, key
    assert RandomAffine.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_mae>RandomAffine"
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is RandomAffine
    assert revived.get_config() == config
    # Same seed in the config: the revived layer draws the same transforms.
    x = images()
    np.testing.assert_array_equal(numpy(revived(x)), numpy(layer(x)))


def test_default_arguments():
    config = RandomAffine().get_config()
    expected = {
        "rotation": 15.0,
        "scale": 0.1,
        "shift": 0.1,
        "shear": 0.4,
        "interpolation": "bilinear",
        "fill_mode": "constant",
        "seed": None,
    }
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_shape_and_dtype_are_kept(dtype):
    x = ops.cast(images(), dtype)
    for layer in (RandomAffine(seed=0), RandomAffine(seed=0, dtype="mixed_float16")):
        out = layer(x)
        assert tuple(out.shape) == SMALL
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        assert np.all(np.isfinite(numpy(ops.cast(out, "float32"))))
        assert layer.compute_output_shape((None, 8, 8, 1)) == (None, 8, 8, 1)
        symbolic = layer(keras.Input((8, 8, 1), dtype=dtype))
        assert tuple(symbolic.shape) == (None, 8, 8, 1)
        assert keras.backend.standardize_dtype(symbolic.dtype) == dtype


def test_training_false_is_the_identity():
    x = images()
    layer = RandomAffine(seed=0)
    np.testing.assert_array_equal(numpy(layer(x, training=False)), x)
    assert not np.allclose(numpy(layer(x)), x)
    # `predict` runs in inference mode.
    model = keras.Sequential([keras.Input((8, 8, 1)), RandomAffine(seed=0)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_zero_amounts_are_the_identity():
    x = images()
    x[0, 3, 3, 0] = np.inf  # bilinear weights of 0 would still turn it into NaNs
    layer = RandomAffine(rotation=0, scale=0, shift=0, shear=0, seed=0)
    np.testing.assert_array_equal(numpy(layer(x, training=True)), x)


def test_seeds_decide_the_transforms():
    x = images()
    first, second = numpy(RandomAffine(seed=3)(x)), numpy(RandomAffine(seed=3)(x))
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, numpy(RandomAffine(seed=4)(x)))
    # Every call draws new transforms, and every image gets its own.
    layer = RandomAffine(seed=3)
    np.testing.assert_array_equal(numpy(layer(x)), first)
    assert not np.allclose(numpy(layer(x)), first)
    repeated = numpy(layer(np.repeat(x[:1], 4, axis=0)))
    assert not np.allclose(repeated[0], repeated[1])


def test_draws_are_angle_shear_scale_shift_x_shift_y():
    x = images()
    layer = RandomAffine(rotation=10.0, scale=0.2, shift=0.1, shear=0.3, seed=11)
    seed = keras.random.SeedGenerator(11)

    def uniform(limit):
        return keras.random.uniform((4,), -limit, limit, seed=seed)

    rows = affine_transforms(
        angle=uniform(10.0 * math.pi / 180.0),
        shear=uniform(0.3),
        scale=1.0 + uniform(0.2),
        shift_x=uniform(0.1) * 8,
        shift_y=uniform(0.1) * 8,
        height=8,
        width=8,
    )
    expected = ops.image.affine_transform(x, rows, interpolation="bilinear")
    np.testing.assert_allclose(numpy(layer(x)), numpy(expected), atol=1e-6)


FACTORS = {"rotation": 12.0, "scale": 0.1, "shift": 0.08, "shear": 0.3, "seed": 5}


def recovered_factors():
    """The angle, shear, scale and shifts a `RandomAffine(**FACTORS)` applies.

    Bilinear interpolation reproduces a linear ramp exactly, so on an image
    of the pixels' x (or y) coordinates the output at `(x, y)` is the x (or
    y) of the input point it was read from: the inverse affine map, image by
    image (two layers of one seed apply the same transforms).
    """
    batch, size = LARGE[:2]
    grid = np.arange(size, dtype="float32")
    y, x = np.meshgrid(grid, grid, indexing="ij")
    out = np.stack(
        [
            numpy(RandomAffine(**FACTORS)(np.broadcast_to(ramp, LARGE)))[..., 0]
            for ramp in (x[..., None], y[..., None])
        ],
        axis=-1,
    ).astype("float64")
    p, centre = size // 2, (size - 1) / 2.0
    at_p = out[:, p, p]
    inverse = np.stack(
        [out[:, p, p + 1] - at_p, out[:, p + 1, p] - at_p], axis=-1
    )  # [[a0, a1], [b0, b1]]
    forward = np.linalg.inv(inverse)
    scale = np.hypot(forward[:, 0, 0], forward[:, 1, 0])
    angle = np.arctan2(forward[:, 1, 0], forward[:, 0, 0])
    shear = (
        np.cos(angle) * forward[:, 0, 1] + np.sin(angle) * forward[:, 1, 1]
    ) / scale
    # x_in(p) = forward^-1 (p - centre - shift) + centre, solved for the shift.
    shift = (p - centre) - np.einsum("bij,bj->bi", forward, at_p - centre)
    return np.degrees(angle), shear, scale, shift[:, 0], shift[:, 1]


def test_factors_stay_in_their_ranges():
    angle, shear, scale, shift_x, shift_y = recovered_factors()
    limit = 0.08 * 28
    for values, low, high in [
        (angle, -12.0, 12.0),
        (shear, -0.3, 0.3),
        (scale, 0.9, 1.1),
        (shift_x, -limit, limit),
        (shift_y, -limit, limit),
    ]:
        assert values.min() >= low - 1e-3 and values.max() <= high + 1e-3
        # Uniform over the whole range: 64 draws come close to both ends.
        assert values.min() < low + 0.2 * (high - low)
        assert values.max() > high - 0.2 * (high - low)
    assert not np.allclose(shift_x, shift_y)


def test_factors_follow_the_seed_in_order():
    seed = keras.random.SeedGenerator(5)
    draws = [
        numpy(keras.random.uniform((64,), -limit, limit, seed=seed))
        for limit in (12.0 * math.pi / 180.0, 0.3, 0.1, 0.08, 0.08)
    ]
    expected = [
        np.degrees(draws[0]),
        draws[1],
        1.0 + draws[2],
        draws[3] * 28,
        draws[4] * 28,
    ]
    for got, want in zip(recovered_factors(), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=2e-3)


def test_a_pure_shift_moves_a_pixel_by_at_most_shift_times_the_side():
    image = np.zeros(LARGE, "float32")
    image[:, 14, 14] = 1.0
    layer = RandomAffine(rotation=0, scale=0, shift=0.1, shear=0, seed=1)
    out = numpy(layer(image))[..., 0]
    # Bilinear interpolation keeps the centre of mass of a shifted pixel.
    np.testing.assert_allclose(out.sum(axis=(1, 2)), 1.0, atol=1e-5)
    grid = np.arange(28)
    dx = (out.sum(axis=1) * grid).sum(axis=1) - 14
    dy = (out.sum(axis=2) * grid).sum(axis=1) - 14
    assert np.abs(dx).max() <= 2.8 + 1e-4 and np.abs(dy).max() <= 2.8 + 1e-4
    assert np.abs(dx).max() > 2.0 and np.abs(dy).max() > 2.0


def test_interpolation_and_fill_mode_are_used():
    x = images()
    layer = RandomAffine(interpolation="nearest", fill_mode="reflect", seed=0)
    nearest = numpy(layer(x))
    # Nearest-neighbour reads existing pixels, the reflection too.
    for image, original in zip(nearest, x, strict=True):
        assert set(image.ravel()) <= set(original.ravel())
    ones = np.ones(SMALL, "float32")
    shifted = {
        mode: numpy(RandomAffine(shift=0.5, fill_mode=mode, seed=0)(ones))
        for mode in ("constant", "wrap")
    }
    assert shifted["constant"].min() == 0.0
    np.testing.assert_allclose(shifted["wrap"], 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rotation": 180}, r"RandomAffine expects `rotation` to be in \[0, 180\)"),
        ({"rotation": -1.0}, r"`rotation`.*degrees.*received -1.0"),
        ({"scale": 1.0}, r"`scale` to be in \[0, 1\).*received 1.0"),
        ({"shift": -0.1}, r"`shift` to be in \[0, 1\).*received -0.1"),
        ({"shear": 1.5}, r"`shear` to be in \[0, 1\).*received 1.5"),
        ({"shear": True}, r"`shear`.*received True"),
        ({"scale": "0.1"}, r"`scale`.*received '0.1'"),
        ({"interpolation": "bicubic"}, r"`interpolation` to be one of .*'bicubic'"),
        ({"fill_mode": "mirror"}, r"`fill_mode` to be one of .*'mirror'"),
        ({"seed": -1}, r"`seed` to be an integer >= 0; received -1"),
        ({"seed": 1.5}, r"`seed` to be an integer >= 0; received 1.5"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomAffine(**kwargs)


def test_inputs_must_be_a_batch_of_images():
    layer = RandomAffine(seed=0)
    with pytest.raises(ValueError, match=r"RandomAffine expects images of shape"):
        layer(np.zeros((8, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"rank-2 input of shape \(batch, 64\)"):
        layer.compute_output_shape((None, 64))


# ----------------------------------------------------------------------
# In a model: training, saving, the seed state.
def model_with_layer(seed=0):
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            RandomAffine(seed=seed, name="augment"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )


def augment(model, x):
    return numpy(model.get_layer("augment")(x, training=True))


def test_works_in_a_functional_model_and_a_training_step():
    model = model_with_layer()
    summary = io.StringIO()
    with redirect_stdout(summary):
        model.summary()
    assert "RandomAffine" in summary.getvalue()
    model.compile(optimizer="adam", loss="mse")
    x = images()
    state = numpy(model.get_layer("augment").seed_generator.state).copy()
    history = model.fit(x, np.zeros((4, 2)), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The compiled step advanced the layer's seed: the next batch differs.
    assert not np.array_equal(
        numpy(model.get_layer("augment").seed_generator.state), state
    )


def test_the_layer_stores_only_its_seed_state():
    layer = RandomAffine(seed=0)
    layer(images())
    assert layer.weights == []
    store = {}
    layer.save_own_variables(store)
    assert list(store) == ["seed_generator_state"]
    np.testing.assert_array_equal(
        store["seed_generator_state"], numpy(layer.seed_generator.state)
    )


def test_load_weights_restores_the_seed_state(tmp_path):
    x = images()
    model = model_with_layer()
    augment(model, x)
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    after_saving = augment(model, x)
    augment(model, x)
    model.load_weights(path)
    np.testing.assert_array_equal(augment(model, x), after_saving)
    # A new model (another seed) continues where the saved one was.
    other = model_with_layer(seed=123)
    other.load_weights(path)
    np.testing.assert_array_equal(augment(other, x), after_saving)


def test_weights_without_the_seed_state_still_load(tmp_path):
    x = images()
    model = model_with_layer()
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r+") as file:
        names = []
        file.visit(names.append)
        keys = [name for name in names if name.endswith("seed_generator_state")]
        assert len(keys) == 1, names
        del file[keys[0]]
    other = model_with_layer(seed=0)
    other.load_weights(path)
    # The state is left as it was: seed 0's first draw.
    np.testing.assert_array_equal(augment(other, x), augment(model_with_layer(), x))
    layer = RandomAffine(seed=0)
    state = numpy(layer.seed_generator.state).copy()
    layer.load_own_variables({})
    np.testing.assert_array_equal(numpy(layer.seed_generator.state), state)


def test_a_saved_model_keeps_the_seed_state(tmp_path):
    x = images()
    model = model_with_layer()
    augment(model, x)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("augment"), RandomAffine)
    np.testing.assert_array_equal(augment(loaded, x), augment(model, x))
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
