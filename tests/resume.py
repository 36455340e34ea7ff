"""Kill a training run, resume it in a fresh process, compare: helpers, not tests.

A run of `fit(..., epochs=E, callbacks=[keras.callbacks.BackupAndRestore(d)])`
is killed hard (SIGKILL, no clean-up) at the end of epoch `k`, right after
`BackupAndRestore` saved; a second fresh process runs the same script with the
same backup folder and finishes epochs `k + 1` to `E`; a third trains the `E`
epochs without interruption. Resuming is exact when the second and third end
with the same variables.

The model comes from a *factory*, named `"module:function"` (e.g.
`"tests.resume:make_gan"`), called in each process after `KERAS_BACKEND` is
set. It must build the same compiled model every time (seed everything it
draws) and return `(model, x)` or `(model, x, fit_kwargs)`: `x` is passed to
`fit`, with `fit_kwargs` and the keyword arguments given to the helpers.

From a test:

```python
result = kill_and_resume("tests.resume:make_gan", epochs=4, kill_after=2,
                         workdir=tmp_path, fit_kwargs={"batch_size": 64})
result.assert_same(atol=0.0)
```

By hand (one run; `python -m tests.resume --help`):

```
KERAS_BACKEND=jax python -m tests.resume tests.resume:make_gan --epochs 4 \\
    --kill-after 2 --backup-dir /tmp/backup --output /tmp/killed.npz
```
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
# A resumed run re-seeds every process-global generator with this, so that
# nothing it draws can depend on the global state the first run had.
SCRAMBLED_SEED = 987_654_321


# ----------------------------------------------------------------------
# Factories (imported by the training script; keep them small and seeded).
def _mlp(input_dim: int, output_dim: int, units: int, dropout: float = 0.0):
    import keras

    layers = [keras.Input((input_dim,)), keras.layers.Dense(units, activation="relu")]
    if dropout:
        # Seeded: on PyTorch, Keras's unseeded dropout draws from torch's
        # global generator, which no backup holds.
        layers.append(keras.layers.Dropout(dropout, seed=1))
    layers += [
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(output_dim),
    ]
    return keras.Sequential(layers)


def toy_data(count: int = 256, seed: int = 0) -> np.ndarray:
    """`count` 2-D points from four tight Gaussians (float32, seeded)."""
    centers = np.array([[2, 0], [-2, 0], [0, 2], [0, -2]], "float32")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centers), count)
    return (centers[labels] + 0.05 * rng.standard_normal((count, 2))).astype("float32")


def make_gan(seed: int = 0):
    """A small MLP GAN with every random part of `GAN.fit` switched on.

    Shuffled batches, noise, two discriminator steps, a gradient penalty
    (random interpolations), dropout in the discriminator and an EMA
    generator.
    """
    import keras

    from keras_mae.models import GAN

    keras.utils.set_random_seed(seed)
    gan = GAN(
        _mlp(4, 2, 16),
        _mlp(2, 1, 16, dropout=0.2),
        latent_dim=4,
        ema_decay=0.9,
        seed=seed,
    )
    gan.compile(
        generator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        discriminator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        loss="wasserstein",
        gradient_penalty_weight=1.0,
        discriminator_steps=2,
    )
    return gan, toy_data(), {"batch_size": 64}


def make_mae(seed: int = 0):
    """A small MixtureAutoencoder on 8x8 digits with every random part on.

    Seeded batch order, neighbour draws, the augmentation (`RandomAffine`),
    prior noise for the latent discriminator, and re-seeding: the threshold
    is so high that components count as dead and are split after 3 epochs,
    so a run killed after epoch 2 must restore the re-seeding counters too.
    """
    import keras

    from keras_mae.datasets import load_digits
    from keras_mae.models import MixtureAutoencoder

    keras.utils.set_random_seed(seed)
    x, _ = load_digits()
    model = MixtureAutoencoder(
        4,
        latent_dim=3,
        hidden_units=(16,),
        reseed_threshold=0.9,
        seed=seed,
    )
    model.compile()
    return model, x[:384], {"batch_size": 64}


def make_mae_with_decay(seed: int = 0):
    """`make_mae` trained with a cosine-decayed learning rate.

    The schedule reads the optimizer's step counter, so a resumed run must
    restore it to go on at the rate an uninterrupted run has.
    """
    import keras

    model, x, kwargs = make_mae(seed)
    steps = 4 * len(x) // kwargs["batch_size"]  # the 4 epochs of the test
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.1)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    return model, x, kwargs


def make_warm_started_mae(seed: int = 0):
    """`make_mae` with its assignment warm-started from K-means.

    The warm start runs again in the resumed process (before the backup is
    restored over it), so the resumed run must still end where an
    uninterrupted one does.
    """
    from keras_mae.training import AssignmentWarmStart

    model, x, kwargs = make_mae(seed)
    warm_start = AssignmentWarmStart(x, method="kmeans", steps=20, seed=seed)
    return model, x, {**kwargs, "callbacks": [warm_start]}


# ----------------------------------------------------------------------
# The training script.
def _load_factory(spec: str):
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ValueError(
            f"Expected a factory 'module:function' (e.g. 'tests.resume:make_gan'); "
            f"received {spec!r}."
        )
    return getattr(importlib.import_module(module_name), function_name)


def _kill_after_epoch(epochs: int):
    import keras

    class KillAfterEpoch(keras.callbacks.Callback):
        """Kills the process at the end of epoch `epochs` (counted from 1)."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                sys.stdout.flush()
                # As a crash or an out-of-memory kill: no clean-up at all.
                os.kill(os.getpid(), signal.SIGKILL)

    return KillAfterEpoch()


def _final_state(model) -> dict[str, np.ndarray]:
    """Every variable of the model and its optimizer, by position and path."""
    import keras

    variables = list(model.variables)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    state = {
        f"{i:04d}:{v.path}": keras.ops.convert_to_numpy(v).copy()
        for i, v in enumerate(variables)
    }
    return state


def train(
    factory: str,
    epochs: int,
    output: str | os.PathLike,
    kill_after: int | None = None,
    backup_dir: str | os.PathLike | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    scramble_global_rng: bool = False,
) -> None:
    """Trains the factory's model in this process and saves its final state.

    Args:
        factory: `"module:function"` returning `(model, x[, fit_kwargs])`.
        epochs: The `epochs` of `fit`.
        output: `.npz` file for the final variables (model and optimizer) and
            `__epochs__`, the epochs this process trained (from 0).
        kill_after: Kill the process with SIGKILL at the end of this epoch
            (from 1), after `BackupAndRestore` saved.
        backup_dir: Folder of a `keras.callbacks.BackupAndRestore`.
        fit_kwargs: More `fit` arguments (JSON-serialisable).
        scramble_global_rng: Re-seed Python's, NumPy's and the backend's
            global generators after the model is built, with another seed.
    """
    import keras

    made = _load_factory(factory)()
    model, x = made[0], made[1]
    kwargs = {**(made[2] if len(made) > 2 else {}), **(fit_kwargs or {})}
    if scramble_global_rng:
        keras.utils.set_random_seed(SCRAMBLED_SEED)
    callbacks = list(kwargs.pop("callbacks", []))
    if backup_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir)))
    if kill_after is not None:
        # After BackupAndRestore: callbacks run in list order, it saves first.
        callbacks.append(_kill_after_epoch(kill_after))
    kwargs.setdefault("verbose", 0)
    history = model.fit(x, epochs=epochs, callbacks=callbacks, **kwargs)
    state = _final_state(model)
    state["__epochs__"] = np.asarray(history.epoch, "int64")
    np.savez(output, **state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.resume", description=train.__doc__.splitlines()[0]
    )
    parser.add_argument("factory", help="'module:function', e.g. tests.resume:make_gan")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--output", required=True, help=".npz of the final state")
    parser.add_argument("--kill-after", type=int, default=None)
    parser.add_argument("--backup-dir", default=None)
    parser.add_argument("--fit-kwargs", default="{}", help="JSON dict")
    parser.add_argument("--scramble-global-rng", action="store_true")
    args = parser.parse_args(argv)
    train(
        args.factory,
        args.epochs,
        args.output,
        kill_after=args.kill_after,
        backup_dir=args.backup_dir,
        fit_kwargs=json.loads(args.fit_kwargs),
        scramble_global_rng=args.scramble_global_rng,
    )


# ----------------------------------------------------------------------
# Running it in fresh processes.
def _command(
    factory: str,
    epochs: int,
    output: Path,
    kill_after: int | None,
    backup_dir: Path | None,
    fit_kwargs: dict[str, Any] | None,
    scramble_global_rng: bool,
) -> list[str]:
    command = [sys.executable, "-m", "tests.resume", factory]
    command += ["--epochs", str(epochs), "--output", str(output)]
    if kill_after is not None:
        command += ["--kill-after", str(kill_after)]
    if backup_dir is not None:
        command += ["--backup-dir", str(backup_dir)]
    command += ["--fit-kwargs", json.dumps(fit_kwargs or {})]
    if scramble_global_rng:
        command.append("--scramble-global-rng")
    return command


def _environment() -> dict[str, str]:
    import keras

    env = dict(os.environ)
    env["KERAS_BACKEND"] = os.environ.get("KERAS_BACKEND", keras.backend.backend())
    paths = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def start_training(
    factory: str,
    epochs: int,
    output: str | os.PathLike,
    kill_after: int | None = None,
    backup_dir: str | os.PathLike | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    scramble_global_rng: bool = False,
) -> subprocess.Popen:
    """Starts `train(...)` in a fresh Python process (same backend, repo root).

    Returns the `subprocess.Popen`; its output is piped (text).
    """
    command = _command(
        factory,
        epochs,
        Path(output),
        kill_after,
        None if backup_dir is None else Path(backup_dir),
        fit_kwargs,
        scramble_global_rng,
    )
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float, what: str) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        process.kill()
        output, _ = process.communicate()
        message = f"The {what} run took over {timeout:g} s:\n{output}"
        raise AssertionError(message) from error
    return output


def load_state(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The final state `train` saved: variable key to array, and `__epochs__`."""
    with np.load(path) as saved:
        return {key: saved[key] for key in saved.files}


@dataclasses.dataclass
class ResumeResult:
    """The final states of a resumed run and of an uninterrupted one.

    Attributes:
        resumed: Variables (`"index:path"` to array) after the resumed run.
        uninterrupted: The same after the run that was never killed.
        resumed_epochs: The epochs (from 0) the resumed process trained.
        seconds: Wall time of the three runs.
    """

    resumed: dict[str, np.ndarray]
    uninterrupted: dict[str, np.ndarray]
    resumed_epochs: list[int]
    seconds: float

    def max_difference(self) -> float:
        """Largest absolute difference between the two runs' variables."""
        return max(
            (
                float(np.max(np.abs(a.astype("float64") - b.astype("float64"))))
                for a, b in zip(
                    self.resumed.values(), self.uninterrupted.values(), strict=True
                )
                if a.size
            ),
            default=0.0,
        )

    def assert_same(self, atol: float = 0.0) -> None:
        """Fails unless both runs end with the same variables.

        Float variables may differ by `atol` (0: bit-equal); integer ones
        (seed states, step counters) must be equal.
        """
        assert list(self.resumed) == list(self.uninterrupted), (
            "The resumed and the uninterrupted model have different variables."
        )
        different = []
        for key, a in self.resumed.items():
            b = self.uninterrupted[key]
            if a.shape != b.shape:
                different.append(f"{key}: shapes {a.shape} and {b.shape}")
            elif atol and np.issubdtype(a.dtype, np.floating):
                gap = float(np.max(np.abs(a - b), initial=0.0))
                if gap > atol:
                    different.append(f"{key}: max |difference| {gap:.3g}")
            elif not np.array_equal(a, b):
                gap = np.max(np.abs(a.astype("float64") - b.astype("float64")))
                different.append(f"{key}: max |difference| {gap:.3g}")
        assert not different, (
            f"Resumed run differs from the uninterrupted one (atol={atol:g}) in "
            f"{len(different)} of {len(self.resumed)} variables:\n"
            + "\n".join(different)
        )


def kill_and_resume(
    factory: str,
    epochs: int,
    kill_after: int,
    workdir: str | os.PathLike,
    fit_kwargs: dict[str, Any] | None = None,
    timeout: float = 180.0,
) -> ResumeResult:
    """Trains `factory`'s model killed and resumed, and uninterrupted.

    Three fresh processes: one trains with a `BackupAndRestore` in
    `workdir/backup` and is killed (SIGKILL) at the end of epoch `kill_after`;
    the next resumes from the backup, with its process-global generators
    re-seeded differently, and trains to `epochs`; the third, started alongside
    the first, trains `epochs` without interruption.

    Args:
        factory: `"module:function"` returning `(model, x[, fit_kwargs])`.
        epochs: Epochs of each `fit`.
        kill_after: The epoch (from 1, below `epochs`) the first run dies after.
        workdir: An empty folder for the backup and the saved states.
        fit_kwargs: More `fit` arguments (JSON-serialisable).
        timeout: Seconds allowed for each process.

    Returns:
        The `ResumeResult`; call `assert_same(atol)` on it.
    """
    if not 1 <= kill_after < epochs:
        raise ValueError(
            f"kill_and_resume expects 1 <= kill_after < epochs; received "
            f"kill_after={kill_after}, epochs={epochs}."
        )
    workdir = Path(workdir)
    backup = workdir / "backup"
    started = time.perf_counter()
    reference = start_training(
        factory, epochs, workdir / "uninterrupted.npz", fit_kwargs=fit_kwargs
    )
    killed = start_training(
        factory,
        epochs,
        workdir / "killed.npz",
        kill_after=kill_after,
        backup_dir=backup,
        fit_kwargs=fit_kwargs,
    )
    try:
        output = _finish(killed, timeout, "killed")
        assert killed.returncode == -signal.SIGKILL, (
            f"The first run should die of SIGKILL after epoch {kill_after}; it "
            f"exited with {killed.returncode}:\n{output}"
        )
        assert not (workdir / "killed.npz").exists(), "The first run was not killed."
        assert any(backup.iterdir()), f"No backup was written in {backup}."
        resumed = start_training(
            factory,
            epochs,
            workdir / "resumed.npz",
            backup_dir=backup,
            fit_kwargs=fit_kwargs,
            scramble_global_rng=True,
        )
        output = _finish(resumed, timeout, "resumed")
        assert resumed.returncode == 0, f"The resumed run failed:\n{output}"
        output = _finish(reference, timeout, "uninterrupted")
        assert reference.returncode == 0, f"The uninterrupted run failed:\n{output}"
    finally:
        for process in (reference, killed):
            if process.poll() is None:
                process.kill()
                process.communicate()
    resumed_state = load_state(workdir / "resumed.npz")
    reference_state = load_state(workdir / "uninterrupted.npz")
    resumed_epochs = resumed_state.pop("__epochs__").tolist()
    reference_epochs = reference_state.pop("__epochs__").tolist()
    assert reference_epochs == list(range(epochs)), reference_epochs
    return ResumeResult(
        resumed_state,
        reference_state,
        resumed_epochs,
        time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
