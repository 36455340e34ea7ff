import os

import keras
import numpy as np
import pytest

from keras_mae.models import GAN
from keras_mae.training import TerminateOnNaNLosses
from tests.conftest import BACKEND, mlp


def make_gan(latent_dim=4, units=32, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return GAN(
        mlp(latent_dim, 2, units, name="generator"),
        mlp(2, 1, units, name="discriminator"),
        latent_dim=latent_dim,
        seed=seed,
        **kwargs,
    )


def adam(lr=1e-3):
    return keras.optimizers.Adam(lr, beta_1=0.5)


def values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def energy_distance(a, b):
    def mean_dist(p, q):
        return np.mean(np.linalg.norm(p[:, None] - q[None], axis=-1))

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


class OnePlayerGAN(GAN):
    """Trains only the named player: isolates one update."""

    only = None

    def players(self):
        return [p for p in super().players() if self.only in (None, p.name)]


@pytest.mark.parametrize("player", ["discriminator", "generator"])
def test_one_players_update_leaves_the_other_unchanged(player, toy_mixture):
    keras.utils.set_random_seed(0)
    gan = OnePlayerGAN(mlp(4, 2), mlp(2, 1), latent_dim=4, seed=0)
    gan.compile()  # every variable is given to its player's optimizer here
    gan.only = player
    other = "generator" if player == "discriminator" else "discriminator"
    mine_before = values(getattr(gan, player).weights)
    other_before = values(getattr(gan, other).weights)
    gan.fit(toy_mixture[:128], batch_size=64, epochs=1, verbose=0)
    assert changed(mine_before, values(getattr(gan, player).weights))
    assert not changed(other_before, values(getattr(gan, other).weights))
    optimizer = gan.player_optimizer(player)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 2
    assert int(keras.ops.convert_to_numpy(gan.player_optimizer(other).iterations)) == 0


def test_a_step_updates_both_players(toy_mixture):
    gan = make_gan()
    gan.compile(discriminator_steps=2)
    g_before, d_before = (
        values(gan.generator.weights),
        values(gan.discriminator.weights),
    )
    gan.fit(toy_mixture[:64], batch_size=64, epochs=1, verbose=0)
    assert changed(g_before, values(gan.generator.weights))
    assert changed(d_before, values(gan.discriminator.weights))
    d_iterations = gan.player_optimizer("discriminator").iterations
    assert int(keras.ops.convert_to_numpy(d_iterations)) == 2
    assert int(keras.ops.convert_to_numpy(gan.optimizer.iterations)) == 1


def test_all_optimizer_state_lives_in_model_optimizer():
    gan = make_gan()
    gan.compile()
    assert isinstance(gan.optimizer, keras.optimizers.MultiOptimizer)
    ids = {id(v) for v in gan.optimizer.variables}
    for name in ("generator", "discriminator"):
        sub = gan.player_optimizer(name)
        assert sub.built and sub.variables
        assert all(id(v) in ids for v in sub.variables)
    # No default RMSprop built on everything.
    assert not any(
        isinstance(o, keras.optimizers.RMSprop) for o in gan.optimizer.optimizers
    )


@pytest.mark.parametrize(
    "loss, penalties",
    [
        ("non_saturating", {}),
        ("minimax", {}),
        ("hinge", {}),
        ("least_squares", {}),
        ("wasserstein", {"gradient_penalty_weight": 10.0}),
        ("non_saturating", {"r1_penalty_weight": 1.0}),
    ],
)
def test_losses_are_finite_and_logged(loss, penalties, toy_mixture):
    gan = make_gan()
    gan.compile(loss=loss, **penalties)
    history = gan.fit(toy_mixture[:128], batch_size=64, epochs=2, verbose=0).history
    expected = {"d_loss", "g_loss"}
    if penalties.get("gradient_penalty_weight"):
        expected.add("gradient_penalty")
    if penalties.get("r1_penalty_weight"):
        expected.add("r1_penalty")
    assert set(history) == expected
    assert all(np.isfinite(v).all() for v in history.values())
    evaluated = gan.evaluate(
        toy_mixture[:128], batch_size=64, verbose=0, return_dict=True
    )
    assert set(evaluated) == expected
    assert all(np.isfinite(v) for v in evaluated.values())


def test_gradient_penalty_is_positive_for_a_steep_critic(toy_mixture):
    gan = make_gan()
    gan.compile(loss="wasserstein", gradient_penalty_weight=10.0)
    # Scale the critic's last layer so its input gradients are far from 1.
    kernel = gan.discriminator.layers[-1].kernel
    kernel.assign(kernel * 100.0)
    logs = gan.evaluate(toy_mixture[:64], batch_size=64, verbose=0, return_dict=True)
    assert logs["gradient_penalty"] > 1.0


def test_training_moves_samples_to_the_data(toy_mixture):
    gan = make_gan(units=64)
    gan.compile(adam(), adam())
    start = energy_distance(gan.generate(512, seed=1), toy_mixture[:512])
    gan.fit(toy_mixture, batch_size=64, epochs=20, verbose=0)
    end = energy_distance(gan.generate(512, seed=1), toy_mixture[:512])
    assert end < 0.35 * start, (start, end)


def test_fixed_seed_gives_identical_runs(toy_mixture):
    runs = []
    for _ in range(2):
        gan = make_gan(seed=3)
        gan.compile()
        gan.fit(toy_mixture[:256], batch_size=64, epochs=1, verbose=0, shuffle=False)
        runs.append(values(gan.weights))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_generate_is_repeatable_with_a_seed_and_varies_without():
    gan = make_gan()
    a, b = gan.generate(10, seed=5), gan.generate(10, seed=5)
    assert a.shape == (10, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(gan.generate(10), gan.generate(10))
    assert gan.generate(600, seed=5, batch_size=256).shape == (600, 2)


def test_predict_maps_noise_through_the_generator():
    gan = make_gan()
    noise = np.random.default_rng(0).normal(size=(70, 4)).astype("float32")
    predicted = gan.predict(noise, batch_size=32, verbose=0)
    assert predicted.shape == (70, 2)
    expected = keras.ops.convert_to_numpy(gan.generator(noise))
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)


def test_ema_generator_tracks_and_is_used(toy_mixture):
    gan = make_gan(ema_decay=0.9)
    gan.compile()
    np.testing.assert_array_equal(
        gan.generate(8, seed=0),
        keras.ops.convert_to_numpy(gan.generator(keras.random.normal((8, 4), seed=0))),
    )
    gan.fit(toy_mixture[:256], batch_size=64, epochs=1, verbose=0)
    ema, raw = values(gan.ema_generator.weights), values(gan.generator.weights)
    assert changed(ema, raw)  # lags behind the trained weights
    assert gan.ema_generator.trainable_variables == []
    z = keras.random.normal((8, 4), seed=0)
    np.testing.assert_allclose(
        gan.generate(8, seed=0),
        keras.ops.convert_to_numpy(gan.ema_generator(z)),
        atol=1e-6,
    )


def test_save_and_load_round_trip(tmp_path, toy_mixture):
    gan = make_gan(ema_decay=0.99)
    gan.compile(adam(1e-3), adam(5e-4), loss="hinge", discriminator_steps=2)
    gan.fit(toy_mixture[:256], batch_size=64, epochs=2, verbose=0)
    path = os.path.join(tmp_path, "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAN) and loaded.adversarial_loss == "hinge"
    assert loaded.discriminator_steps == 2
    np.testing.assert_array_equal(gan.generate(16, seed=7), loaded.generate(16, seed=7))
    for name in ("generator", "discriminator"):
        original, restored = gan.player_optimizer(name), loaded.player_optimizer(name)
        assert float(restored.learning_rate) == float(original.learning_rate)
        assert len(original.variables) == len(restored.variables) > 2
        for a, b in zip(original.variables, restored.variables, strict=True):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            )
    assert (
        int(
            keras.ops.convert_to_numpy(
                loaded.player_optimizer("discriminator").iterations
            )
        )
        == 16
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(gan.seed_generator.state),
        keras.ops.convert_to_numpy(loaded.seed_generator.state),
    )
    # The loaded model goes on training.
    loaded.fit(toy_mixture[:64], batch_size=64, epochs=1, verbose=0)


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_exactly(tmp_path, toy_mixture):
    data = toy_mixture[:256]
    kwargs = dict(batch_size=64, epochs=4, verbose=0, shuffle=False)

    reference = make_gan()
    reference.compile()
    reference.fit(data, **kwargs)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    interrupted = make_gan()
    interrupted.compile()
    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted.fit(data, callbacks=[backup, Interrupt()], **kwargs)

    resumed = make_gan(seed=1)  # a new process: other initial weights, other seed
    resumed.compile()
    history = resumed.fit(data, callbacks=[backup], **kwargs)
    assert len(history.epoch) == 2  # epochs 3 and 4 only
    tolerance = 1e-6 if BACKEND == "torch" else 0.0
    for a, b in zip(values(reference.weights), values(resumed.weights), strict=True):
        np.testing.assert_allclose(a, b, atol=tolerance, rtol=0)


def test_terminate_on_nan_losses_stops_training(toy_mixture):
    # A discriminator whose scores are NaN: every loss is NaN from the first
    # batch on. (NaN data would not do: TensorFlow's relu maps NaN to 0.)
    discriminator = keras.Sequential(
        [mlp(2, 1, name="critic"), keras.layers.Rescaling(float("nan"))]
    )
    gan = GAN(mlp(4, 2), discriminator, latent_dim=4, seed=0)
    gan.compile()
    guard = TerminateOnNaNLosses()
    history = gan.fit(
        toy_mixture[:256], batch_size=64, epochs=3, verbose=0, callbacks=[guard]
    )
    assert guard.stopped_on in {"d_loss", "g_loss"}
    assert len(history.epoch) == 1


def test_wrong_input_shape_names_expected_and_received():
    gan = make_gan()
    gan.compile()
    with pytest.raises(
        ValueError, match=r"expects data of shape \(batch, 2\); received \(.*3\)"
    ):
        gan.fit(np.zeros((64, 3), "float32"), batch_size=32, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"ema_decay": 1.5}, "ema_decay"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    arguments = dict(generator=mlp(4, 2), discriminator=mlp(2, 1), latent_dim=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        GAN(**arguments)


def test_bad_compile_arguments():
    gan = make_gan()
    with pytest.raises(ValueError, match="Unknown adversarial loss 'wgan'"):
        gan.compile(loss="wgan")
    with pytest.raises(ValueError, match="discriminator_steps"):
        gan.compile(discriminator_steps=0)
    shared = adam()
    with pytest.raises(ValueError, match="own optimizer instance"):
        gan.compile(shared, shared)


def test_discriminator_must_output_one_score():
    with pytest.raises(ValueError, match=r"one score per sample"):
        GAN(mlp(4, 2), mlp(2, 3), latent_dim=4)


def test_config_round_trip():
    gan = make_gan(ema_decay=0.9, seed=11)
    clone = GAN.from_config(gan.get_config())
    assert clone.latent_dim == 4 and clone.ema_decay == 0.9 and clone.seed == 11
    assert clone.data_shape == (2,)
    assert clone.get_config() == gan.get_config()


@pytest.mark.parametrize("data_shape", [(8, 8, 1), (2,)])
def test_default_networks_train(data_shape):
    gan = GAN(latent_dim=8, data_shape=data_shape, seed=0)
    assert gan.data_shape == data_shape
    gan.compile()
    data = np.random.default_rng(0).uniform(size=(64, *data_shape)).astype("float32")
    history = gan.fit(data, batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    samples = gan.generate(3, seed=0)
    assert samples.shape == (3, *data_shape) and np.isfinite(samples).all()
    if len(data_shape) == 3:  # sigmoid outputs, like the images
        assert samples.min() >= 0.0 and samples.max() <= 1.0


def test_default_networks_need_a_data_shape():
    with pytest.raises(ValueError, match="needs `data_shape`"):
        GAN(latent_dim=8)
    with pytest.raises(ValueError, match=r"data_shape=\(3,\) but the generator"):
        GAN(mlp(4, 2), mlp(2, 1), latent_dim=4, data_shape=(3,))
