"""keras_mae.training.replica_seeds: each replica's own draws from a shared state."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_mae.training import ReplicaSeeds, step_seeds
from keras_mae.training.replica_seeds import STRIDE


def _draw(seed, shape=(8,)):
    return keras.ops.convert_to_numpy(keras.random.normal(shape, seed=seed))


def _state(generator):
    return keras.ops.convert_to_numpy(generator.state).tolist()


def test_replica_zero_draws_what_the_generator_draws():
    shared, plain = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    for _ in range(3):
        np.testing.assert_array_equal(_draw(ReplicaSeeds(shared, 0)), _draw(plain))
    assert _state(shared) == _state(plain)


def test_replicas_draw_apart_and_advance_the_state_once_per_draw():
    # Two replicas of one step: each advances its copy of the shared state
    # once, as one device would; their draws differ from each other and
    # from every draw replica 0 makes in the next steps (Keras's PyTorch
    # random ops seed with the sum of the pair, hence STRIDE).
    replica0, replica1 = keras.random.SeedGenerator(0), keras.random.SeedGenerator(0)
    draws0, draws1 = [], []
    for _ in range(20):
        draws0.append(_draw(ReplicaSeeds(replica0, 0)))
        draws1.append(_draw(ReplicaSeeds(replica1, 1)))
    assert _state(replica0) == _state(replica1)
    for draw in draws1:
        for other in draws0:
            assert np.abs(draw - other).min() > 0.0


def test_replica_index_may_be_a_tensor():
    shared = keras.random.SeedGenerator(0)
    index = keras.ops.convert_to_tensor(2, "int32")
    seed = keras.ops.convert_to_numpy(ReplicaSeeds(shared, index).next())
    first = keras.ops.convert_to_numpy(keras.random.SeedGenerator(0).state)
    assert seed.tolist() == [int(first[0]) + 2 * STRIDE, int(first[1])]


def test_step_seeds_is_the_generator_itself_on_one_device():
    generator = keras.random.SeedGenerator(0)
    assert step_seeds(generator) is generator


def test_replica_seeds_refuses_what_is_not_a_seed_generator_and_is_not_saved():
    with pytest.raises(TypeError, match="expects a keras.random.SeedGenerator"):
        ReplicaSeeds(7)
    with pytest.raises(NotImplementedError, match="not saved"):
        ReplicaSeeds(keras.random.SeedGenerator(0)).get_config()
