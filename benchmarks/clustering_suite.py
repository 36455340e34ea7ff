"""The clustering suite: the MixtureAutoencoder with defaults against K-means and a GMM.

For every data set and seed it fits `keras_mae.MixtureClustering(n_clusters=K,
random_state=seed)` (package defaults; epochs and batch size chosen from the
data), `KMeans(K, n_init=10)` and `GaussianMixture(K)` (full covariances, in
float64), and prints ACC/NMI/ARI as mean ± std over the seeds and the wall
time of each. The baselines see the standardized features (images: the
flattened pixels, standardized); the MAE gets the data as a user has it
(vectors in their own units, which it normalizes itself; images in [0, 1]).
Labels only score the clusterings. Run one backend per process:

    KERAS_BACKEND=jax python benchmarks/clustering_suite.py --seeds 0 1 2 \
        --mnist ../shared/data/mnist.npz --json suite.json

Data sets: scikit-learn's wine and breast cancer, digits as 64-vectors and as
8x8 images, and (with `--mnist`) a 10,000-image MNIST subset (the first 10,000
training images); `--full-mnist` adds all 70,000 images. `--only NAME ...`
runs a subset; `--model-kwargs JSON` changes the MAE's hyperparameters and
`--warm-start kmeans|gmm` starts its assignment from those clusters
(`keras_mae.training.AssignmentWarmStart`), both for exploring: the suite's
results use neither.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import keras
import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from keras_mae.metrics import clustering_scores
from keras_mae.training import AssignmentWarmStart
from keras_mae.wrappers import MixtureClustering

METHODS = ("mae", "kmeans", "gmm")


def _mnist(path: str, count: int | None):
    with np.load(path) as data:
        x = np.concatenate([data["x_train"], data["x_test"]])
        y = np.concatenate([data["y_train"], data["y_test"]])
    if count is not None:
        x, y = x[:count], y[:count]
    return (x.astype("float32") / 255.0)[..., None], y.astype("int64")


def suite(args) -> dict[str, tuple]:
    """Data set name to `(x for the MAE, labels, number of clusters)`."""
    sets = {}
    for name, loader in (
        ("wine", sk_datasets.load_wine),
        ("breast_cancer", sk_datasets.load_breast_cancer),
    ):
        data = loader()
        sets[name] = (data.data.astype("float32"), data.target, 2 + (name == "wine"))
    digits = sk_datasets.load_digits()
    sets["digits_vectors"] = (digits.data.astype("float32") / 16.0, digits.target, 10)
    sets["digits_images"] = (
        (digits.images.astype("float32") / 16.0)[..., None],
        digits.target,
        10,
    )
    mnist = args.mnist or os.environ.get("KERAS_MAE_MNIST")
    if mnist:
        sets["mnist_10k"] = (*_mnist(mnist, 10000), 10)
        if args.full_mnist:
            sets["mnist_70k"] = (*_mnist(mnist, None), 10)
    if args.only:
        unknown = sorted(set(args.only) - set(sets))
        if unknown:
            raise SystemExit(f"Unknown data sets {unknown}; known: {sorted(sets)}.")
        sets = {name: sets[name] for name in args.only}
    return sets


def cluster(
    method: str, x, k: int, seed: int, model_kwargs: dict, warm_start: str | None
) -> np.ndarray:
    if method == "mae":
        estimator = MixtureClustering(
            n_clusters=k, random_state=seed, model_kwargs=model_kwargs or None
        )
        callbacks = []
        if warm_start:
            callbacks.append(AssignmentWarmStart(x, method=warm_start, seed=seed))
        return estimator.fit(x, callbacks=callbacks).labels_
    flat = StandardScaler().fit_transform(x.reshape(len(x), -1).astype("float64"))
    if method == "kmeans":
        return KMeans(k, n_init=10, random_state=seed).fit_predict(flat)
    return GaussianMixture(k, random_state=seed).fit_predict(flat)


def summarize(runs: list[dict]) -> dict:
    out = {}
    for key in ("acc", "nmi", "ari", "seconds"):
        values = np.array([run[key] for run in runs])
        out[key] = (float(values.mean()), float(values.std()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mnist", help="mnist.npz in Keras's layout")
    parser.add_argument("--full-mnist", action="store_true")
    parser.add_argument("--only", nargs="+", help="data set names to run")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--model-kwargs", type=json.loads, default={})
    parser.add_argument("--warm-start", choices=("kmeans", "gmm"))
    parser.add_argument("--json", help="write every run and the summary here")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(
        f"# {started:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, keras {keras.__version__}, "
        f"backend {keras.backend.backend()}; command: python " + " ".join(sys.argv),
        flush=True,
    )
    results = {}
    for name, (x, y, k) in suite(args).items():
        results[name] = {}
        for method in args.methods:
            runs = []
            for seed in args.seeds:
                start = time.perf_counter()
                labels = cluster(method, x, k, seed, args.model_kwargs, args.warm_start)
                scores = clustering_scores(y, labels)
                runs.append({**scores, "seed": seed})
                runs[-1]["seconds"] = time.perf_counter() - start
                print(
                    f"{name:>15} {method:>6} seed {seed}: ACC {scores['acc']:.4f} "
                    f"NMI {scores['nmi']:.4f} ARI {scores['ari']:.4f} "
                    f"({runs[-1]['seconds']:.1f} s)",
                    flush=True,
                )
            results[name][method] = {"runs": runs, **summarize(runs)}
    print("\n| data set | method | ACC | NMI | ARI | seconds per run |")
    print("|---|---|---|---|---|---|")
    for name, by_method in results.items():
        for method, result in by_method.items():
            cells = [
                f"{result[key][0]:.3f} ± {result[key][1]:.3f}"
                for key in ("acc", "nmi", "ari")
            ]
            print(
                f"| {name} | {method} | {' | '.join(cells)} | "
                f"{result['seconds'][0]:.1f} |"
            )
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"argv": sys.argv, "results": results}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
