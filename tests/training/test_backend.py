"""The trainer core's per-backend plumbing (`keras_mae.training.backend`)."""

import keras
import numpy as np
import pytest

from tests.conftest import BACKEND
from tests.models.test_gan import changed, make_gan, values


def trained_gan(data):
    gan = make_gan()
    gan.compile()
    gan.fit(data, batch_size=64, epochs=1, verbose=0)
    return gan


def test_train_function_is_built_once_and_reused(toy_mixture):
    gan = trained_gan(toy_mixture[:128])
    function = gan.train_function
    before = values(gan.trainable_variables)
    gan.fit(toy_mixture[:128], batch_size=64, epochs=1, verbose=0)
    # A second `fit` neither rebuilds (nor recompiles) the step, and trains.
    assert gan.train_function is function
    assert changed(before, values(gan.trainable_variables))
    gan.make_train_function(force=True)
    assert gan.train_function is not function


@pytest.mark.skipif(BACKEND != "jax", reason="state donation is a JAX concept")
def test_jax_cpu_step_does_not_donate_its_input_state(toy_mixture):
    import jax

    if jax.default_backend() != "cpu":
        pytest.skip("the step donates its state on accelerators, as Keras's does")
    gan = trained_gan(toy_mixture[:128])
    state = tuple(
        [jax.numpy.array(v.value) for v in variables]
        for variables in (
            gan.trainable_variables,
            gan.non_trainable_variables,
            gan.optimizer.variables,
            gan.metrics_variables,
        )
    )
    batch = (keras.ops.convert_to_tensor(toy_mixture[:64]),)
    logs, new_state = gan.train_function(state, iter([batch]))
    assert np.isfinite(float(logs["d_loss"]))
    # Keras's own step (donate_argnums=0) deletes the arrays it was given.
    assert not any(array.is_deleted() for array in jax.tree.leaves(state))
    assert changed(
        [np.asarray(a) for a in state[0]], [np.asarray(a) for a in new_state[0]]
    )
