"""Player declarations are checked when they are made."""

import keras
import pytest

from keras_mae.training import Player


def _variables():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    return layer.trainable_variables


def _loss(x, training):
    return 0.0, {}


def test_a_valid_player():
    player = Player("critic", _variables(), keras.optimizers.Adam(), _loss, steps=5)
    assert player.steps == 5 and len(player.variables) == 2


def test_optimizer_must_be_a_keras_optimizer():
    with pytest.raises(TypeError, match="'critic'.*keras.optimizers.Optimizer.*str"):
        Player("critic", _variables(), "adam", _loss)


@pytest.mark.parametrize("steps", [0, -1, 1.5])
def test_steps_must_be_a_positive_integer(steps):
    with pytest.raises(ValueError, match=f"integer >= 1; received {steps!r}"):
        Player("critic", _variables(), keras.optimizers.Adam(), _loss, steps=steps)


def test_a_player_needs_variables():
    with pytest.raises(ValueError, match="'critic' has no trainable variables"):
        Player("critic", [], keras.optimizers.Adam(), _loss)
