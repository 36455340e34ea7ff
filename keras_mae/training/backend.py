"""The only backend-specific code of keras_mae.

A model declares its players once (`keras_mae.training.Player`); this module
turns one player's loss into a gradient update on the backend chosen by
`KERAS_BACKEND`, and takes gradients with respect to inputs (for gradient
penalties). The implementation is picked once, at import:

- TensorFlow: `tf.GradientTape` inside the `tf.function` Keras compiles.
- PyTorch: `torch.autograd.grad` on the player's parameters only; the other
  players' parameters are frozen (`requires_grad=False`) while the loss is
  recorded, so no gradient is ever computed for them.
- JAX: stateless. `train_step(state, data)` runs the model's ordinary,
  stateful step inside a `keras.StatelessScope` that holds the whole trainer
  state; each player's loss is differentiated with `jax.value_and_grad` in an
  inner scope where only that player's variables are traced, and the updates
  (optimizer, batch-norm statistics, seed state, metrics) are written back to
  the outer scope, which becomes the new state. On the CPU the step is
  compiled without donating that state (see `make_train_function`).

Everything else in keras_mae is backend-free and uses `keras.ops` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from keras_mae.training.player import Player

BACKEND = keras.backend.backend()


def _detached(logs: dict[str, Any]) -> dict[str, Any]:
    return {name: keras.ops.stop_gradient(value) for name, value in logs.items()}


class _StatefulSteps:
    """TensorFlow and PyTorch run the model's step as written."""

    def make_train_function(self, model, keras_make_train_function, force):
        keras_make_train_function(force=force)

    def train_step(self, model, data):
        return model.adversarial_train_step(data)

    def test_step(self, model, data):
        return model.adversarial_test_step(data)


class _TensorFlowBackend(_StatefulSteps):
    def __init__(self):
        import tensorflow as tf

        self._tf = tf

    def on_accelerator(self) -> bool:
        return bool(self._tf.config.list_logical_devices("GPU"))

    def update_player(self, model, player: Player, x) -> dict[str, Any]:
        with self._tf.GradientTape() as tape:
            loss, logs = player.loss(x, True)
        grads = tape.gradient(loss, list(player.variables))
        player.optimizer.apply(grads, list(player.variables))
        if player.after_update is not None:
            player.after_update()
        return _detached(logs)

    def input_gradients(self, fn: Callable, inputs):
        with self._tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(inputs)
        return tape.gradient(outputs, inputs)


class _TorchBackend(_StatefulSteps):
    def __init__(self):
        import torch

        self._torch = torch

    def on_accelerator(self) -> bool:
        # Keras puts tensors on CUDA or MPS when there is one.
        return keras.ops.zeros(()).device.type != "cpu"

    def update_player(self, model, player: Player, x) -> dict[str, Any]:
        own = {id(v) for v in player.variables}
        # Freezing the other players' parameters while the loss is recorded
        # means autograd never computes (or stores) gradients for them.
        frozen = [
            v.value
            for v in model.trainable_variables
            if id(v) not in own and v.value.requires_grad
        ]
        for tensor in frozen:
            tensor.requires_grad_(False)
        try:
            loss, logs = player.loss(x, True)
        finally:
            for tensor in frozen:
                tensor.requires_grad_(True)
        params = [v.value for v in player.variables]
        grads = self._torch.autograd.grad(loss, params, allow_unused=True)
        with self._torch.no_grad():
            player.optimizer.apply(list(grads), list(player.variables))
            if player.after_update is not None:
                player.after_update()
        return _detached(logs)

    def test_step(self, model, data):
        with self._torch.no_grad():
            return model.adversarial_test_step(data)

    def input_gradients(self, fn: Callable, inputs):
        torch = self._torch
        with torch.enable_grad():
            inputs = inputs.detach().requires_grad_(True)
            outputs = fn(inputs)
            (grads,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
        return grads


class _JaxBackend:
    def __init__(self):
        import jax
        from keras.src.backend.common.stateless_scope import get_stateless_scope

        self._jax = jax
        self._get_scope = get_stateless_scope

    def _run_stateless(self, step, groups, state, data):
        mapping = [
            (variable, value)
            for variables, values in zip(groups, state, strict=True)
            for variable, value in zip(variables, values, strict=True)
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = step(data)
        new_state = tuple(
            [scope.get_current_value(variable) for variable in variables]
            for variables in groups
        )
        return logs, new_state

    def make_train_function(self, model, keras_make_train_function, force):
        previous = model.train_function
        keras_make_train_function(force=force)
        if model.train_function is previous or not self._recompile_without_donation(
            model
        ):
            return
        # Keras's JAX trainer jits the step with `donate_argnums=0`: XLA may
        # then write the new state into the old state's buffers, which saves
        # accelerator memory. On the CPU, where memory is rarely the limit, it
        # only makes XLA copy aliased buffers and order their updates: without
        # it, `GAN.fit` went from 0.92x to 0.96x of a hand-written loop on the
        # 2-core machine of docs/benchmarks.md.
        model.train_function = model._make_function(self._jax.jit(model.train_step))

    def on_accelerator(self) -> bool:
        return self._jax.default_backend() != "cpu"

    def _recompile_without_donation(self, model) -> bool:
        return (
            self._jax.default_backend() == "cpu"
            and model.jit_compile
            and not model.run_eagerly
            and keras.distribution.distribution() is None
            and not keras.config.is_nnx_enabled()
        )

    def train_step(self, model, state, data):
        groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
        return self._run_stateless(model.adversarial_train_step, groups, state, data)

    def test_step(self, model, state, data):
        groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.metrics_variables,
        )
        return self._run_stateless(model.adversarial_test_step, groups, state, data)

    def update_player(self, model, player: Player, x) -> dict[str, Any]:
        # Runs inside the scope opened by `train_step`: reading a variable
        # gives its current traced value, assigning records the new one.
        own = list(player.variables)
        own_ids = {id(v) for v in own}
        state_variables = model.non_trainable_variables
        fixed = [
            (v, v.value)
            for v in model.trainable_variables + state_variables
            if id(v) not in own_ids
        ]

        def loss_fn(own_values):
            mapping = list(zip(own, own_values, strict=True)) + fixed
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, logs = player.loss(x, True)
            updates = [scope.get_current_value(v) for v in state_variables]
            return loss, (logs, updates)

        grad_fn = self._jax.value_and_grad(loss_fn, has_aux=True)
        (_, (logs, updates)), grads = grad_fn([v.value for v in own])
        for variable, value in zip(state_variables, updates, strict=True):
            variable.assign(value)
        player.optimizer.apply(grads, own)
        if player.after_update is not None:
            player.after_update()
        return _detached(logs)

    def input_gradients(self, fn: Callable, inputs):
        jax = self._jax
        outer = self._get_scope()

        def summed(values):
            # `fn` may update state (dropout seeds, statistics); record those
            # updates in a throw-away scope so no inner tracer escapes.
            scope = keras.StatelessScope()
            if outer is not None:
                scope.state_mapping = dict(outer.state_mapping)
            with scope:
                return keras.ops.sum(fn(values))

        return jax.grad(summed)(inputs)


def _select_backend():
    if BACKEND == "tensorflow":
        return _TensorFlowBackend()
    if BACKEND == "jax":
        return _JaxBackend()
    if BACKEND == "torch":
        return _TorchBackend()
    raise RuntimeError(
        "keras_mae trains on the 'tensorflow', 'jax' or 'torch' Keras backends; "
        f"KERAS_BACKEND is '{BACKEND}'."
    )


_IMPL = _select_backend()


def make_train_function(model, keras_make_train_function, force=False):
    """Builds `model.train_function` from Keras's, adapted to the backend.

    Args:
        model: The `AdversarialModel`.
        keras_make_train_function: Keras's own `make_train_function` of
            `model` (the trainer method being overridden).
        force: Rebuild even if the model already has a train function.
    """
    _IMPL.make_train_function(model, keras_make_train_function, force)


def train_step(model, *args):
    """Runs one adversarial training step of `model` (Keras's signature)."""
    return _IMPL.train_step(model, *args)


def test_step(model, *args):
    """Runs one evaluation step of `model` (Keras's signature)."""
    return _IMPL.test_step(model, *args)


def update_player(model, player: Player, x) -> dict[str, Any]:
    """Differentiates `player.loss` w.r.t. `player.variables` and applies it.

    Must be called from within a training step. Returns the player's logs.
    """
    return _IMPL.update_player(model, player, x)


def on_accelerator() -> bool:
    """Whether `keras.ops` compute on an accelerator (a GPU) rather than the CPU."""
    return _IMPL.on_accelerator()


def input_gradients(fn: Callable, inputs):
    """Gradient of `sum(fn(inputs))` with respect to `inputs`, differentiable.

    Used for gradient penalties (WGAN-GP, R1): the result can itself be
    differentiated with respect to the variables `fn` reads.

    Args:
        fn: A function of one tensor, e.g. a discriminator call.
        inputs: The tensor to differentiate with respect to.

    Returns:
        A tensor shaped like `inputs`.

    Examples:

    ```python
    grads = input_gradients(lambda t: discriminator(t, training=True), images)
    penalty = keras.ops.mean(keras.ops.sum(grads**2, axis=(1, 2, 3)))
    ```
    """
    return _IMPL.input_gradients(fn, inputs)
