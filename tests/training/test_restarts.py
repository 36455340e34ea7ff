"""best_of_restarts keeps the restart with the lowest final loss."""

import math

import keras
import numpy as np
import pytest

from keras_mae.models import MixtureAutoencoder
from keras_mae.training import RestartResult, best_of_restarts, best_restart_seed
from tests.testing import slow_except_on


def _build_mae(seed):
    model = MixtureAutoencoder(
        4, latent_dim=2, hidden_units=(16,), output_activation=None, seed=seed
    )
    model.compile()
    return model


@slow_except_on("jax", "choosing among restarts is backend-free")
def test_keeps_the_lowest_final_loss_and_reports_every_restart(toy_mixture):
    trained = {}

    def record(model, seed, history):
        trained[seed] = (model, history.history["loss"][-1])

    result = best_of_restarts(
        _build_mae,
        toy_mixture,
        restarts=3,
        seed=5,
        on_restart=record,
        epochs=2,
        batch_size=256,
        verbose=0,
    )
    assert isinstance(result, RestartResult)
    assert sorted(result.scores) == sorted(trained) == [5, 6, 7]
    for seed, (_, loss) in trained.items():
        assert result.scores[seed] == pytest.approx(float(loss))
    best_seed = min(result.scores, key=result.scores.get)
    assert result.seed == best_seed
    assert result.model is trained[best_seed][0]
    assert result.history.history["loss"][-1] == pytest.approx(result.scores[best_seed])
    # Different seeds are different starts, so the losses differ.
    assert len(set(result.scores.values())) == 3
    assert result.model.predict_clusters(toy_mixture).shape == (len(toy_mixture),)
    # A restart is repeatable from its seed alone.
    again = best_of_restarts(
        _build_mae, toy_mixture, restarts=1, seed=6, epochs=2, batch_size=256, verbose=0
    )
    assert again.scores[6] == pytest.approx(result.scores[6], rel=1e-4)


def _regression(seed, poisoned=()):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    def loss(y_true, y_pred):
        error = keras.ops.mean(keras.ops.square(y_true - y_pred))
        return error * math.nan if seed in poisoned else error

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    return model


def _linear_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def test_non_finite_restarts_are_never_chosen():
    x, y = _linear_data()
    result = best_of_restarts(
        lambda seed: _regression(seed, poisoned={0, 2}),
        x,
        y=y,
        restarts=3,
        epochs=1,
        verbose=0,
    )
    assert result.seed == 1
    assert math.isnan(result.scores[0]) and math.isnan(result.scores[2])
    with pytest.raises(RuntimeError, match="no restart ended with a finite 'loss'"):
        best_of_restarts(
            lambda seed: _regression(seed, poisoned={0, 1}),
            x,
            y=y,
            restarts=2,
            epochs=1,
            verbose=0,
        )


def test_monitors_validation_loss_when_asked():
    x, y = _linear_data()
    result = best_of_restarts(
        _regression,
        x,
        y=y,
        restarts=2,
        monitor="val_loss",
        validation_split=0.25,
        epochs=1,
        verbose=0,
    )
    assert result.scores[result.seed] == pytest.approx(
        result.history.history["val_loss"][-1]
    )


def test_bad_arguments_give_clear_errors():
    x, y = _linear_data()
    with pytest.raises(ValueError, match="`restarts` to be an integer >= 1"):
        best_of_restarts(_regression, x, y=y, restarts=0)
    with pytest.raises(TypeError, match="`build_model` to be a callable"):
        best_of_restarts("model", x, y=y)
    with pytest.raises(TypeError, match="to return a keras.Model; received int"):
        best_of_restarts(lambda seed: 3, x, y=y)
    with pytest.raises(ValueError, match="compiled model"):
        best_of_restarts(
            lambda seed: keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]),
            x,
            y=y,
        )
    with pytest.raises(ValueError, match=r"logged only \['loss'\]"):
        best_of_restarts(
            _regression, x, y=y, monitor="val_loss", restarts=1, epochs=1, verbose=0
        )


@slow_except_on("jax", "choosing among restarts is backend-free")
def test_screening_continues_only_the_best_restart(toy_mixture):
    screened = {}

    def record(model, seed, history):
        screened[seed] = (model, history.history["loss"])

    result = best_of_restarts(
        _build_mae,
        toy_mixture,
        restarts=3,
        screen_epochs=1,
        on_restart=record,
        epochs=3,
        batch_size=256,
        verbose=0,
    )
    steps = math.ceil(len(toy_mixture) / 256)
    assert sorted(result.scores) == sorted(screened) == [0, 1, 2]
    for seed, (model, losses) in screened.items():
        assert len(losses) == 1 and result.scores[seed] == pytest.approx(losses[0])
        if seed != result.seed:  # stopped after screening
            assert int(model.optimizer.iterations) == steps
    assert result.seed == best_restart_seed(result.scores)
    # The chosen one went on from where screening stopped, to `epochs`.
    assert result.model is screened[result.seed][0]
    assert int(result.model.optimizer.iterations) == 3 * steps
    assert result.history.epoch == [0, 1, 2]
    losses = result.history.history["loss"]
    assert len(losses) == 3 and losses[0] == pytest.approx(result.scores[result.seed])
    assert len(result.history.history["usage_0"]) == 3


def test_screened_training_goes_on_like_one_fit():
    x, y = _linear_data()
    fit = dict(y=y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    screened = best_of_restarts(_regression, x, restarts=2, screen_epochs=1, **fit)
    whole = best_of_restarts(_regression, x, restarts=1, seed=screened.seed, **fit)
    for a, b in zip(
        screened.model.get_weights(), whole.model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        screened.history.history["loss"], whole.history.history["loss"], rtol=1e-5
    )


def test_a_screened_mixture_autoencoder_goes_on_like_one_fit(toy_mixture):
    # Its batches, neighbour partners and re-seeding counters follow the seed
    # and the epoch, not the `fit` call: screening changes nothing.
    fit = dict(epochs=3, batch_size=256, verbose=0)
    screened = best_of_restarts(
        _build_mae, toy_mixture, restarts=2, screen_epochs=1, **fit
    )
    whole = best_of_restarts(
        _build_mae, toy_mixture, restarts=1, seed=screened.seed, **fit
    )
    for a, b in zip(
        screened.model.get_weights(), whole.model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        screened.history.history["loss"], whole.history.history["loss"], rtol=1e-5
    )


def test_bad_screening_gives_clear_errors():
    x, y = _linear_data()
    with pytest.raises(
        ValueError, match=r"`screen_epochs` to be an integer in \[1, 3\)"
    ):
        best_of_restarts(_regression, x, y=y, screen_epochs=3, epochs=3)
    with pytest.raises(ValueError, match="trains from epoch 0; received initial_epoch"):
        best_of_restarts(
            _regression, x, y=y, screen_epochs=1, epochs=3, initial_epoch=1
        )


def test_best_restart_seed_is_the_rule_of_best_of_restarts():
    assert best_restart_seed({3: -1.0, 4: -2.0, 5: -1.5}) == 4
    # Not-finite values never win; of equal values the first (in run order).
    assert best_restart_seed({7: math.nan, 8: math.inf, 9: 5.0}) == 9
    assert best_restart_seed({2: 1.0, 0: 1.0, 1: 1.0}) == 2
    assert best_restart_seed({0: -math.inf, 1: math.nan}) is None
    assert best_restart_seed({}) is None
    assert best_restart_seed({0: np.float32(2.0), 1: np.float64(1.0)}) == 1
