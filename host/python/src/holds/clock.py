"""Clocks the component reads as its `now` (ns since the Unix epoch, UTC)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> int:
        return time.time_ns()


class OffsetClock:
    """The wall clock shifted by an adjustable offset (tests: an agent whose
    clock runs ahead). Thread-safe."""

    def __init__(self, offset_ns: int = 0):
        self._offset = offset_ns
        self._lock = threading.Lock()

    def advance(self, ns: int) -> None:
        with self._lock:
            self._offset += ns

    def now(self) -> int:
        return time.time_ns() + self._offset


class FrozenClock:
    """A clock that stands still at an instant until it is set again."""

    def __init__(self, at_ns: int):
        self.at = at_ns

    def set(self, at_ns: int) -> None:
        self.at = at_ns

    def advance(self, ns: int) -> None:
        self.at += ns

    def now(self) -> int:
        return self.at
