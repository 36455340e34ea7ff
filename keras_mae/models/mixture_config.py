"""The MixtureAutoencoder's hyperparameters: their checks and old-preset migration.

`check_objective` validates the loss hyperparameters the constructor takes;
`migrate_config` and `split_legacy_compile` read configs saved before those
hyperparameters moved from `compile` to the constructor (2026-12-01), so old
presets keep loading with the behaviour they were trained with.

Example:
    >>> from keras_mae.models.mixture_config import check_objective
    >>> check_objective({"num_neighbors": 3, "component_floor": 0.1})
    {'component_floor': 0.1, 'num_neighbors': 3}
"""

from __future__ import annotations

from typing import Any

from keras_mae.models import losses
from keras_mae.training.self_labeling import check_core_fraction
from keras_mae.utils.argument_checks import check_int, check_number

__all__ = [
    "AUTO_VALUES",
    "LEGACY_COMPILE_KEYS",
    "OBJECTIVE_KEYS",
    "check_hidden_units",
    "check_objective",
    "resolve",
    "migrate_config",
    "split_legacy_compile",
]

_NAME = "MixtureAutoencoder"
# Hyperparameters that `compile` took before they moved to the constructor:
# presets saved then hold them in their compile config.
LEGACY_COMPILE_KEYS = (
    "reconstruction_loss",
    "sample_entropy_weight",
    "batch_entropy_weight",
    "adversarial_weight",
    "adversarial_loss",
    "component_floor",
    "consistency_weight",
    "consistency_shear",
    "neighbor_weight",
    "num_neighbors",
    "reseed_threshold",
)
# The loss and training hyperparameters of the constructor (and of
# `get_config`); `self_labeling` came after the move (2026-12-04).
OBJECTIVE_KEYS = (
    *(k for k in LEGACY_COMPILE_KEYS if k != "consistency_shear"),
    "self_labeling",
)
_WEIGHTS = (
    "sample_entropy_weight",
    "batch_entropy_weight",
    "adversarial_weight",
    "consistency_weight",
    "neighbor_weight",
)
_FRACTIONS = ("component_floor", "reseed_threshold")

# What `"auto"` means for each kind of data (`mixture_inputs.data_kind`;
# "other" shapes get the image values). Vectors: measured on the clustering
# suite (docs/benchmarks.md); images: the MNIST protocol. The image networks
# are half as wide as the vector ones since 2026-12-03: on all of MNIST they
# reach ACC 0.975 in 30 epochs (the wide ones: 0.977 in 50), at less than
# half the time a step (JAX 0.208 against 0.456 s on the 2-core CPU of 2026-12-02;
# docs/benchmarks.md, "Time to quality").
AUTO_VALUES = {
    "hidden_units": {"vectors": (512, 256), "images": (256, 128)},
    "batch_entropy_weight": {"vectors": 1.0, "images": 5.0},
    "neighbor_weight": {"vectors": 3.0, "images": 1.0},
    "num_neighbors": {"vectors": 10, "images": 5},
    "self_labeling": {"vectors": 0.8, "images": None},
}


def resolve(name: str, value: Any, kind: str | None) -> Any:
    """`value`, or what `"auto"` means for `name` on data of `kind`.

    Args:
        name: A hyperparameter of `AUTO_VALUES`.
        value: Its value as given (`"auto"` or a number).
        kind: `"vectors"`, `"images"` or `"other"`; None (the data not seen
            yet) resolves nothing.

    Raises:
        ValueError: If `value` is "auto" and `kind` is None.

    Examples:
        >>> from keras_mae.models.mixture_config import resolve
        >>> resolve("num_neighbors", "auto", "vectors")
        10
        >>> resolve("num_neighbors", 7, None)
        7
    """
    if value != "auto":
        return value
    if kind is None:
        raise ValueError(
            f"{_NAME}'s {name}='auto' is settled by the kind of data, which "
            "it has not seen yet: build the model (`input_shape`, `fit` or "
            "`adapt`) first, or pass a number."
        )
    return AUTO_VALUES[name]["vectors" if kind == "vectors" else "images"]


def check_hidden_units(value: Any) -> str | tuple[int, ...]:
    """Checks `hidden_units`: `"auto"` or a non-empty sequence of widths.

    Args:
        value: The constructor's `hidden_units`.

    Returns:
        `"auto"`, or the widths as a tuple of ints.

    Raises:
        ValueError: If `value` is empty or holds a width below 1.

    Examples:
        >>> from keras_mae.models.mixture_config import check_hidden_units
        >>> check_hidden_units([64, 32]), check_hidden_units("auto")
        ((64, 32), 'auto')
    """
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, (str, int)) or not hasattr(value, "__iter__"):
        raise ValueError(
            f"{_NAME} expects `hidden_units` to be 'auto' or a sequence of "
            f"layer widths such as (256, 128); received {value!r}."
        )
    units = tuple(check_int(_NAME, "hidden_units", width) for width in value)
    if not units:
        raise ValueError(f"{_NAME} expects at least one entry in `hidden_units`.")
    return units


def check_objective(values: dict[str, Any]) -> dict[str, Any]:
    """Checks loss hyperparameters; returns them as plain Python numbers.

    Args:
        values: Any subset of the constructor's loss hyperparameters
            (`reconstruction_loss`, the `*_weight`s, `adversarial_loss`,
            `component_floor`, `reseed_threshold`, `num_neighbors`,
            `self_labeling`).

    Returns:
        The same keys, checked: weights >= 0 as floats, fractions in [0, 1],
        `num_neighbors` a positive int, `self_labeling` None or a share in
        (0, 1]; the names of `AUTO_VALUES` may be "auto".

    Raises:
        ValueError: for an unknown loss name or a value out of range, naming
            the argument, what it expects and what it received.
        TypeError: for a name that is not a loss hyperparameter.

    Examples:
        >>> from keras_mae.models.mixture_config import check_objective
        >>> check_objective({"neighbor_weight": 1, "batch_entropy_weight": "auto"})
        {'batch_entropy_weight': 'auto', 'neighbor_weight': 1.0}
        >>> check_objective({"component_floor": 1.5})
        Traceback (most recent call last):
        ...
        ValueError: MixtureAutoencoder expects `component_floor` ...
    """
    checked = {}
    for name, value in values.items():
        if name == "reconstruction_loss":
            if value not in losses.RECONSTRUCTION_LOSSES:
                raise ValueError(
                    f"{_NAME} expects `reconstruction_loss` in "
                    f"{losses.RECONSTRUCTION_LOSSES}; received {value!r}."
                )
        elif name == "adversarial_loss":
            losses.check_adversarial_loss(value)
        elif name in AUTO_VALUES and value == "auto":
            pass
        elif name in _WEIGHTS:
            value = float(check_number(_NAME, name, value))
        elif name in _FRACTIONS:
            value = float(check_number(_NAME, name, value, 0.0, 1.0))
        elif name == "num_neighbors":
            value = check_int(_NAME, name, value)
        elif name == "self_labeling":
            if value is not None:
                value = check_core_fraction(_NAME, name, value)
        else:
            raise TypeError(f"{_NAME} has no loss hyperparameter {name!r}.")
        checked[name] = value
    return dict(sorted(checked.items()))


def migrate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fills in what a config saved before today's defaults lacks.

    Models saved before 2026-12-01 had no input normalization and one
    balance weight, 5.0, for every kind of data; models saved before
    2026-12-04 ended training without self-labelling.

    Args:
        config: A `MixtureAutoencoder.get_config()` dict, possibly old.

    Returns:
        A copy that builds the same model with today's constructor.

    Examples:
        >>> from keras_mae.models.mixture_config import migrate_config
        >>> migrate_config({"num_components": 10})  # doctest: +NORMALIZE_WHITESPACE
        {'num_components': 10, 'normalization': None, 'batch_entropy_weight': 5.0,
         'self_labeling': None}
        >>> migrate_config({"normalization": "auto", "self_labeling": "auto"})
        {'normalization': 'auto', 'self_labeling': 'auto'}
    """
    config = dict(config)
    if "normalization" not in config:
        config["normalization"] = None
        config.setdefault("batch_entropy_weight", 5.0)
    config.setdefault("self_labeling", None)
    return config


def split_legacy_compile(config: dict[str, Any]) -> tuple[dict, dict, float | None]:
    """Separates old hyperparameters from a saved compile config.

    Args:
        config: The deserialized compile config of a preset.

    Returns:
        `(compile_config, objective, shear)`: what `compile` takes today, the
        checked loss hyperparameters it held, and the augmentation's shear
        (`consistency_shear`) or None.

    Examples:
        >>> from keras_mae.models.mixture_config import split_legacy_compile
        >>> old = {"optimizer": "adam", "neighbor_weight": 2, "consistency_shear": 0.3}
        >>> split_legacy_compile(old)
        ({'optimizer': 'adam'}, {'neighbor_weight': 2.0}, 0.3)
    """
    compile_config = {k: v for k, v in config.items() if k not in LEGACY_COMPILE_KEYS}
    legacy = {k: config[k] for k in LEGACY_COMPILE_KEYS if k in config}
    shear = legacy.pop("consistency_shear", None)
    if shear is not None:
        shear = float(check_number(_NAME, "consistency_shear", shear, 0.0, 1.0))
    return compile_config, check_objective(legacy), shear
