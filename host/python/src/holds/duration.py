"""Durations as the API accepts them: `"30s"`, `"250ms"`, `"1m30s"`, a number
of seconds, or a `datetime.timedelta`. Internally: integer nanoseconds."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Union

Duration = Union[str, int, float, _dt.timedelta]

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def to_nanos(value: Duration) -> int:
    """Nanoseconds of `value`. Raises ValueError for malformed or negative ones."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, _dt.timedelta):
        ns = (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1_000
    elif isinstance(value, int):
        ns = value * 10**9
    elif isinstance(value, float):
        ns = round(value * 10**9)
    elif isinstance(value, str):
        ns = _parse(value)
    else:
        raise ValueError(f"not a duration: {value!r}")
    if ns < 0:
        raise ValueError(f"negative duration: {value!r}")
    return ns


def _parse(text: str) -> int:
    s = text.strip()
    if s == "0":
        return 0
    pos, total = 0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 250ms, 1m30s)")
        number, unit = m.groups()
        if "." in number:
            whole, frac = number.split(".")
            total += int(whole) * _UNITS[unit] + int(frac) * _UNITS[unit] // 10 ** len(frac)
        else:
            total += int(number) * _UNITS[unit]
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    return total
