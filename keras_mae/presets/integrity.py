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
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text("{}")
    >>> sha256_of(folder / "config.json")[:12]
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
    >>> check_file_name("model.weights.h5", "./my_preset")
    'model.weights.h5'
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
    >>> resolve_file(Path("p"), "config.json", "p", False)  # doctest: +SKIP
    PosixPath('p/config.json')
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
    >>> sha256_of(Path("model.weights.h5"))  # doctest: +SKIP
    '3f0a...'
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
    >>> verify_file(path, metadata, "./my_preset")  # doctest: +SKIP
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
    >>> read_json(Path("my_preset/metadata.json"), "./my_preset")  # doctest: +SKIP
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
    >>> check_metadata(read_json(Path("p/metadata.json"), "p"), "p")  # doctest: +SKIP
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
