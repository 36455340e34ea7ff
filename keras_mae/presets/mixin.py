"""`PresetMixin`: `from_preset` and `save_to_preset` on every keras_mae model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_mae.presets import loading, saving


class PresetMixin:
    """Adds preset loading and saving to a `keras.Model` subclass.

    A plain mixin: it has no `__init__` and no state. The model must be
    registered with `@keras.saving.register_keras_serializable(package=
    "keras_mae")` and have a complete `get_config`/`from_config`. It may define
    `preset_training_layers()` returning the sub-layers needed only for
    training (e.g. a discriminator); those are saved apart from the inference
    weights.

    Examples:
    Save a (here small, untrained) model and load it back, to resume
    training or for inference only:

    >>> import os, tempfile
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> gan.compile()
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = gan.save_to_preset(os.path.join(folder.name, "my_gan"))
    >>> sorted(os.listdir(path))  # doctest: +NORMALIZE_WHITESPACE
    ['README.md', 'config.json', 'metadata.json', 'model.safetensors',
     'training_state.safetensors']
    >>> resumed = GAN.from_preset(path, load_training_state=True)
    >>> resumed.compiled
    True
    >>> sampler = GAN.from_preset(path)  # inference weights only
    >>> folder.cleanup()

    From the Hub (needs the network):

    >>> gan = GAN.from_preset("hf://owner/gan-mnist@v1")  # doctest: +SKIP
    """

    @classmethod
    def from_preset(
        cls,
        preset: str | os.PathLike,
        load_weights: bool = True,
        revision: str | None = None,
        *,
        load_training_state: bool = False,
        **overrides: Any,
    ):
        """Builds this model class from a preset.

        Args:
            preset: A built-in name (`keras_mae.list_presets()`),
                `"hf://owner/name[@revision]"`, or a local preset folder.
            load_weights: Load the trained inference weights.
            revision: Hub branch, tag or commit hash (Hub presets only).
            load_training_state: Also restore training-only layers and the
                optimizer state, to resume training.
            **overrides: Replacements for the model's config entries.

        Returns:
            An instance of `cls` (or of a subclass, if the preset holds one).

        Raises:
            ValueError: If the preset holds a class that is neither `cls` nor
                a subclass of it, or is unknown, refused, corrupt or from a
                newer format.
            OSError: If offline or unreachable and not cached.

        Examples:
        >>> from keras_mae.models import GAN, MixtureAutoencoder
        >>> gan = GAN.from_preset("gan_mnist")  # built-in, bundled
        >>> gan.generate(2, seed=0).shape
        (2, 28, 28, 1)
        >>> MixtureAutoencoder.from_preset("gan_mnist")
        Traceback (most recent call last):
        ...
        ValueError: Preset 'gan_mnist' (bundled copy in ...) holds a GAN ...
        """
        return loading.load_preset(
            preset,
            expected_class=cls,
            load_weights=load_weights,
            load_training_state=load_training_state,
            revision=revision,
            overrides=overrides,
        )

    def save_to_preset(
        self,
        directory: str | os.PathLike,
        metrics: Mapping[str, Any] | None = None,
        include_training_state: bool = True,
        weights_dtype: str | None = None,
    ) -> Path:
        """Writes this model as a preset folder (see `keras_mae.presets`).

        Args:
            directory: The folder to create or replace.
            metrics: Optional scores to record in `metadata.json` and the
                model card, e.g. `{"fid": 12.3}`.
            include_training_state: Also write the training-only layers and
                the optimizer state, to resume training; False writes an
                inference-only preset.
            weights_dtype: None, or "float16" to store the inference
                weights at half the size (loading casts them back).

        Returns:
            The folder.

        Examples:
        >>> import os, tempfile
        >>> from keras_mae.models import GAN
        >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = gan.save_to_preset(
        ...         os.path.join(folder, "my_gan"),
        ...         metrics={"fid": 12.3},
        ...         include_training_state=False,
        ...     )
        ...     sorted(os.listdir(path))
        ['README.md', 'config.json', 'metadata.json', 'model.safetensors']
        """
        return saving.save_to_preset(
            self,
            directory,
            metrics=metrics,
            include_training_state=include_training_state,
            weights_dtype=weights_dtype,
        )
