"""A preset's files: plain names, hashes, `metadata.json` and content pins.

A preset is untrusted input. Before anything in it is read:

- file names must be plain names, and in a local directory they may not be
  links leading out of it;
- every file `metadata.json` lists (format 2: `config.json` and the weights;
  format 1: the weights) must match the sha256 and size recorded there, so
  the sha256 of `metadata.json` alone pins a whole preset by content (the
  model card, `README.md`, is documentation and is not pinned);
- `metadata.json` must not come from a newer preset format.

Example:
    >>> import pathlib, tempfile
    >>> from keras_mae.presets.integrity import sha256_of
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "config.json"
    ...     _ = path.write_text("{}")
    ...     sha256_of(path)[:12]
    '44136fa355b3'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Format 2 (2026-12-02): safetensors weights, `config.json` hashed too.
# Format 1: Keras `.weights.h5` weights; still read.
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.safetensors"
LEGACY_WEIGHTS_FILE = "model.weights.h5"
LEGACY_TRAINING_STATE_FILE = "training_state.weights.h5"
README_FILE = "README.md"
# The files each format lists in metadata.json, and which of them it needs.
_LISTED_FILES = {
    1: ({LEGACY_WEIGHTS_FILE, LEGACY_TRAINING_STATE_FILE}, {LEGACY_WEIGHTS_FILE}),
    2: ({CONFIG_FILE, WEIGHTS_FILE, TRAINING_STATE_FILE}, {CONFIG_FILE, WEIGHTS_FILE}),
}

_MAX_JSON_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


def check_file_name(name: Any, source: str) -> str:
    """Returns `name` if it is a plain file name, else raises.

    Args:
        name: A file name read from a preset.
        source: The preset, for the error message.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: If the name is empty, contains a path separator, is `.` or
            `..`, or is absolute.

    Examples:
    >>> from keras_mae.presets.integrity import check_file_name
    >>> check_file_name("model.weights.h5", "./my_preset")
    'model.weights.h5'
    >>> check_file_name("../model.weights.h5", "./my_preset")
    Traceback (most recent call last):
    ...
    ValueError: Preset ./my_preset: file names must be plain names ...
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or os.path.isabs(name)
        or (len(name) > 1 and name[1] == ":")
    ):
        raise ValueError(
            f"Preset {source}: file names must be plain names (no '/', '\\', "
            f"'..' or absolute paths); received {name!r}."
        )
    return name


def resolve_file(directory: Path, name: str, source: str, allow_links: bool) -> Path:
    """The path of file `name` in `directory`, after the file-name rules.

    Args:
        directory: The preset folder.
        name: A plain file name.
        source: The preset, for the error message.
        allow_links: Whether links leaving the folder are accepted. False for
            local presets. Hub snapshots are folders of links into the cache's
            blobs, so their files are protected by the sha256 check instead.

    Returns:
        The file's path.

    Raises:
        ValueError: If the name is not plain or the file is a link leaving
            the folder.
        FileNotFoundError: If the file is missing.

    Examples:
    The bundled copy of the built-in preset `"mae_digits"`:

    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import resolve_file
    >>> folder = bundled_folder("mae-digits")
    >>> resolve_file(folder, "config.json", "mae_digits", allow_links=False).name
    'config.json'
    >>> resolve_file(folder, "model.weights.h5", "mae_digits", allow_links=False)
    Traceback (most recent call last):
    ...
    FileNotFoundError: Preset mae_digits has no file 'model.weights.h5'.
    """
    check_file_name(name, source)
    path = directory / name
    if not allow_links:
        real_dir = directory.resolve()
        real = path.resolve()
        if real_dir not in real.parents:
            raise ValueError(
                f"Preset {source}: {name!r} is a link leading outside the preset "
                f"folder (to {str(real)!r}); refusing to read it."
            )
    if not path.is_file():
        raise FileNotFoundError(f"Preset {source} has no file {name!r}.")
    return path


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks.

    Args:
        path: The file.

    Returns:
        64 lower-case hex digits.

    Examples:
    The sha256 of a preset's `metadata.json` is what the registry pins:

    >>> from keras_mae.presets import list_presets
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import sha256_of
    >>> path = bundled_folder("mae-digits") / "metadata.json"
    >>> sha256_of(path) == list_presets()["mae_digits"].metadata_sha256
    True
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weights_file_names(metadata: Mapping[str, Any]) -> tuple[str, str]:
    """`(inference weights, training state)` file names of a checked preset.

    Args:
        metadata: Metadata that passed `check_metadata`.

    Returns:
        The safetensors names for format 2, the `.weights.h5` names for 1.

    Examples:
    >>> from keras_mae.presets.integrity import weights_file_names
    >>> weights_file_names({"format_version": 2})
    ('model.safetensors', 'training_state.safetensors')
    >>> weights_file_names({"format_version": 1})
    ('model.weights.h5', 'training_state.weights.h5')
    """
    if metadata["format_version"] == 1:
        return LEGACY_WEIGHTS_FILE, LEGACY_TRAINING_STATE_FILE
    return WEIGHTS_FILE, TRAINING_STATE_FILE


def verify_file(path: Path, metadata: Mapping[str, Any], source: str) -> None:
    """Checks a preset file against the size and sha256 in `metadata.json`.

    Args:
        path: The file.
        metadata: The preset's parsed metadata.
        source: The preset, for the error message.

    Raises:
        ValueError: If the file is not listed, is truncated or longer than
            recorded, or its sha256 differs. The message names the file and
            both hashes.

    Examples:
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import read_json, verify_file
    >>> folder = bundled_folder("mae-digits")
    >>> metadata = read_json(folder / "metadata.json", "mae_digits")
    >>> verify_file(folder / "config.json", metadata, "mae_digits")  # no error
    >>> verify_file(folder / "README.md", metadata, "mae_digits")
    Traceback (most recent call last):
    ...
    ValueError: Preset mae_digits: 'README.md' is not listed in metadata.json, ...
    """
    name = path.name
    record = metadata["files"].get(name)
    if record is None:
        raise ValueError(
            f"Preset {source}: {name!r} is not listed in {METADATA_FILE}, so its "
            "integrity cannot be checked; refusing to load it."
        )
    size = path.stat().st_size
    if size != record["size"]:
        state = "truncated" if size < record["size"] else "longer than recorded"
        raise ValueError(
            f"Preset {source}: file {name!r} is {state}: expected "
            f"{record['size']} bytes, found {size}."
        )
    actual = sha256_of(path)
    if actual != record["sha256"]:
        raise ValueError(
            f"Preset {source}: sha256 mismatch for file {name!r}: "
            f"expected {record['sha256']}, computed {actual}. The file is "
            "corrupt or was modified after the preset was saved."
        )


def read_json(path: Path, source: str) -> dict[str, Any]:
    """Reads a small JSON object from a preset.

    Args:
        path: The file.
        source: The preset, for the error message.

    Returns:
        The parsed object.

    Raises:
        ValueError: If the file is too large, not valid JSON, or not an object.

    Examples:
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import read_json
    >>> path = bundled_folder("mae-digits") / "metadata.json"
    >>> metadata = read_json(path, "mae_digits")
    >>> metadata["format_version"], metadata["registered_name"]
    (2, 'keras_mae>MixtureAutoencoder')
    """
    size = path.stat().st_size
    if size > _MAX_JSON_BYTES:
        raise ValueError(
            f"Preset {source}: {path.name!r} is {size} bytes; at most "
            f"{_MAX_JSON_BYTES} are accepted."
        )
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(
            f"Preset {source}: {path.name!r} is not valid JSON ({error})."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"Preset {source}: {path.name!r} must hold a JSON object; received "
            f"{type(value).__name__}."
        )
    return value


def check_metadata(metadata: Mapping[str, Any], source: str) -> None:
    """Checks the format version and the shape of `metadata.json`.

    Args:
        metadata: The parsed metadata.
        source: The preset, for the error message.

    Raises:
        ValueError: If the format is newer than this keras_mae reads, or a
            required field is missing or malformed.

    Examples:
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import check_metadata, read_json
    >>> path = bundled_folder("mae-digits") / "metadata.json"
    >>> metadata = read_json(path, "mae_digits")
    >>> check_metadata(metadata, "mae_digits")  # a valid format-2 preset
    >>> check_metadata({**metadata, "format_version": 3}, "mae_digits")
    Traceback (most recent call last):
    ...
    ValueError: Preset mae_digits uses preset format version 3, but this keras_mae ...
    """
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"Preset {source}: {METADATA_FILE} needs an integer 'format_version' "
            f">= 1; received {version!r}."
        )
    if version > FORMAT_VERSION:
        raise ValueError(
            f"Preset {source} uses preset format version {version}, but this "
            f"keras_mae reads format version {FORMAT_VERSION} at most "
            f"(it was saved by keras_mae {metadata.get('keras_mae_version', '?')}). "
            "Upgrade keras_mae to load it."
        )
    files = metadata.get("files")
    if not isinstance(files, dict):
        raise ValueError(
            f"Preset {source}: {METADATA_FILE} needs a 'files' object mapping "
            f"file names to their sha256 and size; received {files!r}."
        )
    allowed, required = _LISTED_FILES[version]
    for name, record in files.items():
        check_file_name(name, source)
        if name not in allowed:
            raise ValueError(
                f"Preset {source}: {METADATA_FILE} (format {version}) lists "
                f"{name!r}; expected only {sorted(allowed)}."
            )
        if not (
            isinstance(record, dict)
            and isinstance(record.get("sha256"), str)
            and len(record["sha256"]) == 64
            and isinstance(record.get("size"), int)
        ):
            raise ValueError(
                f"Preset {source}: {METADATA_FILE} entry for {name!r} needs a "
                f"64-digit 'sha256' and an integer 'size'; received {record!r}."
            )
    missing = sorted(required - set(files))
    if missing:
        raise ValueError(
            f"Preset {source}: {METADATA_FILE} (format {version}) does not "
            f"list {missing}."
        )


def check_pin(path: Path, expected_sha256: str, source: str) -> None:
    """Checks `metadata.json` against a registry's content pin.

    Args:
        path: The preset's `metadata.json`.
        expected_sha256: The pin (`PresetInfo.metadata_sha256`).
        source: The preset, for the error message.

    Raises:
        ValueError: If the hashes differ; the message names the file and both
            hashes.

    Examples:
    >>> from keras_mae.presets import list_presets
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import check_pin
    >>> path = bundled_folder("mae-digits") / "metadata.json"
    >>> pin = list_presets()["mae_digits"].metadata_sha256
    >>> check_pin(path, pin, "mae_digits")  # unchanged since registered
    >>> check_pin(path, "0" * 64, "mae_digits")
    Traceback (most recent call last):
    ...
    ValueError: Preset mae_digits: metadata.json has sha256 a8cc97e9..., but the ...
    """
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ValueError(
            f"Preset {source}: {path.name} has sha256 {actual}, but the "
            f"registry pins {expected_sha256}. The preset was changed after it "
            "was registered (a new upload, or a modified file); refusing to "
            "load it. Pass an explicit 'hf://owner/name@revision' to load "
            "another version without the pin."
        )
