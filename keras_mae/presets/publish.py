"""`upload_preset`: publishing a checked preset folder to the Hub."""

from __future__ import annotations

import os
from pathlib import Path

from keras_mae.presets import hub, integrity, loading, validation
from keras_mae.presets.handles import parse_hub_handle
from keras_mae.presets.integrity import (
    CONFIG_FILE,
    METADATA_FILE,
    README_FILE,
)


def check_preset_folder(directory: Path) -> None:
    """Runs every loading check on a local preset without building it.

    Args:
        directory: The preset folder.

    Raises:
        ValueError: If a name, link, checksum, format or config check fails,
            or the folder holds anything but plain files.

    Examples:
    >>> import os, tempfile
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.publish import check_preset_folder
    >>> folder = tempfile.TemporaryDirectory()
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> path = gan.save_to_preset(os.path.join(folder.name, "my_gan"))
    >>> check_preset_folder(path)  # ready to upload
    >>> weights = path / "model.safetensors"
    >>> data = bytearray(weights.read_bytes())
    >>> data[-1] ^= 1  # one flipped bit
    >>> _ = weights.write_bytes(bytes(data))
    >>> check_preset_folder(path)
    Traceback (most recent call last):
    ...
    ValueError: Preset '...my_gan': sha256 mismatch for file 'model.safetensors': ...
    >>> folder.cleanup()
    """
    source = repr(str(directory))
    if not directory.is_dir():
        raise ValueError(f"Preset {source} is not a directory.")
    for entry in sorted(directory.iterdir()):
        integrity.check_file_name(entry.name, source)
        if entry.is_dir() or not entry.is_file():
            raise ValueError(
                f"Preset {source}: {entry.name!r} is not a plain file; a preset "
                "folder holds only files."
            )
        integrity.resolve_file(directory, entry.name, source, allow_links=False)
    metadata = integrity.read_json(
        integrity.resolve_file(directory, METADATA_FILE, source, False), source
    )
    integrity.check_metadata(metadata, source)
    for name in metadata["files"]:
        path = integrity.resolve_file(directory, name, source, False)
        integrity.verify_file(path, metadata, source)
    config = integrity.read_json(
        integrity.resolve_file(directory, CONFIG_FILE, source, False), source
    )
    loading.register_keras_mae_objects()
    validation.normalize_backend_modules(config)
    validation.check_config(config, source)
    integrity.resolve_file(directory, README_FILE, source, False)


def upload_preset(
    handle: str,
    directory: str | os.PathLike,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
) -> str:
    """Publishes a preset folder to the Hugging Face Hub.

    The folder is first checked exactly as `from_preset` would check it
    (file names, links, sha256 of the weights, format version, config), then
    the repository is created if needed and the folder uploaded in one commit.

    Args:
        handle: `"hf://owner/name"`, or `"hf://owner/name@branch"` to commit
            to an existing branch.
        directory: A folder written by `save_to_preset`.
        token: A Hub token with write access; default: the logged-in one.
        private: Visibility of a newly created repository.
        commit_message: Defaults to "Upload keras_mae preset".

    Returns:
        The commit hash; load exactly this upload with
        `from_preset("hf://owner/name@<hash>")`.

    Raises:
        ValueError: If the handle is malformed or the folder fails a check.
        OSError: If `HF_HUB_OFFLINE` is set.

    Examples:
    >>> import os, tempfile
    >>> import keras_mae
    >>> from keras_mae.models import GAN
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = GAN(latent_dim=4, data_shape=(2,)).save_to_preset(
    ...     os.path.join(folder.name, "my_gan")
    ... )
    >>> keras_mae.upload_preset("hf://me/my-gan", path)  # doctest: +SKIP
    '3f1c...'
    >>> keras_mae.upload_preset("me/my-gan", path)
    Traceback (most recent call last):
    ...
    ValueError: Expected a Hub handle starting with 'hf://'; received 'me/my-gan'. ...
    >>> folder.cleanup()
    """
    hub_handle = parse_hub_handle(handle)
    directory = Path(directory)
    check_preset_folder(directory)
    return hub.upload_folder(
        hub_handle,
        directory,
        token=token,
        private=private,
        commit_message=commit_message,
    )
