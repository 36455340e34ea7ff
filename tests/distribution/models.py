"""The small models and layouts of tests/distribution, built the same way
on one device and distributed.

Helpers for `tests.distribution.worker`, not tests. Both models use SGD with
momentum, not Adam (see the worker's docstring).
"""

from __future__ import annotations

import numpy as np

SAMPLES = 256


def toy_data(count: int = SAMPLES, seed: int = 0) -> np.ndarray:
    """`count` 2-D points from four Gaussians (float32, seeded)."""
    centers = np.array([[2, 0], [-2, 0], [0, 2], [0, -2]], "float32")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centers), count)
    return (centers[labels] + 0.3 * rng.standard_normal((count, 2))).astype("float32")


def _sgd():
    import keras

    return keras.optimizers.SGD(learning_rate=0.05, momentum=0.5)


def make_gan(replicas: int = 1):
    """A small MLP GAN with an EMA generator; compiled with SGD.

    `replicas > 1` builds the TensorFlow and PyTorch single-device reference
    of a data-parallel run: there replica r draws the rows `r * batch /
    replicas ...` of its noise from the shared seed offset by r
    (`keras_mae.training.ReplicaSeeds`); the reference draws the same seed
    once and each replica's rows from it.
    """
    import keras

    from keras_mae.models import GAN
    from keras_mae.training import ReplicaSeeds

    class FixedSeed(keras.random.SeedGenerator):
        def __init__(self, value):  # no state of its own: one drawn seed
            self.value = value

        def next(self, ordered=True):
            return self.value

    class PerReplicaNoiseGAN(GAN):
        def _noise(self, batch_size, seed=None):
            if seed is not None or replicas == 1:
                return super()._noise(batch_size, seed)
            drawn = FixedSeed(self.seed_generator.next())
            shape = (batch_size // replicas, self.latent_dim)
            return keras.ops.concatenate(
                [
                    keras.random.normal(shape, seed=ReplicaSeeds(drawn, replica))
                    for replica in range(replicas)
                ],
                axis=0,
            )

    generator = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu", name="g_hidden"),
            keras.layers.Dense(2, name="g_output"),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(16, activation="relu", name="d_hidden"),
            keras.layers.Dense(1, name="d_output"),
        ]
    )
    cls = GAN if replicas == 1 else PerReplicaNoiseGAN
    gan = cls(generator, discriminator, latent_dim=4, ema_decay=0.9, seed=0)
    gan.compile(generator_optimizer=_sgd(), discriminator_optimizer=_sgd())
    return gan


def make_mae(backend: str, neighbors: bool | None = None):
    """A small vector MixtureAutoencoder without per-replica randomness.

    `augmentation=None` (vectors): no augmentation draws. On JAX the step is
    one global program on the batches of one device: the nearest-neighbour
    term (its pairs drawn on the host from the seed and the epoch), the
    adversarial prior's noise and the batch entropy (a function of the whole
    batch) are those of the single-device step and stay on. On TensorFlow
    and PyTorch each replica computes its loss on its own share of the
    batch: the batch entropy would be that of the share, each replica draws
    its own prior noise (`ReplicaSeeds`), and a PyTorch process finds the
    neighbours of its shard in its shard; so `batch_entropy_weight=0`,
    `adversarial=None` and (by default) `neighbor_weight=0` there.

    Args:
        backend: The backend's name.
        neighbors: Whether the nearest-neighbour term is on; by default on
            JAX only.
    """
    neighbors = backend == "jax" if neighbors is None else neighbors
    from keras_mae import MixtureAutoencoder

    per_replica_loss = backend != "jax"
    mae = MixtureAutoencoder(
        3,
        2,
        input_shape=(2,),  # builds the networks now, inside a strategy's scope
        hidden_units=(16,),
        augmentation=None,
        neighbor_weight=1.0 if neighbors else 0.0,
        adversarial=None if per_replica_loss else "latent",
        batch_entropy_weight=0.0 if per_replica_loss else 1.0,
        latent_discriminator=None,
        # Under torch.distributed each process would re-seed from its own
        # shard's usage, so fit refuses re-seeding there.
        **({"reseed_threshold": 0.0} if backend == "torch" else {}),
        # Skipped (with a warning) where replicas train in step; on JAX the
        # distributed run self-labels as the single-device one does.
        self_labeling=None if per_replica_loss else "auto",
        seed=0,
    )
    kwargs = {} if per_replica_loss else {"discriminator_optimizer": _sgd()}
    mae.compile(optimizer=_sgd(), **kwargs)
    return mae


# Model parallelism (JAX): a 2 x 2 mesh, the batch over one axis and the
# hidden units of these kernels over the other (the other variables
# replicated). Keys are regular expressions a whole variable path matches.
MODEL_LAYOUTS = {
    "gan": {
        r".*_hidden/kernel": (None, "model"),
        r".*_hidden/bias": ("model",),
    },
    "mae": {
        r"(encoder|decoder)/parallel_dense[_0-9]*/kernel": (None, None, "model"),
        r"(encoder|decoder)/parallel_dense[_0-9]*/bias": (None, "model"),
        r"latent_discriminator/dense_[0-9]+/kernel": (None, "model"),
        r"latent_discriminator/dense_[0-9]+/bias": ("model",),
    },
}


def model_parallel(kind: str):
    """`keras.distribution.ModelParallel` over 4 JAX devices for `kind`."""
    import keras

    mesh = keras.distribution.DeviceMesh(
        (2, 2), ["batch", "model"], keras.distribution.list_devices()
    )
    layout_map = keras.distribution.LayoutMap(mesh)
    for key, axes in MODEL_LAYOUTS[kind].items():
        layout_map[key] = axes
    return keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name="batch"
    )
