"""The base class of every keras_mae model: a game between players, fit by Keras."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_mae.datasets.batches import ArrayBatches, split_validation
from keras_mae.training import backend
from keras_mae.training.callbacks import SetDatasetEpoch
from keras_mae.training.player import Player
from keras_mae.utils.argument_checks import check_int

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


class AdversarialModel(keras.Model):
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
    re-compiles itself when loaded, and saves the state of its
    `keras.random.SeedGenerator` (and of its layers', e.g. dropout) so a
    resumed run draws the same noise.

    `fit` on an array visits it in an order fixed by `seed` and the epoch
    (`keras_mae.datasets.ArrayBatches`, told the epoch by
    `keras_mae.training.SetDatasetEpoch`), not by process-global random state:
    a run killed after epoch `k` and resumed in a new process by
    `keras.callbacks.BackupAndRestore` ends with the weights of the run that
    was never interrupted.

    Models add presets (`from_preset`, `save_to_preset`) by also inheriting
    `keras_mae.presets.PresetMixin`; the trainer core does not depend on them.

    Args:
        seed: Optional integer seed of the model's `SeedGenerator` and of the
            order `fit` visits arrays in; with a fixed seed, training on the
            same backend is repeatable, also when resumed.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Examples:
    A generator that learns to shift noise until a linear critic cannot tell
    it from the data (a toy WGAN: two players, one `fit`):

    >>> import keras, numpy as np
    >>> from keras import ops
    >>> from keras_mae.training import AdversarialModel, Player
    >>> class MeanMatcher(AdversarialModel):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.generator = keras.layers.Dense(2, name="generator")
    ...         self.critic = keras.layers.Dense(1, name="critic")
    ...         self.generator.build((None, 2))
    ...         self.critic.build((None, 2))
    ...         self.built = True
    ...
    ...     def compile(self, **kwargs):
    ...         optimizers = {
    ...             "critic": keras.optimizers.Adam(1e-2),
    ...             "generator": keras.optimizers.Adam(1e-2),
    ...         }
    ...         self._compile_players(optimizers, ["c_loss", "g_loss"], {}, **kwargs)
    ...
    ...     def players(self):
    ...         critic = self.critic.trainable_variables
    ...         generator = self.generator.trainable_variables
    ...         return [
    ...             Player("critic", critic, self.player_optimizer("critic"),
    ...                    self.critic_loss),
    ...             Player("generator", generator, self.player_optimizer("generator"),
    ...                    self.generator_loss),
    ...         ]
    ...
    ...     def fake(self, x):
    ...         noise = keras.random.normal(ops.shape(x), seed=self.seed_generator)
    ...         return self.generator(noise)
    ...
    ...     def critic_loss(self, x, training):
    ...         loss = ops.mean(self.critic(self.fake(x))) - ops.mean(self.critic(x))
    ...         return loss, {"c_loss": loss}
    ...
    ...     def generator_loss(self, x, training):
    ...         loss = -ops.mean(self.critic(self.fake(x)))
    ...         return loss, {"g_loss": loss}
    >>> x = np.random.default_rng(0).normal(3.0, 1.0, (64, 2)).astype("float32")
    >>> model = MeanMatcher(seed=0)
    >>> model.compile()
    >>> history = model.fit(x, batch_size=32, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['c_loss', 'g_loss']
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (
            not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
        ):
            raise TypeError(
                f"{type(self).__name__} expects `seed` to be an int or None; "
                f"received {seed!r}."
            )
        if seed is not None and not 0 <= seed < 2**32:
            raise ValueError(
                f"{type(self).__name__} expects `seed` in [0, 2**32); "
                f"received {seed!r}."
            )
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(
            self.seed, name="seed_generator"
        )
        self._loss_trackers: dict[str, keras.metrics.Mean] = {}
        self._player_optimizers: dict[str, keras.optimizers.Optimizer] = {}
        self._player_compile_config: dict[str, Any] | None = None
        self._jit_compile_auto = False  # resolved by `_complete_compile`

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
                `run_eagerly`, passed to `keras.Model.compile`; "auto" (the
                default) `jit_compile` is `backend.auto_jit_compile`, once built.
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
        auto = keras_compile_kwargs.get("jit_compile", "auto") == "auto"
        self._jit_compile_auto = auto and not keras_compile_kwargs.get("run_eagerly")
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
        if self._jit_compile_auto:
            jit_compile = backend.auto_jit_compile(self)
            if jit_compile != self.jit_compile:
                self.jit_compile = jit_compile
                self.train_function = self.test_function = self.predict_function = None

    def player_optimizer(self, name: str) -> keras.optimizers.Optimizer:
        """The optimizer of player `name` (after `compile`)."""
        if not self._player_optimizers:
            raise RuntimeError(
                f"{type(self).__name__} is not compiled: call `compile()` first."
            )
        return self._player_optimizers[name]

    def get_compile_config(self):
        """The arguments `compile` was called with, serialized (None before)."""
        if self._player_compile_config is None:
            return None
        return keras.saving.serialize_keras_object(self._player_compile_config)

    def compile_from_config(self, config):
        """Compiles a loaded model again with `get_compile_config()`'s arguments."""
        config = keras.saving.deserialize_keras_object(config)
        # `compile` builds the optimizer: one that is not built when weights
        # load silently skips its state.
        self.compile(**config)

    # ------------------------------------------------------------------
    # Training data: batch orders that are a function of (seed, epoch).
    def fit(self, x=None, y=None, **kwargs):
        """Trains the model; takes the arguments of `keras.Model.fit`.

        An array `x` (NumPy or a backend tensor) is served by `_training_data`
        as `keras_mae.datasets.ArrayBatches` seeded with the model's `seed`, so
        the batch order of every epoch is the same in every process. Labels
        `y` are not used by these unsupervised models: they are ignored.
        `batch_size`, `shuffle` (`True` or `False`), `validation_split` and
        `validation_batch_size` keep Keras's meaning.

        Any `x` with a `set_epoch(epoch)` method (`ArrayBatches` and its
        subclasses) gets a `keras_mae.training.SetDatasetEpoch` callback, so a
        run resumed by `keras.callbacks.BackupAndRestore` at epoch `k` serves
        epoch `k`'s batches; Keras's own shuffling of the dataset's batches
        (process-global state) is turned off: the dataset shuffles itself.
        Other inputs (`tf.data`, PyTorch `DataLoader`s, other `PyDataset`s) go
        to Keras as they are.
        """
        if hasattr(x, "shape"):
            x, kwargs = self._training_data(x, kwargs)
            y = None  # unsupervised: labels are ignored, as before
        kwargs = self._with_dataset_epoch(x, kwargs)
        return super().fit(x, y, **kwargs)

    def _training_data(
        self,
        x,
        kwargs: dict[str, Any],
        make_batches: Callable[..., Any] = ArrayBatches,
    ) -> tuple[Any, dict[str, Any]]:
        """Training batches of an array, and the `fit` arguments left for Keras.

        The one place where `fit` turns an array into batches; a subclass that
        needs richer batches passes its own `make_batches`.

        Contract:

        - `x` is an array with `.shape` (NumPy, or a backend tensor converted
          with `keras.ops.convert_to_numpy`).
        - `kwargs` (the `fit` keyword arguments, not changed) are read for
          `batch_size` (default 32), `shuffle` (`True`, the default, or
          `False`; `"batch"` and other values raise a `ValueError`),
          `validation_split` (in `[0, 1)`: as Keras does, the last fraction of
          the samples, before any shuffling, becomes `validation_data`,
          unless `validation_data` is given) and `validation_batch_size`
          (default: `batch_size`). `sample_weight` or `class_weight` raise a
          `ValueError`: the losses do not weight samples.
        - `make_batches(x, batch_size=..., shuffle=..., seed=self.seed)` is
          called once, with the training part of `x` as a NumPy array; it
          returns the dataset `fit` trains on: an `ArrayBatches` (subclass) or
          any dataset whose order is set by `set_epoch(epoch)`.

        Returns:
            `(data, kwargs)`: the dataset, and a new dict of the other `fit`
            arguments without `batch_size`, `validation_split` and `shuffle`
            (the dataset shuffles itself), with `validation_data` (the held-out
            array, if any) and `validation_batch_size` set. Pass both to
            `fit`, which adds the `SetDatasetEpoch` callback.
        """
        owner = f"{type(self).__name__}.fit"
        kwargs = dict(kwargs)
        for argument in ("sample_weight", "class_weight"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"{owner}: the model is unsupervised and its losses do not "
                    f"weight samples; received `{argument}`. Leave it out."
                )
            kwargs.pop(argument, None)
        if not isinstance(x, np.ndarray):
            x = keras.ops.convert_to_numpy(x)
        if x.ndim < 1 or len(x) < 1:
            raise ValueError(
                f"{owner} expects an array of samples of shape (n, ...), n >= 1; "
                f"received shape {x.shape}."
            )
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is None:
            batch_size = 32  # Keras's default
        batch_size = check_int(owner, "batch_size", batch_size)
        shuffle = kwargs.pop("shuffle", True)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(
                f"{owner} shuffles arrays itself, in an order fixed by the "
                "model's seed and the epoch; it expects `shuffle` to be True or "
                f"False (not Keras's 'batch'); received {shuffle!r}."
            )
        x, kwargs = split_validation(x, kwargs, owner)
        if kwargs.get("validation_batch_size") is None:
            kwargs["validation_batch_size"] = batch_size
        data = make_batches(
            x, batch_size=batch_size, shuffle=bool(shuffle), seed=self.seed
        )
        return data, kwargs

    def _with_dataset_epoch(self, x, kwargs: dict[str, Any]) -> dict[str, Any]:
        """`fit` arguments with a `SetDatasetEpoch(x)` first in the callbacks.

        Only for an `x` with `set_epoch`; also sets `shuffle=False`, so Keras
        does not reorder the dataset's batches with process-global state.
        """
        if not callable(getattr(x, "set_epoch", None)):
            return kwargs
        kwargs = {**kwargs, "shuffle": False}
        callbacks = kwargs.get("callbacks")
        if isinstance(callbacks, keras.callbacks.CallbackList):
            present = callbacks.callbacks
        else:
            present = callbacks = list(callbacks or [])
        if any(isinstance(c, SetDatasetEpoch) and c.dataset is x for c in present):
            return kwargs
        if isinstance(callbacks, keras.callbacks.CallbackList):
            # Keras's list: the callback must run before the others' epoch start.
            callbacks.callbacks.insert(0, SetDatasetEpoch(x))
        else:
            kwargs["callbacks"] = [SetDatasetEpoch(x), *callbacks]
        return kwargs

    # ------------------------------------------------------------------
    # Training and evaluation.
    @property
    def metrics(self):
        """One `keras.metrics.Mean` per logged loss (declared in `compile`)."""
        return list(self._loss_trackers.values())

    def make_train_function(self, force=False):
        """Keras's train function, adapted to the backend (`backend`'s)."""
        backend.make_train_function(self, super().make_train_function, force)

    def train_step(self, *args):
        """One update of every player, in order (`backend.train_step`)."""
        return backend.train_step(self, *args)

    def test_step(self, *args):
        """Every player's loss on a batch, no update (`backend.test_step`)."""
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
    # Seed generators' states are not layer weights; save them ourselves.
    def _layer_seed_generators(self) -> list[keras.random.SeedGenerator]:
        """The seed generators of the model's layers (e.g. dropout), in order.

        All but the model's own `seed_generator`; Keras saves none of them, so
        without this a resumed run would draw other dropout masks.
        """
        found, seen = [], {id(self.seed_generator)}
        for layer in self._flatten_layers(include_self=True, recursive=True):
            for generator in getattr(layer, "_seed_generators", []):
                if id(generator) not in seen:
                    seen.add(id(generator))
                    found.append(generator)
        return found

    def save_own_variables(self, store):
        """Saves the weights and the states of the model's seed generators."""
        super().save_own_variables(store)
        store[_SEED_STATE_KEY] = keras.ops.convert_to_numpy(self.seed_generator.state)
        # Only models with such layers get these keys: other files are unchanged.
        for i, generator in enumerate(self._layer_seed_generators()):
            store[f"{_SEED_STATE_KEY}_{i}"] = keras.ops.convert_to_numpy(
                generator.state
            )

    def load_own_variables(self, store):
        """Restores what `save_own_variables` saved (older files too)."""
        # The store may be an HDF5 entry without `in`; list its keys.
        keys = list(store.keys())
        own = {k for k in keys if k.startswith(_SEED_STATE_KEY)}
        super().load_own_variables({k: store[k] for k in keys if k not in own})
        if _SEED_STATE_KEY in own:
            self.seed_generator.state.assign(np.asarray(store[_SEED_STATE_KEY]))
        for i, generator in enumerate(self._layer_seed_generators()):
            key = f"{_SEED_STATE_KEY}_{i}"
            if key in own:  # files saved before these keys existed lack them
                generator.state.assign(np.asarray(store[key]))

    def get_config(self):
        """The model's config: `keras.Model`'s and the `seed`."""
        config = super().get_config()
        config["seed"] = self.seed
        return config
