"""A model's weights as two flat maps of arrays: inference and training state.

- the inference weights (`model.safetensors`): everything inference needs
  (all layer weights, and the model's own variables) except the layers
  named by the model's `preset_training_layers()`;
- the training state (`training_state.safetensors`): those training-only
  layers (e.g. a GAN's discriminator) and the optimizer state, for resuming.

Optimizer and metric state never enter the inference map. A map's keys are
the paths Keras' own weights files use (`layers/dense/vars/0`, the model's
own variables under `vars/`), found by Keras' saving walk; the files are
written by `keras_mae.presets.safetensors_file`. The inference map may hold
its float32 arrays as float16 (`weights_dtype="float16"`: half the size);
loading casts them back.

Presets of format 1 hold the same two parts as Keras `.weights.h5` files;
`keras_mae.presets.weights_h5` reads them.

Keras' public `save_weights` cannot leave objects out, so this module uses
`keras.src.saving.saving_lib` (its saving walk, `save_weights_only`,
`load_weights_only` and their `objects_to_skip`, Keras >= 3.15); with
`weights_h5` it is the only module touching Keras saving internals.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras.src.saving import saving_lib
from keras.src.saving.keras_saveable import KerasSaveable

from keras_mae.presets import safetensors_file


def training_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The sub-layers `model` needs only for training.

    Args:
        model: A keras_mae model; it may define
            `preset_training_layers() -> list[keras.layers.Layer]`.

    Returns:
        The layers (empty if the method is absent).

    Raises:
        TypeError: If the method returns something other than layers.

    Examples:
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)  # MLP networks
    >>> from keras_mae.presets.weights import training_layers
    >>> [layer.name for layer in training_layers(gan)]
    ['discriminator']
    """
    method = getattr(model, "preset_training_layers", None)
    layers = list(method()) if callable(method) else []
    for layer in layers:
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"{type(model).__name__}.preset_training_layers() must return "
                f"keras layers; received {layer!r}."
            )
    return layers


def built_optimizer(model: keras.Model) -> keras.optimizers.Optimizer | None:
    """The model's optimizer if it is compiled and its variables exist.

    Args:
        model: A Keras model.

    Returns:
        `model.optimizer`, or None if it has none or it is not built.

    Examples:
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)  # MLP networks
    >>> from keras_mae.presets.weights import built_optimizer
    >>> built_optimizer(gan) is None
    True
    >>> gan.compile()  # keras_mae models build their optimizers in `compile`
    >>> built_optimizer(gan) is gan.optimizer
    True
    """
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.Optimizer) and optimizer.built:
        return optimizer
    return None


def _reachable_state_objects(root: KerasSaveable) -> list[KerasSaveable]:
    """Optimizers and metrics reachable from `root` the way Keras saving walks.

    A model may keep optimizers in more places than `model.optimizer` (e.g. one
    per player next to a `MultiOptimizer`); all of them are training state.
    """
    found, seen = [], set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (keras.optimizers.Optimizer, keras.metrics.Metric)):
            found.append(obj)
        if isinstance(obj, KerasSaveable):
            stack.extend(child for _, child in saving_lib._walk_saveable(obj))
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
    return found


class _TrainingState(keras.layers.Layer):
    """Holds the training-only objects so Keras saves them as one tree."""

    def __init__(self, layers: list[keras.layers.Layer], optimizer):
        super().__init__(name="training_state")
        self.training_layers = layers
        self.optimizer = optimizer
        self.built = True


def metric_objects(root: KerasSaveable) -> list[KerasSaveable]:
    """The metrics reachable from `root`, which no weights file holds.

    Args:
        root: A model or layer.

    Examples:
    >>> import keras
    >>> from keras_mae.presets.weights import metric_objects
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(loss="mse", metrics=["mae"])
    >>> _ = model.evaluate(keras.ops.zeros((4, 3)), keras.ops.zeros((4, 2)), verbose=0)
    >>> len(metric_objects(model)) > 0
    True
    """
    return [
        obj
        for obj in _reachable_state_objects(root)
        if isinstance(obj, keras.metrics.Metric)
    ]


def inference_skip_list(model: keras.Model) -> list[KerasSaveable]:
    """What the inference weights leave out: training-only layers, optimizer, metrics.

    Args:
        model: A Keras model.

    Examples:
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.weights import inference_skip_list
    >>> gan = GAN(latent_dim=4, data_shape=(2,))
    >>> gan.discriminator in inference_skip_list(gan)
    True
    """
    return training_layers(model) + _reachable_state_objects(model)


# Storage dtypes `save_inference_weights` can write (None: the variables' own).
WEIGHTS_DTYPES = (None, "float16")


def check_weights_dtype(weights_dtype: str | None) -> str | None:
    """Returns `weights_dtype` if it is one of `WEIGHTS_DTYPES`, else raises.

    Args:
        weights_dtype: None or `"float16"`.

    Raises:
        ValueError: For any other value.

    Examples:
    >>> from keras_mae.presets.weights import check_weights_dtype
    >>> check_weights_dtype("float16")
    'float16'
    >>> check_weights_dtype("bfloat16")
    Traceback (most recent call last):
    ...
    ValueError: `weights_dtype` must be one of (None, 'float16'); received 'bfloat16'.
    """
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(
            f"`weights_dtype` must be one of {WEIGHTS_DTYPES}; "
            f"received {weights_dtype!r}."
        )
    return weights_dtype


class _DictStore(saving_lib.NpzIOStore):
    """An in-memory weights store for Keras' saving walk: path -> {key: array}.

    It subclasses `NpzIOStore` only because the walk accepts no other store.
    """

    def __init__(self, contents: dict[str, dict] | None = None):
        self.contents = {} if contents is None else contents
        self.mode = "w"
        self.archive = None

    def __bool__(self) -> bool:
        return True

    def make(self, path, metadata=None):
        return self.contents.setdefault(path, {})

    def get(self, path):
        return dict(self.contents.get(path, {}))

    def close(self) -> None:
        pass


def _key(path: str, name: str) -> str:
    return f"{path}/vars/{name}" if path else f"vars/{name}"


def _split_key(key: str) -> tuple[str, str]:
    head, sep, name = key.rpartition("vars/")
    if not sep or (head and not head.endswith("/")) or not name:
        raise ValueError(f"{key!r} is not a weights path like 'layers/x/vars/0'.")
    return head.rstrip("/"), name


def _collect(root: KerasSaveable, skip: list[KerasSaveable]) -> dict[str, np.ndarray]:
    store = _DictStore()
    saving_lib._save_state(
        root,
        weights_store=store,
        assets_store=None,
        inner_path="",
        visited_saveables={id(obj) for obj in skip},
    )
    return {
        _key(path, name): np.asarray(keras.ops.convert_to_numpy(value))
        for path, group in store.contents.items()
        for name, value in group.items()
    }


def _restore(
    root: KerasSaveable, tensors: dict[str, np.ndarray], skip: list[KerasSaveable]
) -> None:
    contents: dict[str, dict] = {}
    for key, array in tensors.items():
        path, name = _split_key(key)
        contents.setdefault(path, {})[name] = array
    saving_lib._load_state(
        root,
        weights_store=_DictStore(contents),
        assets_store=None,
        inner_path="",
        visited_saveables={id(obj) for obj in skip},
    )


def _expected(tensors: dict[str, np.ndarray]) -> dict[str, tuple[tuple, str]]:
    return {key: (array.shape, array.dtype.name) for key, array in tensors.items()}


def _as_dtype(key: str, array: np.ndarray, dtype) -> np.ndarray:
    if array.dtype != np.float32:
        return array
    with np.errstate(over="ignore"):
        converted = array.astype(dtype)
    overflow = np.isfinite(array) & ~np.isfinite(converted)
    if overflow.any():
        raise ValueError(
            f"Cannot store the weights as {np.dtype(dtype).name}: {key} holds "
            f"values up to {np.abs(array[overflow]).max():.4g}, beyond its range "
            f"(+-{np.finfo(dtype).max:.4g}). Save them as float32."
        )
    return converted


def inference_tensors(
    model: keras.Model, weights_dtype: str | None = None
) -> dict[str, np.ndarray]:
    """The inference weights of `model` as a flat map of arrays.

    Args:
        model: A built model.
        weights_dtype: None keeps each variable's dtype; "float16" stores
            float32 variables as float16.

    Returns:
        Weights path (`layers/dense/vars/0`) to array.

    Raises:
        ValueError: If `weights_dtype` is unknown, or a weight does not fit it.

    Examples:
    >>> import keras
    >>> from keras_mae.presets.weights import inference_tensors
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> sorted(inference_tensors(model))
    ['layers/dense/vars/0', 'layers/dense/vars/1']
    >>> inference_tensors(model, "float16")["layers/dense/vars/0"].dtype
    dtype('float16')
    """
    check_weights_dtype(weights_dtype)
    tensors = _collect(model, inference_skip_list(model))
    if weights_dtype is not None:
        tensors = {
            k: _as_dtype(k, v, np.dtype(weights_dtype)) for k, v in tensors.items()
        }
    return tensors


def save_inference(
    model: keras.Model, path: Path, weights_dtype: str | None = None
) -> None:
    """Writes `inference_tensors(model, weights_dtype)` as a safetensors file.

    Args:
        model: A built model.
        path: The target, `model.safetensors`.
        weights_dtype: As in `inference_tensors`.

    Examples:
    >>> import pathlib, tempfile
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)  # MLP networks
    >>> from keras_mae.presets.weights import load_inference, save_inference
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "model.safetensors"
    ...     save_inference(gan, path)  # the generator; not the discriminator
    ...     other = GAN(latent_dim=4, data_shape=(2,), seed=1)
    ...     load_inference(other, path, "./demo")
    >>> bool((other.generate(3, seed=0) == gan.generate(3, seed=0)).all())
    True
    """
    safetensors_file.write(
        path, inference_tensors(model, weights_dtype), {"format": "keras_mae"}
    )


def load_inference(
    model: keras.Model, path: Path, source: str, stored_float16: bool = False
) -> None:
    """Reads a file written by `save_inference` into `model`, checked first.

    Every tensor's name, shape and dtype is compared with the variables of
    `model` before any value is loaded.

    Args:
        model: A built model of the same architecture.
        path: The `model.safetensors` file.
        source: The preset, for error messages.
        stored_float16: The preset was saved with `weights_dtype="float16"`.

    Raises:
        ValueError: For a missing, extra or mis-shaped tensor or a wrong dtype.

    Examples:
    >>> import pathlib, tempfile
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.weights import load_inference, save_inference
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "model.safetensors"
    >>> save_inference(gan, path, weights_dtype="float16")
    >>> load_inference(gan, path, "./demo", stored_float16=True)
    >>> wider = GAN(latent_dim=8, data_shape=(2,))
    >>> load_inference(wider, path, "./demo", stored_float16=True)
    Traceback (most recent call last):
    ...
    ValueError: Preset ./demo: tensor ... (4, 128); the model expects (8, 128).
    >>> folder.cleanup()
    """
    skip = inference_skip_list(model)
    expected = _expected(_collect(model, skip))
    tensors = safetensors_file.read(path, expected, source, stored_float16)
    _restore(model, tensors, skip)


def training_state_root(model: keras.Model, build_optimizer: bool) -> _TrainingState:
    """One layer holding `model`'s training-only layers and optimizer, for saving.

    Args:
        model: A Keras model.
        build_optimizer: Build the compiled optimizer first when it is not
            built yet (to load optimizer state into it).

    Raises:
        ValueError: If `build_optimizer` and `model` has no optimizer.

    Examples:
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.weights import training_state_root
    >>> gan = GAN(latent_dim=4, data_shape=(2,))
    >>> root = training_state_root(gan, build_optimizer=False)
    >>> root.training_layers == [gan.discriminator], root.optimizer is None
    (True, True)
    """
    optimizer = built_optimizer(model)
    if optimizer is None and build_optimizer:
        optimizer = getattr(model, "optimizer", None)
        if isinstance(optimizer, keras.optimizers.Optimizer):
            optimizer.build(model.trainable_variables)
        else:
            raise ValueError(
                f"The training state holds optimizer state, but the loaded "
                f"{type(model).__name__} is not compiled (its config.json has no "
                "compile_config), so there is no optimizer to restore it into."
            )
    return _TrainingState(training_layers(model), optimizer)


def save_training(model: keras.Model, path: Path) -> dict:
    """Writes the training-only layers and the optimizer state (safetensors).

    Args:
        model: A built model.
        path: The target, `training_state.safetensors`.

    Returns:
        A summary for `metadata.json`: the training layers' names and whether
        optimizer state was written.

    Examples:
    >>> import pathlib, tempfile
    >>> from keras_mae.models import GAN
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)  # MLP networks
    >>> from keras_mae.presets.weights import save_training
    >>> gan.compile()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_training(gan, pathlib.Path(folder) / "training_state.safetensors")
    {'layers': ['discriminator'], 'optimizer': True}
    """
    state = training_state_root(model, build_optimizer=False)
    tensors = _collect(state, metric_objects(state))
    safetensors_file.write(path, tensors, {"format": "keras_mae"})
    return {
        "layers": [layer.name for layer in state.training_layers],
        "optimizer": state.optimizer is not None,
    }


def load_training(model: keras.Model, path: Path, summary: dict, source: str) -> None:
    """Reads a file written by `save_training` into `model`, checked first.

    If the file holds optimizer state, `model` must be compiled; its optimizer
    is built on `model.trainable_variables` if it is not built yet.

    Args:
        model: A built model of the same architecture.
        path: The `training_state.safetensors` file.
        summary: The summary `save_training` returned (from metadata).
        source: The preset, for error messages.

    Raises:
        ValueError: If optimizer state was saved but `model` is not compiled,
            or the file does not match the model's training variables.

    Examples:
    >>> import pathlib, tempfile
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.weights import load_training, save_training
    >>> gan = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> gan.compile()
    >>> resumed = GAN(latent_dim=4, data_shape=(2,), seed=0)
    >>> resumed.compile()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "training_state.safetensors"
    ...     summary = save_training(gan, path)
    ...     load_training(resumed, path, summary, "./demo")
    >>> import numpy as np
    >>> pairs = zip(resumed.discriminator.weights, gan.discriminator.weights)
    >>> all(np.array_equal(a.numpy(), b.numpy()) for a, b in pairs)
    True
    """
    state = training_state_root(model, build_optimizer=bool(summary.get("optimizer")))
    skip = metric_objects(state)
    expected = _expected(_collect(state, skip))
    _restore(state, safetensors_file.read(path, expected, source), skip)


def has_training_state(model: keras.Model) -> bool:
    """Whether `model` has training-only layers or a built optimizer.

    Args:
        model: A Keras model.

    Examples:
    >>> import keras
    >>> from keras_mae.models import GAN
    >>> from keras_mae.presets.weights import has_training_state
    >>> has_training_state(GAN(latent_dim=4, data_shape=(2,)))  # a discriminator
    True
    >>> has_training_state(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    False
    """
    return bool(training_layers(model)) or built_optimizer(model) is not None
