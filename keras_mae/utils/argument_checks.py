"""Checks of user arguments, one wording for the whole package (not public API).

Every public function, layer and model validates its arguments with these, so
a bad argument always reads the same way: who expects what, and what it
received.

Example:

>>> from keras_mae.utils.argument_checks import check_int
>>> check_int("GAN", "latent_dim", 64)
64
>>> check_int("GAN", "latent_dim", 0)
Traceback (most recent call last):
...
ValueError: GAN expects `latent_dim` to be an integer >= 1; received 0.
"""

from __future__ import annotations

import numbers


def check_int(owner: str, argument: str, value, minimum: int = 1, maximum=None) -> int:
    """Returns `value` as a Python int, or raises a ValueError naming `owner`.

    Python and NumPy integers are accepted; booleans, floats and anything
    else are not, even when they equal an integer.

    Args:
        owner: Who expects the argument (a class or function name).
        argument: The argument's name, as the caller wrote it.
        value: The value received.
        minimum: Smallest accepted value.
        maximum: If given, values must be below it (`[minimum, maximum)`).

    Returns:
        `value` as an int.

    Raises:
        ValueError: If `value` is not an integer in the accepted range.

    Examples:

    >>> import numpy as np
    >>> from keras_mae.utils.argument_checks import check_int
    >>> check_int("ArrayBatches", "batch_size", np.int64(32))
    32
    >>> check_int("reseed_component", "target", 3, 0, 3)
    Traceback (most recent call last):
    ...
    ValueError: reseed_component expects `target` to be an integer in [0, 3); ...
    >>> check_int("GAN", "latent_dim", 64.0)
    Traceback (most recent call last):
    ...
    ValueError: GAN expects `latent_dim` to be an integer >= 1; received 64.0.
    """
    accepted = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if accepted:
        accepted = value >= minimum and (maximum is None or value < maximum)
    if not accepted:
        wanted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum})"
        raise ValueError(
            f"{owner} expects `{argument}` to be an integer {wanted}; "
            f"received {value!r}."
        )
    return int(value)


def check_number(
    owner: str,
    argument: str,
    value,
    minimum: float = 0.0,
    maximum: float | None = None,
    include_minimum: bool = True,
    what: str = "",
) -> float:
    """Returns `value` as a Python float, or raises a ValueError naming `owner`.

    Args:
        owner: Who expects the argument (a class or function name).
        argument: The argument's name, as the caller wrote it.
        value: The value received (an int or a float, not a bool; NaN fails).
        minimum: Lower bound, included unless `include_minimum=False`.
        maximum: If given, values must be below it.
        include_minimum: Whether `minimum` itself is accepted.
        what: Optional words on the meaning, added in brackets to the error.

    Returns:
        `value` as a float.

    Raises:
        ValueError: If `value` is not a number in the accepted range.

    Examples:

    >>> from keras_mae.utils.argument_checks import check_number
    >>> check_number("RandomAffine", "rotation", 15, 0.0, 180.0)
    15.0
    >>> check_number(
    ...     "RandomAffine", "shift", 1.5, 0.0, 1.0, what="a fraction of the image side"
    ... )
    Traceback (most recent call last):
    ...
    ValueError: RandomAffine expects `shift` to be in [0, 1) (...); received 1.5.
    """
    accepted = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if accepted:
        above = value >= minimum if include_minimum else value > minimum
        accepted = above and (maximum is None or value < maximum)
    if not accepted:
        if maximum is None:
            wanted = f"a number {'>=' if include_minimum else '>'} {minimum:g}"
        else:
            low = "[" if include_minimum else "("
            wanted = f"in {low}{minimum:g}, {maximum:g})"
        note = f" ({what})" if what else ""
        raise ValueError(
            f"{owner} expects `{argument}` to be {wanted}{note}; received {value!r}."
        )
    return float(value)
