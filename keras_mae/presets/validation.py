"""Checks of a preset's `config.json` before anything in it is built.

A preset is untrusted input (its files are checked by
`keras_mae.presets.integrity`). Before Keras sees the config:

- it is walked and every object it names must be a Keras built-in
  (resolved only among modules Keras has already imported) or a class or
  function registered under the `keras_mae` package; Lambda layers and other
  code-carrying or file-loading layers are refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import keras

from keras_mae.presets.integrity import CONFIG_FILE

KERAS_MAE_PACKAGE = "keras_mae"

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
    >>> from keras_mae.presets.validation import normalize_backend_modules
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
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> from keras_mae.presets.integrity import read_json
    >>> from keras_mae.presets.validation import check_config
    >>> config = read_json(bundled_folder("gan-mnist") / "config.json", "gan_mnist")
    >>> check_config(config, "gan_mnist")
    <class 'keras_mae.models.gan.GAN'>
    >>> lambda_layer = {"module": "keras.layers", "class_name": "Lambda", "config": {}}
    >>> check_config(lambda_layer, "./evil")
    Traceback (most recent call last):
    ...
    ValueError: Preset ./evil: refusing layer 'Lambda' at config.json:$: it can ...
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
