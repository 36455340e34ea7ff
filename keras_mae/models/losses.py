"""Adversarial losses and penalties, written once with `keras.ops`.

Every discriminator here outputs unbounded scores (logits); the losses apply
whatever squashing they need. Shared by `GAN` and `MixtureAutoencoder`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from keras_mae.training import input_gradients

ADVERSARIAL_LOSSES = (
    "non_saturating",
    "minimax",
    "hinge",
    "wasserstein",
    "least_squares",
)


def check_adversarial_loss(name: str) -> str:
    """Returns `name` if it is a known adversarial loss, else raises."""
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(
            f"Unknown adversarial loss {name!r}; expected one of "
            f"{', '.join(ADVERSARIAL_LOSSES)}."
        )
    return name


def discriminator_loss(name: str, real_scores, fake_scores):
    """The discriminator's loss on real and generated scores (batch mean).

    Args:
        name: One of `ADVERSARIAL_LOSSES`.
        real_scores: Discriminator outputs on real data, shape `(batch, ...)`.
        fake_scores: Discriminator outputs on generated data.

    Returns:
        A scalar tensor.

    Examples:

    >>> from keras import ops
    >>> float(discriminator_loss("hinge", ops.ones((4, 1)), -ops.ones((4, 1))))
    0.0
    """
    if name in ("non_saturating", "minimax"):
        # -log sigmoid(real) - log(1 - sigmoid(fake)).
        return ops.mean(ops.softplus(-real_scores)) + ops.mean(
            ops.softplus(fake_scores)
        )
    if name == "hinge":
        return ops.mean(ops.relu(1.0 - real_scores)) + ops.mean(
            ops.relu(1.0 + fake_scores)
        )
    if name == "wasserstein":
        return ops.mean(fake_scores) - ops.mean(real_scores)
    if name == "least_squares":
        return 0.5 * ops.mean(ops.square(real_scores - 1.0)) + 0.5 * ops.mean(
            ops.square(fake_scores)
        )
    check_adversarial_loss(name)


def generator_loss(name: str, fake_scores):
    """The generator's loss on the discriminator's scores of generated data.

    Args:
        name: One of `ADVERSARIAL_LOSSES`.
        fake_scores: Discriminator outputs on generated data.

    Returns:
        A scalar tensor.

    Examples:

    >>> from keras import ops
    >>> round(float(generator_loss("non_saturating", ops.zeros((4, 1)))), 4)
    0.6931
    """
    if name == "non_saturating":
        return ops.mean(ops.softplus(-fake_scores))
    if name == "minimax":
        # Minimises log(1 - sigmoid(fake)) = -softplus(fake).
        return -ops.mean(ops.softplus(fake_scores))
    if name in ("hinge", "wasserstein"):
        return -ops.mean(fake_scores)
    if name == "least_squares":
        return 0.5 * ops.mean(ops.square(fake_scores - 1.0))
    check_adversarial_loss(name)


def _squared_gradient_norms(discriminator: Callable, inputs):
    grads = input_gradients(discriminator, inputs)
    grads = ops.reshape(grads, (ops.shape(grads)[0], -1))
    return ops.sum(ops.square(grads), axis=1)


def gradient_penalty(discriminator: Callable, real, fake, seed):
    """WGAN-GP penalty: `E[(||grad D(x_hat)|| - 1)^2]` on random interpolates.

    Args:
        discriminator: A function of a batch returning scores.
        real: A batch of real data.
        fake: A batch of generated data of the same shape.
        seed: A `keras.random.SeedGenerator` (or int) for the interpolation.

    Returns:
        A scalar tensor.
    """
    fake = ops.stop_gradient(fake)
    shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    alpha = keras.random.uniform(shape, seed=seed, dtype=real.dtype)
    interpolates = alpha * real + (1.0 - alpha) * fake
    norms = ops.sqrt(_squared_gradient_norms(discriminator, interpolates) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def r1_penalty(discriminator: Callable, real):
    """R1 penalty (Mescheder et al. 2018): `E[||grad D(x)||^2]` on real data.

    Args:
        discriminator: A function of a batch returning scores.
        real: A batch of real data.

    Returns:
        A scalar tensor (multiply by `gamma / 2` for the usual weighting).
    """
    return ops.mean(_squared_gradient_norms(discriminator, real))
