"""Argument checks shared by ptycho modules: each raises the caller's typed error naming the field.

Every helper takes the field name first and the error class as the keyword `error` (a
`NamedProblemError` subclass such as `ConfigError` or `DataContractError`, called as
``error(name, problem)``), so a check reads the same wherever it is done and the message names
what is wrong: ``probe_scale: must be finite and > 0, got -1.0``.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError, DataContractError

_PY_INT = (int,)
_INTS = (int, np.integer)
_PY_NUMBERS = (int, float)
_NUMBERS = (int, float, np.integer, np.floating)


def is_power_of_two(n, minimum: int = 16) -> bool:
    """True when `n` is a Python int (not a bool), a power of two (1, 2, 4...) and >= `minimum`."""
    return (isinstance(n, int) and not isinstance(n, bool) and n >= minimum and n > 0
            and (n & (n - 1)) == 0)


def require_power_of_two(name: str, n, *, minimum: int = 16, subject: str = "",
                         error=ConfigError) -> int:
    """Return `n` when `is_power_of_two(n, minimum)`, else raise.

    The problem reads "[subject ]must be a power of two >= minimum, got n" (`subject`, e.g.
    "side", says which property of the field `n` is).
    """
    if not is_power_of_two(n, minimum):
        lead = f"{subject} " if subject else ""
        raise error(name, f"{lead}must be a power of two >= {minimum}, got {n!r}")
    return n


def require_int(name: str, value, *, minimum: int | None = None, numpy_ints: bool = True,
                error=ConfigError) -> int:
    """Return `value` as an int; raise unless it is an integer (not a bool) >= `minimum`.

    numpy_ints: also accept numpy integer scalars (False: only Python ints, for values that are
    stored as given, e.g. in the frozen config dataclasses).
    """
    kinds = _INTS if numpy_ints else _PY_INT
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise error(name, f"must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise error(name, f"must be >= {minimum}, got {int(value)}")
    return int(value)


def require_positive(name: str, value, *, allow_zero: bool = False, numpy_numbers: bool = True,
                     error=ConfigError) -> float:
    """Return `value` as a float; raise unless it is a finite real number > 0 (>= 0 with
    `allow_zero`).

    numpy_numbers: also accept numpy scalars (False: only int and float, as stored in configs).
    """
    kinds = _NUMBERS if numpy_numbers else _PY_NUMBERS
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise error(name, f"must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise error(name, f"must be finite and {bound}, got {value!r}")
    return number


def require_choice(name: str, value, choices, *, error=ConfigError):
    """Return `value` when it is one of `choices`, else raise naming the choices."""
    if value not in choices:
        raise error(name, f"must be one of {choices}, got {value!r}")
    return value


def require_finite(name: str, array, *, separate: bool = False,
                   error=DataContractError) -> None:
    """Raise unless every element of `array` is finite.

    The problem is "contains NaN or Inf"; with `separate` it is "contains NaN" when there is a
    NaN, else "contains Inf".
    """
    array = np.asarray(array)
    if np.all(np.isfinite(array)):
        return
    if not separate:
        raise error(name, "contains NaN or Inf")
    raise error(name, "contains NaN" if np.isnan(array).any() else "contains Inf")


def require_rank(name: str, array, ndim: int, *, error=DataContractError) -> None:
    """Raise unless `array` has `ndim` dimensions ("must have rank ndim, got shape ...")."""
    shape = np.shape(array)
    if len(shape) != ndim:
        raise error(name, f"must have rank {ndim}, got shape {shape}")


def require_kind(name: str, array, kinds: str, what: str, *, error=DataContractError) -> None:
    """Raise unless `array.dtype.kind` is one of `kinds` ("must be <what>, got dtype ...")."""
    dtype = np.asarray(array).dtype if not hasattr(array, "dtype") else array.dtype
    if dtype.kind not in kinds:
        raise error(name, f"must be {what}, got dtype {dtype}")


def require_nonzero(name: str, array, *, error=DataContractError) -> None:
    """Raise ("is all zero") unless `array` has at least one non-zero element."""
    if not np.any(np.asarray(array) != 0):
        raise error(name, "is all zero")


def require_same_shape(name: str, array, expected, *, of: str = "",
                       error=DataContractError) -> None:
    """Raise unless `array` has the shape `expected`: a tuple of ints, or an array (its shape).

    of: what `expected` is the shape of ("truth", "xcoords", "frames"): the problem reads
    "shape (a) != <of> shape (b)"; without it, "must have shape (b), got shape (a)".
    """
    shape = tuple(np.shape(array))
    want = (tuple(int(n) for n in expected) if isinstance(expected, tuple)
            else tuple(np.shape(expected)))
    if shape != want:
        raise error(name, f"shape {shape} != {of} shape {want}" if of
                    else f"must have shape {want}, got shape {shape}")
