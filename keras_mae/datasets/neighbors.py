"""Nearest neighbours of each sample, and batches that pair samples with them."""

from __future__ import annotations

import hashlib
import warnings

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
# `method="auto"` searches exactly up to this many samples and with the
# approximate index (pynndescent, the `ann` extra) above. Measured on the
# 2-core CPU (2026-12, shared with other jobs, so the times are slow but
# comparable), k = 5, exact scikit-learn vs approximate, recall 0.98 to 0.999:
#   clustered 64-dim points: 10k 2.6 vs 1.7 s, 20k 5.1 vs 3.7 s,
#     50k 25.6 vs 7.2 s, 100k 86 vs 16 s;
#   MNIST images (784 dim): 10k 7.4 vs 4.6 s, 20k 29 vs 2.7 s, 70k 298 vs 15 s.
# So the index is faster from about 10,000 samples on, once compiled. Its
# first search in a process also compiles pynndescent's code (numba: 25 s
# unloaded, 64 to 74 s in those runs), which moves the crossover of a single
# search to about 40,000 (784 dim) to 100,000 (64 dim) samples; 50,000 sits
# between, where the exact search takes about as long as that compilation.
_APPROXIMATE_ABOVE = 50_000
# The approximate index keeps this many candidates per sample (the sample
# itself among them), at least twice the neighbours asked for: 10 for k = 5
# found 0.999 of the exact 5 nearest neighbours of 1,000,000 clustered
# 64-dimensional points (benchmarks/neighbor_search.py).
_MIN_CANDIDATES = 10
_INSTALL_HINT = 'pip install "keras-mae[ann]" (or pip install pynndescent)'


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


def _import_pynndescent():
    """The pynndescent module, or None where it is not installed."""
    try:
        import pynndescent
    except ImportError:
        return None
    return pynndescent


def _exact_rows(flat: np.ndarray, rows: np.ndarray, num_neighbors: int) -> np.ndarray:
    """Exact neighbours of the samples `rows` only, in blocks, with NumPy."""
    data = flat.astype("float32")
    data -= data.mean(axis=0)  # as in `_search_on_device`
    norms = np.sum(np.square(data), axis=1)
    block = max(1, _BLOCK_ELEMENTS // len(flat))
    found = []
    for start in range(0, len(rows), block):
        chunk = rows[start : start + block]
        distances = norms[None, :] - 2.0 * data[chunk] @ data.T
        distances[np.arange(len(chunk)), chunk] = np.inf
        # A stable sort keeps ties in index order, as the exact searches do.
        found.append(np.argsort(distances, axis=1, kind="stable")[:, :num_neighbors])
    return np.concatenate(found).astype("int64")


def _search_approximate(flat: np.ndarray, num_neighbors: int) -> np.ndarray:
    """pynndescent's approximate k-nearest-neighbour graph of all samples.

    NN-descent (Dong et al., 2011) from random-projection trees, seeded, so
    a given input gets the same graph (with the same number of threads). The
    graph keeps at least `_MIN_CANDIDATES` (and 2 * `num_neighbors`)
    candidates per sample, which usually include the sample itself, wherever
    copies of it put it in the list: it is removed wherever it appears. A
    sample left with fewer than `num_neighbors` others (rare; tiny inputs)
    gets an exact search.
    """
    pynndescent = _import_pynndescent()
    if pynndescent is None:
        raise ImportError(
            'nearest_neighbors(method="approximate") needs pynndescent, the '
            f"`ann` extra of keras-mae: {_INSTALL_HINT}."
        )
    count = len(flat)
    candidates = min(count, max(_MIN_CANDIDATES, 2 * num_neighbors))
    data = np.ascontiguousarray(flat, dtype="float32")
    with warnings.catch_warnings():
        # On tiny inputs pynndescent warns that it may have missed some
        # neighbours; those samples are searched exactly below.
        warnings.filterwarnings("ignore", "Failed to correctly find n_neighbors")
        index = pynndescent.NNDescent(data, n_neighbors=candidates, random_state=0)
        graph = np.asarray(index.neighbor_graph[0], dtype="int64")
    invalid = (graph < 0) | (graph == np.arange(count)[:, None])
    # A stable sort moves the invalid entries last and keeps the others in
    # the index's order, nearest first.
    order = np.argsort(invalid, axis=1, kind="stable")[:, :num_neighbors]
    neighbors = np.take_along_axis(graph, order, axis=1)
    missing = np.flatnonzero(np.take_along_axis(invalid, order, axis=1).any(axis=1))
    if len(missing):
        neighbors[missing] = _exact_rows(flat, missing, num_neighbors)
    return neighbors


def _resolved_method(method: str, count: int) -> str:
    """The search `method="auto"` runs on `count` samples; others as they are."""
    if method != "auto":
        return method
    if count <= _APPROXIMATE_ABOVE:
        return "sklearn"
    if _import_pynndescent() is not None:
        return "approximate"
    warnings.warn(
        f"nearest_neighbors: exact search of {count} samples, whose time grows "
        f"quadratically with their number; for an approximate index, {_INSTALL_HINT}.",
        stacklevel=3,
    )
    return "sklearn"


def nearest_neighbors(x, num_neighbors: int = 5, method: str = "auto") -> np.ndarray:
    """Indices of each sample's nearest neighbours in `x`, by Euclidean distance.

    Samples are compared as flat vectors (images: raw pixels). The searches:

    - `"sklearn"`: exact, with scikit-learn (faster than `"keras"` on a CPU).
      It is quadratic in `len(x)`: 80 to 84 s for the 70,000 MNIST images
      on 2 CPU cores (docs/benchmarks.md).
    - `"keras"`: exact, with keras.ops in blocks of rows on the backend's
      device, for a GPU (`MixtureAutoencoder.fit` picks it when there is
      one). It finds the same neighbours as `"sklearn"` (up to the order of
      ties).
    - `"approximate"`: pynndescent's nearest-neighbour graph (NN-descent
      from random-projection trees), close to linear in `len(x)`: 156 s for
      1,000,000 clustered 64-dimensional points on 2 CPU cores shared with
      other jobs, compilation included, with recall@5 0.998
      (`benchmarks/neighbor_search.py`); 15 s for the 70,000 MNIST images,
      recall@5 0.98. It is approximate: on data without neighbour structure
      (i.i.d. Gaussian noise in 64 dimensions, the worst case) it finds only
      0.2 of the exact neighbours. It needs the optional `ann` extra
      (`pip install "keras-mae[ann]"`). The first search of a process also
      compiles pynndescent's code (numba), about 25 s.
    - `"auto"` (the default): `"sklearn"` up to 50,000 samples,
      `"approximate"` above (it is faster from about 10,000 samples on,
      once compiled, and above about 50,000 with its compilation). Without
      the `ann` extra it warns, and searches exactly.

    Every search is deterministic: the approximate one is seeded, and gives
    the same neighbours for the same input with the same number of threads
    (numba's, by default the CPU count; another count may change a few).
    A sample is never its own neighbour, even when `x` holds copies of it. The
    results for the last two arrays are remembered (by content and search),
    so calling it again on the same data is free.

    Args:
        x: Array of samples, shape `(n, ...)`, `n > num_neighbors`.
        num_neighbors: How many neighbours per sample, at least 1.
        method: `"auto"`, `"sklearn"`, `"keras"` or `"approximate"`, as
            above.

    Returns:
        An int64 array `(n, num_neighbors)`, nearest first.

    Raises:
        ImportError: `method="approximate"` without pynndescent installed.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.datasets import nearest_neighbors
    >>> x = np.array([[0.0], [0.1], [5.0], [5.2]], dtype="float32")
    >>> nearest_neighbors(x, num_neighbors=1)[:, 0].tolist()
    [1, 0, 3, 2]

    The approximate index, here on four well separated clusters (where it
    finds the exact neighbours). Not run by the docstring tests: it needs the
    `ann` extra, and compiles for about 25 s
    (tests/datasets/test_neighbors_approximate.py runs the same search):

    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(scale=10.0, size=(4, 8))
    >>> x = centres[np.arange(400) % 4] + rng.normal(size=(400, 8))
    >>> found = nearest_neighbors(x, 5, method="approximate")  # doctest: +SKIP
    >>> found.shape, found.dtype  # doctest: +SKIP
    ((400, 5), dtype('int64'))
    >>> bool(np.all(found % 4 == np.arange(400)[:, None] % 4))  # doctest: +SKIP
    True
    """
    x = np.asarray(x)
    num_neighbors = check_int("nearest_neighbors", "num_neighbors", num_neighbors)
    if x.ndim < 2 or len(x) <= num_neighbors:
        raise ValueError(
            f"nearest_neighbors expects more than {num_neighbors} samples, shape "
            f"(n, ...); received shape {x.shape}."
        )
    searches = {
        "sklearn": _search_on_cpu,
        "keras": _search_on_device,
        "approximate": _search_approximate,
    }
    if method not in (*searches, "auto"):
        raise ValueError(
            'nearest_neighbors expects `method` "auto" or "approximate", or for '
            f"an exact search `method` in ['keras', 'sklearn']; received {method!r}."
        )
    method = _resolved_method(method, len(x))
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    key = (
        flat.shape,
        flat.dtype.str,
        int(num_neighbors),
        method,
        hashlib.blake2b(flat.data, digest_size=16).digest(),
    )
    if key not in _CACHE:
        neighbors = np.asarray(searches[method](flat, int(num_neighbors)), "int64")
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
    >>> from keras_mae.datasets import NeighborPairs
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
        method: str = "auto",
        **kwargs,
    ) -> NeighborPairs:
        """Pairs for `x`, with its `num_neighbors` nearest neighbours searched.

        The search compares `x` as given. `MixtureAutoencoder.fit` searches
        after the model's input normalization instead (vectors in their own
        units would be compared by their largest feature); for those pairs
        use `NeighborPairs(x, model.neighbors(x), ...)`.

        Args:
            x: Array of samples, shape `(n, ...)`, `n > num_neighbors`.
            num_neighbors: How many nearest neighbours to draw from.
            batch_size: Samples per batch.
            shuffle: Visit the samples in a new random order every epoch.
            resample: Draw a new neighbour of each sample every epoch.
            seed: Seed of the order and of the neighbour draws.
            method: The search, `"auto"`, `"sklearn"`, `"keras"` or
                `"approximate"` (`nearest_neighbors`).
            **kwargs: Passed to `NeighborPairs`.

        Returns:
            The `NeighborPairs` of `x` and its neighbours.
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
        """The samples `indices` and the neighbour each is paired with this epoch.

        Args:
            indices: Int array of sample indices into `x`.

        Returns:
            `{"x": x[indices], "neighbor": x[partners[indices]]}`.
        """
        return {"x": self.x[indices], "neighbor": self.x[self.partners[indices]]}
