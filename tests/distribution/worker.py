"""Train small models on one device and data-parallel, in fresh processes.

Helpers for tests/distribution, not tests. The devices must be configured
before JAX or TensorFlow initialize (4 virtual JAX CPU devices through
`XLA_FLAGS`, 2 logical TensorFlow CPU devices), which is why the tests run
this module in a subprocess (`run_worker`); on PyTorch `torchrun` starts 2
processes that train over gloo. By hand:

```
KERAS_BACKEND=jax python -m tests.distribution.worker gan mae --devices 4 \
    --model-parallel --out /d
KERAS_BACKEND=tensorflow python -m tests.distribution.worker gan --devices 2 --out /d
KERAS_BACKEND=torch torchrun --standalone --nproc-per-node=2 \
    -m tests.distribution.worker gan mae mae-neighbors --devices 2 --out /d
```

Each model trains twice on the same global batches (8 steps of 64 samples),
first on one device, then data-parallel (`keras.distribution.DataParallel`
on JAX, `tf.distribute.MirroredStrategy` on TensorFlow, `torch.distributed`
on PyTorch), and `--out/<model>/` receives (with `--model-parallel`, JAX,
also `--out/<model>-model/`, trained under `model_parallel(model)`):

- `weights.npz`: `single/<i>` and `distributed/<i>` for the i-th model
  variable (and the seed generator's state), `inputs` and
  `outputs_distributed` (outputs on those inputs, under distribution);
- `preset/` and `model.keras`, saved from the distributed model;
- `info.json`: how the variables were laid out and, with `--resume` (GAN
  only), the largest difference between a run resumed by
  `BackupAndRestore` after epoch 1 and the uninterrupted one;
- on PyTorch, `rank<r>.npz`: the variables of process `r`.

`mae-neighbors` (PyTorch) trains the MixtureAutoencoder with its
nearest-neighbour term, each process finding neighbours in its own shard;
it has no single-device reference and writes only `rank<r>.npz`.

Both models use SGD with momentum, not Adam: an update linear in the gradient
keeps the float differences of a reduction in another order at their size
(Adam's first steps move by `lr * sign(g)`, which turns a 1e-9 difference in a
near-zero gradient into one of `2 * lr`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.distribution.models import (
    MODEL_LAYOUTS,
    make_gan,
    make_mae,
    model_parallel,
    toy_data,
)

__all__ = ["MODEL_LAYOUTS", "run_worker", "worker_command"]

BATCH_SIZE = 64
EPOCHS = 2  # 8 steps
_STRATEGY = None


def configure_devices(backend: str, devices: int) -> None:
    """Asks the backend for `devices` CPU devices; call before importing Keras."""
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={devices}".strip()
        )
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices
        )


def _state(model) -> dict[str, np.ndarray]:
    import keras

    # Keyed by position: auto-generated layer names differ between models.
    state = {
        f"{i:03d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)
    }
    state["seed_generator_state"] = keras.ops.convert_to_numpy(
        model.seed_generator.state
    )
    return state


def _outputs(kind: str, model, inputs: np.ndarray) -> np.ndarray:
    if kind == "gan":
        return model.generate(8, seed=1)
    return model.predict_proba(inputs)


def _max_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]), initial=0.0)) for k in a)


class _Runner:
    """Builds, places and fits the models of one backend's comparison.

    On PyTorch this process is one of `devices` processes started by
    `torchrun` (`RANK`, `WORLD_SIZE`): the single-device reference trains in
    rank 0 before the process group exists; then each rank fits its shard of
    every global batch (`shuffle=False`, so the shards line up with the
    reference's batches).
    """

    def __init__(self, kind: str, backend: str, devices: int):
        self.kind, self.backend, self.devices = kind, backend, devices
        self.x = toy_data()
        self.rank = int(os.environ.get("RANK", "0"))
        self.shuffle = backend != "torch"

    def build(self, distributed: bool):
        import keras

        # Initial weights come from Keras's global seed: the same for each
        # model, and on every PyTorch process.
        keras.utils.set_random_seed(0)
        if self.kind.startswith("mae"):
            mae = make_mae(self.backend, neighbors=self.kind == "mae-neighbors" or None)
            # On the full data: a PyTorch process's `fit` sees only its shard.
            mae.adapt(self.x)
            return mae
        per_replica_noise = self.backend != "jax" and not distributed
        return make_gan(self.devices if per_replica_noise else 1)

    def fit(self, model, distributed: bool, epochs: int = EPOCHS, callbacks=()):
        x, batch_size = self.x, BATCH_SIZE
        if distributed and self.backend == "torch":
            per_process = BATCH_SIZE // self.devices
            batches = x.reshape(-1, self.devices, per_process, *x.shape[1:])
            x, batch_size = batches[:, self.rank].reshape(-1, *x.shape[1:]), per_process
        model.fit(
            x,
            batch_size=batch_size,
            epochs=epochs,
            shuffle=self.shuffle,
            verbose=0,
            callbacks=list(callbacks),
        )
        return model

    def reference(self) -> dict[str, np.ndarray]:
        """The single-device run: `_state` after `fit`, and `reseed(model)`."""
        model = self.fit(self.build(distributed=False), False)
        return {**_state(model), **self.reseed(model)}

    def reseed(self, model) -> dict[str, np.ndarray]:
        """JAX MixtureAutoencoder: re-seeds its smallest component from its
        largest (`reseed_component`, a nested training of the assignment);
        returns `reseed/labels` (the clusters after) and `reseed/count`."""
        if self.backend != "jax" or not self.kind.startswith("mae"):
            return {}
        usage = np.bincount(model.predict_clusters(self.x), minlength=3)
        count = model.reseed_component(
            int(np.argmin(usage)), int(np.argmax(usage)), self.x, steps=8, seed=0
        )
        return {
            "reseed/labels": model.predict_clusters(self.x),
            "reseed/count": np.asarray(count),
        }

    def scope(self):
        """The context in which the distributed model is built and compiled."""
        import contextlib

        if self.backend == "tensorflow":
            import tensorflow as tf

            global _STRATEGY
            if _STRATEGY is None:
                # One per process: strategies made later can reuse the
                # collective keys of earlier ones and mix up their all-reduces.
                devices = [f"/cpu:{i}" for i in range(self.devices)]
                _STRATEGY = tf.distribute.MirroredStrategy(devices)
            return _STRATEGY.scope()
        return contextlib.nullcontext()

    def distribute(self) -> None:
        if self.backend == "jax":
            import keras

            keras.distribution.set_distribution(keras.distribution.DataParallel())
        elif self.backend == "torch":
            import torch.distributed

            torch.distributed.init_process_group("gloo")

    def layout(self, model) -> dict:
        variables = model.variables + model.optimizer.variables
        if self.backend == "jax":
            shardings = [v.value.sharding for v in variables]
            return {
                "variables": len(shardings),
                "replicated": sum(s.is_fully_replicated for s in shardings),
                "devices": sorted({len(s.device_set) for s in shardings}),
                "sharded": sorted(
                    v.path
                    for v in model.variables
                    if not v.value.sharding.is_fully_replicated
                ),
            }
        if self.backend == "torch":
            return {"variables": len(variables), "processes": self.devices}
        values = [v.value for v in variables]
        return {
            "variables": len(values),
            "replicated": sum(len(getattr(v, "values", ())) > 1 for v in values),
            "devices": sorted({len(getattr(v, "values", (v,))) for v in values}),
        }


def run(
    kinds: list[str], devices: int, out: Path, resume: bool, model_parallel_too=False
) -> None:
    """Trains each model of `kinds` on one device, then distributed; see above.

    With `model_parallel_too` (JAX, 4 devices), each model also trains under
    `model_parallel(kind)`, into `out/<kind>-model/`.
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    configure_devices(backend, devices)
    if backend == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", str(out / "jax-cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    runners = [_Runner(kind, backend, devices) for kind in kinds]
    # All single-device references first: a distribution, once set, is global.
    # ("mae-neighbors", PyTorch only, has none: a process searches its shard.)
    singles = [
        runner.reference()
        if runner.rank == 0 and runner.kind != "mae-neighbors"
        else None
        for runner in runners
    ]
    runners[0].distribute()
    for runner, single in zip(runners, singles, strict=True):
        folder = out / runner.kind
        folder.mkdir(parents=True, exist_ok=True)
        _run_distributed(runner, single, folder, resume and runner.kind == "gan")
    if model_parallel_too:
        import keras

        for runner, single in zip(runners, singles, strict=True):
            keras.distribution.set_distribution(model_parallel(runner.kind))
            folder = out / f"{runner.kind}-model"
            folder.mkdir(parents=True, exist_ok=True)
            _run_distributed(runner, single, folder, resume=False)


def _save_replica_draws(runner: _Runner, gan, out: Path) -> None:
    """What each replica draws in a step: GAN noise and `RandomAffine` images.

    TensorFlow: `out/replica_draws.npz` with `noise` and `augmented` stacked
    over the replicas. PyTorch: `out/draws<rank>.npz` per process.
    """
    import keras

    from keras_mae.layers import RandomAffine

    images = np.linspace(0.0, 1.0, 2 * 8 * 8, dtype="float32").reshape(2, 8, 8, 1)
    with runner.scope():
        augmentation = RandomAffine(seed=0)

    def draws():
        return gan._noise(4), augmentation(images, training=True)

    if runner.backend == "tensorflow":
        noise, augmented = _STRATEGY.run(draws)
        local = _STRATEGY.experimental_local_results
        np.savez(
            out / "replica_draws.npz",
            noise=np.stack([np.asarray(v) for v in local(noise)]),
            augmented=np.stack([np.asarray(v) for v in local(augmented)]),
        )
    else:
        noise, augmented = (keras.ops.convert_to_numpy(v) for v in draws())
        np.savez(out / f"draws{runner.rank}.npz", noise=noise, augmented=augmented)


def _run_distributed(runner: _Runner, single, out: Path, resume: bool) -> None:
    import keras

    with runner.scope():
        model = runner.build(distributed=True)
    runner.fit(model, True)
    distributed = _state(model)
    reseeded = runner.reseed(model)
    info = {
        "backend": runner.backend,
        "devices": runner.devices,
        "layout": runner.layout(model),
        "paths": [v.path for v in model.weights] + ["seed_generator_state"],
    }

    if resume:
        backup = out / f"backup-{runner.rank}"
        with runner.scope():
            first = runner.build(distributed=True)
        callback = keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)
        runner.fit(first, True, epochs=1, callbacks=[callback])
        with runner.scope():
            resumed = runner.build(distributed=True)
        runner.fit(resumed, True, callbacks=[keras.callbacks.BackupAndRestore(backup)])
        info["resumed_max_difference"] = _max_difference(distributed, _state(resumed))

    if runner.kind == "gan" and runner.backend != "jax":
        _save_replica_draws(runner, model, out)
    if runner.backend == "torch":
        np.savez(out / f"rank{runner.rank}.npz", **distributed)
        if runner.rank != 0 or single is None:
            return
    inputs = runner.x[:32]
    np.savez(
        out / "weights.npz",
        inputs=inputs,
        outputs_distributed=_outputs(runner.kind, model, inputs),
        **{f"single/{k}": v for k, v in single.items() if not k.startswith("reseed/")},
        **{f"distributed/{k}": v for k, v in distributed.items()},
        **{f"single_{k}": v for k, v in single.items() if k.startswith("reseed/")},
        **{f"distributed_{k}": v for k, v in reseeded.items()},
    )
    model.save_to_preset(out / "preset")
    model.save(out / "model.keras")
    (out / "info.json").write_text(json.dumps(info))


def worker_command(backend: str, kinds: list[str], out: Path, resume: bool) -> list:
    """The command line that runs this module for `backend`'s test setting.

    4 virtual JAX devices (data-parallel, then model-parallel), 2 logical
    TensorFlow devices, or 2 PyTorch processes over gloo started by
    `torchrun` (with `mae-neighbors` when `kinds` has `mae`).
    """
    devices = 4 if backend == "jax" else 2
    if backend == "torch" and "mae" in kinds:
        kinds = [*kinds, "mae-neighbors"]
    args = [*kinds, "--devices", str(devices), "--out", str(out)]
    args += ["--resume"] if resume else []
    args += ["--model-parallel"] if backend == "jax" else []
    module = ["-m", "tests.distribution.worker", *args]
    if backend == "torch":
        launcher = ["-m", "torch.distributed.run", "--standalone"]
        return [sys.executable, *launcher, f"--nproc-per-node={devices}", *module]
    return [sys.executable, *module]


def run_worker(kinds: list[str], out: Path, resume: bool = True, timeout=600) -> None:
    """Runs the worker for the current `KERAS_BACKEND` in a fresh process."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        worker_command(backend, kinds, out, resume),
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"distributed worker failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", choices=("gan", "mae", "mae-neighbors"))
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--model-parallel", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    run(args.models, args.devices, args.out, args.resume, args.model_parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
