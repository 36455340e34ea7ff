"""`save_to_preset`: writing a model as a preset folder, atomically."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from keras_mae.presets import integrity, validation, weights
from keras_mae.presets.integrity import (
    CONFIG_FILE,
    FORMAT_VERSION,
    LEGACY_TRAINING_STATE_FILE,
    LEGACY_WEIGHTS_FILE,
    METADATA_FILE,
    README_FILE,
    TRAINING_STATE_FILE,
    WEIGHTS_FILE,
)

logger = logging.getLogger(__name__)

# The files keras_mae writes (now or in format 1); anything else in an
# existing preset is kept.
_OWN_FILES = {
    CONFIG_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    TRAINING_STATE_FILE,
    LEGACY_WEIGHTS_FILE,
    LEGACY_TRAINING_STATE_FILE,
}


def keras_mae_version() -> str:
    """The installed keras_mae version, or "unknown" when run from a checkout.

    Examples:
    >>> import keras_mae
    >>> from keras_mae.presets.saving import keras_mae_version
    >>> keras_mae_version() in (keras_mae.__version__, "unknown")
    True
    """
    try:
        return importlib.metadata.version("keras-mae")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(
            "save_to_preset expects `metrics` to be a mapping of names to "
            f"numbers or strings; received {type(metrics).__name__}."
        )
    clean = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"Metric names must be strings; received {name!r}.")
        if isinstance(value, str):
            clean[name] = value
            continue
        try:
            number = float(keras.ops.convert_to_numpy(value))
        except (TypeError, ValueError):
            raise TypeError(
                f"Metric {name!r} must be a number or a string; received {value!r}."
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"Metric {name!r} is not finite: {number}.")
        clean[name] = number
    return clean


def _parameter_count(variables) -> int:
    return int(sum(math.prod(v.shape) for v in variables))


def _model_card(name: str, metadata: Mapping[str, Any]) -> str:
    class_name = metadata["registered_name"].split(">", 1)[1]
    lines = [
        "---",
        "library_name: keras",
        "tags:",
        "- keras",
        "- keras_mae",
        "---",
        "",
        f"# {name}",
        "",
        f"A `keras_mae.{class_name}` preset, saved with keras_mae "
        f"{metadata['keras_mae_version']} and Keras {metadata['keras_version']} "
        f"on the {metadata['backend']} backend. It loads on TensorFlow, JAX and "
        "PyTorch.",
        "",
        "```python",
        "import keras_mae",
        "",
        'model = keras_mae.from_preset("hf://OWNER/NAME")',
        "```",
        "",
        f"- Parameters: {metadata['parameter_count']:,} "
        f"({metadata['inference_parameter_count']:,} needed for inference)",
    ]
    if metadata["weights_dtype"]:
        lines.append(
            f"- Inference weights stored as {metadata['weights_dtype']}; they "
            "load into the model's own dtype."
        )
    if metadata["metrics"]:
        lines += ["", "| Metric | Value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in metadata["metrics"].items()]
    return "\n".join(lines) + "\n"


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(
            f"save_to_preset: {str(target)!r} exists and is not a directory."
        )
    if any(target.iterdir()) and not (target / METADATA_FILE).is_file():
        raise ValueError(
            f"save_to_preset: {str(target)!r} is a non-empty directory that is "
            f"not a keras_mae preset (no {METADATA_FILE}); refusing to overwrite "
            "it. Choose an empty or new directory."
        )


def _publishable_modes(folder: Path) -> None:
    """Gives the folder and its files the modes of the umask (not 0700/0600).

    `tempfile.mkdtemp` makes the staging folder private to the user; a
    preset is meant to be read by others (a shared cache, a web server).
    """
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)


def _replace_directory(staging: Path, target: Path) -> None:
    """Moves the finished `staging` folder to `target`, keeping extra files."""
    _publishable_modes(staging)
    if not target.exists():
        os.replace(staging, target)
        return
    for entry in target.iterdir():
        if entry.name not in _OWN_FILES and not (staging / entry.name).exists():
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, staging / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, staging / entry.name, follow_symlinks=False)
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, backup / target.name)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup / target.name, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def save_to_preset(
    model: keras.Model,
    directory: str | os.PathLike,
    metrics: Mapping[str, Any] | None = None,
    include_training_state: bool = True,
    weights_dtype: str | None = None,
) -> Path:
    """Writes `model` as a preset folder.

    The folder holds `config.json`, `metadata.json` (the sha256 and size of
    every other file but the card), `model.safetensors` (inference weights),
    `training_state.safetensors` (training-only layers
    and optimizer state, if any) and a `README.md` model card unless one is
    already there. Files are written into a temporary folder next to
    `directory` and moved into place at the end, so a failure leaves no
    half-written preset. Re-saving into an existing preset replaces its
    keras_mae files and keeps any other file (e.g. an edited model card).

    Args:
        model: A built keras_mae model (registered under package `keras_mae`).
        directory: The preset folder to create or replace.
        metrics: Optional scores to record, e.g. `{"fid": 12.3}`.
        include_training_state: Also write the training-only layers and the
            optimizer state (needed to resume training). False publishes an
            inference-only preset, which is smaller.
        weights_dtype: None writes the inference weights in their own dtype;
            "float16" writes float32 weights as float16, halving
            `model.safetensors` (recorded in `metadata.json`; loading casts
            them back to the model's dtype). The training state is always
            written exactly.

    Returns:
        The preset folder.

    Raises:
        ValueError: If the model is not built, names objects a preset may not
            hold, `directory` is a non-preset, non-empty folder, or a weight
            does not fit `weights_dtype`.

    Examples:
    >>> import json, os, tempfile
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.saving import save_to_preset
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_to_preset(
    ...         gan, os.path.join(folder, "my_gan"), weights_dtype="float16"
    ...     )
    ...     metadata = json.loads((path / "metadata.json").read_text())
    >>> metadata["weights_dtype"], sorted(metadata["files"])
    ('float16', ['config.json', 'model.safetensors', 'training_state.safetensors'])
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"save_to_preset expects a keras.Model; received {type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"save_to_preset: {type(model).__name__} is not built. Call it on "
            "data, fit it, or call `build()` first."
        )
    source = f"being saved from {type(model).__name__}"
    try:
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    except TypeError as error:
        raise ValueError(
            f"save_to_preset: the config of {type(model).__name__} is not JSON "
            f"serializable ({error}); check its get_config()."
        ) from None
    validation.normalize_backend_modules(config)
    validation.check_config(config, source)
    clean_metrics = _clean_metrics(metrics)
    weights.check_weights_dtype(weights_dtype)

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_target(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2), "utf-8")
        weights.save_inference(model, staging / WEIGHTS_FILE, weights_dtype)
        training_summary = None
        if include_training_state and weights.has_training_state(model):
            training_summary = weights.save_training(
                model, staging / TRAINING_STATE_FILE
            )
        files = {
            path.name: {
                "sha256": integrity.sha256_of(path),
                "size": path.stat().st_size,
            }
            for path in sorted(staging.iterdir())
        }
        training_variables = [
            v for layer in weights.training_layers(model) for v in layer.weights
        ]
        training_ids = {id(v) for v in training_variables}
        metadata = {
            "format_version": FORMAT_VERSION,
            "keras_mae_version": keras_mae_version(),
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "registered_name": config["registered_name"],
            "parameter_count": _parameter_count(model.weights),
            "inference_parameter_count": _parameter_count(
                [v for v in model.weights if id(v) not in training_ids]
            ),
            "files": files,
            "weights_dtype": weights_dtype,
            "training_state": training_summary,
            "metrics": clean_metrics,
        }
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2), "utf-8")
        if not (target / README_FILE).exists():
            (staging / README_FILE).write_text(
                _model_card(target.resolve().name, metadata), "utf-8"
            )
        _replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Saved %s preset to %s.", type(model).__name__, target)
    return target
