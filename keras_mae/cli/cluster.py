"""`keras-mae cluster` (a user's own data) and `keras-mae demo` (the digits).

`cluster` reads a file or folder (`keras_mae.datasets.load_samples`), trains a
`MixtureAutoencoder` with the package defaults, and writes into its output
folder:

- `labels.csv`: one row per sample: its name (file name, or row number), its
  cluster, the cluster's probability, and the label when the data has labels;
- `preset/`: the trained model, for `keras_mae.from_preset`;
- `report/`: PNG pictures (`keras_mae.cli.report`);
- `scores.json`: ACC/NMI/ARI when labels are known;
- `run.json`: what ran (input, settings, backend) and the time of each stage;
- `history.json`: the training logs of each epoch (`cluster` only).

Work in progress lives in the folder's `.partial/` (the training backup of
`keras.callbacks.BackupAndRestore`, the epoch log, and each output while it is
written); an output appears under its own name only once it is complete.
Started again on the same folder, a killed run resumes from its last epoch.
"""

from __future__ import annotations

import json
import os
import shutil

from keras_mae.cli.outputs import (
    LABELS_FILE,
    PARTIAL,
    Stages,
    read_history,
    write_results,
    write_text,
)

# The settings a resumed run must share with the run it resumes.
RUN_SETTINGS = (
    "input",
    "num_components",
    "latent_dim",
    "epochs",
    "batch_size",
    "seed",
    "label_column",
    "image_size",
)


def _stage_callback(stages: Stages, describe_preparation: str):
    """A Keras callback that ends the preparation and training stages."""
    import keras

    class StageTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            # `fit` on an array prepares the data before training begins.
            stages.done("model built, data prepared", describe_preparation)

        def on_train_end(self, logs=None):
            stages.done("trained")

    return StageTimes()


def _run_settings(args, samples) -> dict:
    from keras_mae.wrappers.clustering import auto_batch_size, auto_epochs

    batch_size = args.batch_size or auto_batch_size(len(samples.x))
    epochs = args.epochs or auto_epochs(len(samples.x), batch_size)
    return {
        "input": os.path.abspath(args.input)
        if os.path.exists(args.input)
        else args.input,
        "num_components": args.num_components,
        "latent_dim": args.latent_dim,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": args.seed,
        "label_column": args.label_column,
        "image_size": list(args.image_size) if args.image_size else None,
    }


def _prepare_output(output: str, settings: dict, overwrite: bool) -> bool:
    """Checks `output` and returns whether an interrupted run there resumes."""
    partial = os.path.join(output, PARTIAL)
    finished = os.path.isfile(os.path.join(output, LABELS_FILE))
    saved = os.path.join(partial, "settings.json")
    if os.path.isfile(saved) and not overwrite:
        with open(saved) as file:
            previous = json.load(file)
        different = {
            k: (previous.get(k), settings[k])
            for k in RUN_SETTINGS
            if previous.get(k) != settings[k]
        }
        if different:
            changes = ", ".join(
                f"{k}: {a!r} there, {b!r} now" for k, (a, b) in different.items()
            )
            raise ValueError(
                f"{output} holds an interrupted run with other settings "
                f"({changes}); start it again with its settings, or pass "
                "--overwrite."
            )
        return os.path.isdir(os.path.join(partial, "backup"))
    if finished and not overwrite:
        raise ValueError(
            f"{output} already holds a finished run ({LABELS_FILE}); choose "
            "another --output, or pass --overwrite to replace it."
        )
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    write_text(saved, json.dumps(settings, indent=2))
    return False


def _describe(samples) -> str:
    kind = "images" if samples.is_images else "vectors"
    labels = f", {len(samples.classes)} labels" if samples.y is not None else ""
    return f"{len(samples.x):,} {kind} of shape {tuple(samples.x.shape[1:])}{labels}"


def _run_cluster(args) -> int:
    """`keras-mae cluster`: trains on the user's data and writes the outputs."""
    import keras

    from keras_mae.datasets import load_samples
    from keras_mae.models import MixtureAutoencoder

    stages = Stages("cluster")
    samples = load_samples(
        args.input,
        label_column=args.label_column,
        image_size=tuple(args.image_size) if args.image_size else None,
    )
    count = len(samples.x)
    if not 2 <= args.num_components <= count:
        raise ValueError(
            f"--num-components must be in [2, {count}] (the number of samples); "
            f"received {args.num_components}."
        )
    stages.done("data loaded", _describe(samples))
    output = args.output or f"{_stem(args.input)}-clusters"
    settings = _run_settings(args, samples)
    resuming = _prepare_output(output, settings, args.overwrite)
    partial = os.path.join(output, PARTIAL)

    keras.utils.set_random_seed(args.seed)
    model = MixtureAutoencoder(
        num_components=args.num_components,
        latent_dim=args.latent_dim,
        seed=args.seed,
    )
    model.compile()
    kind = "images" if samples.is_images else "vectors"
    num_neighbors = model.neighbor_count(count, kind)
    if count <= num_neighbors:
        raise ValueError(
            f"cluster needs more samples than the model's {num_neighbors} "
            f"nearest neighbours; received {count}."
        )
    preparation = "input normalization adapted, " if not samples.is_images else ""
    preparation += f"{num_neighbors} nearest neighbours of each sample found"
    if resuming:
        preparation += "; resuming the interrupted run"
    callbacks = [
        _stage_callback(stages, preparation),
        # Before the backup: an epoch is logged before it is backed up.
        keras.callbacks.CSVLogger(os.path.join(partial, "history.csv"), append=True),
        keras.callbacks.BackupAndRestore(os.path.join(partial, "backup")),
    ]
    model.fit(
        samples.x,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        verbose=args.verbose,
        callbacks=callbacks,
    )
    run = {
        "command": "cluster",
        **settings,
        "samples": count,
        "sample_shape": list(samples.x.shape[1:]),
        "backend": keras.backend.backend(),
    }
    history = read_history(os.path.join(partial, "history.csv"))
    write_text(os.path.join(output, "history.json"), json.dumps(history, indent=1))
    write_results(output, model, samples, stages, run, history=history)
    return 0


def _stem(source: str) -> str:
    name = os.path.basename(os.path.normpath(source))
    return os.path.splitext(name)[0] or "data"


def _run_demo(args) -> int:
    """`keras-mae demo`: clusters scikit-learn's digits with `mae_digits`."""
    import keras

    from keras_mae import from_preset
    from keras_mae.datasets import load_samples

    stages = Stages("demo")
    model = from_preset("mae_digits")
    stages.done("preset loaded", "mae_digits, bundled with the package")
    samples = load_samples("digits")
    stages.done("data loaded", f"scikit-learn's digits: {_describe(samples)}")
    os.makedirs(args.output, exist_ok=True)
    run = {
        "command": "demo",
        "preset": "mae_digits",
        "input": "digits",
        "samples": len(samples.x),
        "backend": keras.backend.backend(),
    }
    # The bundled preset keeps no training history: no loss curves.
    write_results(args.output, model, samples, stages, run, save_preset=False)
    return 0


def add_commands(commands, common) -> None:
    """Adds `cluster` and `demo` to the `keras-mae` subcommands.

    Args:
        commands: The subparsers of the `keras-mae` parser.
        common: A parent parser of the options every command takes.

    Example:

    >>> import argparse
    >>> from keras_mae.cli.cluster import add_commands
    >>> parser = argparse.ArgumentParser(prog="keras-mae")
    >>> common = argparse.ArgumentParser(add_help=False)
    >>> add_commands(parser.add_subparsers(), common)
    >>> args = parser.parse_args(["cluster", "data.csv", "--num-components", "3"])
    >>> args.num_components, args.output
    (3, None)
    """
    from keras_mae.datasets.files import INPUT_KINDS

    cluster = commands.add_parser(
        "cluster",
        parents=[common],
        help="cluster your own data (CSV, .npy/.npz, image folder) and write "
        "labels, a preset and a report",
        description="Train a MixtureAutoencoder with the package defaults on "
        "INPUT and write DIR/labels.csv, DIR/preset/, DIR/report/*.png, "
        "DIR/run.json and, with labels, DIR/scores.json. Run again with the "
        "same DIR to resume a killed run.",
    )
    cluster.add_argument("input", help=INPUT_KINDS)
    cluster.add_argument(
        "--num-components", type=int, required=True, help="number of clusters, K"
    )
    cluster.add_argument(
        "--epochs",
        type=_positive,
        default=None,
        help="default: chosen from the data size (MixtureClustering's auto_epochs)",
    )
    cluster.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        help="default: chosen from the data size (auto_batch_size)",
    )
    cluster.add_argument("--latent-dim", type=_positive, default=10)
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument(
        "--output", default=None, help="output folder (default: INPUT-clusters)"
    )
    cluster.add_argument(
        "--label-column",
        default=None,
        help=".csv only: the column of labels (used for scores, never for training)",
    )
    cluster.add_argument(
        "--image-size",
        type=_positive,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        default=None,
        help="image folders only: resize every image to this size",
    )
    cluster.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished (or differently set up, interrupted) run in DIR",
    )
    cluster.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras's fit verbosity (the stage lines are always printed)",
    )
    cluster.set_defaults(run=_run_cluster)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="cluster scikit-learn's digits with the bundled mae_digits preset "
        "(no download, under a minute) and write the report",
    )
    demo.add_argument(
        "--output",
        default="keras-mae-demo",
        help="output folder (default: %(default)s)",
    )
    demo.set_defaults(run=_run_demo)


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer; received {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; received {value}")
    return value
