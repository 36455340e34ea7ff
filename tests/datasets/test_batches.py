"""`split_validation`, the one place where `fit` holds out `validation_split`."""

import numpy as np
import pytest

from keras_mae.datasets.batches import split_validation


def test_the_last_share_is_held_out_before_any_shuffling():
    x = np.arange(20).reshape(10, 2)
    kwargs = {"validation_split": 0.3, "epochs": 2}
    train, rest = split_validation(x, kwargs)
    np.testing.assert_array_equal(train, x[:7])
    np.testing.assert_array_equal(rest["validation_data"], x[7:])
    assert rest["epochs"] == 2 and "validation_split" not in rest
    assert kwargs == {"validation_split": 0.3, "epochs": 2}  # not changed


def test_given_validation_data_wins_and_no_split_keeps_everything():
    x, given = np.arange(10), np.arange(3)
    train, rest = split_validation(
        x, {"validation_split": 0.5, "validation_data": given}
    )
    assert train is x and rest["validation_data"] is given
    train, rest = split_validation(x, {"validation_split": None})
    assert train is x and "validation_data" not in rest


@pytest.mark.parametrize(
    "split, message",
    [
        (1.0, r"`validation_split` to be in \[0, 1\)"),
        (-0.1, r"`validation_split` to be in \[0, 1\)"),
        (0.95, "leaves 0 for training and 10 for validation"),
    ],
)
def test_bad_splits_say_what_was_expected(split, message):
    with pytest.raises(ValueError, match=message):
        split_validation(np.arange(10), {"validation_split": split}, "Model.fit")
