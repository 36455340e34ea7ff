import numpy as np
import pytest

from keras_mae.utils.argument_checks import check_int, check_number


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_returns_python_int(value):
    result = check_int("Owner", "count", value)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize(
    "value, minimum, maximum, wanted",
    [
        (0, 1, None, ">= 1"),
        (True, 0, None, ">= 0"),
        (2.0, 1, None, ">= 1"),
        ("2", 1, None, ">= 1"),
        (None, 1, None, ">= 1"),
        (4, 0, 4, "in [0, 4)"),
        (-1, 0, 4, "in [0, 4)"),
    ],
)
def test_check_int_rejects_with_what_was_expected_and_received(
    value, minimum, maximum, wanted
):
    message = f"Owner expects `count` to be an integer {wanted}; received {value!r}."
    with pytest.raises(ValueError) as info:
        check_int("Owner", "count", value, minimum, maximum)
    assert str(info.value) == message


def test_check_int_accepts_the_bounds():
    assert check_int("Owner", "k", 0, 0, 4) == 0
    assert check_int("Owner", "k", 3, 0, 4) == 3


@pytest.mark.parametrize("value", [0, 0.5, np.float32(0.25)])
def test_check_number_returns_python_float(value):
    result = check_number("Owner", "weight", value, 0.0, 1.0)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({}, -0.1, "to be a number >= 0; received -0.1."),
        ({}, float("nan"), "to be a number >= 0; received nan."),
        ({}, False, "to be a number >= 0; received False."),
        ({}, "1", "to be a number >= 0; received '1'."),
        ({"maximum": 1.0}, 1.0, "to be in [0, 1); received 1.0."),
        (
            {"maximum": 1.0, "include_minimum": False, "what": "a share"},
            0,
            "to be in (0, 1) (a share); received 0.",
        ),
        ({"include_minimum": False}, 0.0, "to be a number > 0; received 0.0."),
    ],
)
def test_check_number_rejects_with_what_was_expected_and_received(
    kwargs, value, message
):
    with pytest.raises(ValueError) as info:
        check_number("Owner", "weight", value, **kwargs)
    assert str(info.value) == "Owner expects `weight` " + message
