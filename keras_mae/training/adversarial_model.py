"""The base class of every keras_mae model: a game between players, fit by Keras."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_mae.presets.mixin import PresetMixin
from keras_mae.training import backend
from keras_mae.training.player import Player

_SEED_STATE_KEY = "seed_generator_state"


class _PlayerOptimizerMap:
    """Tells `keras.optimizers.MultiOptimizer` which player owns a variable.

    `values()` lists the optimizers in player order, so the MultiOptimizer's
    variables (and hence the saved optimizer state) have a fixed layout.
    """

    def __init__(self, model: AdversarialModel, optimizers: dict[str, Any]):
        self._model = model
        self._optimizers = optimizers
        self._owner = None

    def values(self):
        return list(self._optimizers.values())

    def __call__(self, variable):
        if self._owner is None:
            self._owner = {
                id(v): self._optimizers[player.name]
                for player in self._model.players()
                for v in player.variables
            }
        try:
            return self._owner[id(variable)]
        except KeyError:
            raise ValueError(
                f"{type(self._model).__name__}: trainable variable "
                f"'{variable.path}' belongs to no player "
                f"({', '.join(self._optimizers)}). Mark it non-trainable or "
                "add it to a player's variables."
            ) from None


class AdversarialModel(PresetMixin, keras.Model):
    """A Keras model trained as a game between players, on every backend.

    Subclasses declare the game once:

    - `players()` returns the `keras_mae.training.Player`s in update order,
      each with its variables, optimizer and a loss written with `keras.ops`;
    - `compile()` calls `self._compile_players(...)` with one optimizer per
      player and the names of the logged losses.

    This class then provides `train_step`/`test_step` for TensorFlow, JAX and
    PyTorch (through `keras_mae.training.backend`), keeps all optimizers inside
    `model.optimizer` (a `keras.optimizers.MultiOptimizer`, so JAX's trainer
    state, saving, `BackupAndRestore` and schedules see every one of them),
    re-compiles itself when loaded, saves the state of its
    `keras.random.SeedGenerator` so a resumed run draws the same noise, and
    loads and saves presets (`from_preset`, `save_to_preset`).

    Args:
        seed: Optional integer seed of the model's `SeedGenerator`; with a fixed
            seed, training on the same backend is repeatable.
        **kwargs: Passed to `keras.Model` (e.g. `name`).
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(
                f"{type(self).__name__} expects `seed` to be an int or None; "
                f"received {seed!r}."
            )
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(
            self.seed, name="seed_generator"
        )
        self._loss_trackers: dict[str, keras.metrics.Mean] = {}
        self._player_optimizers: dict[str, keras.optimizers.Optimizer] = {}
        self._player_compile_config: dict[str, Any] | None = None

    # ------------------------------------------------------------------
    # What a subclass declares.
    def players(self) -> list[Player]:
        """The players of the game, in update order."""
        raise NotImplementedError(f"{type(self).__name__} must define players().")

    def check_inputs(self, x) -> None:
        """Raises `ValueError` if a batch `x` does not fit the model."""

    # ------------------------------------------------------------------
    # Compilation.
    def _compile_players(
        self,
        optimizers: dict[str, keras.optimizers.Optimizer],
        log_names: Sequence[str],
        compile_config: dict[str, Any],
        **keras_compile_kwargs,
    ) -> None:
        """Compiles the model with one optimizer per player.

        Args:
            optimizers: Player name to optimizer (distinct instances).
            log_names: Names of the scalars the players' losses report; each
                gets a `keras.metrics.Mean` shown by `fit`/`evaluate`.
            compile_config: The subclass's `compile` arguments, stored so a
                loaded model is compiled again the same way.
            **keras_compile_kwargs: `steps_per_execution`, `jit_compile`,
                `run_eagerly`, passed to `keras.Model.compile`.
        """
        resolved = {}
        for name, optimizer in optimizers.items():
            optimizer = keras.optimizers.get(optimizer)
            if any(optimizer is other for other in resolved.values()):
                raise ValueError(
                    f"{type(self).__name__}: each player needs its own optimizer "
                    f"instance; '{name}' reuses another player's."
                )
            resolved[name] = optimizer
        self._player_optimizers = resolved
        self._loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in log_names
        }
        self._player_compile_config = dict(compile_config)
        multi = keras.optimizers.MultiOptimizer(
            _PlayerOptimizerMap(self, resolved), name="players"
        )
        super().compile(optimizer=multi, **keras_compile_kwargs)
        if self.built:
            self._complete_compile(log_names)

    def _complete_compile(self, log_names: Sequence[str]) -> None:
        """Finishes `compile` once the model is built.

        A subclass compiled before it knew its data calls this at the end of
        its build. It declares the logs that depend on the data, and builds
        every player's optimizer now, not lazily inside a traced step (their
        variables must exist before the trainer collects its state), in player
        order, so the saved optimizer state has one layout however the model
        was built.
        """
        if self._player_compile_config is None:
            return
        if list(self._loss_trackers) != list(log_names):
            self._loss_trackers = {
                name: self._loss_trackers.get(name) or keras.metrics.Mean(name=name)
                for name in log_names
            }
        ordered = [v for player in self.players() for v in player.variables]
        owned = {id(v) for v in ordered}
        # Variables of no player come last: the optimizer map names them.
        ordered += [v for v in self.trainable_variables if id(v) not in owned]
        self.optimizer.build(ordered)

    def player_optimizer(self, name: str) -> keras.optimizers.Optimizer:
        """The optimizer of player `name` (after `compile`)."""
        if not self._player_optimizers:
            raise RuntimeError(
                f"{type(self).__name__} is not compiled: call `compile()` first."
            )
        return self._player_optimizers[name]

    def get_compile_config(self):
        if self._player_compile_config is None:
            return None
        return keras.saving.serialize_keras_object(self._player_compile_config)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        # `compile` builds the optimizer: one that is not built when weights
        # load silently skips its state.
        self.compile(**config)

    # ------------------------------------------------------------------
    # Training and evaluation.
    @property
    def metrics(self):
        return list(self._loss_trackers.values())

    def make_train_function(self, force=False):
        backend.make_train_function(self, super().make_train_function, force)

    def train_step(self, *args):
        return backend.train_step(self, *args)

    def test_step(self, *args):
        return backend.test_step(self, *args)

    def _unpack(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.check_inputs(x)
        return x

    def adversarial_train_step(self, data) -> dict[str, Any]:
        """One training step, written once in stateful style."""
        x = self._unpack(data)
        logs = {}
        for player in self.players():
            for _ in range(player.steps):
                logs.update(backend.update_player(self, player, x))
        self.optimizer.iterations.assign_add(1)
        return self._record(logs)

    def adversarial_test_step(self, data) -> dict[str, Any]:
        """One evaluation step: every player's loss, no update."""
        x = self._unpack(data)
        logs = {}
        for player in self.players():
            _, player_logs = player.loss(x, False)
            logs.update(player_logs)
        return self._record(logs)

    def _record(self, logs):
        unknown = sorted(set(logs) - set(self._loss_trackers))
        if unknown:
            raise KeyError(
                f"{type(self).__name__}: losses {unknown} were reported but not "
                f"declared in compile (declared: {sorted(self._loss_trackers)})."
            )
        for name, value in logs.items():
            self._loss_trackers[name].update_state(value)
        # Only what this step reports: a loss term that needs extra input (such
        # as neighbours) may be absent from one kind of step, and a tracker that
        # was never updated would show a made-up 0.
        return {
            name: tracker.result()
            for name, tracker in self._loss_trackers.items()
            if name in logs
        }

    # ------------------------------------------------------------------
    # The seed generator's state is not a layer weight; save it ourselves.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[_SEED_STATE_KEY] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        # The store may be an HDF5 entry without `in`; list its keys.
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if k != _SEED_STATE_KEY})
        if _SEED_STATE_KEY in keys:
            self.seed_generator.state.assign(np.asarray(store[_SEED_STATE_KEY]))

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
