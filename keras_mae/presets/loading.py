"""`from_preset`: building a model from a built-in name, a Hub handle or a folder."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from keras_mae.presets import hub, registry, validation, weights
from keras_mae.presets.handles import (
    BuiltinHandle,
    HubHandle,
    LocalHandle,
    parse_preset,
)
from keras_mae.presets.validation import (
    CONFIG_FILE,
    METADATA_FILE,
    TRAINING_STATE_FILE,
    WEIGHTS_FILE,
)

logger = logging.getLogger(__name__)

# Importing these registers keras_mae's classes, so a config can name them.
_REGISTERING_MODULES = ("keras_mae.layers", "keras_mae.models")


def register_keras_mae_objects() -> None:
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)


def _resolve(
    preset: str | os.PathLike, revision: str | None
) -> tuple[HubHandle | LocalHandle, str]:
    handle = parse_preset(preset, frozenset(registry.BUILTIN_PRESETS))
    if isinstance(handle, BuiltinHandle):
        info = registry.BUILTIN_PRESETS[handle.name]
        hub_handle = HubHandle(info.handle.removeprefix("hf://"), info.revision)
        if revision is not None and revision != info.revision:
            logger.warning(
                "Loading built-in preset %r at revision %r instead of its "
                "registered revision %s.",
                handle.name,
                revision,
                info.revision,
            )
            hub_handle = HubHandle(hub_handle.repo_id, revision)
        return hub_handle, f"{handle.name!r} ({hub_handle})"
    if isinstance(handle, HubHandle):
        if revision is not None and handle.revision not in (None, revision):
            raise ValueError(
                f"Preset {handle}: the handle pins revision {handle.revision!r} "
                f"but revision={revision!r} was also passed; give only one."
            )
        if revision is not None:
            handle = HubHandle(handle.repo_id, revision)
        return handle, str(handle)
    if revision is not None:
        raise ValueError(
            f"Preset {handle}: `revision` only applies to Hub presets "
            f"('hf://owner/name'); received revision={revision!r} for a local "
            "directory."
        )
    return handle, repr(str(handle))


def _fetch(
    preset: str | os.PathLike, revision: str | None, names: list[str]
) -> tuple[Callable[[str], Path], str]:
    """Downloads `names` of a Hub preset (a local one is read in place).

    Returns:
        A function from a file name to its checked local path, and the
        preset's description for error messages.
    """
    handle, source = _resolve(preset, revision)
    if isinstance(handle, HubHandle):
        folder, allow_links = hub.download(handle, names), True
    else:
        folder, allow_links = handle.path, False

    def file(name: str) -> Path:
        return validation.resolve_file(folder, name, source, allow_links)

    return file, source


def preset_metadata(
    preset: str | os.PathLike, revision: str | None = None
) -> dict[str, Any]:
    """Reads a preset's `metadata.json` without loading (or downloading) weights.

    Args:
        preset: A built-in name, `"hf://owner/name[@revision]"`, or a local
            preset directory.
        revision: Hub revision (branch, tag or commit hash).

    Returns:
        The checked metadata: format and library versions, parameter counts,
        the weights files with their sha256, `weights_dtype` and `metrics`.

    Raises:
        ValueError: If the metadata is missing, malformed or of a newer
            format.

    Examples:
    >>> preset_metadata("weights_cards/mnist-classifier")["metrics"]  # doctest: +SKIP
    {'test_accuracy': 0.9918, 'train_accuracy': 0.9989}
    """
    file, source = _fetch(preset, revision, [METADATA_FILE])
    metadata = validation.read_json(file(METADATA_FILE), source)
    validation.check_metadata(metadata, source)
    return metadata


def load_preset(
    preset: str | os.PathLike,
    *,
    expected_class: type | None = None,
    load_weights: bool = True,
    load_training_state: bool = False,
    revision: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> keras.Model:
    """Builds the model a preset holds; the engine behind every `from_preset`.

    Args:
        preset: A built-in name, `"hf://owner/name[@revision]"`, or a local
            preset directory.
        expected_class: If given, the preset's class must be this class or a
            subclass of it.
        load_weights: Load the inference weights (`model.weights.h5`).
        load_training_state: Also load training-only layers and optimizer
            state (`training_state.weights.h5`), to resume training.
        revision: Hub revision (branch, tag or commit hash) to download.
        overrides: Replacements for entries of the model's config.

    Returns:
        The model, built, with the requested weights.

    Raises:
        ValueError: On any refused or inconsistent preset (see
            `keras_mae.presets.validation`).
        OSError: If the preset cannot be downloaded and is not cached.

    Examples:
    >>> model = load_preset("./my_gan", load_weights=False)  # doctest: +SKIP
    """
    if load_training_state and not load_weights:
        raise ValueError(
            "load_training_state=True needs load_weights=True: training state "
            "is only meaningful on top of the trained weights."
        )
    wanted = [CONFIG_FILE, METADATA_FILE]
    if load_weights:
        wanted.append(WEIGHTS_FILE)
    if load_training_state:
        wanted.append(TRAINING_STATE_FILE)
    file, source = _fetch(preset, revision, wanted)
    metadata = validation.read_json(file(METADATA_FILE), source)
    validation.check_metadata(metadata, source)
    if load_training_state and TRAINING_STATE_FILE not in metadata["files"]:
        raise ValueError(
            f"Preset {source} has no training state ({TRAINING_STATE_FILE}): it "
            "was saved inference-only, or from a model with no training-only "
            "layers and no optimizer state. Load it with "
            "load_training_state=False."
        )
    weight_files = [name for name in wanted if name.endswith(".weights.h5")]
    for name in weight_files:
        validation.verify_weights_file(file(name), metadata, source)

    config = validation.read_json(file(CONFIG_FILE), source)
    register_keras_mae_objects()
    validation.normalize_backend_modules(config)
    model_class = validation.check_config(config, source)
    if expected_class is not None and not issubclass(model_class, expected_class):
        raise ValueError(
            f"Preset {source} holds a {model_class.__name__} "
            f"({config['registered_name']}), which {expected_class.__name__}."
            f"from_preset cannot load. Use {model_class.__name__}.from_preset "
            "or keras_mae.from_preset."
        )
    if overrides:
        config = {**config, "config": {**config.get("config", {}), **overrides}}
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"Preset {source}: could not build {model_class.__name__} from "
            f"{CONFIG_FILE}: {error}"
        ) from error
    if not model.built:
        raise ValueError(
            f"Preset {source}: {model_class.__name__} is not built after "
            f"deserialization; its {CONFIG_FILE} needs a build_config (a model "
            "saved after being built has one)."
        )

    for name in weight_files:
        try:
            if name == WEIGHTS_FILE:
                weights.load_inference_weights(model, file(name))
            else:
                weights.load_training_state(
                    model, file(name), metadata.get("training_state") or {}
                )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"Preset {source}: weights file {name!r} could not be loaded "
                f"into {model_class.__name__}: {error}"
            ) from error
    logger.info("Loaded %s from preset %s.", model_class.__name__, source)
    return model


def from_preset(
    preset: str | os.PathLike,
    load_weights: bool = True,
    revision: str | None = None,
    *,
    load_training_state: bool = False,
    **overrides: Any,
) -> keras.Model:
    """Builds whatever keras_mae model a preset holds.

    Args:
        preset: One of:
            - a built-in name (see `keras_mae.list_presets()`), downloaded at
              its registered, pinned revision;
            - `"hf://owner/name"` or `"hf://owner/name@revision"`, a Hugging
              Face Hub repository;
            - the path of a local preset folder (`"./my_gan"`).
        load_weights: Load the trained inference weights. With False, the
            model is built from its config with fresh weights.
        revision: Hub branch, tag or commit hash (Hub presets only).
        load_training_state: Also restore training-only layers (e.g. the GAN's
            discriminator) and the optimizer state, to resume training.
        **overrides: Replacements for the model's config entries.

    Returns:
        The model.

    Raises:
        ValueError: If the preset is unknown, refused by the safety checks,
            corrupt, or from a newer format.
        OSError: If offline (`HF_HUB_OFFLINE=1`) or the Hub is unreachable and
            the preset is not in the local cache.

    Examples:
    >>> import keras_mae
    >>> model = keras_mae.from_preset("./my_gan")  # doctest: +SKIP
    >>> model = keras_mae.from_preset("hf://owner/my-gan@v1")  # doctest: +SKIP
    """
    return load_preset(
        preset,
        load_weights=load_weights,
        load_training_state=load_training_state,
        revision=revision,
        overrides=overrides,
    )
