"""Reading and writing flat maps of arrays as `.safetensors` files, checked.

A preset's weights are a flat map from each saved variable's path (the
layout Keras' own weights files use: `layers/dense/vars/0`) to its array,
stored with the `safetensors` package's NumPy API: a JSON header of names,
dtypes and shapes, then raw little-endian bytes. Nothing in the file is
executed or unpickled.

`read` treats the file as untrusted: it reads only the header first, refuses
an oversized one, and compares every tensor's name, dtype and shape with what
the model expects before any data is loaded.

Example:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from keras_mae.presets.safetensors_file import read, write
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "model.safetensors"
    >>> write(path, {"layers/dense/vars/0": np.ones((2, 3), "float32")})
    >>> expected = {"layers/dense/vars/0": ((2, 3), "float32")}
    >>> read(path, expected, "./demo")["layers/dense/vars/0"].shape
    (2, 3)
    >>> folder.cleanup()
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["MAX_HEADER_BYTES", "read", "write", "read_header"]

# A header is ~100 bytes per tensor: 16 MiB is ~100,000 tensors, far more
# than any model here, and far below what a hostile header could claim.
MAX_HEADER_BYTES = 16 * 1024 * 1024
# safetensors' names for the NumPy dtypes a Keras variable can have.
_DTYPES = {
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
}


def write(
    path: Path, tensors: Mapping[str, np.ndarray], metadata: dict | None = None
) -> None:
    """Writes `tensors` to `path` as a safetensors file.

    Args:
        path: The target file (usually ending in `.safetensors`).
        tensors: Names to NumPy arrays (made contiguous here).
        metadata: Optional string-to-string facts stored in the header
            (e.g. `{"format": "keras_mae"}`).

    Examples:
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from keras_mae.presets.safetensors_file import write
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "model.safetensors"
        ...     write(path, {"step": np.array(3)}, metadata={"format": "keras_mae"})
        ...     path.stat().st_size > 0
        True
    """
    from safetensors.numpy import save_file

    # Not np.ascontiguousarray: it turns a 0-d array (a step counter) into 1-d.
    arrays = {
        name: np.array(array, order="C", copy=not array.flags.c_contiguous)
        for name, array in ((n, np.asarray(a)) for n, a in tensors.items())
    }
    save_file(arrays, str(path), metadata=metadata)


def read_header(path: Path, source: str) -> dict[str, tuple[tuple, str]]:
    """The names, shapes and dtypes a safetensors file declares, unloaded.

    Args:
        path: The file.
        source: The preset, for error messages.

    Returns:
        A dict from tensor name to `(shape, numpy dtype name)`.

    Raises:
        ValueError: If the file is shorter than its header claims, the
            header is larger than `MAX_HEADER_BYTES`, not JSON, or names a
            dtype that is not a plain number type.

    Examples:
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from keras_mae.presets.safetensors_file import read_header, write
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "model.safetensors"
        ...     write(path, {"kernel": np.zeros((2, 3), "float16")})
        ...     read_header(path, "./demo")
        {'kernel': ((2, 3), 'float16')}
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(
                f"Preset {source}: {path.name!r} is not a safetensors file "
                f"({size} bytes; a header length needs 8)."
            )
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES or length > size - 8:
            raise ValueError(
                f"Preset {source}: {path.name!r} declares a {length}-byte header; "
                f"at most {min(MAX_HEADER_BYTES, size - 8)} are accepted "
                f"(file of {size} bytes, limit {MAX_HEADER_BYTES})."
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"Preset {source}: the header of {path.name!r} is not JSON ({error})."
        ) from None
    if not isinstance(header, dict):
        raise ValueError(f"Preset {source}: the header of {path.name!r} is not a map.")
    declared = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if dtype not in _DTYPES:
            raise ValueError(
                f"Preset {source}: tensor {name!r} in {path.name!r} has dtype "
                f"{dtype!r}; expected one of {sorted(_DTYPES)}."
            )
        declared[name] = (tuple(entry.get("shape", ())), _DTYPES[dtype])
    return declared


def _compatible(found: str, expected: str, stored_float16: bool) -> bool:
    """Whether a stored dtype loads into a variable's dtype without loss.

    The same dtype always does; float16 does into float32 for presets saved
    with `weights_dtype="float16"`; any integer dtype does into another
    (backends keep seed states as uint32 or int64), values range-checked.
    """
    if found == expected:
        return True
    if stored_float16 and (found, expected) == ("float16", "float32"):
        return True
    return np.dtype(found).kind in "iu" and np.dtype(expected).kind in "iu"


def _listed(names) -> str:
    names = sorted(names)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(repr(n) for n in names[:5]) + more


def read(
    path: Path,
    expected: Mapping[str, tuple[tuple, str]],
    source: str,
    stored_float16: bool = False,
) -> dict[str, np.ndarray]:
    """Reads a safetensors file after checking it against `expected`.

    Args:
        path: The file.
        expected: Tensor name to `(shape, dtype name)` the model needs.
        source: The preset, for error messages.
        stored_float16: Accept float16 tensors for float32 variables (presets
            saved with `weights_dtype="float16"`); they are cast back.

    Returns:
        A dict from tensor name to array, in the expected dtypes.

    Raises:
        ValueError: For a missing or extra tensor, a wrong shape or dtype
            (integers may change width when their values fit), or a
            malformed file; the message names the tensor(s).

    Examples:
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from keras_mae.presets.safetensors_file import read, write
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(folder.name) / "model.safetensors"
        >>> write(path, {"kernel": np.ones((2, 3), "float16")})
        >>> weights = read(path, {"kernel": ((2, 3), "float32")}, "./demo", True)
        >>> weights["kernel"].dtype  # float16 on disk, float32 variables
        dtype('float32')
        >>> read(path, {"kernel": ((3, 2), "float16")}, "./demo")
        Traceback (most recent call last):
        ...
        ValueError: Preset ./demo: tensor 'kernel' ... the model expects (3, 2).
        >>> folder.cleanup()
    """
    declared = read_header(path, source)
    missing = set(expected) - set(declared)
    extra = set(declared) - set(expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_listed(missing)}")
        if extra:
            parts.append(f"unexpected {_listed(extra)}")
        raise ValueError(
            f"Preset {source}: {path.name!r} does not match the model's "
            f"variables: {'; '.join(parts)}."
        )
    for name, (shape, dtype) in expected.items():
        found_shape, found_dtype = declared[name]
        if tuple(found_shape) != tuple(shape):
            raise ValueError(
                f"Preset {source}: tensor {name!r} in {path.name!r} has shape "
                f"{tuple(found_shape)}; the model expects {tuple(shape)}."
            )
        if not _compatible(found_dtype, dtype, stored_float16):
            raise ValueError(
                f"Preset {source}: tensor {name!r} in {path.name!r} is "
                f"{found_dtype}; the model expects {dtype}."
            )
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except SafetensorError as error:
        raise ValueError(
            f"Preset {source}: {path.name!r} could not be read ({error})."
        ) from None
    loaded = {}
    for name, (_, dtype) in expected.items():
        array = tensors[name]
        if array.dtype.kind in "iu" and array.size and array.dtype != dtype:
            limits = np.iinfo(dtype)
            if array.min() < limits.min or array.max() > limits.max:
                raise ValueError(
                    f"Preset {source}: tensor {name!r} in {path.name!r} holds "
                    f"values in [{array.min()}, {array.max()}], outside the "
                    f"model's {dtype}."
                )
        loaded[name] = array.astype(dtype, copy=False)
    return loaded
