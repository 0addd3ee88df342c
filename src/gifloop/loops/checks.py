"""Parameter checks shared by the loop finder: each failure is one line that says what to pass.

>>> positive(-1, "max_duration", "3")
Traceback (most recent call last):
...
gifloop.errors.InvalidParameterError: max_duration must be positive, got -1; pass e.g. max_duration=3
"""

from __future__ import annotations

import math

from ..errors import InvalidParameterError


def _number(value, name: str, example: str) -> float:
    if isinstance(value, bool):
        value = None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}; pass e.g. {name}={example}") from None


def positive(value, name: str, example: str, allow_inf: bool = False) -> float:
    """``value`` as a float > 0, or an ``InvalidParameterError`` that suggests ``example``."""
    number = _number(value, name, example)
    if not number > 0 or (math.isinf(number) and not allow_inf) or math.isnan(number):
        raise InvalidParameterError(f"{name} must be positive, got {value!r}; pass e.g. {name}={example}")
    return number


def non_negative(value, name: str, example: str) -> float:
    """``value`` as a finite float >= 0, or an ``InvalidParameterError`` that suggests ``example``."""
    number = _number(value, name, example)
    if not (number >= 0 and math.isfinite(number)):
        raise InvalidParameterError(f"{name} must be 0 or more, got {value!r}; pass e.g. {name}={example}")
    return number
