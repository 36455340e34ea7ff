"""Inference speed: the MixtureAutoencoder's methods against a bare `predict`.

On the current `KERAS_BACKEND` only (run once per backend), it times the
methods of `keras_mae.models.mixture_inference` on the first `--samples`
MNIST images (training images first, then test images, in [0, 1]), each
with `batch_size=--batch-size`:

- `predict_proba`, `predict_clusters` (the model's own `predict`, plus an
  argmax for the clusters);
- `encode` (`predict` of the model's "encode" view: codes and probabilities);
- `reconstruct`, `anomaly_score` (both `predict` of the "reconstruct" view,
  keeping one of its two outputs);

against `keras.Model.predict` of a plain functional `keras.Model` computing
the same thing from the same layers, so the ratio is the overhead of each
method (its input checks, conversions and dispatch) over a bare `predict`:

- for `predict_proba` and `predict_clusters`: `keras.Input` -> the model's
  encoders (after its input normalization, if any) -> its assignment network;
- for `encode` and `reconstruct`/`anomaly_score`: the very view the method
  predicts with.

`MixtureAutoencoder.predict` itself (the subclassed model's `predict`, which
`predict_proba` calls) is timed too, against the functional proba network.

The model is the default MNIST model, `MixtureAutoencoder(num_components=10,
latent_dim=10, input_shape=(28, 28, 1), seed=0)` with fresh weights (as fast
as trained ones), or `--preset NAME` (e.g. `mae_mnist`) loaded with its
weights. Every runner is called once on all the samples to warm up (tracing
and compiling, the last partial batch included); then each of `--repeats`
rounds times one call of every runner, the order rotating from round to
round so that slow spells of a shared machine hit all of them alike. It
prints each call's images/s, and per runner the median and best, and the
ratio of medians to its `keras.Model.predict` baseline.

Usage:
    KERAS_BACKEND=jax python benchmarks/inference_speed.py \
        --mnist ../shared/data/mnist.npz [--samples 10000] [--batch-size 256] \
        [--repeats 3] [--preset mae_mnist] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import sys
import time

import keras
import numpy as np

import keras_mae
from keras_mae.datasets import load_mnist, preprocess_images
from keras_mae.models import MixtureAutoencoder
from keras_mae.training.backend import on_accelerator

SHAPE = (28, 28, 1)


def build_model(preset: str | None) -> MixtureAutoencoder:
    if preset:
        model = MixtureAutoencoder.from_preset(preset)
        if tuple(model.data_shape or ()) != SHAPE:
            raise SystemExit(
                f"Preset {preset!r} takes inputs of shape {model.data_shape}, "
                f"not the MNIST images {SHAPE}."
            )
        return model
    model = MixtureAutoencoder(
        num_components=10, latent_dim=10, input_shape=SHAPE, seed=0
    )
    model.compile()
    return model


def proba_network(model: MixtureAutoencoder) -> keras.Model:
    """A functional `keras.Model` computing `predict_proba` from the same layers."""
    inputs = keras.Input(model.data_shape)
    return keras.Model(inputs, model.assignment(model._encode_all(inputs)))


def runners(model: MixtureAutoencoder, batch_size: int) -> dict[str, tuple]:
    """Name to `(function of x, name of its baseline or None)`."""

    def bare(network):
        return lambda x: network.predict(x, batch_size=batch_size, verbose=0)

    proba = proba_network(model)
    encode_view = model._view("encode")
    reconstruct_view = model._view("reconstruct")
    base_proba = "keras.Model.predict (proba network)"
    base_encode = "keras.Model.predict (encode view)"
    base_reconstruct = "keras.Model.predict (reconstruct view)"
    return {
        base_proba: (bare(proba), None),
        base_encode: (bare(encode_view), None),
        base_reconstruct: (bare(reconstruct_view), None),
        "MixtureAutoencoder.predict": (bare(model), base_proba),
        "predict_proba": (
            lambda x: model.predict_proba(x, batch_size=batch_size),
            base_proba,
        ),
        "predict_clusters": (
            lambda x: model.predict_clusters(x, batch_size=batch_size),
            base_proba,
        ),
        "encode": (lambda x: model.encode(x, batch_size=batch_size), base_encode),
        "reconstruct": (
            lambda x: model.reconstruct(x, batch_size=batch_size),
            base_reconstruct,
        ),
        "anomaly_score": (
            lambda x: model.anomaly_score(x, batch_size=batch_size),
            base_reconstruct,
        ),
    }


def check_same(out: dict) -> None:
    """Raises if a method's answer differs from its baseline's."""
    proba = out["keras.Model.predict (proba network)"]
    codes, probabilities = out["keras.Model.predict (encode view)"]
    reconstructions, errors = out["keras.Model.predict (reconstruct view)"]
    pairs = {
        "MixtureAutoencoder.predict": (out["MixtureAutoencoder.predict"], proba),
        "predict_proba": (out["predict_proba"], proba),
        "encode": (out["encode"], (codes, probabilities)),
        "reconstruct": (out["reconstruct"], reconstructions),
        "anomaly_score": (out["anomaly_score"], errors),
    }
    for name, (got, expected) in pairs.items():
        if not isinstance(got, tuple):
            got, expected = (got,), (expected,)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
    clusters = out["predict_clusters"]
    agree = np.mean(clusters == np.argmax(proba, axis=-1))
    if agree < 0.999:  # argmax ties may break apart on float noise
        raise AssertionError(f"predict_clusters agrees on {agree:.4f} only")


def backend_version() -> str:
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        return backend
    return f"{backend} {importlib.import_module(backend).__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--preset", help="load this preset's weights (default: a fresh model)"
    )
    parser.add_argument(
        "--mnist", help="mnist.npz in Keras's layout (else $KERAS_MAE_MNIST)"
    )
    parser.add_argument("--json", help="write every call's images/s here")
    args = parser.parse_args()
    if args.samples < 1 or args.batch_size < 1 or args.repeats < 1:
        parser.error("--samples, --batch-size and --repeats must be positive")
    started = datetime.datetime.now(datetime.timezone.utc)
    (x_train, _), (x_test, _) = load_mnist(args.mnist)
    images = np.concatenate([x_train, x_test])
    if args.samples > len(images):
        parser.error(f"--samples is at most {len(images)}")
    x = preprocess_images(images[: args.samples])
    model = build_model(args.preset)
    timed = runners(model, args.batch_size)
    names = list(timed)
    # Warm-up (tracing and compiling), and a check that every baseline
    # computes what its method returns.
    out = {name: timed[name][0](x) for name in names}
    check_same(out)
    speeds = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            start = time.perf_counter()
            timed[name][0](x)
            speeds[name].append(len(x) / (time.perf_counter() - start))

    backend = keras.backend.backend()
    print(
        f"# {started:%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, keras {keras.__version__}, "
        f"keras_mae {keras_mae.__version__}, {backend_version()}, "
        f"accelerator {on_accelerator()}; command: python " + " ".join(sys.argv)
    )
    print(
        f"# samples={len(x)} batch={args.batch_size} repeats={args.repeats} "
        f"model={args.preset or 'fresh default MNIST model'} "
        f"parameters={model.count_params():,}"
    )
    for name in names:
        print(
            f"{name} images/s (each call): "
            + ", ".join(f"{s:.0f}" for s in speeds[name])
        )
    print(
        "\n| backend | method | median images/s | best images/s "
        "| ratio to keras.Model.predict | baseline |"
    )
    print("|---|---|---|---|---|---|")
    summary = {}
    for name in names:
        median, best = statistics.median(speeds[name]), max(speeds[name])
        baseline = timed[name][1]
        ratio = median / statistics.median(speeds[baseline]) if baseline else 1.0
        summary[name] = {
            "median": median,
            "best": best,
            "ratio": ratio,
            "baseline": baseline,
            "runs": speeds[name],
        }
        print(
            f"| {backend} | {name} | {median:.0f} | {best:.0f} | {ratio:.2f}x "
            f"| {baseline or '(itself)'} |"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "argv": sys.argv,
                    "date": f"{started:%Y-%m-%d %H:%M} UTC",
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "backend": backend_version(),
                    "keras": keras.__version__,
                    "results": summary,
                },
                file,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
