"""A player of an adversarial game: what it updates, with what, to minimise what."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_mae.utils.argument_checks import check_int

LossFn = Callable[[Any, bool], tuple[Any, dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Player:
    """One side of an adversarial game, declared once for every backend.

    The trainer core (`keras_mae.training.backend`) turns a list of players into
    a `train_step` on TensorFlow, JAX and PyTorch: for each player in turn it
    differentiates `loss` with respect to `variables` only and applies the
    gradients with `optimizer`. The other players' variables are read but never
    changed during that update.

    Args:
        name: Name of the player, e.g. `"discriminator"`.
        variables: The trainable variables this player updates.
        optimizer: The optimizer that updates them. Each player owns its own
            optimizer instance.
        loss: `loss(x, training) -> (scalar_loss, logs)`, written with
            `keras.ops` and sub-model calls only. `logs` maps names to scalar
            tensors reported by `fit`/`evaluate` (it usually contains the loss
            itself, e.g. `{"d_loss": loss}`).
        steps: How many updates this player makes per training step (e.g.
            `discriminator_steps` for WGAN critics). Each update draws fresh
            noise and reuses the batch.
        after_update: Optional stateful callback run after each update of this
            player, outside gradient recording (e.g. an EMA of the weights).

    Examples:

    A player fitting a linear model, declared by hand (an
    `AdversarialModel` subclass returns its players from `players()`; see
    there for a whole game):

    >>> import keras
    >>> from keras import ops
    >>> from keras_mae.training import Player
    >>> dense = keras.layers.Dense(1)
    >>> dense.build((None, 2))
    >>> def loss(x, training):
    ...     value = ops.mean(ops.square(dense(x) - 1.0))
    ...     return value, {"fit_loss": value}
    >>> player = Player(
    ...     name="fitter",
    ...     variables=dense.trainable_variables,
    ...     optimizer=keras.optimizers.Adam(1e-2),
    ...     loss=loss,
    ... )
    >>> value, logs = player.loss(ops.ones((4, 2)), True)
    >>> list(logs)
    ['fit_loss']
    >>> Player("empty", [], keras.optimizers.Adam(), loss)
    Traceback (most recent call last):
    ...
    ValueError: Player 'empty' has no trainable variables.
    """

    name: str
    variables: Sequence[keras.Variable]
    optimizer: keras.optimizers.Optimizer
    loss: LossFn
    steps: int = 1
    after_update: Callable[[], None] | None = None

    def __post_init__(self):
        if not isinstance(self.optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"Player '{self.name}' expects a keras.optimizers.Optimizer; "
                f"received {type(self.optimizer).__name__}."
            )
        check_int(f"Player '{self.name}'", "steps", self.steps)
        if not self.variables:
            raise ValueError(f"Player '{self.name}' has no trainable variables.")
