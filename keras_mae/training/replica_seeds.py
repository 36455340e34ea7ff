"""Random draws of their own for the replicas of a data-parallel step.

Under `tf.distribute` and `torch.distributed` each replica runs the step on
its share of the batch, and a model's `SeedGenerator` state is the same on
every replica (mirrored, or equal in every process). Drawn from it directly,
the noise of a GAN's fakes would be the same rows on every replica: two
replicas would train on half as many distinct noise vectors as one device on
the same global batch. `ReplicaSeeds` offsets the drawn seed by the replica's
index, so the replicas draw independent noise while the shared state still
advances exactly as on one device (a resumed or saved model is unchanged).
On one device, and under `keras.distribution` (JAX), nothing changes.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_mae.training import backend

# Replica r's seeds are `(s + r * STRIDE, counter)`. Keras's PyTorch random
# ops seed a generator with the (32-bit) sum of the pair, so the stride keeps
# the replicas' seeds apart for the first 2**24 draws of a run.
STRIDE = 2**24


class ReplicaSeeds(keras.random.SeedGenerator):
    """A model's `SeedGenerator`, as one replica of a data-parallel step draws it.

    A stand-in for the generator in `keras.random` calls (`seed=`): each
    `next()` advances the wrapped generator, as a draw from it would, and
    returns its seed offset by `replica * STRIDE`. It owns no variable, so it
    can be made inside a compiled step; replica 0 draws what the wrapped
    generator would.

    Args:
        generator: The `keras.random.SeedGenerator` whose state advances.
        replica: The replica's index (an int or an integer tensor); by default
            `keras_mae.training.backend.replica_index()`, or 0 outside a
            data-parallel step.

    Examples:
    >>> import keras
    >>> from keras_mae.training import ReplicaSeeds
    >>> shared = keras.random.SeedGenerator(0)
    >>> first = keras.random.normal((2,), seed=ReplicaSeeds(shared, replica=0))
    >>> second = keras.random.normal((2,), seed=ReplicaSeeds(shared, replica=1))
    >>> bool(keras.ops.all(first == second))
    False

    Replica 0 draws what the generator itself would:

    >>> a = keras.random.normal((2,), seed=ReplicaSeeds(keras.random.SeedGenerator(5)))
    >>> b = keras.random.normal((2,), seed=keras.random.SeedGenerator(5))
    >>> bool(keras.ops.all(a == b))
    True
    """

    def __init__(self, generator: keras.random.SeedGenerator, replica=None):
        # No `super().__init__()`: that would create a state variable, which
        # a compiled step (e.g. a `tf.distribute` replica function) forbids.
        if not isinstance(generator, keras.random.SeedGenerator):
            raise TypeError(
                "ReplicaSeeds expects a keras.random.SeedGenerator; received "
                f"{type(generator).__name__}."
            )
        self.generator = generator
        if replica is None:
            replica = backend.replica_index()
        self.replica = 0 if replica is None else replica

    @property
    def state(self):
        """The wrapped generator's state variable (shared by the replicas)."""
        return self.generator.state

    def next(self, ordered: bool = True):
        """The wrapped generator's next seed, offset by the replica's index."""
        seed = self.generator.next(ordered=ordered)
        if isinstance(self.replica, int) and self.replica == 0:
            return seed
        offset = ops.cast(self.replica, seed.dtype) * ops.cast(STRIDE, seed.dtype)
        return seed + ops.stack([offset, ops.zeros_like(offset)])

    def get_config(self):
        """Refused: a `ReplicaSeeds` lives for one step and is never saved."""
        raise NotImplementedError(
            "ReplicaSeeds is made per step and is not saved; save the model, "
            "whose SeedGenerator it wraps."
        )


def step_seeds(generator: keras.random.SeedGenerator) -> keras.random.SeedGenerator:
    """`generator` itself, or this replica's `ReplicaSeeds` in a replicated step.

    Args:
        generator: A model's `keras.random.SeedGenerator`.

    Examples:
    >>> import keras
    >>> from keras_mae.training.replica_seeds import step_seeds
    >>> generator = keras.random.SeedGenerator(0)
    >>> step_seeds(generator) is generator  # one device
    True
    """
    replica = backend.replica_index()
    return generator if replica is None else ReplicaSeeds(generator, replica)
