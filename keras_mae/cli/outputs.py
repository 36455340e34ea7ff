"""What `keras-mae cluster` and `keras-mae demo` write, and how: whole or not at all.

`write_results` clusters the samples with a fitted model and writes
`labels.csv`, `preset/`, `report/`, `scores.json` and `run.json` into the
output folder. Each output is first written under the folder's `.partial/`
and moved to its name only when complete; `labels.csv` comes last. `Stages`
prints one line per finished stage with its time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time

import numpy as np

from keras_mae.cli import report

PARTIAL = ".partial"
LABELS_FILE = "labels.csv"


class Stages:
    """Prints one line per finished stage, with its time.

    Args:
        command: The command's name, the prefix of each line.
        quiet: Print nothing (the timings are still kept).

    Example:

    >>> from keras_mae.cli.outputs import Stages
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


def _replace(staged: str, final: str) -> None:
    """Moves the complete `staged` file or folder to `final`, replacing it."""
    if os.path.isdir(final) and not os.path.islink(final):
        shutil.rmtree(final)
    os.replace(staged, final)


def write_text(path: str, text: str) -> None:
    """Writes `path` whole: into a temporary file first, then renamed.

    Args:
        path: The file to write.
        text: Its content.

    Example:

    >>> import os, tempfile
    >>> from keras_mae.cli.outputs import write_text
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> write_text(path, "{}")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('{}', ['run.json'])
    """
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)


def _labels_csv(samples, clusters: np.ndarray, confidence: np.ndarray) -> str:
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
    >>> from keras_mae.cli.outputs import read_history
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
    >>> from keras_mae.cli.outputs import Stages, write_results
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
        write_text(os.path.join(output, "scores.json"), json.dumps(scores, indent=2))
        written.append("scores.json")
    run = {**run, "stage_seconds": stages.seconds}
    write_text(os.path.join(output, "run.json"), json.dumps(run, indent=2))
    write_text(
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
