"""`AdversarialModel`'s own checks (its training is tested through its models)."""

import numpy as np
import pytest

from keras_mae.models import GAN, MixtureAutoencoder


@pytest.mark.parametrize("model", [MixtureAutoencoder, GAN])
@pytest.mark.parametrize(
    "seed, error, message",
    [
        (-1, ValueError, r"`seed` in \[0, 2\*\*32\); received -1"),
        (2**32, ValueError, r"`seed` in \[0, 2\*\*32\)"),
        (1.5, TypeError, "`seed` to be an int or None; received 1.5"),
        (True, TypeError, "`seed` to be an int or None; received True"),
        ("0", TypeError, "`seed` to be an int or None"),
    ],
)
def test_bad_seeds_say_what_was_expected(model, seed, error, message):
    arguments = (2, 2) if model is MixtureAutoencoder else ()
    with pytest.raises(error, match=message):
        model(*arguments, seed=seed)


def test_numpy_integer_seeds_are_plain_ints():
    model = MixtureAutoencoder(2, 2, seed=np.int64(7))
    assert model.seed == 7 and type(model.seed) is int
