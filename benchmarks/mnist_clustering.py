"""Clusters all 70k MNIST digits with a default MixtureAutoencoder; prints ACC/NMI/ARI.

Labels are used only to score the final clustering, never for training or
model selection. Every seed trains a fresh model with the package defaults
(`MixtureAutoencoder(10, latent_dim)`, `compile()`; `--model-kwargs` changes
them) and the same epochs (by default `auto_epochs`, as `MixtureClustering`); the
script reports mean ± std over seeds, reconstruction MSE, wall time, and
K-means on raw pixels as the floor. With `--restarts R` each result is the
best of R models by final training loss (`best_of_restarts`; labels score
every restart but choose none); `--screen-epochs E` compares the restarts
after E epochs and trains only the best on. Run one backend per process:

    KERAS_BACKEND=jax python benchmarks/mnist_clustering.py \
        --mnist ../shared/data/mnist.npz --samples /tmp/mae_samples.png \
        --frechet-extractor weights_cards/mnist-classifier

`--dataset digits` runs the same protocol on scikit-learn's 1797 8x8 digits
(no download), the data of the package's short-training test. `--digits 4 9`
keeps only those MNIST digits, one component each: a quick test of whether
runs separate look-alike digits.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time

import keras
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import confusion_matrix

from keras_mae.cli.images import save_image_grid
from keras_mae.datasets import load_digits
from keras_mae.layers import RandomAffine
from keras_mae.metrics import FrechetDistance, clustering_scores, frechet_distance
from keras_mae.models import MixtureAutoencoder
from keras_mae.training import best_of_restarts
from keras_mae.wrappers import auto_epochs


def load_images(path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """All 70k MNIST images as float32 in [0, 1], shape (70000, 28, 28, 1)."""
    path = path or os.environ.get("KERAS_MAE_MNIST")
    if path is None:
        raise SystemExit("Pass --mnist PATH or set KERAS_MAE_MNIST.")
    with np.load(path) as data:
        x = np.concatenate([data["x_train"], data["x_test"]])
        y = np.concatenate([data["y_train"], data["y_test"]])
    return (x.astype("float32") / 255.0)[..., None], y


class SampleQuality:
    """Fréchet distance of a model's samples to the last `num` images.

    With MNIST those are the 10,000 test images (train and test are stacked in
    that order). `floor` is the distance of as many real training images: what
    real data scores with this number of images.
    """

    def __init__(self, extractor: str, x: np.ndarray, num: int):
        self.fd = FrechetDistance(extractor, batch_size=500)
        self.num = min(num, len(x) // 2)
        self.reference = self.fd.statistics(x[-self.num :])
        self.floor = frechet_distance(
            *self.fd.statistics(x[: self.num]), *self.reference
        )

    def __call__(self, model: MixtureAutoencoder, seed: int) -> float:
        samples = model.sample(self.num, seed=seed)
        return frechet_distance(*self.fd.statistics(samples), *self.reference)


def model_arguments(kwargs: dict, seed: int) -> dict:
    """`--model-kwargs` as `MixtureAutoencoder` arguments, for the model `seed`.

    JSON holds no layers, so the augmentation is written as numbers:
    `"consistency_shear": S` (the old `compile` argument) is the default
    augmentation with shear S, `RandomAffine(shear=S)`, and an `"augmentation"`
    object holds `RandomAffine` arguments (`null` is no augmentation). Either
    one is seeded with the model's seed, as the default augmentation is.
    """
    kwargs = dict(kwargs)
    shear = kwargs.pop("consistency_shear", None)
    layer = {"seed": seed, "name": "augmentation"}
    if shear is not None:
        if "augmentation" in kwargs:
            raise ValueError(
                "--model-kwargs: give `consistency_shear` or `augmentation`, not both."
            )
        kwargs["augmentation"] = RandomAffine(shear=shear, **layer)
    elif isinstance(kwargs.get("augmentation"), dict):
        kwargs["augmentation"] = RandomAffine(**{**layer, **kwargs["augmentation"]})
    return kwargs


def build_model(seed: int, args) -> MixtureAutoencoder:
    model = MixtureAutoencoder(
        args.num_components,
        latent_dim=args.latent_dim,
        seed=seed,
        **model_arguments(args.model_kwargs, seed),
    )
    optimizer = None  # compile's default, Adam(1e-3)
    if args.cosine_decay is not None:
        # Decays over the whole run: the epochs times the batches of one.
        steps = args.epochs * math.ceil(args.num_samples / args.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(
            1e-3, steps, alpha=args.cosine_decay
        )
        optimizer = keras.optimizers.Adam(schedule)
    model.compile(optimizer=optimizer)
    return model


def score(model: MixtureAutoencoder, x, y, history) -> dict:
    clusters = model.predict_clusters(x)
    result = clustering_scores(y, clusters)
    num_components = model.num_components
    result.update(
        final_loss=float(history.history["loss"][-1]),
        # The epoch-mean loss after every epoch: lets combine_restarts.py
        # compare restarts at an earlier epoch (--screen-epochs).
        loss_per_epoch=[float(v) for v in history.history["loss"]],
        reconstruction_mse=float(np.mean(model.anomaly_score(x))),
        cluster_sizes=np.bincount(clusters, minlength=num_components).tolist(),
        # Rows: true digits 0-9 (or those of --digits, in that order);
        # columns: the components (unused ones too).
        # Shows which digits a component merges, which digit is split.
        contingency=confusion_matrix(
            y, clusters, labels=np.arange(num_components)
        ).tolist(),
        # The smallest epoch-mean share of any component over the whole run:
        # how close training came to a dead component.
        min_component_usage=min(
            float(np.min(v)) for k, v in history.history.items() if "usage_" in k
        ),
        reseeded=int(sum(history.history.get("reseeded", []))),
        final_logs={k: float(v[-1]) for k, v in history.history.items()},
    )
    return result


class ScoreEvery(keras.callbacks.Callback):
    """Scores the clustering every `every` epochs (`--score-every`).

    Labels only score, they choose nothing: the scores show how many epochs a
    run needs. Each scoring is a `predict_clusters` of all the data, so it adds
    its time to the run's (printed with it).
    """

    def __init__(self, x, y, every: int):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.scores: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        start = time.perf_counter()
        result = clustering_scores(self.y, self.model.predict_clusters(self.x))
        seconds = time.perf_counter() - start
        self.scores.append({"epoch": epoch + 1, **result, "seconds": seconds})
        print(
            f"epoch {epoch + 1}: acc {result['acc']:.4f} nmi {result['nmi']:.4f} "
            f"(scored in {seconds:.1f} s)",
            flush=True,
        )


def train_and_score(x, y, group: int, args) -> tuple[MixtureAutoencoder, dict]:
    """Trains `args.restarts` models (seeds `group * restarts + r`) and keeps
    the one with the lowest final training loss (`best_of_restarts`): labels
    score every restart but never choose. With `--screen-epochs E` the
    restarts are compared after E epochs and only the best trains on; each
    restart's scores are then those after its E epochs."""
    scored = {}
    clock = [time.perf_counter()]
    scorer = ScoreEvery(x, y, args.score_every) if args.score_every else None

    def on_restart(model, seed, history):
        seconds = time.perf_counter() - clock[0]
        scored[seed] = {**score(model, x, y, history), "train_seconds": seconds}
        if scorer is not None:
            scored[seed]["scores_per_epoch"], scorer.scores = scorer.scores, []
        print(
            f"restart seed {seed}: loss {scored[seed]['final_loss']:.4f} after "
            f"{len(history.epoch)} epochs, acc {scored[seed]['acc']:.4f}, "
            f"{seconds:.0f} s"
        )
        clock[0] = time.perf_counter()

    best = best_of_restarts(
        lambda seed: build_model(seed, args),
        x,
        restarts=args.restarts,
        seed=group * args.restarts,
        on_restart=on_restart,
        screen_epochs=args.screen_epochs,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        callbacks=[] if scorer is None else [scorer],
    )
    train_seconds = sum(run["train_seconds"] for run in scored.values())
    if args.screen_epochs is None:
        result = dict(scored[best.seed])
    else:
        train_seconds += time.perf_counter() - clock[0]
        result = score(best.model, x, y, best.history)
    epochs = args.epochs + (args.restarts - 1) * (args.screen_epochs or args.epochs)
    result.update(
        seed=best.seed,
        train_seconds=train_seconds,
        seconds_per_epoch=train_seconds / epochs,
        restarts=[
            {
                "seed": seed,
                **{k: run[k] for k in ("final_loss", "acc", "nmi", "ari")},
                "train_seconds": run["train_seconds"],
            }
            for seed, run in scored.items()
        ],
    )
    if args.sample_quality is not None:
        result["frechet_distance"] = args.sample_quality(best.model, best.seed)
    return best.model, result


def save_sample_grid(model: MixtureAutoencoder, path: str, per_component: int = 10):
    """One row of prior samples per component."""
    samples = [
        model.sample(per_component, component=k, seed=k)
        for k in range(model.num_components)
    ]
    save_image_grid(np.concatenate(samples), path, columns=per_component)


def kmeans_floor(x, y, num_clusters: int, seed: int, n_init: int) -> dict:
    start = time.perf_counter()
    clusters = KMeans(num_clusters, n_init=n_init, random_state=seed).fit_predict(
        x.reshape(len(x), -1)
    )
    result = clustering_scores(y, clusters)
    result["seconds"] = time.perf_counter() - start
    return result


def accelerator() -> str:
    """The device the backend computes on, e.g. 'cpu' or 'NVIDIA H200'."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.devices()[0].device_kind
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "cpu"


def summary(values) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
    parser.add_argument("--mnist", help="mnist.npz (default: $KERAS_MAE_MNIST)")
    parser.add_argument(
        "--digits",
        type=int,
        nargs="+",
        help="MNIST only: keep the images of these digits, one component per "
        "digit (labels renumbered 0, 1, ... in this order), e.g. 4 9",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="one result per entry; with --restarts R, entry g trains seeds "
        "g*R to g*R+R-1",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="models per result; the lowest final training loss is kept "
        "(keras_mae.training.best_of_restarts)",
    )
    parser.add_argument(
        "--screen-epochs",
        type=int,
        default=None,
        help="with --restarts: compare the restarts after this many epochs "
        "and train only the best to --epochs",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="default: MixtureClustering's auto_epochs for the data and batch "
        "size (30 for all 70,000 MNIST images, 250 for digits)",
    )
    parser.add_argument(
        "--cosine-decay",
        type=float,
        metavar="ALPHA",
        help="train the autoencoders with Adam(CosineDecay(1e-3, all steps, "
        "alpha=ALPHA)) instead of compile's constant 1e-3: the rate falls to "
        "ALPHA * 1e-3 by the last step (for exploring shorter schedules)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--samples", help="where to save the image grid (PNG)")
    parser.add_argument("--json", help="where to save all results (JSON)")
    parser.add_argument(
        "--save-presets",
        help="folder in which to save each seed's trained model as a preset "
        "(seed_N/, with its scores in metadata.json)",
    )
    parser.add_argument(
        "--frechet-extractor",
        help="ImageClassifier preset (e.g. weights_cards/mnist-classifier): "
        "report the Fréchet distance of 10,000 samples to the last 10,000 "
        "images (the MNIST test set)",
    )
    parser.add_argument("--skip-kmeans", action="store_true")
    parser.add_argument(
        "--kmeans-n-init", type=int, default=3, help="K-means restarts (floor)"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="first N images only (smoke tests)"
    )
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument(
        "--score-every",
        type=int,
        default=0,
        help="also score ACC/NMI every N epochs (labels choose nothing; the "
        "scoring's time counts in the run's)",
    )
    parser.add_argument(
        "--model-kwargs",
        type=json.loads,
        default={},
        help="JSON of MixtureAutoencoder arguments to change, the loss "
        'weights included (for exploring), e.g. \'{"neighbor_weight": 0, '
        '"consistency_shear": 0}\'; "consistency_shear": S is '
        'augmentation=RandomAffine(shear=S), and an "augmentation" object '
        "holds RandomAffine arguments. The numbers in docs/benchmarks.md use "
        "the defaults",
    )
    parser.add_argument(
        "--compile-kwargs",
        type=json.loads,
        default={},
        help="deprecated: the old name of --model-kwargs for the loss "
        "arguments, from when compile() took them; merged into --model-kwargs",
    )
    args = parser.parse_args()
    if args.restarts < 1:
        parser.error(f"--restarts must be at least 1; received {args.restarts}")
    if args.screen_epochs is not None and args.restarts == 1:
        parser.error("--screen-epochs compares restarts: give --restarts >= 2")
    for option in ("model_kwargs", "compile_kwargs"):
        if not isinstance(getattr(args, option), dict):
            parser.error(f"--{option.replace('_', '-')} takes a JSON object")
    if args.compile_kwargs:
        both = sorted(set(args.compile_kwargs) & set(args.model_kwargs))
        if both:
            parser.error(f"{both} given in both --model-kwargs and --compile-kwargs")
        print(
            "--compile-kwargs is deprecated: MixtureAutoencoder takes these "
            "arguments now; they are passed as --model-kwargs.",
            file=sys.stderr,
        )
    args.given_model_kwargs = args.model_kwargs
    args.model_kwargs = {**args.model_kwargs, **args.compile_kwargs}
    try:
        model_arguments(args.model_kwargs, seed=0)  # bad values fail here, early
    except (TypeError, ValueError) as error:
        parser.error(str(error))

    x, y = load_digits() if args.dataset == "digits" else load_images(args.mnist)
    args.num_components = 10
    if args.digits:
        if args.dataset != "mnist" or len(set(args.digits)) != len(args.digits):
            parser.error("--digits takes distinct MNIST digits, e.g. --digits 4 9")
        if len(args.digits) < 2 or not set(args.digits) <= set(range(10)):
            parser.error(f"--digits takes 2 to 10 of 0-9; received {args.digits}")
        keep = np.isin(y, args.digits)
        renumber = np.zeros(10, dtype=y.dtype)
        renumber[args.digits] = np.arange(len(args.digits))
        x, y = x[keep], renumber[y[keep]]
        args.num_components = len(args.digits)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    if args.epochs is None:
        args.epochs = auto_epochs(len(x), args.batch_size)
    args.num_samples = len(x)
    args.sample_quality = None
    if args.frechet_extractor:
        args.sample_quality = SampleQuality(args.frechet_extractor, x, 10000)
    started = time.perf_counter()
    runs = []
    for group in args.seeds:
        model, result = train_and_score(x, y, group, args)
        seed = result["seed"]
        runs.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "final_logs"}))
        sys.stdout.flush()
        if args.samples and group == args.seeds[0]:
            save_sample_grid(model, args.samples)
        if args.save_presets:
            scores = {k: result[k] for k in ("acc", "nmi", "ari", "reconstruction_mse")}
            model.save_to_preset(
                os.path.join(args.save_presets, f"seed_{seed}"), metrics=scores
            )
    kmeans = None
    if not args.skip_kmeans:
        kmeans = kmeans_floor(
            x, y, args.num_components, args.seeds[0], args.kmeans_n_init
        )
    report = {
        "command": "KERAS_BACKEND="
        + keras.backend.backend()
        + " python "
        + shlex.join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "accelerator": accelerator(),
        "keras": keras.__version__,
        "dataset": args.dataset,
        "digits": args.digits,
        "images": len(x),
        "epochs": args.epochs,
        "cosine_decay": args.cosine_decay,
        "restarts": args.restarts,
        "screen_epochs": args.screen_epochs,
        # The arguments of every model (those of --compile-kwargs included),
        # and the options as given.
        "model_kwargs": args.model_kwargs,
        "given_model_kwargs": args.given_model_kwargs,
        "compile_kwargs": args.compile_kwargs,
        "runs": runs,
        "frechet_distance_real_images": None
        if args.sample_quality is None
        else args.sample_quality.floor,
        "kmeans_raw_pixels": kmeans,
        "total_seconds": time.perf_counter() - started,
    }
    print("\n" + json.dumps(report, indent=1))
    print(
        f"\nMixtureAutoencoder on {args.dataset}"
        + (f" digits {args.digits}" if args.digits else "")
        + f" ({len(x)} images, "
        f"{len(runs)} seeds, {args.epochs} epochs, best of {args.restarts} "
        + (
            "by final loss):"
            if args.screen_epochs is None
            else f"by the loss after {args.screen_epochs} epochs):"
        )
    )
    metrics = ["acc", "nmi", "ari", "reconstruction_mse", "train_seconds"]
    if args.sample_quality is not None:
        metrics.append("frechet_distance")
    for metric in metrics:
        print(f"  {metric:20s} {summary([run[metric] for run in runs])}")
    if args.sample_quality is not None:
        print(
            f"  Fréchet distance of {args.sample_quality.num} real training "
            f"images (the floor): {args.sample_quality.floor:.4f}"
        )
    if kmeans is not None:
        print(
            f"  K-means raw pixels (n_init={args.kmeans_n_init}) "
            f"acc {kmeans['acc']:.4f} nmi {kmeans['nmi']:.4f} ari {kmeans['ari']:.4f}"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
