"""Image grids of samples, drawn with matplotlib."""

from __future__ import annotations

import math
import os

import numpy as np


def save_image_grid(images: np.ndarray, path: str, columns: int | None = None) -> None:
    """Saves `images` `(n, height, width, channels)` in [0, 1] as one grid image.

    Args:
        images: The images; one or three channels.
        path: Output file; its extension picks the format (e.g. `.png`).
        columns: Images per row; default about `sqrt(n)`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_mae.cli.images import save_image_grid
    >>> path = os.path.join(tempfile.mkdtemp(), "grid.png")
    >>> save_image_grid(np.random.rand(6, 8, 8, 1), path, columns=3)
    >>> os.path.getsize(path) > 0
    True
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "Saving image grids needs matplotlib: pip install 'keras-mae[plot]'."
        ) from error
    images = np.clip(np.asarray(images, dtype="float32"), 0.0, 1.0)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            "save_image_grid expects images (n, height, width, 1 or 3); "
            f"received shape {images.shape}."
        )
    n = len(images)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns, rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < n:
            image = images[index]
            axis.imshow(
                image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray",
                vmin=0,
                vmax=1,
            )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(figure)
