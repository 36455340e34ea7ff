"""Data-parallel scaling of `fit`: steps/s and samples/s against devices.

Weak scaling: every device gets `--per-device-batch` samples, so the global
batch grows with the number of devices. For each device count the script
starts a fresh process (the device count of the CPU platform is fixed when the
backend initializes), builds the model, compiles it by training one epoch,
then times `--repeats` epochs of `--steps` steps and keeps the median.

- JAX: `keras.distribution.DataParallel` over the first N devices of
  `jax.devices()`. Without an accelerator the N devices are virtual CPU
  devices (`XLA_FLAGS=--xla_force_host_platform_device_count`); on a GPU
  machine they are the GPUs and the flag changes nothing.
- TensorFlow: `tf.distribute.MirroredStrategy` over the first N GPUs, or N
  logical CPU devices when there is no GPU; build and compile in its scope.
- PyTorch: N processes started by `torchrun` (`torch.distributed.run`),
  one per device, over gloo on the CPU and NCCL on GPUs (process r on GPU
  r); each process fits its own shard of every global batch, and
  keras_mae averages the gradients over the processes. Process 0 reports.
  Every process, the single one too, runs with `OMP_NUM_THREADS=1` (as
  `torchrun` sets it) unless the variable is set.

Per-device efficiency is `samples/s(N) / (N * samples/s(1))`: 1.0 is perfect
scaling. **Virtual CPU devices share the same cores**: their numbers show that
the distributed step runs and what it costs, not a speed-up; expect the
efficiency to be about `1 / N` there.

Models (`--model`): `gan`, the default MLP GAN for 64-feature vectors
(latent 32); `mae`, a MixtureAutoencoder (K=10, latent 10, hidden (256, 128))
on 64-feature vectors, without augmentation or neighbours.

Usage (any backend; PyTorch starts `torchrun` itself):
    KERAS_BACKEND=jax python benchmarks/scaling.py [--devices 1,2,4] \
        [--model gan] [--per-device-batch 64] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

FEATURES = 64


def _configure(backend: str, devices: int) -> None:
    """Asks for `devices` CPU devices; must run before the backend initializes."""
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={devices}".strip()
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * devices
            )


def _build(model: str):
    import keras

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from keras_mae.models import GAN, MixtureAutoencoder

    keras.utils.set_random_seed(0)
    if model == "gan":
        gan = GAN(latent_dim=32, data_shape=(FEATURES,), seed=0)
        gan.compile()
        return gan
    mae = MixtureAutoencoder(
        10,
        10,
        input_shape=(FEATURES,),
        hidden_units=(256, 128),
        augmentation=None,
        neighbor_weight=0.0,
        reseed_threshold=0.0,
        seed=0,
    )
    mae.compile()
    return mae


def _child(args) -> dict:
    """Measures one device count in this process; returns the result row."""
    import contextlib

    import numpy as np

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    _configure(backend, args.child)
    import keras

    scope, names = contextlib.nullcontext(), []
    rank, barrier = 0, lambda: None  # PyTorch's process rank and barrier
    if backend == "jax":
        import jax

        devices = jax.devices()[: args.child]
        names = [str(d) for d in devices]
        if args.child > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices)
            )
    elif backend == "tensorflow":
        import tensorflow as tf

        kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
        names = [d.name for d in tf.config.list_logical_devices(kind)][: args.child]
        if args.child > 1:
            scope = tf.distribute.MirroredStrategy(names).scope()
    elif backend == "torch":
        import torch

        rank = int(os.environ.get("RANK", "0"))
        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        names = [f"{'cuda' if gpu else 'cpu'}:{i}" for i in range(args.child)]
        if args.child > 1:
            torch.distributed.init_process_group("nccl" if gpu else "gloo")
            barrier = torch.distributed.barrier
    else:
        raise SystemExit(f"benchmarks/scaling.py: unknown KERAS_BACKEND {backend!r}")
    if len(names) < args.child:
        raise SystemExit(f"asked for {args.child} devices; found {names}")
    global_batch = args.per_device_batch * args.child
    rng = np.random.default_rng(0)
    x = rng.standard_normal((global_batch * args.steps, FEATURES)).astype("float32")
    batch = global_batch
    if backend == "torch":  # this process's shard of every global batch
        shards = x.reshape(args.steps, args.child, args.per_device_batch, FEATURES)
        x, batch = shards[:, rank].reshape(-1, FEATURES), args.per_device_batch
    with scope:
        model = _build(args.model)
    model.fit(x, batch_size=batch, epochs=1, verbose=0)  # compiles
    times = []
    for _ in range(args.repeats):
        barrier()
        start = time.perf_counter()
        model.fit(x, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "devices": args.child,
        "device_kind": names[0].split(":")[-2] if ":" in names[0] else names[0],
        "global_batch": global_batch,
        "steps_per_s": args.steps / seconds,
        "samples_per_s": args.steps * global_batch / seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--model", choices=("gan", "mae"), default="gan")
    parser.add_argument("--per-device-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = _child(args)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps(row))
        return 0

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    counts = [int(n) for n in args.devices.split(",")]
    print(
        f"# {datetime.date.today()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"KERAS_BACKEND={backend}, model={args.model}, per-device batch "
        f"{args.per_device_batch}, {args.steps} steps x {args.repeats} repeats"
    )
    print("devices | device | global batch | steps/s | samples/s | efficiency")
    base = None
    for count in counts:
        command = [sys.executable, __file__, *sys.argv[1:], "--child", str(count)]
        if backend == "torch" and count > 1:
            launcher = ["-m", "torch.distributed.run", "--standalone"]
            command[1:1] = [*launcher, f"--nproc-per-node={count}"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        if backend == "torch":
            # torchrun gives each process one thread unless told otherwise;
            # the single process gets the same, so the rows compare.
            env.setdefault("OMP_NUM_THREADS", "1")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if base is None:
            base = row["samples_per_s"] / row["devices"]
        efficiency = row["samples_per_s"] / (row["devices"] * base)
        print(
            f"{row['devices']:7d} | {row['device_kind']:6s} | "
            f"{row['global_batch']:12d} | {row['steps_per_s']:7.1f} | "
            f"{row['samples_per_s']:9.0f} | {efficiency:10.2f}"
        )
    if row["device_kind"].lower() == "cpu":
        if backend == "torch":
            print(
                f"# CPU: each process has one thread of this machine's "
                f"{os.cpu_count()} cores; beyond that many processes they share "
                "cores, and the numbers show correctness and overhead, not speed."
            )
        else:
            print(
                "# Virtual CPU devices share this machine's cores: these numbers "
                "show that the distributed step runs and what it costs, not a "
                "speed-up."
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
