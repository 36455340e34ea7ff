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
    """Returns `name` if it is a known adversarial loss, else raises.

    Args:
        name: The loss's name, one of `ADVERSARIAL_LOSSES` to pass.

    Returns:
        `name`.

    Raises:
        ValueError: If `name` is not in `ADVERSARIAL_LOSSES`.

    Examples:

    >>> from keras_mae.models.losses import check_adversarial_loss
    >>> check_adversarial_loss("hinge")
    'hinge'
    >>> check_adversarial_loss("hinged")
    Traceback (most recent call last):
    ...
    ValueError: Unknown adversarial loss 'hinged'; expected one of non_saturating, ...
    """
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
    >>> from keras_mae.models.losses import discriminator_loss
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
    >>> from keras_mae.models.losses import generator_loss
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

    Examples:

    A critic of slope 3 everywhere has gradient norm 3, hence penalty
    `(3 - 1)^2`:

    >>> from keras import ops
    >>> from keras_mae.models.losses import gradient_penalty
    >>> real, fake = ops.ones((4, 1)), ops.zeros((4, 1))
    >>> float(gradient_penalty(lambda x: 3.0 * x, real, fake, seed=0))
    4.0
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

    Examples:

    >>> from keras import ops
    >>> from keras_mae.models.losses import r1_penalty
    >>> float(r1_penalty(lambda x: 3.0 * x, ops.ones((4, 1))))
    9.0
    """
    return ops.mean(_squared_gradient_norms(discriminator, real))


# ----------------------------------------------------------------------
# Mixture Autoencoder losses (MIXAE, Zhang et al. 2017).
RECONSTRUCTION_LOSSES = ("mse", "binary_crossentropy")


def component_reconstruction_errors(x, reconstructions, kind: str = "mse"):
    """Per-sample reconstruction error of each component, averaged over features.

    Args:
        x: A batch of data, shape `(batch, *data_shape)`.
        reconstructions: Each component's reconstruction of it, shape
            `(batch, K, *data_shape)`.
        kind: `"mse"` (squared error) or `"binary_crossentropy"` (for data in
            [0, 1] and reconstructions strictly inside it).

    Returns:
        A tensor of shape `(batch, K)`.

    Examples:

    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_mae.models.losses import component_reconstruction_errors
    >>> x = np.zeros((2, 3), "float32")
    >>> r = np.stack([x, x + 1.0], axis=1)
    >>> ops.convert_to_numpy(component_reconstruction_errors(x, r)).tolist()
    [[0.0, 1.0], [0.0, 1.0]]
    """
    batch_size = ops.shape(reconstructions)[0]
    num_components = ops.shape(reconstructions)[1]
    targets = ops.expand_dims(ops.reshape(x, (batch_size, -1)), 1)
    outputs = ops.reshape(reconstructions, (batch_size, num_components, -1))
    if kind == "mse":
        return ops.mean(ops.square(targets - outputs), axis=-1)
    if kind == "binary_crossentropy":
        outputs = ops.clip(outputs, 1e-7, 1.0 - 1e-7)
        return -ops.mean(
            targets * ops.log(outputs) + (1.0 - targets) * ops.log(1.0 - outputs),
            axis=-1,
        )
    raise ValueError(
        f"Unknown reconstruction loss {kind!r}; expected one of "
        f"{', '.join(RECONSTRUCTION_LOSSES)}."
    )


def weighted_reconstruction(errors, weights):
    """`mean_b sum_k weights[b, k] * errors[b, k]`: the mixture's reconstruction loss.

    Args:
        errors: Per-sample, per-component errors, shape `(batch, K)`.
        weights: Assignment weights p(k | x), rows summing to 1.

    Returns:
        A scalar tensor.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.models.losses import weighted_reconstruction
    >>> errors = np.array([[1.0, 3.0], [2.0, 4.0]], "float32")
    >>> weights = np.array([[1.0, 0.0], [0.5, 0.5]], "float32")
    >>> float(weighted_reconstruction(errors, weights))  # (1 + 3) / 2
    2.0
    """
    return ops.mean(ops.sum(weights * errors, axis=-1))


def sample_assignment_entropy(logits):
    """Mean entropy of each sample's assignment: low when assignments are confident.

    Args:
        logits: Assignment logits, shape `(batch, K)`.

    Returns:
        A scalar tensor in `[0, log K]`.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.models.losses import sample_assignment_entropy
    >>> round(float(sample_assignment_entropy(np.zeros((4, 2), "float32"))), 4)
    0.6931
    """
    log_probabilities = ops.log_softmax(logits, axis=-1)
    return -ops.mean(ops.sum(ops.exp(log_probabilities) * log_probabilities, axis=-1))


def batch_assignment_entropy(probabilities):
    """Entropy of the batch's mean assignment: high when components are balanced.

    Maximising it keeps every component in use (no dead or collapsed ones).

    Args:
        probabilities: Assignment probabilities, shape `(batch, K)`.

    Returns:
        A scalar tensor in `[0, log K]`.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.models.losses import batch_assignment_entropy
    >>> round(float(batch_assignment_entropy(np.eye(2, dtype="float32"))), 4)
    0.6931
    """
    mean = ops.mean(probabilities, axis=0)
    return -ops.sum(mean * ops.log(ops.maximum(mean, 1e-12)))


def assignment_consistency(probabilities, other_probabilities):
    """`-mean_b log sum_k p[b, k] q[b, k]`: low when two views agree confidently.

    The consistency loss of SCAN (Van Gansbeke et al. 2020) between the
    assignments of samples and of transformed copies of them. Alone it is
    minimised by putting every sample in one component: pair it with a
    larger `batch_assignment_entropy` term.

    Args:
        probabilities: Assignments of a batch, shape `(batch, K)`.
        other_probabilities: Assignments of another view of the same batch.

    Returns:
        A scalar tensor, 0 when both views are the same one-hot assignment.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.models.losses import assignment_consistency
    >>> p = np.eye(2, dtype="float32")
    >>> float(assignment_consistency(p, p)) == 0.0
    True
    >>> round(float(assignment_consistency(p, 1.0 - p)), 2)  # -log(1e-7)
    16.12
    """
    agreement = ops.sum(probabilities * other_probabilities, axis=-1)
    return -ops.mean(ops.log(ops.maximum(agreement, 1e-7)))
