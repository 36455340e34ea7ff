"""The built-in preset registry, kept as plain data."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from typing import Any

import keras

from keras_mae.presets.handles import parse_hub_handle

_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """Metadata of one built-in preset.

    Args:
        name: The name users pass to `from_preset`, e.g. `"gan_mnist"`.
        handle: The Hub repository, `"hf://owner/name"` (no revision here).
        revision: The 40-character commit hash every download is pinned to.
        model_class: The registered class name, e.g. `"keras_mae>GAN"`.
        description: One line saying what the preset is.
        metadata: Extra facts shown by `list_presets()` (dataset, parameter
            count, metrics, ...).

    Examples:
    >>> info = PresetInfo(
    ...     name="gan_demo",
    ...     handle="hf://owner/gan-demo",
    ...     revision="0123456789abcdef0123456789abcdef01234567",
    ...     model_class="keras_mae>GAN",
    ...     description="A demo GAN.",
    ... )
    >>> info.hub_handle
    'hf://owner/gan-demo@0123456789abcdef0123456789abcdef01234567'
    """

    name: str
    handle: str
    revision: str
    model_class: str
    description: str = ""
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        parsed = parse_hub_handle(self.handle)
        if parsed.revision is not None:
            raise ValueError(
                f"PresetInfo {self.name!r}: put the revision in `revision`, not "
                f"in the handle; received handle={self.handle!r}."
            )
        if not _COMMIT_HASH.match(self.revision):
            raise ValueError(
                f"PresetInfo {self.name!r}: `revision` must be a 40-character "
                f"commit hash so downloads are pinned; received {self.revision!r}."
            )
        if not self.model_class.startswith("keras_mae>"):
            raise ValueError(
                f"PresetInfo {self.name!r}: `model_class` must be a registered "
                f"keras_mae name like 'keras_mae>GAN'; received "
                f"{self.model_class!r}."
            )
        object.__setattr__(
            self, "metadata", types.MappingProxyType(dict(self.metadata))
        )

    @property
    def hub_handle(self) -> str:
        """The pinned handle, `hf://owner/name@revision`."""
        return f"{self.handle}@{self.revision}"


# Nothing has been published yet. Add entries here as `name: PresetInfo(...)`
# once a preset is on the Hub and its commit hash is known.
BUILTIN_PRESETS: dict[str, PresetInfo] = {}


def list_presets(model_class: str | type | None = None) -> dict[str, PresetInfo]:
    """Returns the built-in presets with their metadata.

    Args:
        model_class: Optional filter: a registered name such as
            `"keras_mae>GAN"`, or a class (its registered name is used).

    Returns:
        A new dict from preset name to `PresetInfo`, sorted by name.

    Examples:
    >>> import keras_mae
    >>> for name, info in keras_mae.list_presets().items():
    ...     print(name, info.description)
    """
    if isinstance(model_class, type):
        model_class = keras.saving.get_registered_name(model_class)
    return {
        name: info
        for name, info in sorted(BUILTIN_PRESETS.items())
        if model_class is None or info.model_class == model_class
    }
