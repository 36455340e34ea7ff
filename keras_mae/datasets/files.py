"""A user's own data from files: CSV tables, NumPy arrays and image folders.

`load_samples` reads any input the `keras-mae cluster` command takes and
returns a `Samples`: float32 samples ready for a model, the labels when the
file holds them, and a name for each sample (its file name, or its row) to
report results by. Each reader is public too: `load_csv`, `load_array_file`
and `load_image_folder`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os

import numpy as np

from keras_mae.datasets.digits import load_digits
from keras_mae.datasets.mnist import load_mnist, preprocess_images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INPUT_KINDS = (
    "'digits', 'mnist', a .npy array, a .npz file (array 'x' and optional 'y', "
    "or MNIST's x_train/y_train/x_test/y_test), a .csv table of numbers, or a "
    "folder of PNG/JPEG images"
)


@dataclasses.dataclass(frozen=True)
class Samples:
    """Samples read from a file, with their labels and names.

    Args:
        x: float32 array: vectors `(n, d)` in their own units, or images
            `(n, height, width, channels)` in [0, 1].
        y: Labels `(n,)` as int64 class numbers, or None when the input holds
            none. Labels are for scoring only; nothing trains on them.
        names: One name per sample: its file name (image folders) or its
            row number, from 0.
        classes: The original label of each class number (`classes[y[i]]`),
            e.g. a CSV's label strings or an image folder's subfolder names;
            None without labels.

    Example:

    >>> import numpy as np
    >>> from keras_mae.datasets import Samples
    >>> samples = Samples(np.zeros((2, 3), "float32"), None, ["0", "1"], None)
    >>> samples.x.shape, samples.is_images
    ((2, 3), False)
    """

    x: np.ndarray
    y: np.ndarray | None
    names: list[str]
    classes: list[str] | None = None

    @property
    def is_images(self) -> bool:
        """Whether the samples are images `(n, height, width, channels)`."""
        return self.x.ndim == 4


def _encoded(labels) -> tuple[np.ndarray, list[str]]:
    """Labels as class numbers 0..c-1, and the label of each number."""
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def _as_samples(x: np.ndarray, source: str) -> np.ndarray:
    """`x` as float32 vectors or images, checked; uint8 images scaled to [0, 1]."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(
            f"{source}: expected numbers (an int or float array); received "
            f"dtype {x.dtype}."
        )
    if x.ndim == 3:  # (n, height, width): one grey channel
        x = x[..., None]
    if x.ndim not in (2, 4) or len(x) == 0 or 0 in x.shape:
        raise ValueError(
            f"{source}: expected a non-empty array of vectors (n, features) or "
            f"images (n, height, width[, channels]); received shape {x.shape}."
        )
    if x.ndim == 4 and x.dtype == np.uint8:
        return preprocess_images(x)
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"{source}: expected finite numbers; received NaN or infinite values "
            f"in {int(np.sum(~np.isfinite(x)))} places."
        )
    return x


def _row_names(count: int) -> list[str]:
    return [str(i) for i in range(count)]


def load_array_file(path: str | os.PathLike) -> Samples:
    """Reads samples from a `.npy` array or an `.npz` file.

    Args:
        path: A `.npy` file holding the samples, or an `.npz` file holding an
            array `x` and optionally labels `y`, or MNIST's layout (`x_train`,
            `y_train`, `x_test`, `y_test`; both splits are used). uint8
            images are scaled to [0, 1]; `(n, height, width)` arrays get a
            channel axis.

    Returns:
        The `Samples`, named by row.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_mae.datasets import load_array_file
    >>> path = os.path.join(tempfile.mkdtemp(), "table.npz")
    >>> np.savez(path, x=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
    >>> samples = load_array_file(path)
    >>> samples.x.dtype, samples.y.tolist(), samples.names
    (dtype('float32'), [0, 1, 0, 1], ['0', '1', '2', '3'])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    if path.endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"{path} is not a readable .npy array: {error}") from None
        x = _as_samples(array, path)
        return Samples(x, None, _row_names(len(x)))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a readable .npz archive: {error}") from None
    if "x_train" in arrays:
        (x_train, y_train), (x_test, y_test) = load_mnist(path)
        x = _as_samples(np.concatenate([x_train, x_test]), path)
        y = np.concatenate([y_train, y_test]).astype(np.int64)
        return Samples(x, y, _row_names(len(x)), _encoded(y)[1])
    if "x" not in arrays:
        raise ValueError(
            f"{path}: expected an array 'x' (and optionally 'y'), or MNIST's "
            f"x_train/y_train/x_test/y_test; received arrays {sorted(arrays)}."
        )
    x = _as_samples(arrays["x"], f"{path}['x']")
    if "y" not in arrays:
        return Samples(x, None, _row_names(len(x)))
    y = np.asarray(arrays["y"]).reshape(-1)
    if len(y) != len(x):
        raise ValueError(
            f"{path}: expected one label per sample in 'y'; received {len(y)} "
            f"labels for {len(x)} samples."
        )
    codes, classes = _encoded(y)
    return Samples(x, codes, _row_names(len(x)), classes)


def _is_number(field: str) -> bool:
    try:
        return math.isfinite(float(field))
    except ValueError:
        return False


def load_csv(path: str | os.PathLike, label_column: str | None = None) -> Samples:
    """Reads a table of numbers from a CSV file, one sample per row.

    Args:
        path: The `.csv` file. A first row that is not all numbers is the
            header (column names); without one, the columns are named by
            number, from 0. Every other column must hold numbers in every
            row: a column with text or empty fields is refused by name.
        label_column: The column holding labels (any text), used for scoring
            only and left out of the samples.

    Returns:
        The `Samples`: float32 vectors `(rows, columns)`, named by row.

    Example:

    >>> import os, tempfile
    >>> from keras_mae.datasets import load_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "flowers.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("length,width,kind\\n1.0,2.0,a\\n3.0,4.5,b\\n")
    >>> samples = load_csv(path, label_column="kind")
    >>> samples.x.tolist(), samples.y.tolist(), samples.classes
    ([[1.0, 2.0], [3.0, 4.5]], [0, 1], ['a', 'b'])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = [row for row in csv.reader(file) if any(f.strip() for f in row)]
    if not rows:
        raise ValueError(f"{path}: expected a table of numbers; the file is empty.")
    has_header = not all(_is_number(field) for field in rows[0])
    header = [f.strip() for f in rows[0]] if has_header else None
    body = rows[1:] if has_header else rows
    width = len(rows[0])
    columns = header or [str(i) for i in range(width)]
    if not body:
        raise ValueError(f"{path}: expected rows of numbers below the header; none.")
    for number, row in enumerate(body, start=2 if has_header else 1):
        if len(row) != width:
            raise ValueError(
                f"{path}: line {number} has {len(row)} fields; expected "
                f"{width}, as the first line."
            )
    if label_column is not None and label_column not in columns:
        raise ValueError(
            f"{path}: no column {label_column!r} for --label-column; the "
            f"columns are {columns}."
        )
    features = [i for i, name in enumerate(columns) if name != label_column]
    if not features:
        raise ValueError(f"{path}: expected at least one feature column; none.")
    for i in features:
        for number, row in enumerate(body, start=2 if has_header else 1):
            if not _is_number(row[i]):
                raise ValueError(
                    f"{path}: column {columns[i]!r} is not numeric (line "
                    f"{number} holds {row[i]!r}); drop the column, or name it "
                    "with --label-column if it holds labels."
                )
    x = np.array([[float(row[i]) for i in features] for row in body], np.float32)
    if label_column is None:
        return Samples(x, None, _row_names(len(x)))
    labels = [row[columns.index(label_column)].strip() for row in body]
    codes, classes = _encoded(labels)
    return Samples(x, codes, _row_names(len(x)), classes)


def _image_files(folder: str) -> tuple[list[str], list[str] | None]:
    """Image paths, relative to `folder`, and their subfolder labels (or None)."""

    def images_in(directory):
        return sorted(
            name
            for name in os.listdir(directory)
            if name.lower().endswith(IMAGE_SUFFIXES)
            and os.path.isfile(os.path.join(directory, name))
        )

    files = images_in(folder)
    subfolders = sorted(
        name
        for name in os.listdir(folder)
        if os.path.isdir(os.path.join(folder, name)) and not name.startswith(".")
    )
    if files or not subfolders:
        return files, None
    # One subfolder per class, as keras.utils.image_dataset_from_directory.
    paths, labels = [], []
    for label in subfolders:
        names = images_in(os.path.join(folder, label))
        paths += [os.path.join(label, name) for name in names]
        labels += [label] * len(names)
    return paths, labels


def load_image_folder(
    folder: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> Samples:
    """Reads a folder of PNG/JPEG images as float32 images in [0, 1].

    Args:
        folder: A folder of `.png`/`.jpg`/`.jpeg` files (read in name order),
            or a folder of subfolders of them: then each subfolder is a class,
            its name the label (as `keras.utils.image_dataset_from_directory`
            reads them). Grey images give one channel; if any image has
            colour, all are read as RGB (transparency is dropped).
        image_size: `(height, width)` to resize every image to. Without it
            all images must have the same size.

    Returns:
        The `Samples` `(n, height, width, 1 or 3)`, named by their path in
        `folder`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from keras_mae.datasets import load_image_folder
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     Image.fromarray(np.full((6, 5), 40 * i, "uint8")).save(
    ...         os.path.join(folder, f"{i}.png"))
    >>> samples = load_image_folder(folder, image_size=(4, 4))
    >>> samples.x.shape, samples.names
    ((3, 4, 4, 1), ['0.png', '1.png', '2.png'])
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "Reading image folders needs Pillow: pip install 'keras-mae[plot]'."
        ) from error
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder!r}.")
    paths, labels = _image_files(folder)
    if not paths:
        raise ValueError(
            f"{folder}: expected PNG or JPEG images ({', '.join(IMAGE_SUFFIXES)}), "
            "or subfolders of them; found none."
        )
    images = []
    for name in paths:
        try:
            with Image.open(os.path.join(folder, name)) as image:
                image.load()
                images.append(image.copy())
        except OSError as error:
            raise ValueError(f"{folder}: cannot read image {name!r}: {error}") from None
    grey = all(image.mode in ("1", "L", "LA", "I", "I;16", "F") for image in images)
    mode = "L" if grey else "RGB"
    if image_size is None:
        sizes = {image.size for image in images}
        if len(sizes) > 1:
            (w1, h1), (w2, h2) = sorted(sizes)[:2]
            raise ValueError(
                f"{folder}: images have different sizes ({h1}x{w1}, {h2}x{w2}, "
                "...); pass an image size (--image-size) to resize them to."
            )
    else:
        height, width = image_size
        if height < 1 or width < 1:
            raise ValueError(f"image_size must be positive; received {image_size}.")
    arrays = []
    for image in images:
        image = image.convert(mode)
        if image_size is not None and image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    x = _as_samples(np.stack(arrays), folder)
    if labels is None:
        return Samples(x, None, paths)
    codes, classes = _encoded(labels)
    return Samples(x, codes, paths, classes)


def load_samples(
    source: str | os.PathLike,
    label_column: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> Samples:
    """Reads the samples of `source`, whichever kind of input it is.

    Args:
        source: `"digits"` (scikit-learn's 8x8 digits), `"mnist"` (all 70,000
            images, from `$KERAS_MAE_MNIST` or Keras's download), or a path:
            a `.npy` or `.npz` file (`load_array_file`), a `.csv` table
            (`load_csv`) or a folder of images (`load_image_folder`).
        label_column: For CSV tables: the column of labels.
        image_size: For image folders: `(height, width)` to resize to.

    Returns:
        The `Samples`.

    Example:

    >>> from keras_mae.datasets import load_samples
    >>> samples = load_samples("digits")
    >>> samples.x.shape, len(samples.classes)
    ((1797, 8, 8, 1), 10)
    """
    source = os.fspath(source)
    if label_column is not None and not source.lower().endswith(".csv"):
        raise ValueError(f"A label column applies to .csv tables; received {source!r}.")
    if image_size is not None and not os.path.isdir(source):
        raise ValueError(
            f"An image size applies to folders of images; received {source!r}."
        )
    if source in ("digits", "mnist"):
        if source == "digits":
            x, y = load_digits()
        else:
            (x_train, y_train), (x_test, y_test) = load_mnist()
            x = preprocess_images(np.concatenate([x_train, x_test]))
            y = np.concatenate([y_train, y_test]).astype(np.int64)
        return Samples(x, y, _row_names(len(x)), [str(c) for c in range(10)])
    if os.path.isdir(source):
        return load_image_folder(source, image_size)
    lowered = source.lower()
    if lowered.endswith((".npy", ".npz")):
        return load_array_file(source)
    if lowered.endswith(".csv"):
        return load_csv(source, label_column)
    if not os.path.exists(source):
        raise FileNotFoundError(f"No such file or folder: {source!r}.")
    raise ValueError(f"Cannot read {source!r}; expected {INPUT_KINDS}.")
