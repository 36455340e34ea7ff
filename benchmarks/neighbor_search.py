"""Times `nearest_neighbors`: on synthetic data of any size, or on all 70k MNIST images.

Synthetic data (`--n`): `nearest_neighbors(x, k, method=...)` on `n` seeded
`dim`-dimensional points, timed end to end (for the approximate index that
includes importing pynndescent and compiling its code, about 25 s, once per
process), then scored by recall@k: the share of the exact `k` nearest
neighbours it found, for `--queries` samples drawn at random, whose exact
neighbours are searched here by brute force in blocks with NumPy (float64).
The points (`--data`):

- `clustered` (the default): a mixture of n / 1000 Gaussian clusters, each
  spread along its own random 8-dimensional subspace around its centre, plus
  a little noise in all `dim` directions. Embeddings of real data look like
  this: clusters near low-dimensional manifolds.
- `noise`: i.i.d. standard Gaussian noise, which has no neighbour structure:
  in 64 dimensions the nearest neighbours are barely nearer than the others,
  the worst case of any approximate index.

    python benchmarks/neighbor_search.py --n 1000000 --dim 64 --k 5 \\
        --queries 1000 --method auto

MNIST (`--mnist`): the two exact searches, keras.ops in blocks of rows
(`method="keras"`) and scikit-learn's `NearestNeighbors` (`"sklearn"`), and
pynndescent's approximate index (`"approximate"`, run twice: the first run
includes compiling its code), on all 70,000 images.
`MixtureAutoencoder.fit`, behind its nearest-neighbour term, picks keras.ops
when the backend computes on a GPU and `"auto"` on the CPU (the index, at
this size). It times each wherever it runs (the keras.ops one on the
backend's device) and prints the share of samples whose neighbour sets
agree with scikit-learn's, and the index's recall@k against it.
One backend per process:

    KERAS_BACKEND=jax python benchmarks/neighbor_search.py \\
        --mnist ../shared/data/mnist.npz
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings

import keras
import numpy as np

from keras_mae.datasets import neighbors
from keras_mae.training.backend import on_accelerator

POINTS_PER_CLUSTER = 1000
CLUSTER_RANK = 8


def clustered_points(n: int, dim: int, seed: int) -> np.ndarray:
    """`n` points of n / 1000 clusters, each along a random 8-dim subspace."""
    rng = np.random.default_rng(seed)
    count = max(1, n // POINTS_PER_CLUSTER)
    rank = min(CLUSTER_RANK, dim)
    centres = rng.normal(scale=3.0, size=(count, dim)).astype("float32")
    bases = rng.normal(size=(count, rank, dim)).astype("float32") / np.sqrt(rank)
    labels = rng.integers(0, count, n)
    x = np.empty((n, dim), "float32")
    for start in range(0, n, 100_000):
        own = labels[start : start + 100_000]
        spread = rng.normal(size=(len(own), rank)).astype("float32")
        x[start : start + len(own)] = (
            centres[own]
            + np.einsum("nr,nrd->nd", spread, bases[own])
            + 0.1 * rng.normal(size=(len(own), dim)).astype("float32")
        )
    return x


def noise_points(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")


def exact_neighbors(x: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact `k` nearest neighbours of the samples `queries`, by brute force."""
    data = x.astype("float64")
    norms = np.sum(np.square(data), axis=1)
    block = max(1, 2**24 // len(x))  # 128 MiB of float64 distances at a time
    found = []
    for start in range(0, len(queries), block):
        rows = queries[start : start + block]
        distances = norms[None, :] - 2.0 * data[rows] @ data.T
        distances[np.arange(len(rows)), rows] = np.inf  # not its own neighbour
        nearest = np.argpartition(distances, k, axis=1)[:, :k]
        found.append(nearest)
    return np.concatenate(found)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    hits = [len(np.intersect1d(a, b)) for a, b in zip(found, exact, strict=True)]
    return float(np.sum(hits)) / exact.size


def library_versions() -> str:
    try:
        import numba
        import pynndescent
    except ImportError:
        return "pynndescent not installed"
    return (
        f"pynndescent {pynndescent.__version__}, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads)"
    )


def synthetic(args: argparse.Namespace) -> None:
    points = {"clustered": clustered_points, "noise": noise_points}[args.data]
    start = time.perf_counter()
    x = points(args.n, args.dim, args.seed)
    made = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nearest_neighbors warns below
        method = neighbors._resolved_method(args.method, len(x))
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"({len(os.sched_getaffinity(0))} usable), NumPy {np.__version__}, "
        f"{library_versions()}",
        flush=True,
    )
    print(
        f"n={args.n}, dim={args.dim}, k={args.k}, data={args.data} "
        f"(made in {made:.1f} s), method={args.method} -> {method}",
        flush=True,
    )
    start = time.perf_counter()
    found = neighbors.nearest_neighbors(x, args.k, method=args.method)
    seconds = time.perf_counter() - start
    print(f"nearest_neighbors: {seconds:.1f} s for all {args.n} points", flush=True)
    rng = np.random.default_rng(args.seed + 1)
    queries = rng.choice(args.n, min(args.queries, args.n), replace=False)
    start = time.perf_counter()
    exact = exact_neighbors(x, queries, args.k)
    checked = time.perf_counter() - start
    own = np.any(found == np.arange(args.n)[:, None], axis=1).sum()
    print(
        f"recall@{args.k}: {recall_at_k(found[queries], exact):.4f} on "
        f"{len(queries)} random queries (exact search of them: {checked:.1f} s); "
        f"samples listed as their own neighbour: {own}"
    )


def mnist(args: argparse.Namespace) -> None:
    path = args.mnist or os.environ.get("KERAS_MAE_MNIST")
    if path is None:
        raise SystemExit("Pass --n N (synthetic data), or --mnist PATH.")
    with np.load(path) as data:
        x = np.concatenate([data["x_train"], data["x_test"]])
    x = (x.astype("float32") / 255.0)[..., None]
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{len(x)} images, k={args.k}"
    )
    flat = x.reshape(len(x), -1)
    times, found = {}, {}
    for name, search in (
        ("keras.ops", neighbors._search_on_device),
        ("scikit-learn", neighbors._search_on_cpu),
        ("approximate, compiling", neighbors._search_approximate),
        ("approximate", neighbors._search_approximate),
    ):
        start = time.perf_counter()
        found[name] = search(flat, args.k)
        times[name] = time.perf_counter() - start
        print(f"{name:22s} {times[name]:6.1f} s", flush=True)
    used = "keras" if on_accelerator() else neighbors._resolved_method("auto", len(x))
    print(f"MixtureAutoencoder.fit searches with: {used}")
    exact = found["scikit-learn"]
    for name in ("keras.ops", "approximate"):
        same_sets = np.all(np.sort(found[name], 1) == np.sort(exact, 1), axis=1)
        same_first = found[name][:, 0] == exact[:, 0]
        print(
            f"{name} against scikit-learn: same neighbour sets {same_sets.mean():.5f} "
            f"of the samples, same nearest {same_first.mean():.5f}, "
            f"recall@{args.k} {recall_at_k(found[name], exact):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="synthetic data: how many points")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--data", choices=["clustered", "noise"], default="clustered")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--method", default="auto", choices=["auto", "sklearn", "keras", "approximate"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist", help="mnist.npz (default: $KERAS_MAE_MNIST)")
    parser.add_argument("--k", "--num-neighbors", dest="k", type=int, default=5)
    args = parser.parse_args()
    if args.n is not None:
        synthetic(args)
    else:
        mnist(args)


if __name__ == "__main__":
    main()
