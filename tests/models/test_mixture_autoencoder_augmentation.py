import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_mae.models import MixtureAutoencoder
from keras_mae.models.mixture_autoencoder import affine_transforms

SIZE = 9  # centre pixel (4, 4)


def moved(pixel, **parameters):
    """Where the one lit pixel `(x, y)` of a 9x9 image lands."""
    image = np.zeros((1, SIZE, SIZE, 1), "float32")
    image[0, pixel[1], pixel[0], 0] = 1.0
    defaults = {"angle": 0.0, "shear": 0.0, "scale": 1.0, "shift_x": 0.0}
    defaults["shift_y"] = 0.0
    defaults.update(parameters)
    batch = {k: np.full((1,), v, "float32") for k, v in defaults.items()}
    rows = affine_transforms(**batch, height=SIZE, width=SIZE)
    out = ops.convert_to_numpy(
        ops.image.affine_transform(image, rows, interpolation="nearest")
    )[0, :, :, 0]
    assert out.sum() == pytest.approx(1.0), "the pixel must land inside once"
    y, x = np.unravel_index(np.argmax(out), out.shape)
    return int(x), int(y)


def test_identity_parameters_give_the_identity_row():
    one = np.ones((2,), "float32")
    rows = ops.convert_to_numpy(
        affine_transforms(0 * one, 0 * one, one, 0 * one, 0 * one, 28, 28)
    )
    np.testing.assert_allclose(rows, [[1, 0, 0, 0, 1, 0, 0, 0]] * 2, atol=1e-6)


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


def test_augmented_images_keep_their_shape_and_range():
    images = np.random.default_rng(0).uniform(size=(16, 12, 12, 1))
    model = MixtureAutoencoder(2, latent_dim=2, input_shape=(12, 12, 1), seed=0)
    model.compile()
    augmented = ops.convert_to_numpy(model._augment(images.astype("float32")))
    assert augmented.shape == images.shape
    assert np.all(np.isfinite(augmented))
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    # Random transforms: every image changes, and differently.
    changes = np.abs(augmented - images).mean(axis=(1, 2, 3))
    assert np.all(changes > 0.01)
    assert len(np.unique(np.round(changes, 5))) == len(images)


def test_consistency_shear_is_checked_and_saved(tmp_path):
    model = MixtureAutoencoder(2, latent_dim=2, input_shape=(8, 8, 1), seed=0)
    with pytest.raises(ValueError, match="`consistency_shear`.*received 1.5"):
        model.compile(consistency_shear=1.5)
    model.compile(consistency_shear=0.25)
    path = str(tmp_path / "shear.keras")
    model.save(path)
    assert keras.saving.load_model(path).consistency_shear == 0.25


def test_without_shear_vertical_strokes_stay_nearly_vertical():
    # A vertical bar through the centre: with consistency_shear=0 only the
    # rotation (at most 15 degrees) slants it; at 0.4 the shear adds up to
    # about 22 degrees more.
    image = np.zeros((256, 28, 28, 1), "float32")
    image[:, 4:24, 13:15] = 1.0

    def slants(shear):
        model = MixtureAutoencoder(2, latent_dim=2, input_shape=(28, 28, 1), seed=0)
        model.compile(consistency_shear=shear)
        out = ops.convert_to_numpy(model._augment(image))[..., 0]
        columns = np.arange(28)
        # Centre of mass of the bar's top and bottom rows, after the move.
        weight = out.sum(axis=2, keepdims=True)
        x = (out * columns).sum(axis=2) / np.maximum(weight[..., 0], 1e-6)
        rows = np.where(weight[..., 0] > 0.5, np.arange(28), np.nan)
        top, bottom = np.nanmin(rows, axis=1), np.nanmax(rows, axis=1)
        dx = x[np.arange(256), top.astype(int)] - x[np.arange(256), bottom.astype(int)]
        return np.degrees(np.abs(np.arctan2(dx, bottom - top)))

    assert slants(0.0).max() < 16.0
    assert slants(0.4).max() > 25.0
