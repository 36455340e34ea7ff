"""`from_preset`: building a model from a built-in name, a Hub handle or a folder."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from keras_mae.presets import (
    bundled,
    hub,
    integrity,
    registry,
    validation,
    weights,
    weights_h5,
)
from keras_mae.presets.handles import (
    BuiltinHandle,
    HubHandle,
    LocalHandle,
    parse_preset,
)
from keras_mae.presets.integrity import (
    CONFIG_FILE,
    LEGACY_TRAINING_STATE_FILE,
    LEGACY_WEIGHTS_FILE,
    METADATA_FILE,
    TRAINING_STATE_FILE,
    WEIGHTS_FILE,
)

logger = logging.getLogger(__name__)

# Importing these registers keras_mae's classes, so a config can name them.
_REGISTERING_MODULES = ("keras_mae.layers", "keras_mae.models")


def register_keras_mae_objects() -> None:
    """Registers keras_mae's layers and models with Keras, so configs can name them.

    Importing `keras_mae.layers` and `keras_mae.models` registers every class
    (`keras.saving.register_keras_serializable(package="keras_mae")`);
    loading calls this before a config is checked and built.

    Examples:
    >>> import keras
    >>> from keras_mae.presets.loading import register_keras_mae_objects
    >>> register_keras_mae_objects()
    >>> keras.saving.get_registered_object("keras_mae>GAN").__name__
    'GAN'
    """
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)


def _fetch(
    preset: str | os.PathLike, revision: str | None, names: list[str]
) -> tuple[Callable[[str], Path], str]:
    """Finds a preset's files: bundled, downloaded from the Hub, or local.

    A built-in name uses its bundled copy when one is installed and no
    `revision` is given, else downloads from the Hub; either way its
    `metadata.json` must match the registry's content pin.

    Returns:
        A function from a file name to its checked local path, and the
        preset's description for error messages.
    """
    handle = parse_preset(preset, frozenset(registry.BUILTIN_PRESETS))
    pin = None
    if isinstance(handle, BuiltinHandle):
        info = registry.BUILTIN_PRESETS[handle.name]
        pin = info.metadata_sha256
        folder = None if revision is not None else bundled.bundled_folder(info.folder)
        if folder is not None:
            source = f"{handle.name!r} (bundled copy in {folder})"
            handle = LocalHandle(folder)
        else:
            handle = HubHandle(
                info.handle.removeprefix("hf://"), revision or info.revision
            )
            source = f"{info.name!r} ({handle})"
    elif isinstance(handle, HubHandle):
        if revision is not None and handle.revision not in (None, revision):
            raise ValueError(
                f"Preset {handle}: the handle pins revision {handle.revision!r} "
                f"but revision={revision!r} was also passed; give only one."
            )
        if revision is not None:
            handle = HubHandle(handle.repo_id, revision)
        source = str(handle)
    else:
        if revision is not None:
            raise ValueError(
                f"Preset {handle}: `revision` only applies to Hub presets "
                f"('hf://owner/name'); received revision={revision!r} for a "
                "local directory."
            )
        source = repr(str(handle))
    if isinstance(handle, HubHandle):
        folder, allow_links = hub.download(handle, names), True
    else:
        folder, allow_links = handle.path, False

    def file(name: str) -> Path:
        return integrity.resolve_file(folder, name, source, allow_links)

    if pin is not None:
        integrity.check_pin(file(METADATA_FILE), pin, source)
    return file, source


# Every file a preset may hold; a Hub download fetches those that exist.
_INFERENCE_FILES = [CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, LEGACY_WEIGHTS_FILE]
_TRAINING_FILES = [TRAINING_STATE_FILE, LEGACY_TRAINING_STATE_FILE]


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
    >>> from keras_mae.presets import preset_metadata
    >>> preset_metadata("mnist_classifier")["metrics"]
    {'test_accuracy': 0.992, 'train_accuracy': 0.9979}
    >>> preset_metadata("hf://keras-mae/gan-mnist")["format_version"]  # doctest: +SKIP
    2
    """
    file, source = _fetch(preset, revision, [METADATA_FILE])
    metadata = integrity.read_json(file(METADATA_FILE), source)
    integrity.check_metadata(metadata, source)
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
        load_weights: Load the inference weights (`model.safetensors`, or a
            format-1 preset's `model.weights.h5`).
        load_training_state: Also load training-only layers and optimizer
            state (`training_state.safetensors`), to resume training.
        revision: Hub revision (branch, tag or commit hash) to download.
        overrides: Replacements for entries of the model's config.

    Returns:
        The model, built, with the requested weights.

    Raises:
        ValueError: On any refused or inconsistent preset (see
            `keras_mae.presets.validation` and `.integrity`).
        OSError: If the preset cannot be downloaded and is not cached.

    Examples:
    >>> from keras_mae.models import GAN, MixtureAutoencoder
    >>> from keras_mae.presets.loading import load_preset
    >>> gan = load_preset("gan_mnist", expected_class=GAN, load_weights=False)
    >>> gan.latent_dim, gan.data_shape  # its architecture, with fresh weights
    (64, (28, 28, 1))
    >>> load_preset("gan_mnist", expected_class=MixtureAutoencoder)
    Traceback (most recent call last):
    ...
    ValueError: Preset 'gan_mnist' (bundled copy in ...) holds a GAN ...
    """
    if load_training_state and not load_weights:
        raise ValueError(
            "load_training_state=True needs load_weights=True: training state "
            "is only meaningful on top of the trained weights."
        )
    wanted = _INFERENCE_FILES + (_TRAINING_FILES if load_training_state else [])
    file, source = _fetch(preset, revision, wanted if load_weights else wanted[:2])
    metadata = integrity.read_json(file(METADATA_FILE), source)
    integrity.check_metadata(metadata, source)
    weights_name, training_name = integrity.weights_file_names(metadata)
    if load_training_state and training_name not in metadata["files"]:
        raise ValueError(
            f"Preset {source} has no training state ({training_name}): it "
            "was saved inference-only, or from a model with no training-only "
            "layers and no optimizer state. Load it with "
            "load_training_state=False."
        )
    weight_files = [weights_name] if load_weights else []
    if load_training_state:
        weight_files.append(training_name)
    for name in weight_files:
        integrity.verify_file(file(name), metadata, source)
    if CONFIG_FILE in metadata["files"]:
        integrity.verify_file(file(CONFIG_FILE), metadata, source)

    config = integrity.read_json(file(CONFIG_FILE), source)
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

    summary = metadata.get("training_state") or {}
    float16 = metadata.get("weights_dtype") == "float16"
    for name in weight_files:
        path = file(name)
        try:
            if name == WEIGHTS_FILE:
                weights.load_inference(model, path, source, stored_float16=float16)
            elif name == TRAINING_STATE_FILE:
                weights.load_training(model, path, summary, source)
            elif name == LEGACY_WEIGHTS_FILE:
                weights_h5.load_legacy_inference_weights(model, path)
            else:
                weights_h5.load_legacy_training_state(model, path, summary)
        except (OSError, ValueError, KeyError, TypeError) as error:
            if str(error).startswith("Preset "):
                raise
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
            - a built-in name (see `keras_mae.list_presets()`): its copy
              bundled with keras_mae, or a download from the Hub when none
              is installed (or `revision` is given), verified against the
              registry's content pin either way;
            - `"hf://owner/name"` or `"hf://owner/name@revision"`, a Hugging
              Face Hub repository;
            - the path of a local preset folder (`"./my_gan"`).
        load_weights: Load the trained inference weights. With False, the
            model is built from its config with fresh weights.
        revision: Hub branch, tag or commit hash (Hub presets and built-in
            names; a built-in name stays pinned by content).
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
    >>> model = keras_mae.from_preset("mnist_classifier")  # bundled, pinned
    >>> type(model).__name__
    'ImageClassifier'
    >>> model = keras_mae.from_preset("hf://owner/my-gan@v1")  # doctest: +SKIP

    A folder written by `save_to_preset` (here a small, untrained GAN):

    >>> import os, tempfile
    >>> from keras_mae.models import GAN
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = GAN(latent_dim=4, data_shape=(2,)).save_to_preset(
    ...         os.path.join(folder, "my_gan")
    ...     )
    ...     model = keras_mae.from_preset(path)
    >>> type(model).__name__, model.latent_dim
    ('GAN', 4)
    """
    return load_preset(
        preset,
        load_weights=load_weights,
        load_training_state=load_training_state,
        revision=revision,
        overrides=overrides,
    )
