"""Batches of an array in an order that is a function of a seed and the epoch."""

from __future__ import annotations

import numbers

import keras
import numpy as np

from keras_mae.utils.argument_checks import check_int, check_number


def split_validation(x, kwargs: dict, owner: str = "fit") -> tuple:
    """Holds out `validation_split` of an array as Keras's `fit` does.

    As in Keras, the last share of the samples, before any shuffling,
    becomes `validation_data`, unless `validation_data` is given.

    Args:
        x: The training array `(n, ...)`.
        kwargs: `fit`'s keyword arguments (not changed).
        owner: Who splits, for the error messages.

    Returns:
        `(x, kwargs)`: the training part of `x`, and a copy of `kwargs`
        without `validation_split`, with the held-out part as
        `validation_data`.

    Raises:
        ValueError: If the split is not in [0, 1) or leaves either part empty.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.datasets.batches import split_validation
    >>> x, kwargs = split_validation(np.arange(10), {"validation_split": 0.2})
    >>> x.tolist(), kwargs["validation_data"].tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    kwargs = dict(kwargs)
    split = kwargs.pop("validation_split", None)
    if split is None:
        split = 0.0
    split = check_number(
        owner,
        "validation_split",
        split,
        0.0,
        1.0,
        what="the share of the samples held out, from the end",
    )
    if split and kwargs.get("validation_data") is None:
        cut = int(np.floor(len(x) * (1.0 - split)))
        if cut in (0, len(x)):
            raise ValueError(
                f"{owner}: validation_split={split!r} of {len(x)} samples "
                f"leaves {cut} for training and {len(x) - cut} for "
                "validation; both need at least one."
            )
        x, kwargs["validation_data"] = x[:cut], x[cut:]
    return x, kwargs


class ArrayBatches(keras.utils.PyDataset):
    """Batches of the samples of an array, in an order fixed by `(seed, epoch)`.

    Keras shuffles arrays with process-global random state, so a run resumed
    in a new process (`keras.callbacks.BackupAndRestore`) visits the samples
    in other orders than the run it resumes. Here every random choice is drawn
    from `rng(stream)`, a generator seeded with `[seed, epoch, stream]`:
    epoch `e` has the same order in every process, however it was reached.
    `keras_mae.training.SetDatasetEpoch` tells the dataset which epoch `fit`
    is in (keras_mae models add it themselves); used alone, the dataset moves
    to the next epoch at the end of each one.

    Subclasses add to each batch by overriding `batch(indices)`, and draw their
    own per-epoch choices from `rng(1)`, `rng(2)`, ... (stream 0 is the order).

    Args:
        x: NumPy array of samples, shape `(n, ...)`, `n >= 1`.
        batch_size: Samples per batch; the last batch may be smaller.
        shuffle: Visit the samples in a new random order every epoch; `False`
            visits them in order `0, 1, ..., n - 1`.
        seed: Integer seed (>= 0) of the orders. `None` draws one, once: the
            epochs still differ, but another process gets other orders.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Attributes:
        epoch: The epoch whose order `__getitem__` serves, from 0.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.datasets import ArrayBatches
    >>> batches = ArrayBatches(np.arange(10), batch_size=4, seed=0)
    >>> len(batches), [len(batches[i]) for i in range(len(batches))]
    (3, [4, 4, 2])
    >>> sorted(np.concatenate([batches[i] for i in range(3)]).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> first = batches.order.copy()
    >>> batches.set_epoch(1)
    >>> bool((batches.order == first).all())
    False
    >>> batches.set_epoch(0)
    >>> bool((batches.order == first).all())
    True
    >>> ArrayBatches(np.arange(5), batch_size=2, shuffle=False)[2].tolist()
    [4]
    """

    def __init__(
        self,
        x,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"{owner} expects `x` to be a NumPy array of shape (n, ...); "
                f"received {type(x).__name__}."
            )
        if x.ndim < 1 or len(x) < 1:
            raise ValueError(
                f"{owner} expects `x` to be an array of shape (n, ...) with at "
                f"least one sample; received shape {x.shape}."
            )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(
                f"{owner} expects `shuffle` to be True or False; received {shuffle!r}."
            )
        self.x = x
        self.batch_size = check_int(owner, "batch_size", batch_size)
        self.shuffle = bool(shuffle)
        if seed is None:
            # Drawn once: the epochs differ, but no other process repeats them.
            seed = np.random.SeedSequence().entropy % 2**32
        self.seed = check_int(owner, "seed", seed, minimum=0)
        self.epoch = 0
        self._cached_order: tuple[tuple, np.ndarray] | None = None

    # ------------------------------------------------------------------
    # The random choices of an epoch.
    def set_epoch(self, epoch: int) -> None:
        """Serves the batches of epoch `epoch` (>= 0) from now on.

        Args:
            epoch: The epoch, from 0; the same epoch always gets the same order.
        """
        self.epoch = check_int(f"{type(self).__name__}.set_epoch", "epoch", epoch, 0)
        _ = self.order

    def rng(self, stream: int = 0) -> np.random.Generator:
        """A new generator for the current epoch's random choices.

        Args:
            stream: Which choices (>= 0): 0 is the order of the samples;
                subclasses use 1, 2, ... for their own.

        Returns:
            `np.random.default_rng([seed, epoch, stream])`: the same generator
            for the same `(seed, epoch, stream)`, in any process.
        """
        stream = check_int(f"{type(self).__name__}.rng", "stream", stream, 0)
        return np.random.default_rng([self.seed, int(self.epoch), stream])

    @property
    def order(self) -> np.ndarray:
        """The order in which the current epoch visits the samples (indices)."""
        key = (int(self.epoch), self.seed, self.shuffle)
        cached = self._cached_order
        if cached is None or cached[0] != key:
            n = len(self.x)
            order = self.rng(0).permutation(n) if self.shuffle else np.arange(n)
            order.flags.writeable = False
            # One assignment: a worker thread reads a whole (key, order) pair.
            cached = self._cached_order = (key, order)
        return cached[1]

    # ------------------------------------------------------------------
    # keras.utils.PyDataset.
    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int):
        count = len(self)
        if (
            not isinstance(index, numbers.Integral)
            or isinstance(index, bool)
            or not 0 <= index < count
        ):
            raise IndexError(
                f"{type(self).__name__} has {count} batches (indices 0 to "
                f"{count - 1}); received index {index!r}."
            )
        start = int(index) * self.batch_size
        return self.batch(self.order[start : start + self.batch_size])

    def batch(self, indices: np.ndarray):
        """The batch of the samples `indices` (into `x`): `x[indices]`.

        Subclasses override it to return more, e.g. a dict with each sample's
        neighbour.
        """
        return self.x[indices]

    def on_epoch_end(self) -> None:
        """Moves to the next epoch (Keras calls it at the end of each epoch)."""
        self.set_epoch(self.epoch + 1)
