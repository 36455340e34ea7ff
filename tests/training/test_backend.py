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


def _large_gan():
    from keras_mae.models import GAN
    from keras_mae.training.backend import XLA_MIN_WEIGHTS

    gan = GAN(latent_dim=4, data_shape=(20000,), seed=0)
    assert gan.count_params() >= XLA_MIN_WEIGHTS
    return gan


def test_jit_compile_auto_is_xla_for_large_models_on_tensorflow_cpus_too():
    # `jit_compile="auto"` (the default) is Keras's choice, except on
    # TensorFlow's CPU, where Keras turns XLA off: keras_mae turns it on for
    # models of five million weights or more, and leaves smaller ones without.
    small, large = make_gan(), _large_gan()
    small.compile()
    large.compile()
    assert small.jit_compile is (BACKEND == "jax")
    assert large.jit_compile is (BACKEND != "torch")
    large.compile(jit_compile=False)  # an explicit choice is kept
    assert large.jit_compile is False
    large.compile(run_eagerly=True)
    assert large.jit_compile is False and large.run_eagerly
    if BACKEND == "tensorflow":
        small.compile(jit_compile=True)
        assert small.jit_compile is True


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute")
def test_tensorflow_strategies_keep_keras_choice():
    import tensorflow as tf

    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        gan = _large_gan()
        gan.compile()
    assert gan.jit_compile is False  # Keras: no XLA with tf.distribute


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA on TensorFlow's CPU")
def test_image_mixture_trains_the_same_with_and_without_xla():
    # No augmentation and no adversary: TensorFlow's random draws differ
    # under XLA; the rest of the step must not.
    from keras_mae.models import MixtureAutoencoder

    x = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
    trained = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)  # the initial weights
        model = MixtureAutoencoder(
            3, 2, hidden_units=(16,), augmentation=None, adversarial=None, seed=0
        )
        model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=jit_compile)
        model.fit(x, batch_size=32, epochs=2, verbose=0)
        assert model.jit_compile is jit_compile
        trained.append(values(model.trainable_variables))
    for eager, xla in zip(*trained, strict=True):
        np.testing.assert_allclose(xla, eager, atol=1e-5)


def test_a_model_built_after_compile_resolves_auto_when_built():
    # The MixtureAutoencoder learns its input shape in `fit`: "auto" waits.
    from keras_mae.models import MixtureAutoencoder
    from keras_mae.training.backend import XLA_MIN_WEIGHTS

    # The wide networks: 10,750,543 weights on MNIST (the default, half as
    # wide, has 4,737,103: under the threshold).
    model = MixtureAutoencoder(10, 10, hidden_units=(512, 256), seed=0)
    model.compile()
    keras_choice = model.jit_compile
    model.build((None, 28, 28, 1))
    assert model.jit_compile is (BACKEND != "torch")
    assert keras_choice is (BACKEND == "jax")
    default = MixtureAutoencoder(10, 10, seed=0)
    default.compile()
    default.build((None, 28, 28, 1))
    assert default.count_params() < XLA_MIN_WEIGHTS
    assert default.jit_compile is (BACKEND == "jax")
