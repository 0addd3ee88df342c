"""Parse and format times: seconds, ``"1:22.65"``, ``"01:02:03.5"`` or ``(1, 22.65)``.

>>> parse_time("1:22.65")
82.65
>>> parse_time((1, 22.65))
82.65
>>> format_time(82.65)
'1:22.65'
"""

from __future__ import annotations

import math
import re
from typing import Sequence, Union

from .errors import InvalidParameterError

TimeLike = Union[float, int, str, Sequence[float]]

_CLOCK = re.compile(r"^\s*(-)?(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)\s*s?\s*$")


def parse_time(value: TimeLike, name: str = "time") -> float:
    """Return ``value`` in seconds; negative values are kept (callers count them from the end).

    Accepts a number, a string ``"SS[.ff]"``, ``"MM:SS[.ff]"``, ``"HH:MM:SS[.ff]"`` (an optional
    trailing ``s`` and a leading ``-``), or a tuple ``(MM, SS)`` / ``(HH, MM, SS)``.

    >>> parse_time("-0:01.5")
    -1.5
    """
    if isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be a time, got {value!r}; pass seconds such as 1.5")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_clock(value, name)
    elif isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
        try:
            parts = [float(p) for p in value]
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"{name} {value!r} is not a time; use (minutes, seconds) or (hours, minutes, seconds)"
            ) from None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
    else:
        raise InvalidParameterError(
            f"{name} {value!r} is not a time; use seconds (12.5), '1:22.65' or (1, 22.65)"
        )
    if not math.isfinite(seconds):
        raise InvalidParameterError(f"{name} must be a finite time, got {value!r}")
    return round(seconds, 9)


def _parse_clock(text: str, name: str) -> float:
    match = _CLOCK.match(text)
    if not match:
        raise InvalidParameterError(
            f"{name} {text!r} is not a time; use seconds (12.5), 'MM:SS.ff' (1:22.65) or 'HH:MM:SS'"
        )
    sign, first, second, last = match.groups()
    fields = [float(f) for f in (first, second) if f is not None] + [float(last)]
    if len(fields) > 1 and fields[-1] >= 60:
        raise InvalidParameterError(f"{name} {text!r} has {fields[-1]:g} seconds; seconds must be below 60")
    seconds = 0.0
    for field in fields:
        seconds = seconds * 60 + field
    return -seconds if sign else seconds


def format_time(seconds: float) -> str:
    """Format seconds as ``M:SS.ff`` (or ``H:MM:SS.ff`` past an hour).

    >>> format_time(3725.5)
    '1:02:05.50'
    """
    sign = "-" if seconds < 0 else ""
    centis = int(round(abs(seconds) * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    secs = rest / 100
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:05.2f}"
    return f"{sign}{minutes}:{secs:05.2f}"
