"""All Hugging Face Hub I/O of keras_mae; the only module importing huggingface_hub.

`huggingface_hub` reads `HF_ENDPOINT` and `HF_HUB_OFFLINE` once, when it is
imported. keras_mae reads them again at every call (and imports the library
lazily), so setting them after `import keras_mae` takes effect too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from keras_mae.presets.handles import HubHandle

logger = logging.getLogger(__name__)

_TRUE = {"1", "on", "yes", "true"}


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def is_offline() -> bool:
    """Whether Hub access is disabled (`HF_HUB_OFFLINE`), read at call time.

    Returns:
        True if the environment variable is set to a true value now, or was
        when `huggingface_hub` was imported.

    Examples:
    >>> import os
    >>> from unittest import mock
    >>> from keras_mae.presets.hub import is_offline
    >>> with mock.patch.dict(os.environ, {"HF_HUB_OFFLINE": "1"}):
    ...     is_offline()
    True
    """
    from huggingface_hub import constants

    return (
        os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
        or constants.is_offline_mode()
    )


def download(handle: HubHandle, filenames: Sequence[str]) -> Path:
    """Downloads some files of a Hub repository into the Hub cache.

    Only `filenames` are fetched (inference-only loads skip the training
    state). With `HF_HUB_OFFLINE=1` nothing goes over the network and the
    cached snapshot is used.

    Args:
        handle: The repository and optional revision (default branch if None).
        filenames: Plain file names to fetch; missing ones are skipped, the
            caller checks what it needs.

    Returns:
        The snapshot folder (links into the cache's blobs).

    Raises:
        ValueError: If the repository or revision does not exist.
        OSError: If offline (or the Hub is unreachable) and the files are not
            in the local cache; the message says so.

    Examples:
    >>> from keras_mae.presets.handles import HubHandle
    >>> from keras_mae.presets.hub import download
    >>> handle = HubHandle("keras-mae/gan-mnist", "main")
    >>> folder = download(handle, ["config.json"])  # doctest: +SKIP
    >>> sorted(path.name for path in folder.iterdir())  # doctest: +SKIP
    ['config.json']

    Offline, only what the cache holds:

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"HF_HUB_OFFLINE": "1"}):
    ...     download(HubHandle("owner/not-cached"), ["config.json"])
    Traceback (most recent call last):
    ...
    OSError: Preset hf://owner/not-cached is not in the local Hub cache ...
    """
    import huggingface_hub
    from huggingface_hub import errors

    offline = is_offline()
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id=handle.repo_id,
            revision=handle.revision,
            allow_patterns=list(filenames),
            local_files_only=offline,
            endpoint=_endpoint(),
            library_name="keras_mae",
        )
    except errors.RevisionNotFoundError:
        raise ValueError(
            f"Preset {handle}: revision {handle.revision!r} does not exist in "
            f"Hub repository {handle.repo_id!r}."
        ) from None
    except errors.RepositoryNotFoundError:
        raise ValueError(
            f"Preset {handle}: Hub repository {handle.repo_id!r} does not exist "
            "or is not accessible with the current token."
        ) from None
    except errors.LocalEntryNotFoundError as error:
        # IncompleteSnapshotError is a subclass: a cached snapshot lacking some
        # requested files (e.g. cached for inference, asked for training state).
        revision = handle.revision or "the default branch"
        if offline:
            raise OSError(
                f"Preset {handle} is not in the local Hub cache (revision "
                f"{revision}, files {', '.join(filenames)}) and HF_HUB_OFFLINE "
                "is set, so it cannot be downloaded. Load it once with network "
                "access, or unset HF_HUB_OFFLINE."
            ) from error
        raise OSError(
            f"Preset {handle}: the Hub at {_endpoint() or 'huggingface.co'} could "
            f"not be reached and revision {revision} is not in the local Hub "
            f"cache ({error})."
        ) from error
    return Path(folder)


def upload_folder(
    handle: HubHandle,
    directory: Path,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
) -> str:
    """Creates the Hub repository if needed and uploads a folder to it.

    Args:
        handle: The target repository; its revision, if any, is the branch.
        directory: The folder to upload (its files, not the folder itself).
        token: A Hub token with write access; default: the logged-in token.
        private: Visibility of a newly created repository.
        commit_message: Defaults to "Upload keras_mae preset".

    Returns:
        The commit hash of the upload, to pin downloads with
        `hf://owner/name@<hash>`.

    Raises:
        OSError: If `HF_HUB_OFFLINE` is set.

    Examples:
    >>> from pathlib import Path
    >>> from keras_mae.presets.handles import HubHandle
    >>> from keras_mae.presets.hub import upload_folder
    >>> upload_folder(HubHandle("me/my-gan"), Path("my_gan_preset"))  # doctest: +SKIP
    '0123abcd...'
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"HF_HUB_OFFLINE": "1"}):
    ...     upload_folder(HubHandle("me/my-gan"), Path("my_gan_preset"))
    Traceback (most recent call last):
    ...
    OSError: Cannot upload to hf://me/my-gan: HF_HUB_OFFLINE is set. Unset it to upload.
    """
    if is_offline():
        raise OSError(
            f"Cannot upload to {handle}: HF_HUB_OFFLINE is set. Unset it to upload."
        )
    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint(), token=token, library_name="keras_mae")
    api.create_repo(handle.repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=handle.repo_id,
        folder_path=str(directory),
        revision=handle.revision,
        commit_message=commit_message or "Upload keras_mae preset",
    )
    logger.info("Uploaded %s to %s (commit %s).", directory, handle, info.oid)
    return info.oid
