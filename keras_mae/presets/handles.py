"""Strict parsing of a preset string into one of three accepted forms.

A preset is either a built-in name (`keras_mae.list_presets()`), a Hub handle
`hf://owner/name[@revision]`, or a local directory. The forms never overlap:
a bare word is only ever a built-in name (a directory in the working folder is
written `./name`), a string with a `scheme://` prefix is only ever a Hub handle,
and anything else that looks like a path is only ever a local directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

HF_PREFIX = "hf://"

# Hub repository ids: "owner/name", each part letters, digits, ".", "_", "-",
# not starting or ending with "." or "-" (the Hub's own rule), at most 96 chars.
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_REPO_ID = re.compile(rf"^{_HUB_PART}/{_HUB_PART}$")
# Branches, tags ("v1.0"), commit hashes and "refs/pr/N".
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$")
_BUILTIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|[^\\/])")

ACCEPTED_FORMS = (
    "Accepted forms: a built-in preset name (see keras_mae.list_presets()), "
    "'hf://owner/name' or 'hf://owner/name@revision' for a Hugging Face Hub "
    "repository, or the path of an existing local preset directory (write a "
    "directory in the working folder as './name')."
)


@dataclasses.dataclass(frozen=True)
class BuiltinHandle:
    """A name from the built-in registry.

    Args:
        name: The registered preset name.

    Examples:
    >>> from keras_mae.presets.handles import BuiltinHandle
    >>> str(BuiltinHandle("mae_digits"))
    'mae_digits'
    """

    name: str

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class HubHandle:
    """A Hugging Face Hub repository, optionally pinned to a revision.

    Args:
        repo_id: `"owner/name"`.
        revision: A branch, tag or commit hash; `None` means the default branch.

    Examples:
    >>> from keras_mae.presets.handles import HubHandle
    >>> str(HubHandle("keras-mae/gan-mnist", revision="v1"))
    'hf://keras-mae/gan-mnist@v1'
    """

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.revision}" if self.revision else ""
        return f"{HF_PREFIX}{self.repo_id}{suffix}"


@dataclasses.dataclass(frozen=True)
class LocalHandle:
    """An existing local preset directory.

    Args:
        path: The directory, as given (not resolved).

    Examples:
    >>> from pathlib import Path
    >>> from keras_mae.presets.handles import LocalHandle
    >>> LocalHandle(Path("presets")).path.name
    'presets'
    """

    path: Path

    def __str__(self) -> str:
        return str(self.path)


PresetHandle = BuiltinHandle | HubHandle | LocalHandle


def parse_hub_handle(preset: str) -> HubHandle:
    """Parses `hf://owner/name[@revision]`.

    Args:
        preset: The handle string.

    Returns:
        The parsed `HubHandle`.

    Raises:
        ValueError: If the string is not a well-formed Hub handle.

    Examples:
    >>> from keras_mae.presets.handles import parse_hub_handle
    >>> parse_hub_handle("hf://keras-mae/gan-mnist@v1")
    HubHandle(repo_id='keras-mae/gan-mnist', revision='v1')
    >>> parse_hub_handle("hf://gan-mnist")
    Traceback (most recent call last):
    ...
    ValueError: Invalid Hub handle 'hf://gan-mnist': expected 'hf://owner/name' ...
    """
    if not preset.startswith(HF_PREFIX):
        raise ValueError(
            f"Expected a Hub handle starting with '{HF_PREFIX}'; received "
            f"{preset!r}. {ACCEPTED_FORMS}"
        )
    body = preset[len(HF_PREFIX) :]
    repo_id, sep, revision = body.partition("@")
    if not _HUB_REPO_ID.match(repo_id) or ".." in repo_id:
        raise ValueError(
            f"Invalid Hub handle {preset!r}: expected 'hf://owner/name' where "
            "owner and name use letters, digits, '.', '_' and '-'. "
            f"{ACCEPTED_FORMS}"
        )
    if sep and (not _REVISION.match(revision) or ".." in revision):
        raise ValueError(
            f"Invalid revision {revision!r} in Hub handle {preset!r}: expected "
            "a branch, tag or commit hash after '@'. "
            f"{ACCEPTED_FORMS}"
        )
    return HubHandle(repo_id=repo_id, revision=revision if sep else None)


def _looks_like_path(preset: str) -> bool:
    return (
        "/" in preset
        or "\\" in preset
        or preset.startswith(("~", "."))
        or os.path.isabs(preset)
    )


def parse_preset(
    preset: str | os.PathLike, builtin_names: frozenset[str] | set[str]
) -> PresetHandle:
    """Classifies a preset string into exactly one accepted form.

    Args:
        preset: What the user passed to `from_preset`.
        builtin_names: The names of the built-in registry.

    Returns:
        A `BuiltinHandle`, `HubHandle` or `LocalHandle`.

    Raises:
        ValueError: If the string is an unknown name, a handle with another
            scheme, or a path that is not an existing directory. The message
            lists the accepted forms.

    Examples:
    >>> import tempfile
    >>> from keras_mae.presets.handles import parse_preset
    >>> parse_preset("hf://keras-mae/gan-mnist", builtin_names=set())
    HubHandle(repo_id='keras-mae/gan-mnist', revision=None)
    >>> parse_preset("mae_digits", builtin_names={"mae_digits"})
    BuiltinHandle(name='mae_digits')
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     type(parse_preset(folder, builtin_names=set())).__name__
    'LocalHandle'
    >>> parse_preset("mae_digitz", builtin_names={"mae_digits"})
    Traceback (most recent call last):
    ...
    ValueError: Unknown preset name 'mae_digitz' (built-in presets: mae_digits). ...
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise ValueError(
            f"Expected a preset as a non-empty string; received {preset!r}. "
            f"{ACCEPTED_FORMS}"
        )
    if preset.startswith(HF_PREFIX):
        return parse_hub_handle(preset)
    if _SCHEME.match(preset) and not os.path.isabs(preset):
        raise ValueError(
            f"Unsupported preset {preset!r}: only the 'hf://' scheme is "
            f"understood. {ACCEPTED_FORMS}"
        )
    if _looks_like_path(preset):
        path = Path(preset).expanduser()
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise ValueError(f"Preset path {preset!r} {what}. {ACCEPTED_FORMS}")
        return LocalHandle(Path(preset).expanduser())
    if preset in builtin_names:
        return BuiltinHandle(preset)
    hint = ""
    if _BUILTIN_NAME.match(preset) and Path(preset).is_dir():
        hint = f" A directory {preset!r} exists here; pass './{preset}' to load it."
    known = ", ".join(sorted(builtin_names)) or "none are registered yet"
    raise ValueError(
        f"Unknown preset name {preset!r} (built-in presets: {known}).{hint} "
        f"{ACCEPTED_FORMS}"
    )
