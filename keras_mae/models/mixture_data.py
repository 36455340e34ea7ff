"""How a Mixture Autoencoder takes data: checks, normalization, `fit`'s inputs.

A mixin of `MixtureAutoencoder`. `fit` and `evaluate` keep Keras's meaning;
on an array they also prepare what the model's terms need (see the model's
docstring): the adapted normalization, the neighbour pairs, a seeded batch
order and the re-seeding callback.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from keras_mae.datasets.batches import split_validation
from keras_mae.datasets.neighbors import NeighborPairs, nearest_neighbors
from keras_mae.models import mixture_inputs
from keras_mae.training.backend import (
    on_accelerator,
    training_processes,
    training_replicas,
)
from keras_mae.training.reseeding import ReseedDeadComponents
from keras_mae.training.self_labeling import SelfLabeling

_NAME = "MixtureAutoencoder"


class MixtureData:
    """Input checks, `adapt`, and the data preparation of `fit`/`evaluate`.

    Examples:
    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> mae = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=0)
    >>> mae.adapt(x)  # `fit` does it itself on arrays
    >>> mae.data_kind, mae.normalizer_adapted
    ('vectors', True)
    >>> mae.neighbors(x).shape  # after the normalization; 10 for vectors
    (256, 10)
    >>> mae.check_inputs(np.zeros((4, 2), "float32"))
    Traceback (most recent call last):
    ...
    ValueError: MixtureAutoencoder expects data of shape (batch, 5); received ...
    """

    def check_inputs(self, x) -> None:
        """Raises `ValueError` unless `x` is a float batch of the model's samples."""
        mixture_inputs.check_batch(x, self.data_shape)

    def _unpack(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            if sorted(x) != ["neighbor", "x"]:
                raise ValueError(
                    f"{_NAME} expects batches of samples, or dicts with keys "
                    f"'x' and 'neighbor' (NeighborPairs); received keys {sorted(x)}."
                )
            self.check_inputs(x["x"])
            self.check_inputs(x["neighbor"])
        else:
            self.check_inputs(x)
        return x

    def _validated(self, x) -> np.ndarray:
        """`x` as a float32 NumPy array, after the checks a traced step cannot do."""
        array = mixture_inputs.as_array(x, self.data_shape)
        if not self.built:
            self._build_networks(tuple(array.shape[1:]))
        if self._resolved_output_activation() == "sigmoid" and self.normalizer is None:
            mixture_inputs.check_unit_range(array)
        return array

    def adapt(self, x) -> None:
        """Adapts the input normalization to `x` (`fit` does it on arrays).

        Args:
            x: An array of samples, or an `ArrayBatches`/`NeighborPairs`
                (its `x` is used).
        """
        x = self._validated(getattr(x, "x", x))
        if self.normalizer is not None:
            self.normalizer.adapt(x)
            self.normalizer_adapted = True
            self.__dict__.pop("_inference_views", None)

    @property
    def normalizer_adapted(self) -> bool:
        """Whether the input normalization has been adapted (or loaded)."""
        return self.__dict__.get("_normalizer_adapted", False)

    @normalizer_adapted.setter
    def normalizer_adapted(self, value: bool) -> None:
        self.__dict__["_normalizer_adapted"] = bool(value)

    def fit(self, x=None, y=None, **kwargs):
        """Trains the model; takes the arguments of `keras.Model.fit`.

        An array `x` is checked, loses its `validation_split` share to
        `validation_data` first, adapts the normalization (once), gets a
        `ReseedDeadComponents` callback (when `reseed_threshold > 0`), a
        `SelfLabeling` one (when `self_labeling` is set) and its samples'
        neighbours (`NeighborPairs`, when `neighbor_weight > 0`), and is
        served in an order fixed by `seed` and the epoch; validation arrays
        get one fixed neighbour per sample. Other datasets are used
        as they are: a model that normalizes must have seen an array first
        (`adapt`), unless the dataset has one as `x` (`ArrayBatches`). Labels
        `y` are ignored.

        Returns:
            The `keras.callbacks.History` of `keras.Model.fit`.
        """
        if hasattr(x, "shape") or isinstance(x, (list, tuple)):
            # Held out first: validation samples take no part in training.
            x, kwargs = split_validation(self._validated(x), kwargs, f"{_NAME}.fit")
            if not self.normalizer_adapted:
                self.adapt(x)
            kwargs = self._with_reseeding(x, kwargs)
            kwargs = self._with_self_labeling(x, kwargs)
            if self._uses_neighbors():
                x, kwargs = self._training_data(x, kwargs, self._neighbor_pairs)
            else:
                x, kwargs = self._training_data(x, kwargs)
            y = None
        else:
            if not self.built and isinstance(x, keras.utils.PyDataset):
                # The first batch tells the kind of data, so the check below
                # sees the normalization that kind gets.
                first, _, _ = keras.utils.unpack_x_y_sample_weight(x[0])
                self._validated(first["x"] if isinstance(first, dict) else first)
            if self.normalizer is not None and not self.normalizer_adapted:
                if not hasattr(x, "x"):
                    raise ValueError(
                        f"{_NAME} normalizes its inputs and must see the data "
                        "first: call `model.adapt(x)` on an array of training "
                        f"samples before `fit` on a {type(x).__name__}."
                    )
                self.adapt(x)
            if self._uses_neighbors() and not isinstance(x, NeighborPairs):
                weight = self.neighbor_weight  # "auto" while the kind is unknown
                if self.data_kind is not None:
                    weight = self.resolved("neighbor_weight")
                warnings.warn(
                    f"{_NAME}: neighbor_weight is {weight} but `fit` "
                    f"received a {type(x).__name__}, in which it cannot find "
                    "neighbours; batches that are not {'x', 'neighbor'} dicts "
                    "(keras_mae.datasets.NeighborPairs) train without the "
                    "nearest-neighbour term.",
                    stacklevel=2,
                )
        if self._uses_neighbors():
            kwargs = self._neighbor_pairs_for_validation(kwargs)
        return super().fit(x, y, **kwargs)

    @property
    def _search(self) -> str:
        # Exact on a GPU; on the CPU exact up to 50,000 samples, then the
        # approximate index where pynndescent is installed.
        return "keras" if on_accelerator() else "auto"

    def _with_reseeding(self, x: np.ndarray, kwargs: dict) -> dict:
        """`fit` arguments with a `ReseedDeadComponents` on `x` first.

        First, so that a `BackupAndRestore` among the user's callbacks saves
        the epoch's re-seeding and counters (callbacks run in list order).
        """
        callbacks = kwargs.get("callbacks")
        present = (
            callbacks.callbacks
            if isinstance(callbacks, keras.callbacks.CallbackList)
            else list(callbacks or [])
        )
        if not self.reseed_threshold or any(
            isinstance(callback, ReseedDeadComponents) for callback in present
        ):
            return kwargs
        processes = training_processes()
        if processes > 1:
            # Each process would decide from its own shard's usage and copy
            # weights the others do not: the replicas would drift apart.
            raise ValueError(
                f"{_NAME}: re-seeding (reseed_threshold={self.reseed_threshold}) "
                f"decides from one process's data, but {processes} processes "
                "train this model (torch.distributed); pass "
                "reseed_threshold=0 to the constructor."
            )
        verbose = int(kwargs.get("verbose", "auto") != 0)
        reseeding = ReseedDeadComponents(
            x, self.reseed_threshold, seed=self.seed, verbose=verbose
        )
        if isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks.callbacks.insert(0, reseeding)
            return kwargs
        return {**kwargs, "callbacks": [reseeding, *present]}

    def _with_self_labeling(self, x: np.ndarray, kwargs: dict) -> dict:
        """`fit` arguments with a `SelfLabeling` on `x` first, if it is on.

        First, so that the callbacks of the user see the relabelled model
        when training ends. Skipped (with a warning) where several replicas
        train, in step: it would train one replica's assignment alone.
        """
        fraction = self.resolved("self_labeling")
        callbacks = kwargs.get("callbacks")
        present = (
            callbacks.callbacks
            if isinstance(callbacks, keras.callbacks.CallbackList)
            else list(callbacks or [])
        )
        if fraction is None or any(isinstance(c, SelfLabeling) for c in present):
            return kwargs
        replicas = training_replicas(self)
        if replicas > 1:
            warnings.warn(
                f"{_NAME}: self-labelling (self_labeling={fraction}) trains the "
                f"assignment on one replica's data, but {replicas} replicas "
                "train this model (tf.distribute or torch.distributed); it is "
                "skipped. Pass self_labeling=None to silence this.",
                stacklevel=3,
            )
            return kwargs
        labeling = SelfLabeling(x, fraction, seed=self.seed)
        if isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks.callbacks.insert(0, labeling)
            return kwargs
        return {**kwargs, "callbacks": [labeling, *present]}

    def evaluate(self, x=None, y=None, **kwargs):
        """The losses on `x`; takes the arguments of `keras.Model.evaluate`.

        An array `x` is checked and, with the neighbour term on, paired with
        one fixed neighbour per sample, so repeated evaluations agree.
        """
        if hasattr(x, "shape"):
            x = self._validated(x)
            if self._uses_neighbors():
                batch_size = kwargs.pop("batch_size", None) or 32
                x, y = self._evaluation_pairs(x, batch_size), None
        return super().evaluate(x, y, **kwargs)

    def neighbors(self, x) -> np.ndarray:
        """The `num_neighbors` nearest neighbours of each sample of `x`.

        Found where the model compares samples: after its input normalization
        (vectors in their own units would be compared by the feature with the
        largest numbers), by `nearest_neighbors`: exact search on the GPU
        where there is one, else exact up to 50,000 samples and with the
        approximate index (pynndescent, the `ann` extra) above.

        Args:
            x: An array of samples.

        Returns:
            An int array `(n, num_neighbors)` of indices into `x`.
        """
        x = self._validated(x)
        space = x
        if self.normalizer is not None:
            space = self._predict_normalized(x)
        return nearest_neighbors(
            space, self.neighbor_count(len(x)), method=self._search
        )

    def neighbor_count(self, n_samples: int, kind: str | None = None) -> int:
        """How many neighbours of each of `n_samples` samples `fit` searches.

        `num_neighbors`; its `"auto"` value is capped at `n_samples - 1`, so
        a few samples still train (an explicit number is kept, and a data
        set too small for it is refused by the search).

        Args:
            n_samples: The number of samples searched.
            kind: The kind of data (`"vectors"`, `"images"`); by default the
                model's own, once it is built.
        """
        count = self.resolved("num_neighbors", kind)
        if self.num_neighbors == "auto":
            count = max(1, min(count, n_samples - 1))
        return count

    def _predict_normalized(self, x: np.ndarray) -> np.ndarray:
        batches = [
            keras.ops.convert_to_numpy(self.normalizer(x[start : start + 4096]))
            for start in range(0, len(x), 4096)
        ]
        return np.concatenate(batches)

    def _neighbor_pairs(self, x, batch_size, shuffle, seed) -> NeighborPairs:
        return NeighborPairs(x, self.neighbors(x), batch_size, shuffle, seed=seed)

    def _evaluation_pairs(self, x: np.ndarray, batch_size: int) -> NeighborPairs:
        # One fixed neighbour per sample, so repeated evaluations agree.
        return NeighborPairs(
            x, self.neighbors(x), batch_size, shuffle=False, resample=False, seed=0
        )

    def _neighbor_pairs_for_validation(self, kwargs: dict) -> dict:
        """`fit` arguments with validation arrays turned into `NeighborPairs`."""
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            validation = validation[0]  # (x_val, y_val): labels are not used
        if not hasattr(validation, "shape"):
            return kwargs  # None, or a dataset: used as it is
        kwargs = dict(kwargs)
        batch_size = kwargs.pop("validation_batch_size", None) or 32
        kwargs["validation_data"] = self._evaluation_pairs(
            self._validated(validation), batch_size
        )
        return kwargs
