"""Bad input gets a clear message: keras_mae/models/mixture_inputs.py."""

import numpy as np
import pytest

from keras_mae.models import MixtureAutoencoder
from keras_mae.models.mixture_inputs import as_array, check_unit_range, data_kind


@pytest.mark.parametrize(
    "x,error,message",
    [
        (np.zeros((0, 4), "float32"), ValueError, r"at least one sample.*\(0, 4\)"),
        (np.zeros((3, 0), "float32"), ValueError, "empty array of shape"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "numeric data.*<U1"),
        (np.array([[1.0, np.nan]]), ValueError, "1 NaN or infinite.*SimpleImputer"),
        (np.ones(5, "float32"), ValueError, r"reshape\(-1, 1\)"),
        ("data.csv", TypeError, "received str"),
        (None, TypeError, "received NoneType"),
    ],
)
def test_bad_arrays_are_refused_with_what_was_expected(x, error, message):
    with pytest.raises(error, match=message):
        as_array(x, None)


def test_integer_and_list_inputs_are_numbers():
    out = as_array([[1, 2], [3, 4]], None)
    assert out.dtype == np.float32 and out.shape == (2, 2)


def test_the_shape_must_match_the_built_model():
    with pytest.raises(ValueError, match=r"shape \(batch, 3\); received \(batch, 4\)"):
        as_array(np.zeros((2, 4), "float32"), (3,))


def test_unit_range_names_the_range_and_the_fix():
    with pytest.raises(ValueError, match=r"\[0.0, 255.0\].*divide uint8 pixels"):
        check_unit_range(np.array([[0.0, 255.0]], "float32"))


def test_kinds():
    assert [data_kind(s) for s in [(28, 28, 1), (13,), (4, 4)]] == [
        "images",
        "vectors",
        "other",
    ]


def test_the_model_refuses_empty_and_string_data_in_fit():
    model = MixtureAutoencoder(2, 2, hidden_units=(8,))
    model.compile()
    with pytest.raises(ValueError, match="at least one sample"):
        model.fit(np.zeros((0, 3), "float32"), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="numeric data"):
        model.fit(np.array([["x", "y"]] * 8), epochs=1, verbose=0)
    assert not model.built  # nothing was half-built by the refusals
