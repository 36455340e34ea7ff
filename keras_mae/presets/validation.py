"""Checks applied to a preset before anything in it is built or loaded.

A preset is untrusted input. Before Keras sees it:

- `config.json` is walked and every object it names must be a Keras built-in
  (resolved only among modules Keras has already imported) or a class or
  function registered under the `keras_mae` package; Lambda layers and other
  code-carrying or file-loading layers are refused;
- file names must be plain names, and in a local directory they may not be
  links leading out of it;
- every weights file must match the sha256 and size recorded in
  `metadata.json`;
- `metadata.json` must not come from a newer preset format.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
TRAINING_STATE_FILE = "training_state.weights.h5"
README_FILE = "README.md"

KERAS_MAE_PACKAGE = "keras_mae"
_MAX_JSON_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024

# Dunder class names Keras uses for plain data (tensors, arrays, graph nodes).
# Everything else starting with "__" (notably "__lambda__", which carries
# bytecode) is refused.
_DATA_CLASS_NAMES = frozenset(
    {
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
        "__bytes__",
        "__slice__",
        "__ellipsis__",
    }
)
# Built-ins that run arbitrary code or load external programs.
_REFUSED_CLASS_NAMES = frozenset(
    {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}
)
# Keras modules whose functions may appear in a config (activations, losses...).
_FUNCTION_MODULES = (
    "activations",
    "losses",
    "metrics",
    "initializers",
    "regularizers",
    "constraints",
)
_NON_MODELING_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})
# Public modules a backend-specific class (e.g. torch's Adam, serialized from
# "keras.src.backend.torch.optimizers.torch_adam") is looked up in.
_PUBLIC_CLASS_MODULES = (
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.layers",
    "keras.losses",
    "keras.metrics",
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.dtype_policies",
    "keras.random",
    "keras",
)

_SAFETY_RULE = (
    "Presets may only name Keras built-ins and classes or functions registered "
    "with @keras.saving.register_keras_serializable(package='keras_mae')."
)


def _allowed_builtin_bases() -> tuple[type, ...]:
    return (
        keras.Operation,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.initializers.Initializer,
        keras.regularizers.Regularizer,
        keras.constraints.Constraint,
        keras.dtype_policies.DTypePolicy,
        keras.random.SeedGenerator,
    )


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


def verify_weights_file(path: Path, metadata: Mapping[str, Any], source: str) -> None:
    """Checks a weights file against the size and sha256 in `metadata.json`.

    Args:
        path: The weights file.
        metadata: The preset's parsed metadata.
        source: The preset, for the error message.

    Raises:
        ValueError: If the file is not listed, is truncated or longer than
            recorded, or its sha256 differs. The message names the file.

    Examples:
    >>> verify_weights_file(path, metadata, "./my_preset")  # doctest: +SKIP
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
            f"Preset {source}: weights file {name!r} is {state}: expected "
            f"{record['size']} bytes, found {size}."
        )
    actual = sha256_of(path)
    if actual != record["sha256"]:
        raise ValueError(
            f"Preset {source}: sha256 mismatch for weights file {name!r}: "
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
            f"weights file names to their sha256 and size; received {files!r}."
        )
    for name, record in files.items():
        check_file_name(name, source)
        if not name.endswith(".weights.h5"):
            raise ValueError(
                f"Preset {source}: weights files must be Keras '.weights.h5' "
                f"files; {METADATA_FILE} lists {name!r}."
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
    if WEIGHTS_FILE not in files:
        raise ValueError(
            f"Preset {source}: {METADATA_FILE} does not list {WEIGHTS_FILE!r}."
        )


def _walk_objects(node: Any, where: str) -> Iterator[tuple[dict, str]]:
    """Yields every dict naming a class in a JSON tree, with its location."""
    stack = [(node, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield item, path
            for key, value in item.items():
                stack.append((value, f"{path}.{key}"))
        elif isinstance(item, list):
            for index, value in enumerate(item):
                stack.append((value, f"{path}[{index}]"))


def _refuse(source: str, where: str, what: str, reason: str) -> ValueError:
    return ValueError(
        f"Preset {source}: refusing {what} at {CONFIG_FILE}:{where}: {reason}. "
        f"{_SAFETY_RULE}"
    )


def _loaded_keras_module(module: Any):
    """A Keras module that is already imported, or `None`; never imports."""
    if not isinstance(module, str):
        return None
    if module != "keras" and not module.startswith("keras."):
        return None
    return sys.modules.get(module)


def normalize_backend_modules(config: Any) -> None:
    """Points backend-specific Keras classes at their public, portable name.

    On some backends Keras serializes a class under its backend module (torch's
    `Adam` is "keras.src.backend.torch.optimizers.torch_adam"), which another
    backend cannot load. Such module keys are rewritten in place to the public
    module exporting a class of the same name ("keras.optimizers"), which
    gives each backend its own implementation. Other keys are left alone.

    Args:
        config: A parsed `config.json`, modified in place.

    Examples:
    >>> config = {"module": "keras.src.backend.torch.optimizers.torch_adam",
    ...           "class_name": "Adam", "config": {}}
    >>> normalize_backend_modules(config)
    >>> config["module"]
    'keras.optimizers'
    """
    for obj, _ in _walk_objects(config, "$"):
        module, class_name = obj.get("module"), obj["class_name"]
        if not (isinstance(module, str) and module.startswith("keras.src.backend.")):
            continue
        for public in _PUBLIC_CLASS_MODULES:
            mod = sys.modules.get(public)
            if isinstance(getattr(mod, str(class_name), None), type):
                obj["module"] = public
                break


def _check_function(obj: dict, where: str, source: str) -> None:
    name = obj.get("config")
    what = f"function {name!r}"
    if not isinstance(name, str):
        raise _refuse(source, where, "a function", f"its name is {name!r}")
    if ">" in name:
        package = name.split(">", 1)[0]
        if package != KERAS_MAE_PACKAGE:
            raise _refuse(
                source, where, what, f"it is registered under package {package!r}"
            )
        if not callable(keras.saving.get_registered_object(name)):
            raise _refuse(
                source, where, what, "no such keras_mae function is registered"
            )
        return
    module = obj.get("module")
    if name in _NON_MODELING_FUNCTIONS or name.startswith("_"):
        raise _refuse(source, where, what, "it is not a modeling function")
    if module == "builtins":
        candidates = [f"keras.{m}" for m in _FUNCTION_MODULES]
    elif module in {f"keras.{m}" for m in _FUNCTION_MODULES}:
        candidates = [module]
    else:
        raise _refuse(
            source,
            where,
            what,
            f"module {module!r} is not a Keras function module "
            f"({', '.join('keras.' + m for m in _FUNCTION_MODULES)})",
        )
    for candidate in candidates:
        mod = _loaded_keras_module(candidate)
        if mod is not None and callable(getattr(mod, name, None)):
            return
    raise _refuse(source, where, what, "Keras has no such built-in function")


def _check_registered_class(obj: dict, where: str, source: str) -> type:
    registered_name = obj["registered_name"]
    module = obj.get("module")
    what = f"class {registered_name!r}"
    if not isinstance(registered_name, str) or ">" not in registered_name:
        raise _refuse(source, where, what, "it is not a Keras built-in")
    package = registered_name.split(">", 1)[0]
    if package != KERAS_MAE_PACKAGE:
        raise _refuse(
            source, where, what, f"it is registered under package {package!r}"
        )
    cls = keras.saving.get_registered_object(registered_name)
    if not isinstance(cls, type):
        raise _refuse(source, where, what, "no such keras_mae class is registered")
    # The class is found by its registered name; the module key is never
    # imported, but one pointing elsewhere signals a forged config.
    if module is not None and not (
        module == cls.__module__
        or module == KERAS_MAE_PACKAGE
        or module.startswith(KERAS_MAE_PACKAGE + ".")
    ):
        raise _refuse(
            source,
            where,
            what,
            f"its module key {module!r} points outside keras_mae "
            f"(the registered class lives in {cls.__module__!r})",
        )
    return cls


def _check_builtin_class(obj: dict, where: str, source: str) -> type:
    class_name = obj["class_name"]
    module = obj.get("module")
    what = f"class {class_name!r} from module {module!r}"
    mod = _loaded_keras_module(module)
    if mod is None:
        raise _refuse(
            source,
            where,
            what,
            "the module is not a Keras module already loaded by Keras "
            "(only keras and keras_mae may be named)",
        )
    cls = vars(mod).get(class_name)
    if not isinstance(cls, type) or not issubclass(cls, _allowed_builtin_bases()):
        raise _refuse(
            source,
            where,
            what,
            "it is not a Keras layer, model, optimizer, loss, metric, "
            "initializer, regularizer, constraint, schedule or dtype policy",
        )
    return cls


def check_config(config: Mapping[str, Any], source: str) -> type:
    """Checks every object named in a model config; returns the model class.

    Nothing named in the config is imported: Keras built-ins are looked up in
    modules Keras has already loaded, and keras_mae objects in the registry.

    Args:
        config: The parsed `config.json` (a `keras.saving.serialize_keras_object`
            output).
        source: The preset, for the error message.

    Returns:
        The registered keras_mae `keras.Model` subclass the config builds.

    Raises:
        ValueError: On any object that is not a Keras built-in or a keras_mae
            registered object, on Lambda and other code-carrying layers, and
            if the top-level object is not a registered keras_mae model.

    Examples:
    >>> check_config(read_json(Path("p/config.json"), "p"), "p")  # doctest: +SKIP
    <class 'keras_mae.models.gan.GAN'>
    """
    for obj, where in _walk_objects(config, "$"):
        class_name = obj["class_name"]
        if not isinstance(class_name, str):
            raise _refuse(
                source, where, "an object", f"its class_name is {class_name!r}"
            )
        if class_name in _DATA_CLASS_NAMES:
            continue
        if class_name.startswith("__"):
            raise _refuse(
                source, where, f"{class_name!r}", "it is not a plain data value"
            )
        if class_name in _REFUSED_CLASS_NAMES:
            raise _refuse(
                source,
                where,
                f"layer {class_name!r}",
                "it can run arbitrary code or load external programs",
            )
        if class_name == "function":
            _check_function(obj, where, source)
            continue
        registered_name = obj.get("registered_name")
        if registered_name is not None and registered_name != class_name:
            _check_registered_class(obj, where, source)
        else:
            _check_builtin_class(obj, where, source)

    registered_name = config.get("registered_name")
    if not isinstance(registered_name, str) or not registered_name.startswith(
        KERAS_MAE_PACKAGE + ">"
    ):
        raise ValueError(
            f"Preset {source}: {CONFIG_FILE} must describe a keras_mae model (a "
            "keras.Model registered under package 'keras_mae'); its top-level "
            f"registered_name is {registered_name!r}."
        )
    model_class = keras.saving.get_registered_object(registered_name)
    if not (isinstance(model_class, type) and issubclass(model_class, keras.Model)):
        raise ValueError(
            f"Preset {source}: {registered_name!r} is not a keras.Model subclass."
        )
    return model_class
