"""TerminateOnNaNLosses reads every loss, not only `loss`."""

import math

import keras
import pytest

from keras_mae.training import TerminateOnNaNLosses


def _guard():
    guard = TerminateOnNaNLosses()
    guard.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    guard.model.stop_training = False
    return guard


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_any_non_finite_loss_stops_training(value):
    guard = _guard()
    guard.on_train_batch_end(0, {"d_loss": 0.5, "g_loss": value})
    assert guard.model.stop_training
    assert guard.stopped_on == "g_loss"


def test_finite_losses_and_other_logs_are_left_alone():
    guard = _guard()
    guard.on_train_batch_end(0, {"d_loss": 0.5, "usage_0": math.nan})
    guard.on_train_batch_end(1, None)
    assert not guard.model.stop_training
    assert guard.stopped_on is None
