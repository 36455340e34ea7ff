"""Times the two exact searches of `nearest_neighbors` on all 70k MNIST images.

`nearest_neighbors(x, k, method=...)` searches with keras.ops in blocks of
rows (`method="keras"`) or with scikit-learn's `NearestNeighbors`
(`"sklearn"`, the default); `MixtureAutoencoder.fit`, behind its
nearest-neighbour term, picks keras.ops when the backend computes on a GPU
and scikit-learn on the CPU. This script times both wherever it runs (the
keras.ops one on the backend's device) and prints the share of samples whose
neighbour sets agree.
One backend per process:

    KERAS_BACKEND=jax python benchmarks/neighbor_search.py \
        --mnist ../shared/data/mnist.npz
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import keras
import numpy as np

from keras_mae.datasets import neighbors
from keras_mae.training.backend import on_accelerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", help="mnist.npz (default: $KERAS_MAE_MNIST)")
    parser.add_argument("--num-neighbors", type=int, default=5)
    args = parser.parse_args()
    path = args.mnist or os.environ.get("KERAS_MAE_MNIST")
    if path is None:
        raise SystemExit("Pass --mnist PATH or set KERAS_MAE_MNIST.")
    with np.load(path) as data:
        x = np.concatenate([data["x_train"], data["x_test"]])
    x = (x.astype("float32") / 255.0)[..., None]
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{len(x)} images, k={args.num_neighbors}"
    )
    flat = x.reshape(len(x), -1)
    times, found = {}, {}
    for name, search in (
        ("keras.ops", neighbors._search_on_device),
        ("scikit-learn", neighbors._search_on_cpu),
    ):
        start = time.perf_counter()
        found[name] = search(flat, args.num_neighbors)
        times[name] = time.perf_counter() - start
        print(f"{name:12s} {times[name]:6.1f} s", flush=True)
    used = "keras.ops" if on_accelerator() else "scikit-learn"
    print(f"MixtureAutoencoder.fit searches with: {used}")
    same_sets = np.all(
        np.sort(found["keras.ops"], 1) == np.sort(found["scikit-learn"], 1), axis=1
    )
    same_first = found["keras.ops"][:, 0] == found["scikit-learn"][:, 0]
    print(
        f"same neighbour sets: {same_sets.mean():.5f} of the samples; "
        f"same nearest: {same_first.mean():.5f}"
    )


if __name__ == "__main__":
    main()
