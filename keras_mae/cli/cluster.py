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

import csv
import json
import os
import shutil
import time

import numpy as np

from keras_mae.cli import report

PARTIAL = ".partial"
LABELS_FILE = "labels.csv"
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


class Stages:
    """Prints one line per finished stage, with its time.

    Args:
        command: The command's name, the prefix of each line.
        quiet: Print nothing (the timings are still kept).

    Example:

    >>> from keras_mae.cli.cluster import Stages
    >>> stages = Stages("demo")
    >>> stages.done("data loaded")  # doctest: +ELLIPSIS
    demo: data loaded (... s)
    >>> list(stages.seconds)
    ['data loaded']
    """

    def __init__(self, command: str, quiet: bool = False):
        self.command = command
        self.quiet = quiet
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, stage: str, detail: str = "") -> None:
        """Ends `stage`: records and prints its time since the previous stage."""
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now
        if not self.quiet:
            detail = f": {detail}" if detail else ""
            print(
                f"{self.command}: {stage}{detail} ({self.seconds[stage]:.1f} s)",
                flush=True,
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


def _replace(staged: str, final: str) -> None:
    """Moves the complete `staged` file or folder to `final`, replacing it."""
    if os.path.isdir(final) and not os.path.islink(final):
        shutil.rmtree(final)
    os.replace(staged, final)


def _write_text(path: str, text: str) -> None:
    """Writes `path` whole: into a temporary file first, then renamed."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)


def _labels_csv(samples, clusters: np.ndarray, confidence: np.ndarray) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["sample", "cluster", "probability"]
    if samples.y is not None:
        header.append("label")
    writer.writerow(header)
    for i, name in enumerate(samples.names):
        row = [name, int(clusters[i]), f"{confidence[i]:.4f}"]
        if samples.y is not None:
            label = samples.y[i]
            row.append(samples.classes[label] if samples.classes else int(label))
        writer.writerow(row)
    return buffer.getvalue()


def read_history(path: str) -> dict[str, list[float]]:
    """The epoch log of `keras.callbacks.CSVLogger(path, append=True)`.

    An epoch written twice (a run killed after logging an epoch but before
    backing it up repeats it when resumed) counts once, its last row.

    Args:
        path: The CSV file.

    Returns:
        `{log name: [value of each epoch]}`, in epoch order.

    Example:

    >>> import os, tempfile
    >>> from keras_mae.cli.cluster import read_history
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("epoch,loss\\n0,2.0\\n1,1.5\\n1,1.25\\n")
    >>> read_history(path)
    {'loss': [2.0, 1.25]}
    """
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as file:
        rows = {int(row["epoch"]): row for row in csv.DictReader(file)}
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for name, value in rows[epoch].items():
            if name != "epoch" and value not in ("", "NA"):
                history.setdefault(name, []).append(float(value))
    return history


def _scores(samples, clusters: np.ndarray, num_components: int) -> dict:
    from keras_mae.metrics import clustering_scores

    result = {"samples": len(clusters)}
    if samples.y is not None:
        scores = clustering_scores(samples.y, clusters)
        result.update({name: round(value, 4) for name, value in scores.items()})
    result["cluster_sizes"] = np.bincount(clusters, minlength=num_components).tolist()
    return result


def write_results(
    output: str,
    model,
    samples,
    stages: Stages,
    run: dict,
    history: dict | None = None,
    save_preset: bool = True,
) -> dict:
    """Clusters `samples` with `model` and writes every output into `output`.

    Each output is written under `output/.partial/` and moved to its name
    when complete; `labels.csv` comes last.

    Args:
        output: The output folder (created).
        model: A fitted `MixtureAutoencoder`.
        samples: The `keras_mae.datasets.Samples` it clusters.
        stages: Where each stage's time goes.
        run: What ran, for `run.json`.
        history: The epoch logs, for the loss curves; None for none.
        save_preset: Also save the model as `output/preset`.

    Returns:
        The scores (`scores.json`'s content, also without labels).

    Example:

    >>> import os, tempfile
    >>> import keras_mae
    >>> from keras_mae.cli.cluster import Stages, write_results
    >>> from keras_mae.datasets import load_samples
    >>> output = tempfile.mkdtemp()
    >>> scores = write_results(output, keras_mae.from_preset("mae_digits"),
    ...     load_samples("digits"), Stages("demo", quiet=True), {},
    ...     save_preset=False)
    >>> scores["acc"], sorted(os.listdir(output))
    (0.8325, ['labels.csv', 'report', 'run.json', 'scores.json'])
    """
    partial = os.path.join(output, PARTIAL)
    os.makedirs(partial, exist_ok=True)
    probabilities = model.predict_proba(samples.x)
    clusters = np.argmax(probabilities, axis=1)
    confidence = probabilities[np.arange(len(clusters)), clusters]
    scores = _scores(samples, clusters, model.num_components)
    stages.done("clustered", _score_line(scores))

    written = []
    if save_preset:
        metrics = {k: scores[k] for k in ("acc", "nmi", "ari") if k in scores}
        model.save_to_preset(os.path.join(partial, "preset"), metrics=metrics)
        _replace(os.path.join(partial, "preset"), os.path.join(output, "preset"))
        written.append("preset/")
    pictures = report.write_report(
        os.path.join(partial, "report"),
        model,
        samples.x,
        clusters,
        labels=samples.y,
        classes=samples.classes,
        history=history,
    )
    _replace(os.path.join(partial, "report"), os.path.join(output, "report"))
    written.append(f"report/ ({len(pictures)} PNGs)")
    stages.done("report written", ", ".join(pictures))

    if samples.y is not None:
        _write_text(os.path.join(output, "scores.json"), json.dumps(scores, indent=2))
        written.append("scores.json")
    run = {**run, "stage_seconds": stages.seconds}
    _write_text(os.path.join(output, "run.json"), json.dumps(run, indent=2))
    _write_text(
        os.path.join(output, LABELS_FILE), _labels_csv(samples, clusters, confidence)
    )
    written += ["run.json", f"{LABELS_FILE} ({len(clusters):,} rows)"]
    shutil.rmtree(partial, ignore_errors=True)
    stages.done("written", f"{output}: {', '.join(written)}")
    return scores


def _score_line(scores: dict) -> str:
    if "acc" not in scores:
        return f"{scores['samples']:,} samples, cluster sizes {scores['cluster_sizes']}"
    return (
        f"ACC {scores['acc']:.4f}, NMI {scores['nmi']:.4f}, ARI {scores['ari']:.4f} "
        f"on {scores['samples']:,} samples"
    )


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
    _write_text(saved, json.dumps(settings, indent=2))
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
    if count <= model.num_neighbors:
        raise ValueError(
            f"cluster needs more samples than the model's {model.num_neighbors} "
            f"nearest neighbours; received {count}."
        )
    preparation = "input normalization adapted, " if not samples.is_images else ""
    preparation += f"{model.num_neighbors} nearest neighbours of each sample found"
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
    _write_text(os.path.join(output, "history.json"), json.dumps(history, indent=1))
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
