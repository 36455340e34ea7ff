"""Test helpers shared across the test suite."""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import redirect_stdout
from typing import Any

import keras
import numpy as np
import pytest

Shape = tuple[int, ...]


def _random_inputs(input_shape: Shape | list[Shape], seed: int = 0):
    rng = np.random.default_rng(seed)
    if isinstance(input_shape, list):
        return [rng.uniform(size=s).astype("float32") for s in input_shape]
    return rng.uniform(size=input_shape).astype("float32")


def _symbolic_inputs(input_shape: Shape | list[Shape]):
    if isinstance(input_shape, list):
        return [keras.Input(shape=s[1:]) for s in input_shape]
    return keras.Input(shape=input_shape[1:])


def _shapes(outputs) -> list[Shape]:
    return [tuple(t.shape) for t in keras.tree.flatten(outputs)]


def _expected_shapes(expected_output_shape) -> list[Shape]:
    if expected_output_shape and isinstance(expected_output_shape[0], tuple):
        return [tuple(s) for s in expected_output_shape]
    return [tuple(expected_output_shape)]


def _numpy(outputs) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(outputs)]


def _as_config_value(value: Any) -> Any:
    """Maps tuples to lists, as `get_config` stores sequences."""
    if isinstance(value, tuple):
        return [_as_config_value(v) for v in value]
    return value


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict[str, Any],
    input_shape: Shape | list[Shape],
    expected_output_shape: Shape | tuple[Shape, ...],
    *,
    call_kwargs: dict[str, Any] | None = None,
    expected_mixed_output_dtype: str = "float16",
) -> keras.layers.Layer:
    """Checks one of our layers the way Keras core checks its own.

    It checks, in order: eager output shapes and `compute_output_shape`;
    that `build` alone builds every sub-layer and creates every weight;
    a functional model's symbolic shapes and `summary()`; the config
    round-trip through `from_config` and through `keras.saving`
    (de)serialization, with the revived layer giving the same outputs on the
    same weights; one `fit` of a tiny functional model that changes every
    weight; a `.keras` save/load round-trip; and a `"mixed_float16"` forward
    pass with float32 variables and `expected_mixed_output_dtype` outputs.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: constructor arguments.
        input_shape: input shape including the batch size, or a list of them
            for a layer that takes a list of tensors.
        expected_output_shape: output shape including the batch size, or a
            tuple of them for a layer that returns several tensors.
        call_kwargs: extra keyword arguments of the call.
        expected_mixed_output_dtype: output dtype under `"mixed_float16"`.

    Returns:
        The eagerly built layer.
    """
    call_kwargs = call_kwargs or {}
    expected = _expected_shapes(expected_output_shape)
    x = _random_inputs(input_shape)

    # Eager call and shape inference.
    layer = layer_cls(**init_kwargs)
    outputs = layer(x, **call_kwargs)
    assert _shapes(outputs) == expected, (_shapes(outputs), expected)
    for array in _numpy(outputs):
        assert np.all(np.isfinite(array)), "layer output is not finite"
    assert tuple(layer.compute_output_shape(input_shape)) == expected[0]
    assert layer.built and layer.weights, "layer built no weights"

    # `build` alone must build every sub-layer: `fit` and `load_model` treat a
    # model holding an unbuilt one as unbuilt.
    built_only = layer_cls(**init_kwargs)
    built_only.build(input_shape)
    unbuilt = [
        s.name for s in built_only._flatten_layers(include_self=False) if not s.built
    ]
    assert not unbuilt, f"build() left sub-layers unbuilt: {unbuilt}"
    assert len(built_only.weights) == len(layer.weights)

    # Functional model, symbolic shapes and summary.
    inputs = _symbolic_inputs(input_shape)
    functional_layer = layer_cls(**init_kwargs)
    symbolic = functional_layer(inputs, **call_kwargs)
    expected_symbolic = [(None, *s[1:]) for s in expected]
    assert _shapes(symbolic) == expected_symbolic, (_shapes(symbolic), expected)
    model = keras.Model(inputs, keras.tree.flatten(symbolic))
    summary = io.StringIO()
    with redirect_stdout(summary):
        model.summary()
    assert layer_cls.__name__ in summary.getvalue()

    # Config round-trips.
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == _as_config_value(value), (key, config[key], value)
    assert layer_cls.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_mae>{layer_cls.__name__}"
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is layer_cls
    assert revived.get_config() == config
    revived(x, **call_kwargs)
    revived.set_weights(layer.get_weights())
    for got, want in zip(
        _numpy(revived(x, **call_kwargs)), _numpy(layer(x, **call_kwargs)), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    # One training step changes every weight, moving statistics included.
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    targets = [
        np.random.default_rng(1).uniform(size=s).astype("float32") for s in expected
    ]
    before = [w.numpy().copy() for w in functional_layer.weights]
    history = model.fit(x, targets, batch_size=len(targets[0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for weight, old in zip(functional_layer.weights, before, strict=True):
        assert not np.allclose(weight.numpy(), old), f"{weight.path} did not change"

    # The whole model survives a .keras save/load round-trip.
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    for got, want in zip(
        _numpy(loaded(x, training=False)),
        _numpy(model(x, training=False)),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    # Mixed precision: float32 variables, outputs in the expected dtype.
    mixed = layer_cls(**init_kwargs, dtype="mixed_float16")
    mixed_outputs = mixed(x, **call_kwargs)
    for tensor in keras.tree.flatten(mixed_outputs):
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        assert dtype == expected_mixed_output_dtype, dtype
    for array in _numpy(mixed_outputs):
        assert np.all(np.isfinite(array)), "mixed precision output is not finite"
    for weight in mixed.weights:
        assert weight.dtype == "float32", (weight.path, weight.dtype)
    return layer


def slow_except_on(backend: str, why: str):
    """Marks a test `slow` on every backend but `backend`.

    For tests whose code path is the same on every backend and that cost
    tens of seconds: the default suite runs them on one backend, and
    `pytest -m slow` on the others. Usable as a decorator or as a module's
    `pytestmark`; `why` is kept for the reader.
    """
    if keras.backend.backend() == backend:
        return pytest.mark.skipif(False, reason=why)  # a mark that does nothing
    return pytest.mark.slow


BLOB_CENTERS = np.array([[0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0]], "float32")


def scaled_blobs(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Three separated blobs in 4 dimensions, on a scale of hundreds, and labels."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(BLOB_CENTERS), n)
    x = BLOB_CENTERS[labels] + rng.standard_normal((n, 4)).astype("float32")
    return (100.0 * x + 50.0).astype("float32"), labels
