"""An epoch of the default MNIST model on TensorFlow, JAX and PyTorch, side by side.

One command, a process per backend: the parent runs
`python benchmarks/backend_epochs.py --worker BACKEND ...` with
`KERAS_BACKEND=BACKEND` for each of `--backends`, one after the other (never
two at once), reads the one JSON line each worker prints, and tabulates them.

Each worker builds the package's default MNIST model as a user would,
`MixtureAutoencoder(num_components=10, latent_dim=10, input_shape=(28, 28, 1),
seed=0, **model_kwargs)`, calls `.compile(**compile_kwargs)` and then
`model.fit(x, batch_size=B, epochs=E, verbose=0, callbacks=[timer])` on the
first `--samples` MNIST images (training images first, then test images, in
[0, 1]). The timer is a `keras.callbacks.Callback` that reads
`time.perf_counter()` in `on_epoch_begin`/`on_epoch_end`:

- setup: from just before `fit` to the first `on_epoch_begin` (the input
  checks, the nearest-neighbour search `fit` runs on an array, Keras's input
  pipeline; images adapt no normalization);
- compile + first epoch: epoch 1, which includes tracing and compiling the
  train step;
- steady seconds per step: the median over epochs 2..E of the epoch's seconds
  divided by its steps (`ceil(samples / B)`). An epoch's end includes what
  `fit`'s own callbacks do there (e.g. `ReseedDeadComponents`, which predicts
  on the data only when a component has died);
- seconds per 70k-image epoch: steady seconds per step times
  `ceil(70000 / B)`, the steps of one epoch over all of MNIST (the
  neighbour search, quadratic in n, is not part of it);
- parameters: `model.count_params()` after `fit` (all players, the
  discriminator included); ratio: the 70k epoch against the fastest backend.

A worker that fails (an exception, a crash, a timeout) shows as a row with its
error instead of stopping the others. `--model-kwargs JSON` passes other
settings to the constructor (e.g. '{"hidden_units": [256, 128]}'), and
`--compile-kwargs JSON` to `compile` (e.g. '{"jit_compile": false}').

Usage:
    python benchmarks/backend_epochs.py --mnist ../shared/data/mnist.npz \
        [--backends tensorflow,jax,torch] [--samples 5120] [--batch-size 256] \
        [--epochs 3] [--model-kwargs JSON] [--compile-kwargs JSON] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ALL_IMAGES = 70_000
BACKENDS = ("tensorflow", "jax", "torch")
RESULT = "BACKEND_EPOCHS_RESULT "  # prefix of the worker's JSON line
HERE = os.path.abspath(__file__)


def backend_versions(backend: str) -> dict[str, str]:
    import keras
    import numpy as np

    import keras_mae

    versions = {
        "keras": keras.__version__,
        "keras_mae": keras_mae.__version__,
        "numpy": np.__version__,
    }
    modules = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"]}
    for name in modules.get(backend, [backend]):
        versions[name] = importlib.import_module(name).__version__
    return versions


def worker(args) -> dict:
    """Times one `fit` in this process, on `keras.backend.backend()`."""
    import keras
    import numpy as np

    from keras_mae.datasets import load_mnist, preprocess_images
    from keras_mae.models import MixtureAutoencoder
    from keras_mae.training.backend import on_accelerator

    backend = keras.backend.backend()
    if backend != args.worker:
        raise RuntimeError(f"KERAS_BACKEND gave {backend}, not {args.worker}")
    (x_train, _), (x_test, _) = load_mnist(args.mnist)
    x = preprocess_images(np.concatenate([x_train, x_test])[: args.samples])

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.seconds = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.begins[-1])

    model = MixtureAutoencoder(
        num_components=10,
        latent_dim=10,
        input_shape=(28, 28, 1),
        seed=0,
        **args.model_kwargs,
    )
    model.compile(**args.compile_kwargs)
    timer = EpochTimer()
    start = time.perf_counter()
    model.fit(
        x,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=0,
        callbacks=[timer],
    )
    steps = math.ceil(len(x) / args.batch_size)
    steady = [seconds / steps for seconds in timer.seconds[1:]]
    return {
        "backend": backend,
        "versions": backend_versions(backend),
        "accelerator": on_accelerator(),
        "samples": len(x),
        "batch_size": args.batch_size,
        "steps_per_epoch": steps,
        "setup_s": timer.begins[0] - start,
        "epoch_s": timer.seconds,
        "first_epoch_s": timer.seconds[0],
        "steady_step_s": statistics.median(steady),
        "steady_step_s_each": steady,
        "epoch_70k_s": statistics.median(steady)
        * math.ceil(ALL_IMAGES / args.batch_size),
        "params": int(model.count_params()),
        "jit_compile": bool(model.jit_compile),  # what "auto" resolved to
    }


def worker_arguments(args, backend: str) -> list[str]:
    command = [sys.executable, HERE, "--worker", backend]
    command += ["--samples", str(args.samples), "--batch-size", str(args.batch_size)]
    command += ["--epochs", str(args.epochs), "--model-kwargs"]
    command.append(json.dumps(args.model_kwargs))
    command += ["--compile-kwargs", json.dumps(args.compile_kwargs)]
    if args.mnist:
        command += ["--mnist", args.mnist]
    return command


def run_worker(args, backend: str) -> dict:
    """One worker process; its result, or `{"backend", "error"}`."""
    environment = {**os.environ, "KERAS_BACKEND": backend}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            worker_arguments(args, backend),
            env=environment,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        return {"backend": backend, "error": f"timed out after {args.timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode == 0 and lines:
        result = json.loads(lines[-1][len(RESULT) :])
        result["process_s"] = time.perf_counter() - start
        return result
    messages = [line for line in done.stderr.strip().splitlines() if line.strip()]
    last = messages[-1] if messages else "no output"
    return {"backend": backend, "error": f"exit {done.returncode}: {last}"}


def print_table(results: list[dict]) -> None:
    fastest = min((r["epoch_70k_s"] for r in results if "error" not in r), default=None)
    print(
        "\n| backend | setup s | compile + first epoch s | steady s/step "
        "| s per 70k-image epoch | parameters | ratio to fastest |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['backend']} | failed: {r['error']} | | | | | |")
            continue
        print(
            f"| {r['backend']} | {r['setup_s']:.1f} | {r['first_epoch_s']:.1f} "
            f"| {r['steady_step_s']:.4f} | {r['epoch_70k_s']:.1f} "
            f"| {r['params']:,} | {r['epoch_70k_s'] / fastest:.2f}x |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated, run in this order, one process each",
    )
    parser.add_argument("--samples", type=int, default=5120)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--epochs", type=int, default=3, help="epoch 1 compiles; 2.. are timed"
    )
    parser.add_argument("--model-kwargs", type=json.loads, default={})
    parser.add_argument(
        "--compile-kwargs",
        type=json.loads,
        default={},
        help="JSON for compile(), e.g. '{\"jit_compile\": false}'",
    )
    parser.add_argument(
        "--mnist", help="mnist.npz in Keras's layout (else $KERAS_MAE_MNIST)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per worker"
    )
    parser.add_argument("--json", help="write every worker's result here")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: epoch 1 includes compilation")
    if args.samples < 1 or args.batch_size < 1:
        parser.error("--samples and --batch-size must be positive")
    for name in ("model_kwargs", "compile_kwargs"):
        if not isinstance(getattr(args, name), dict):
            parser.error(f"--{name.replace('_', '-')} must be a JSON object")
    if args.worker:
        print(RESULT + json.dumps(worker(args)), flush=True)
        return 0

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; known: {list(BACKENDS)}")
    started = datetime.datetime.now(datetime.timezone.utc)
    print(
        f"# {started:%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}; command: python " + " ".join(sys.argv),
        flush=True,
    )
    print(
        f"# samples={args.samples} batch={args.batch_size} epochs={args.epochs} "
        f"steps/epoch={math.ceil(args.samples / args.batch_size)} "
        f"steps/70k epoch={math.ceil(ALL_IMAGES / args.batch_size)} "
        f"model_kwargs={json.dumps(args.model_kwargs)} "
        f"compile_kwargs={json.dumps(args.compile_kwargs)}",
        flush=True,
    )
    results = []
    for backend in backends:
        result = run_worker(args, backend)
        results.append(result)
        if "error" in result:
            print(f"{backend}: failed: {result['error']}", flush=True)
            continue
        versions = " ".join(f"{k} {v}" for k, v in result["versions"].items())
        epochs = ", ".join(f"{s:.2f}" for s in result["epoch_s"])
        print(
            f"{backend}: {versions}; accelerator {result['accelerator']}; "
            f"jit_compile {result['jit_compile']}; setup {result['setup_s']:.2f} s; "
            f"epochs (s): {epochs}",
            flush=True,
        )
    print_table(results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {
                    "argv": sys.argv,
                    "date": f"{started:%Y-%m-%d %H:%M} UTC",
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "results": results,
                },
                file,
                indent=1,
            )
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
