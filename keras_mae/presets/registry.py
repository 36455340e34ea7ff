"""The built-in preset registry: names pinned by content, kept as plain data."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from typing import Any

import keras

from keras_mae.presets.handles import parse_hub_handle

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
HUB_OWNER = "keras-mae"


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """One built-in preset: where it lives and the hash that pins its content.

    A preset's `metadata.json` records the sha256 and size of every other
    file in it (`config.json` and the weights; format 2), so the sha256 of
    `metadata.json` alone pins the whole preset. No Hub commit hash is
    needed, so an entry can be written before the upload: a download from
    the Hub (default branch, or `revision`) and a bundled copy are both
    verified against `metadata_sha256`.

    Args:
        name: The name users pass to `from_preset`, e.g. `"gan_mnist"`.
        handle: The Hub repository, `"hf://owner/name"` (no revision here).
        metadata_sha256: 64 hex digits, the sha256 of the preset's
            `metadata.json`.
        model_class: The registered class name, e.g. `"keras_mae>GAN"`.
        description: One line saying what the preset is.
        folder: The folder under `weights_cards/` (and in the wheel) holding
            the bundled copy; None if the preset is Hub-only.
        revision: The Hub branch, tag or commit to download from; None is
            the default branch. The content pin applies either way.
        metadata: Extra facts shown by `list_presets()` (dataset, parameter
            count, metrics, ...).

    Examples:
    >>> from keras_mae.presets import PresetInfo
    >>> info = PresetInfo(
    ...     name="gan_demo",
    ...     handle="hf://owner/gan-demo",
    ...     metadata_sha256="0" * 64,
    ...     model_class="keras_mae>GAN",
    ...     description="A demo GAN.",
    ... )
    >>> info.hub_handle
    'hf://owner/gan-demo'
    """

    name: str
    handle: str
    metadata_sha256: str
    model_class: str
    description: str = ""
    folder: str | None = None
    revision: str | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        parsed = parse_hub_handle(self.handle)
        if parsed.revision is not None:
            raise ValueError(
                f"PresetInfo {self.name!r}: put the revision in `revision`, not "
                f"in the handle; received handle={self.handle!r}."
            )
        if self.revision is not None:
            parse_hub_handle(f"{self.handle}@{self.revision}")
        if not isinstance(self.metadata_sha256, str) or not _SHA256.match(
            self.metadata_sha256
        ):
            raise ValueError(
                f"PresetInfo {self.name!r}: `metadata_sha256` must be the 64 "
                "lower-case hex digits of the sha256 of the preset's "
                f"metadata.json; received {self.metadata_sha256!r}."
            )
        if not self.model_class.startswith("keras_mae>"):
            raise ValueError(
                f"PresetInfo {self.name!r}: `model_class` must be a registered "
                f"keras_mae name like 'keras_mae>GAN'; received "
                f"{self.model_class!r}."
            )
        if self.folder is not None and not re.match(
            r"^[A-Za-z0-9][A-Za-z0-9._-]*$", self.folder
        ):
            raise ValueError(
                f"PresetInfo {self.name!r}: `folder` must be a plain folder "
                f"name; received {self.folder!r}."
            )
        object.__setattr__(
            self, "metadata", types.MappingProxyType(dict(self.metadata))
        )

    @property
    def hub_handle(self) -> str:
        """The handle downloads use, `hf://owner/name[@revision]`."""
        return self.handle + (f"@{self.revision}" if self.revision else "")


def _builtin(name, folder, sha, model_class, description, **metadata) -> PresetInfo:
    return PresetInfo(
        name=name,
        handle=f"hf://{HUB_OWNER}/{folder}",
        metadata_sha256=sha,
        model_class=model_class,
        description=description,
        folder=folder,
        metadata=metadata,
    )


# Each entry's folder in weights_cards/ is what its Hub repository holds; the
# wheel bundles those folders (setup.py). `tests/presets/test_builtin_presets.py`
# checks every pin against the folder, and every card against the model.
BUILTIN_PRESETS: dict[str, PresetInfo] = {
    info.name: info
    for info in (
        _builtin(
            "mae_mnist",
            "mae-mnist",
            "e1f17070f7932d4dea3b172e11b9cfd7be9a4618ca9d5a8e27e37a037ce22b99",
            "keras_mae>MixtureAutoencoder",
            "MixtureAutoencoder clustering MNIST without labels "
            "(ACC 0.977 on all 70,000 images); float16 weights.",
            dataset="mnist",
            input_shape=(28, 28, 1),
            parameters=10_731_214,
        ),
        _builtin(
            "gan_mnist",
            "gan-mnist",
            "8e1bec1bd2f85a4d9d7b3be13cd1e055f9dbee7ee931a8bb48b9e48dfb08944b",
            "keras_mae>GAN",
            "The default GAN trained on MNIST (FD 37.5 against real images' "
            "1.78); generator only.",
            dataset="mnist",
            input_shape=(64,),
            parameters=120_785,
        ),
        _builtin(
            "mae_digits",
            "mae-digits",
            "a8cc97e98b039f3a0dc65afa418594760bdc90bd6dbe747231393aad4b5afa39",
            "keras_mae>MixtureAutoencoder",
            "Small MixtureAutoencoder clustering scikit-learn's 8x8 digits "
            "(ACC 0.833); the embedded default behind `keras-mae demo`.",
            dataset="digits",
            input_shape=(8, 8, 1),
            parameters=3_351_214,
        ),
        _builtin(
            "mnist_classifier",
            "mnist-classifier",
            "b2a33e5468eb424a70abdafc40259e6a39e270faad7f79bc5755a4003b175a19",
            "keras_mae>ImageClassifier",
            "MNIST classifier (test accuracy 0.992): the features of "
            "FrechetDistance() and the other generative metrics.",
            dataset="mnist",
            input_shape=(28, 28, 1),
            parameters=421_642,
        ),
    )
}


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
    ...     print(name, info.model_class)
    gan_mnist keras_mae>GAN
    mae_digits keras_mae>MixtureAutoencoder
    mae_mnist keras_mae>MixtureAutoencoder
    mnist_classifier keras_mae>ImageClassifier
    >>> list(keras_mae.list_presets(keras_mae.GAN))
    ['gan_mnist']
    """
    if isinstance(model_class, type):
        model_class = keras.saving.get_registered_name(model_class)
    return {
        name: info
        for name, info in sorted(BUILTIN_PRESETS.items())
        if model_class is None or info.model_class == model_class
    }
