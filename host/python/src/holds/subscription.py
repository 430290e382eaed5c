"""A subscription: the current holds, then live events, consumed from any
event loop while the manager's loop (another thread) produces them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Optional

from .errors import HoldsError, Lagged
from .types import Event

_OPEN = object()
_DONE = object()


class Subscription:
    """`async for event in subscription` yields the snapshot (one `announced`
    event per live hold, oldest revision first), then live changes. It ends
    (StopAsyncIteration) when it is closed or the manager closes; it raises
    `Lagged` after a subscriber fell more than the buffer behind (the events
    it had are delivered first), or `StoreError` when the watch failed.
    """

    def __init__(self, buffer: int, on_close: Callable[[Subscription], None]):
        self._buffer = buffer
        self._on_close = on_close
        self._lock = threading.Lock()
        self._snapshot: deque[Event] = deque()
        self._live: deque[Event] = deque()
        self._end: object = _OPEN
        self._waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = None

    # -- the producer (the manager's loop) ------------------------------------

    def _set_snapshot(self, events: list[Event]) -> None:
        with self._lock:
            self._snapshot.extend(events)

    def _offer(self, event: Event) -> bool:
        """Queue a live event; False when the subscription is over (or lagged now)."""
        with self._lock:
            if self._end is not _OPEN:
                return False
            if len(self._live) >= self._buffer:
                self._end = Lagged(self._buffer)
                self._wake()
                return False
            self._live.append(event)
            self._wake()
            return True

    def _finish(self, error: Optional[HoldsError] = None) -> None:
        with self._lock:
            if self._end is _OPEN:
                self._end = error if error is not None else _DONE
                self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, future = waiter
            with contextlib.suppress(RuntimeError):  # the consumer's loop is closed
                loop.call_soon_threadsafe(_resolve, future)

    # -- the consumer ----------------------------------------------------------

    def take_snapshot(self) -> list[Event]:
        """The snapshot events not yielded yet (they will not be yielded)."""
        with self._lock:
            events = list(self._snapshot)
            self._snapshot.clear()
            return events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._snapshot:
                    return self._snapshot.popleft()
                if self._live:
                    return self._live.popleft()
                end = self._end
                if end is _DONE:
                    raise StopAsyncIteration
                if isinstance(end, BaseException):
                    self._end = _DONE
                    raise end
                future = loop.create_future()
                self._waiter = (loop, future)
            await future

    async def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event; None when the subscription ended cleanly. Raises
        TimeoutError when nothing arrives within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise TimeoutError(f"no event within {timeout} s") from None

    @property
    def ended(self) -> bool:
        with self._lock:
            return self._end is not _OPEN and not self._live and not self._snapshot

    def close(self) -> None:
        """Leave the manager at once; iteration ends after what is queued."""
        self._finish()
        self._on_close(self)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._on_close(self)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
