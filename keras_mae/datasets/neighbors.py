"""Nearest neighbours of each sample, and batches that pair samples with them."""

from __future__ import annotations

import hashlib

import numpy as np
from keras import ops
from sklearn.neighbors import NearestNeighbors

from keras_mae.datasets.batches import ArrayBatches
from keras_mae.utils.argument_checks import check_int

# The results of the last searches, by the content of `x`: the search costs a
# minute on MNIST, and a benchmark or a notebook fits many models on one array.
_CACHE: dict[tuple, np.ndarray] = {}
_CACHE_SIZE = 2  # training and validation data
# Distances computed at once: 2**25 float32 (128 MiB), e.g. 479 rows x 70,000.
_BLOCK_ELEMENTS = 2**25


def _search_on_cpu(flat: np.ndarray, num_neighbors: int) -> np.ndarray:
    """scikit-learn's exact search (faster on the CPU than `_search_on_device`)."""
    search = NearestNeighbors(n_neighbors=num_neighbors).fit(flat)
    # Without query points, scikit-learn leaves each sample out of its list.
    return search.kneighbors(return_distance=False)


def _search_on_device(flat: np.ndarray, num_neighbors: int) -> np.ndarray:
    """Exact search in blocks of rows, with keras.ops on the backend's device.

    Squared distances as |a|^2 - 2 a.b + |b|^2 of centred float32 data (the
    centring keeps the cancellation small), each sample's own column masked.
    """
    data = flat.astype("float32")
    data = ops.convert_to_tensor(data - data.mean(axis=0))
    norms = ops.sum(ops.square(data), axis=1)
    count = len(flat)
    rows = max(1, min(count, _BLOCK_ELEMENTS // count))
    columns = ops.expand_dims(ops.arange(count), 0)
    found = []
    for start in range(0, count, rows):
        stop = min(start + rows, count)
        distances = (
            ops.expand_dims(norms[start:stop], 1)
            - 2.0 * ops.matmul(data[start:stop], ops.transpose(data))
            + ops.expand_dims(norms, 0)
        )
        own = ops.expand_dims(ops.arange(start, stop), 1) == columns
        distances = ops.where(own, np.inf, distances)
        _, indices = ops.top_k(-distances, num_neighbors)
        found.append(ops.convert_to_numpy(indices))
    return np.concatenate(found).astype("int64")


def nearest_neighbors(x, num_neighbors: int = 5, method: str = "sklearn") -> np.ndarray:
    """Indices of each sample's nearest neighbours in `x`, by Euclidean distance.

    Samples are compared as flat vectors (images: raw pixels) by an exact
    search: with scikit-learn (`method="sklearn"`, faster on a CPU), or with
    keras.ops in blocks of rows on the backend's device (`method="keras"`,
    for a GPU; `MixtureAutoencoder.fit` picks it when there is one). Both
    find the same neighbours (up to the order of ties). A sample is never
    its own neighbour, even when `x` holds copies of it. The search is
    quadratic in `len(x)`: 80 to 84 s for the 70,000 MNIST images on 2 CPU
    cores (docs/benchmarks.md). The results for the last two arrays are
    remembered (by content), so calling it again on the same data is free.

    Args:
        x: Array of samples, shape `(n, ...)`, `n > num_neighbors`.
        num_neighbors: How many neighbours per sample, at least 1.
        method: `"sklearn"` or `"keras"`, as above.

    Returns:
        An int array `(n, num_neighbors)`, nearest first.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[0.0], [0.1], [5.0], [5.2]], dtype="float32")
    >>> nearest_neighbors(x, num_neighbors=1)[:, 0].tolist()
    [1, 0, 3, 2]
    """
    x = np.asarray(x)
    num_neighbors = check_int("nearest_neighbors", "num_neighbors", num_neighbors)
    if x.ndim < 2 or len(x) <= num_neighbors:
        raise ValueError(
            f"nearest_neighbors expects more than {num_neighbors} samples, shape "
            f"(n, ...); received shape {x.shape}."
        )
    searches = {"sklearn": _search_on_cpu, "keras": _search_on_device}
    if method not in searches:
        raise ValueError(
            f"nearest_neighbors expects `method` in {sorted(searches)}; "
            f"received {method!r}."
        )
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    key = (
        flat.shape,
        flat.dtype.str,
        int(num_neighbors),
        method,
        hashlib.blake2b(flat.data, digest_size=16).digest(),
    )
    if key not in _CACHE:
        neighbors = searches[method](flat, int(num_neighbors))
        neighbors.flags.writeable = False
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = neighbors
    return _CACHE[key]


class NeighborPairs(ArrayBatches):
    """Batches `{"x": samples, "neighbor": one near neighbour of each}`.

    Each epoch, every sample is paired with one of its neighbours drawn at
    random (`resample=False` keeps the draw of epoch 0, for evaluation). The
    order and the draws are functions of `seed` and the epoch
    (`ArrayBatches`), so a resumed run sees the batches an uninterrupted one
    would. This is the input `MixtureAutoencoder.fit` builds for itself from
    arrays when its `neighbor_weight` is on; build it yourself
    (`from_array`, or with neighbours from your own, e.g. approximate,
    search) to reuse the neighbours across many `fit` calls.

    Args:
        x: Array of samples, shape `(n, ...)`.
        neighbors: Int array `(n, k)` of neighbour indices into `x`, e.g.
            from `nearest_neighbors(x, k)`.
        batch_size: Samples per batch; the last batch may be smaller.
        shuffle: Visit the samples in a new random order every epoch.
        resample: Draw a new neighbour of each sample every epoch.
        seed: Seed of the order and of the neighbour draws.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Examples:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(100, 8, 8, 1)).astype("float32")
    >>> pairs = NeighborPairs.from_array(x, num_neighbors=5, batch_size=32, seed=0)
    >>> batch = pairs[0]
    >>> batch["x"].shape, batch["neighbor"].shape
    ((32, 8, 8, 1), (32, 8, 8, 1))
    """

    def __init__(
        self,
        x,
        neighbors,
        batch_size: int = 32,
        shuffle: bool = True,
        resample: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        if not hasattr(x, "shape") or len(x.shape) < 2:
            raise ValueError(
                "NeighborPairs expects an array of samples `x`, shape (n, ...); "
                f"received {getattr(x, 'shape', type(x).__name__)}."
            )
        super().__init__(np.asarray(x), batch_size, shuffle, seed, **kwargs)
        neighbors = np.asarray(neighbors)
        if (
            neighbors.ndim != 2
            or len(neighbors) != len(x)
            or neighbors.shape[1] < 1
            or not np.issubdtype(neighbors.dtype, np.integer)
        ):
            raise ValueError(
                f"NeighborPairs expects `neighbors` as integers of shape "
                f"({len(x)}, k), k >= 1; received {neighbors.dtype} {neighbors.shape}."
            )
        if neighbors.min() < 0 or neighbors.max() >= len(x):
            raise ValueError(
                f"NeighborPairs expects neighbour indices in [0, {len(x)}); "
                f"received values in [{neighbors.min()}, {neighbors.max()}]."
            )
        self.neighbors = neighbors
        self.resample = bool(resample)
        self._cached_partner: tuple[int, np.ndarray] | None = None

    @classmethod
    def from_array(
        cls,
        x,
        num_neighbors: int = 5,
        batch_size: int = 32,
        shuffle: bool = True,
        resample: bool = True,
        seed: int | None = None,
        method: str = "sklearn",
        **kwargs,
    ) -> NeighborPairs:
        """Pairs for `x`, with its `num_neighbors` nearest neighbours searched.

        Args:
            x: Array of samples, shape `(n, ...)`, `n > num_neighbors`.
            num_neighbors: How many nearest neighbours to draw from.
            batch_size: Samples per batch.
            shuffle: Visit the samples in a new random order every epoch.
            resample: Draw a new neighbour of each sample every epoch.
            seed: Seed of the order and of the neighbour draws.
            method: The search, `"sklearn"` or `"keras"` (`nearest_neighbors`).
            **kwargs: Passed to `NeighborPairs`.
        """
        x = np.asarray(x)
        neighbors = nearest_neighbors(x, num_neighbors, method=method)
        return cls(x, neighbors, batch_size, shuffle, resample, seed, **kwargs)

    @property
    def partners(self) -> np.ndarray:
        """The neighbour each sample is paired with in the current epoch."""
        epoch = int(self.epoch) if self.resample else 0
        cached = self._cached_partner
        if cached is None or cached[0] != epoch:
            n, k = self.neighbors.shape
            rng = np.random.default_rng([self.seed, epoch, 1])
            partner = self.neighbors[np.arange(n), rng.integers(0, k, n)]
            cached = self._cached_partner = (epoch, partner)
        return cached[1]

    def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": self.x[indices], "neighbor": self.x[self.partners[indices]]}
