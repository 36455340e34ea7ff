"""The report of a clustering run: PNG pictures drawn with matplotlib.

`write_report(folder, model, samples, clusters)` draws, for a fitted
`MixtureAutoencoder` and the data it clustered:

- `samples.png`: new samples of each component (one row per component);
- `reconstructions.png`: data assigned to each component and its
  reconstruction;
- `cluster_sizes.png`: how many samples each component holds;
- `loss_curves.png`: the training logs per epoch, when a history is given;
- `confusion_matrix.png`: components against the known labels, when there
  are labels (components ordered by their best-matching label).

Images are drawn as images; vectors as heat maps of their features, each
feature scaled by the data's mean and standard deviation, so that the colours
of every feature mean the same.
"""

from __future__ import annotations

import os

import numpy as np

SAMPLES_PER_COMPONENT = 8
REPORT_DPI = 100


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "The report's pictures need matplotlib: pip install 'keras-mae[plot]'."
        ) from error
    return plt


class _Scale:
    """Maps data to what is drawn: images clipped to [0, 1], vectors standardized."""

    def __init__(self, x: np.ndarray):
        self.images = x.ndim == 4
        if not self.images:
            self.mean = x.mean(axis=0)
            self.std = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.images:
            return np.clip(x, 0.0, 1.0)
        return (x - self.mean) / self.std


def _draw_images(axes, images: np.ndarray, scale: _Scale) -> None:
    """One image per axis, without ticks or frames."""
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
        for spine in axis.spines.values():
            spine.set_visible(False)
    for axis, image in zip(axes, scale(images), strict=False):
        grey = image.shape[-1] == 1
        axis.imshow(image[..., 0] if grey else image, cmap="gray", vmin=0, vmax=1)


def _image_rows(
    path: str, rows: list[tuple[str, np.ndarray]], scale: _Scale, title: str
) -> None:
    """One labelled row per entry: images side by side, or a heat map of vectors."""
    plt = _pyplot()
    columns = max(SAMPLES_PER_COMPONENT, max(len(r) for _, r in rows))
    if scale.images:
        figure, axes = plt.subplots(
            len(rows),
            columns,
            figsize=(columns * 0.9 + 1.2, len(rows) * 0.9 + 0.6),
            squeeze=False,
        )
        for (label, images), row_axes in zip(rows, axes, strict=True):
            _draw_images(row_axes, images, scale)
            row_axes[0].set_ylabel(label, rotation=0, ha="right", va="center")
    else:
        figure, axes = plt.subplots(
            len(rows), 1, figsize=(8, len(rows) * 0.9 + 0.8), squeeze=False
        )
        image = None
        for (label, vectors), (axis,) in zip(rows, axes, strict=True):
            if len(vectors):
                image = axis.imshow(
                    scale(vectors), aspect="auto", cmap="coolwarm", vmin=-3, vmax=3
                )
            axis.set_yticks([])
            axis.set_ylabel(label, rotation=0, ha="right", va="center")
            if axis is not axes[-1, 0]:
                axis.set_xticks([])
        axes[-1, 0].set_xlabel("feature (standardized over the data)")
        if image is not None:
            figure.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.8)
    figure.suptitle(title)
    figure.savefig(path, dpi=REPORT_DPI, bbox_inches="tight")
    plt.close(figure)


def _draw_samples(path: str, model, scale: _Scale, seed: int = 0) -> None:
    """New samples of each component of `model`, one row per component."""
    rows = [
        (f"{k}", model.sample(SAMPLES_PER_COMPONENT, component=k, seed=seed + k))
        for k in range(model.num_components)
    ]
    _image_rows(path, rows, scale, "Samples of each component")


def _draw_reconstructions(
    path: str, model, x: np.ndarray, clusters: np.ndarray, scale: _Scale
) -> None:
    """Up to 4 samples of each component (top) and their reconstructions."""
    per_row = SAMPLES_PER_COMPONENT // 2
    picked = [
        np.flatnonzero(clusters == k)[:per_row] for k in range(model.num_components)
    ]
    chosen = np.concatenate(picked).astype(int)
    rebuilt = model.reconstruct(x[chosen]) if len(chosen) else x[:0]
    rows, start = [], 0
    for k, indices in enumerate(picked):
        count = len(indices)
        if count == 0:
            rows.append((f"{k} (empty)", x[:0]))
            continue
        originals, copies = x[indices], rebuilt[start : start + count]
        start += count
        if not scale.images:  # heat maps: the data, then its reconstruction
            rows += [(f"{k} data", originals), (f"{k} rebuilt", copies)]
            continue
        pair = np.empty((2 * count, *x.shape[1:]), x.dtype)
        pair[0::2], pair[1::2] = originals, copies
        rows.append((f"{k}", pair))
    title = "Data of each component: original, then reconstruction"
    _image_rows(path, rows, scale, title)


def _draw_cluster_sizes(path: str, clusters: np.ndarray, num_components: int) -> None:
    """A bar chart of the samples per component."""
    plt = _pyplot()
    sizes = np.bincount(clusters, minlength=num_components)
    figure, axis = plt.subplots(figsize=(max(4, 0.5 * num_components + 2), 3))
    axis.bar(np.arange(num_components), sizes, color="tab:blue")
    axis.set_xticks(np.arange(num_components))
    axis.set_xlabel("component")
    axis.set_ylabel("samples")
    axis.set_title(f"Cluster sizes ({len(clusters):,} samples)")
    figure.savefig(path, dpi=REPORT_DPI, bbox_inches="tight")
    plt.close(figure)


def _draw_loss_curves(path: str, history: dict[str, list[float]]) -> None:
    """Every log of `history` (epoch-wise lists) against the epoch.

    One panel per loss term, and one for the share of samples of each
    component (the `usage_k` logs); `reseeded` counts are left out.
    """
    plt = _pyplot()
    usage = sorted(
        (name for name in history if name.startswith("usage_")),
        key=lambda name: int(name.split("_")[1]),
    )
    terms = [n for n in history if n not in usage and n != "reseeded"]
    panels = terms + (["component usage"] if usage else [])
    if not panels:
        raise ValueError(
            f"_draw_loss_curves expects loss logs in the history; received "
            f"{sorted(history)}."
        )
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.4 * columns, 2.4 * rows), squeeze=False
    )
    for axis in axes.flat[len(panels) :]:
        axis.axis("off")
    for axis, name in zip(axes.flat, panels, strict=False):
        lines = usage if name == "component usage" else [name]
        for line in lines:
            values = history[line]
            axis.plot(np.arange(1, len(values) + 1), values, linewidth=1)
        axis.set_title(name)
        axis.set_xlabel("epoch")
    figure.suptitle("Training logs per epoch")
    figure.tight_layout()
    figure.savefig(path, dpi=REPORT_DPI, bbox_inches="tight")
    plt.close(figure)


def _draw_confusion_matrix(
    path: str, labels: np.ndarray, clusters: np.ndarray, classes: list[str] | None
) -> None:
    """Samples per (label, component), components ordered by their best label.

    The order is the Hungarian matching that clustering accuracy uses, so a
    perfect clustering draws a diagonal.
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    plt = _pyplot()
    label_values = np.unique(labels)
    cluster_values = np.unique(clusters)
    table = contingency_matrix(labels, clusters)  # (labels, clusters present)
    rows, cols = linear_sum_assignment(-table)
    order = list(cols[np.argsort(rows)])
    order += [c for c in range(table.shape[1]) if c not in order]
    table = table[:, order]
    names = [classes[v] if classes else str(v) for v in label_values]
    figure, axis = plt.subplots(
        figsize=(0.55 * table.shape[1] + 2.5, 0.45 * table.shape[0] + 1.8)
    )
    axis.imshow(table, cmap="Blues")
    axis.set_xticks(np.arange(table.shape[1]), [str(cluster_values[c]) for c in order])
    axis.set_yticks(np.arange(table.shape[0]), names)
    axis.set_xlabel("component")
    axis.set_ylabel("label")
    if table.size <= 400:
        threshold = table.max() / 2
        for (i, j), count in np.ndenumerate(table):
            color = "white" if count > threshold else "black"
            axis.text(j, i, str(count), ha="center", va="center", color=color, size=7)
    axis.set_title("Labels against components")
    figure.savefig(path, dpi=REPORT_DPI, bbox_inches="tight")
    plt.close(figure)


def write_report(
    folder: str,
    model,
    x: np.ndarray,
    clusters: np.ndarray,
    labels: np.ndarray | None = None,
    classes: list[str] | None = None,
    history: dict[str, list[float]] | None = None,
) -> list[str]:
    """Draws the report's PNGs into `folder` (created) and returns their names.

    Args:
        folder: The folder to write into.
        model: A fitted `MixtureAutoencoder`.
        x: The samples it clustered.
        clusters: The component of each sample, `(n,)`.
        labels: Known class numbers `(n,)`, or None.
        classes: The name of each class number, or None.
        history: Epoch-wise losses (`History.history`), or None.

    Returns:
        The file names written, in `folder`.

    Example:

    >>> import tempfile
    >>> import keras_mae
    >>> from keras_mae.cli.report import write_report
    >>> from keras_mae.datasets import load_digits
    >>> model = keras_mae.from_preset("mae_digits")
    >>> x, y = load_digits()
    >>> clusters = model.predict_clusters(x)
    >>> write_report(tempfile.mkdtemp(), model, x, clusters, labels=y)
    ['samples.png', 'reconstructions.png', 'cluster_sizes.png', 'confusion_matrix.png']
    """
    os.makedirs(folder, exist_ok=True)
    scale = _Scale(x)
    written = ["samples.png", "reconstructions.png", "cluster_sizes.png"]
    _draw_samples(os.path.join(folder, written[0]), model, scale)
    _draw_reconstructions(os.path.join(folder, written[1]), model, x, clusters, scale)
    _draw_cluster_sizes(
        os.path.join(folder, written[2]), clusters, model.num_components
    )
    if history:
        _draw_loss_curves(os.path.join(folder, "loss_curves.png"), history)
        written.append("loss_curves.png")
    if labels is not None:
        path = os.path.join(folder, "confusion_matrix.png")
        _draw_confusion_matrix(path, labels, clusters, classes)
        written.append("confusion_matrix.png")
    return written
