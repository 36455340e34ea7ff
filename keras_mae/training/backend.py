"""The only backend-specific code of keras_mae.

It turns a player's loss (`keras_mae.training.Player`) into a gradient
update on the backend of `KERAS_BACKEND` (picked at import), and takes
gradients with respect to inputs (for gradient penalties):

- TensorFlow: `tf.GradientTape` in the `tf.function` Keras compiles (XLA for
  large models on the CPU too, `auto_jit_compile`); under `tf.distribute`
  each replica's loss is divided by the replicas (the optimizer sums them).
- PyTorch: `torch.autograd.grad` on the player's parameters only (the others
  are frozen while the loss is recorded); under `torch.distributed` the
  gradients are averaged over the processes (one all-reduce).
- JAX: stateless. The model's step runs in a `keras.StatelessScope` of the
  trainer state; each player's loss is differentiated (`jax.value_and_grad`)
  in an inner scope of that player's variables, and the updates are written
  back (the new state). On the CPU the state is not donated.

Everything else in keras_mae is backend-free and uses `keras.ops` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from keras_mae.training.player import Player

BACKEND = keras.backend.backend()
# XLA on TensorFlow's CPU from this many weights on (docs/benchmarks.md).
XLA_MIN_WEIGHTS = 5_000_000


def _detached(logs: dict[str, Any]) -> dict[str, Any]:
    return {name: keras.ops.stop_gradient(value) for name, value in logs.items()}


class _Backend:
    """What holds on every backend unless it says otherwise."""

    def auto_jit_compile(self, model):
        return model.jit_compile  # what Keras resolved "auto" to

    def training_processes(self) -> int:
        return 1  # tf.distribute, keras.distribution: one process

    def replica_index(self):
        return None  # JAX: one program for the global batch, as on one device


class _StatefulSteps(_Backend):
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

    def auto_jit_compile(self, model):
        # Keras's "auto" is no XLA on CPU-only TensorFlow; it pays on the
        # largest models only (docs/benchmarks.md).
        from keras.src.trainers.trainer import model_supports_jit

        tf = self._tf
        if (
            tf.config.list_physical_devices("GPU")
            or tf.distribute.has_strategy()
            or model.distribute_strategy is not tf.distribute.get_strategy()
        ):
            return model.jit_compile
        return model.count_params() >= XLA_MIN_WEIGHTS and model_supports_jit(model)

    def replica_index(self):
        # Inside `strategy.run` (Keras's step under a strategy): a tensor.
        context = self._tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync < 2:
            return None
        return context.replica_id_in_sync_group

    def update_player(self, model, player: Player, x) -> dict[str, Any]:
        with self._tf.GradientTape() as tape:
            loss, logs = player.loss(x, True)
            # The optimizer sums the replicas' gradients: as Keras's
            # `compute_loss`, divide by the replicas so the sum is the mean.
            replicas = self._tf.distribute.get_strategy().num_replicas_in_sync
            if replicas > 1:
                loss = loss / replicas
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
        return keras.ops.zeros(()).device.type != "cpu"  # CUDA or MPS

    def training_processes(self) -> int:
        distributed = self._torch.distributed
        if distributed.is_available() and distributed.is_initialized():
            return distributed.get_world_size()
        return 1

    def replica_index(self):
        if self.training_processes() < 2:
            return None
        return self._torch.distributed.get_rank()

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
        grads = self._averaged_over_processes(grads)
        with self._torch.no_grad():
            player.optimizer.apply(list(grads), list(player.variables))
            if player.after_update is not None:
                player.after_update()
        return _detached(logs)

    def _averaged_over_processes(self, grads):
        """The mean of `grads` over the processes, as DDP takes it (a DDP
        wrapper would be bypassed: the step calls its sub-models directly)."""
        world_size = self.training_processes()
        present = [g for g in grads if g is not None]
        if world_size == 1 or not present:
            return grads
        distributed = self._torch.distributed
        flat = self._torch.cat([g.reshape(-1) for g in present])
        distributed.all_reduce(flat)
        sizes = [g.numel() for g in present]
        pieces = iter(self._torch.split(flat / world_size, sizes))
        return [None if g is None else next(pieces).view_as(g) for g in grads]

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


class _JaxBackend(_Backend):
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
        # Keras jits the step with `donate_argnums=0`, which saves accelerator
        # memory; on the CPU it only makes XLA copy aliased buffers: without
        # it `GAN.fit` went from 0.92x to 0.96x of a hand-written loop.
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

    Examples (`AdversarialModel.make_train_function`, which `fit` calls):
    >>> from keras_mae.models import GAN
    >>> from keras_mae.training import AdversarialModel, backend
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> gan.compile()
    >>> keras_own = super(AdversarialModel, gan).make_train_function
    >>> backend.make_train_function(gan, keras_own)
    >>> callable(gan.train_function)
    True
    """
    _IMPL.make_train_function(model, keras_make_train_function, force)


def train_step(model, *args):
    """One adversarial training step of `model` (`AdversarialModel.train_step`).

    Args:
        model: The `AdversarialModel`.
        *args: Keras's arguments of `train_step` (on JAX the trainer state,
            then the batch; elsewhere the batch).

    Returns:
        The step's logs (on JAX also the new state).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models import GAN
    >>> x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> gan.compile()
    >>> sorted(gan.train_on_batch(x, return_dict=True))  # runs this step
    ['d_loss', 'g_loss']
    """
    return _IMPL.train_step(model, *args)


def test_step(model, *args):
    """One evaluation step (`AdversarialModel.test_step`): losses, no update.

    Args:
        model: The `AdversarialModel`.
        *args: Keras's arguments of `test_step`.

    Returns:
        The step's logs (on JAX also the new state).

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> gan.compile()
    >>> sorted(gan.test_on_batch(np.zeros((8, 2), "float32"), return_dict=True))
    ['d_loss', 'g_loss']
    """
    return _IMPL.test_step(model, *args)


def update_player(model, player: Player, x) -> dict[str, Any]:
    """Differentiates `player.loss` w.r.t. `player.variables` and applies it.

    Call it from within a training step (`adversarial_train_step`).

    Args:
        model: The `AdversarialModel` being trained.
        player: The player to update.
        x: The batch.

    Returns:
        The player's logs.

    Examples:
    A GAN whose steps train its discriminator only (e.g. to warm it up):

    >>> import keras, numpy as np
    >>> from keras_mae.models import GAN
    >>> from keras_mae.training import backend
    >>> class WarmUp(GAN):
    ...     def adversarial_train_step(self, data):
    ...         x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    ...         discriminator = self.players()[0]
    ...         return backend.update_player(self, discriminator, x)
    >>> warm_up = WarmUp(latent_dim=4, data_shape=(2,), seed=0)
    >>> warm_up.compile()
    >>> sorted(warm_up.train_on_batch(np.ones((8, 2)), return_dict=True))
    ['d_loss']
    """
    return _IMPL.update_player(model, player, x)


def auto_jit_compile(model):
    """What `compile(jit_compile="auto")` means for a built `model`.

    Keras's own choice, except on TensorFlow on the CPU alone (no GPU, no
    strategy), where Keras turns XLA off: there it is True for models of at
    least `XLA_MIN_WEIGHTS` weights that Keras finds support XLA.

    Args:
        model: The built `AdversarialModel`, compiled with "auto".

    Examples:
    >>> from keras_mae.models import GAN
    >>> from keras_mae.training import backend
    >>> gan = GAN(latent_dim=4, data_shape=(20000,), seed=0)  # 10.3M weights
    >>> gan.compile()
    >>> backend.auto_jit_compile(gan) is (backend.BACKEND != "torch")
    True
    """
    return _IMPL.auto_jit_compile(model)


def on_accelerator() -> bool:
    """Whether `keras.ops` compute on an accelerator (a GPU) rather than the CPU.
    >>> from keras_mae.training.backend import on_accelerator
    >>> on_accelerator() in (True, False)
    True
    """
    return _IMPL.on_accelerator()


def training_processes() -> int:
    """How many processes train one model, each on its own shard: more than 1
    only under `torch.distributed` (its world size).
    >>> from keras_mae.training.backend import training_processes
    >>> training_processes()
    1
    """
    return _IMPL.training_processes()


def training_replicas(model) -> int:
    """How many replicas train `model` in step: its `tf.distribute` strategy's,
    `torch.distributed`'s processes, else 1 (JAX: one program).

    Args:
        model: A Keras model (its strategy, on TensorFlow).
    >>> from keras_mae.models import GAN
    >>> from keras_mae.training.backend import training_replicas
    >>> training_replicas(GAN(latent_dim=2, data_shape=(4,)))
    1
    """
    if BACKEND == "tensorflow":
        return model.distribute_strategy.num_replicas_in_sync
    return training_processes()


def replica_index():
    """Which replica of a data-parallel step this code runs in, or None.

    The replica id (a tensor) in a `tf.distribute` step over replicas, the
    rank under `torch.distributed`, else None (JAX: one program for the
    global batch). Used by `keras_mae.training.ReplicaSeeds`.

    Examples:
    >>> from keras_mae.training.backend import replica_index
    >>> replica_index() is None
    True
    """
    return _IMPL.replica_index()


def input_gradients(fn: Callable, inputs):
    """Gradient of `sum(fn(inputs))` with respect to `inputs`, differentiable
    (for gradient penalties: WGAN-GP, R1).

    Args:
        fn: A function of one tensor, e.g. a discriminator call.
        inputs: The tensor to differentiate with respect to.

    Returns:
        A tensor shaped like `inputs`.

    Examples:
    >>> from keras import ops
    >>> from keras_mae.training import input_gradients
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> grads = input_gradients(lambda t: ops.sum(t**2, axis=1), x)
    >>> ops.convert_to_numpy(grads).tolist()
    [[2.0, 4.0], [6.0, 8.0]]
    """
    return _IMPL.input_gradients(fn, inputs)
