"""Exploration: does a nearest-neighbour consistency term fix the MAE's weak seeds?

Not package API. The weak seeds of the default MixtureAutoencoder share
look-alike digits between balanced components (docs/benchmarks.md), although
raw-pixel nearest neighbours almost always show the same digit (this script
prints how often). This script adds a SCAN-style term (Van Gansbeke et al.
2020) to the autoencoder loss: each image and one of its `--neighbors`
nearest raw-pixel neighbours (a new random one every epoch) should get the
same assignment, `-log sum_k p(k|x) p(k|neighbour)`, times `--weight`. The
neighbours are found once, without labels; labels only score the result.

    KERAS_BACKEND=torch python benchmarks/neighbor_consistency.py --dataset digits \
        --epochs 30 --seeds 0 1 2
    KERAS_BACKEND=jax python benchmarks/neighbor_consistency.py --dataset mnist \
        --mnist ../shared/data/mnist.npz --epochs 10 --seeds 0

Compare with `benchmarks/mnist_clustering.py` at the same epochs and seeds.
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np
from keras import ops
from mnist_clustering import NUM_COMPONENTS, load_images
from sklearn.neighbors import NearestNeighbors

from keras_mae.datasets import load_digits
from keras_mae.metrics import clustering_scores
from keras_mae.models import MixtureAutoencoder


class NeighborMixtureAutoencoder(MixtureAutoencoder):
    """The default model plus the neighbour term, fed `(images, neighbours)`."""

    neighbor_weight = 1.0

    def _unpack(self, data):
        x, neighbors, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x if neighbors is None else (x, neighbors)

    def autoencoder_loss(self, data, training=True):
        if not isinstance(data, tuple):
            return super().autoencoder_loss(data, training)
        x, neighbors = data
        total, logs = super().autoencoder_loss(x, training)
        p = self.assignment(self._encode_all(x, training=training))
        q = self.assignment(self._encode_all(neighbors, training=training))
        agreement = ops.clip(ops.sum(p * q, axis=-1), 1e-7, 1.0)
        neighbor = -ops.mean(ops.log(agreement))
        logs["neighbor"] = neighbor
        logs["loss"] = total + self.neighbor_weight * neighbor
        return logs["loss"], logs

    def discriminator_loss(self, data, training=True):
        x = data[0] if isinstance(data, tuple) else data
        return super().discriminator_loss(x, training)

    def _log_names(self):
        return super()._log_names() + ["neighbor"]


class NeighborPairs(keras.utils.PyDataset):
    """Shuffled batches of `(images, one random near neighbour of each)`."""

    def __init__(self, x, neighbors, batch_size: int, seed: int):
        super().__init__()
        self.x, self.neighbors, self.batch_size = x, neighbors, batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def on_epoch_end(self):
        n, k = self.neighbors.shape
        self.order = self.rng.permutation(n)
        self.partner = self.neighbors[np.arange(n), self.rng.integers(0, k, n)]

    def __getitem__(self, index):
        batch = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[batch], self.x[self.partner[batch]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "digits"), default="digits")
    parser.add_argument("--mnist", help="mnist.npz (default: $KERAS_MAE_MNIST)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--neighbors", type=int, default=5)
    parser.add_argument("--weight", type=float, default=1.0)
    args = parser.parse_args()

    x, y = load_digits() if args.dataset == "digits" else load_images(args.mnist)
    batch_size = args.batch_size or (128 if args.dataset == "digits" else 256)
    flat = x.reshape(len(x), -1)
    start = time.perf_counter()
    _, neighbors = (
        NearestNeighbors(n_neighbors=args.neighbors + 1).fit(flat).kneighbors(flat)
    )
    neighbors = neighbors[:, 1:]  # drop each image itself
    print(
        json.dumps(
            {
                "neighbor_seconds": round(time.perf_counter() - start, 1),
                # Scoring only: how often a neighbour shows the same digit.
                "neighbor_label_agreement": float(np.mean(y[neighbors] == y[:, None])),
            }
        ),
        flush=True,
    )
    NeighborMixtureAutoencoder.neighbor_weight = args.weight
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = NeighborMixtureAutoencoder(NUM_COMPONENTS, latent_dim=10, seed=seed)
        model.compile()
        model._validated(x)  # the input checks fit() runs on arrays; builds
        start = time.perf_counter()
        model.fit(
            NeighborPairs(x, neighbors, batch_size, seed), epochs=args.epochs, verbose=0
        )
        seconds = time.perf_counter() - start
        scores = clustering_scores(y, model.predict_clusters(x))
        result = {
            "backend": keras.backend.backend(),
            "dataset": args.dataset,
            "seed": seed,
            "epochs": args.epochs,
            "neighbors": args.neighbors,
            "weight": args.weight,
            **{key: round(value, 4) for key, value in scores.items()},
            "train_seconds": round(seconds, 1),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
