"""An in-process bucket with JetStream KV semantics (history 1)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

from ..types import Entry
from .base import CAUGHT_UP, BatchWrite, Store, Unavailable, WatchItem, WrongRevision


class MemoryStore(Store):
    """One revision sequence for the bucket, the latest entry per key, markers
    for removals, entries older than `max_age` (ns; 0: never) removed without a
    marker. It never expires entries by TTL: watching managers sweep. Shared
    safely by several managers in one process (and their threads).
    """

    expires_entries = False

    def __init__(self, max_age: int = 0, name: str = "memory"):
        self.max_age = max_age
        self.name = name
        self._lock = threading.Lock()
        self._sequence = 0
        self._entries: dict[str, Entry] = {}
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self._unavailable: str | None = None

    def describe(self) -> str:
        return f"in-memory bucket {self.name}"

    # -- the kv import -------------------------------------------------------

    def get(self, key: str) -> Entry:
        with self._lock:
            self._check()
            return self._latest(key)

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int:
        with self._lock:
            self._check()
            if self._latest(key).revision != expected:
                raise WrongRevision(key)
            return self._append(key, bytes(value), "put")

    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes = b"") -> int:
        with self._lock:
            self._check()
            if self._latest(key).revision != expected:
                raise WrongRevision(key)
            return self._append(key, bytes(note), "expire" if why == "expired" else "delete")

    def get_many(self, keys: list[str]) -> list[Entry]:
        with self._lock:
            self._check()
            return [self._latest(key) for key in keys]

    def write_batch(self, writes: list[BatchWrite]) -> list[int]:
        """All or nothing, under the one lock: every expectation is checked
        before anything is written."""
        with self._lock:
            self._check()
            if len({w.key for w in writes}) != len(writes):
                raise WrongRevision(writes[0].key)  # as JetStream: one key twice cannot both hold
            for w in writes:
                if self._latest(w.key).revision != w.expected:
                    raise WrongRevision(w.key)
            return [self._append(w.key, bytes(w.value), "put") for w in writes]

    def scan(self, prefix: str, through: int) -> list[tuple[str, Entry]]:
        """Read fresh, so every revision up to `through` is in view."""
        with self._lock:
            self._check()
            found = []
            for key in list(self._entries):
                if key.startswith(prefix):
                    entry = self._latest(key)  # drops what aged out
                    if entry.found and entry.operation == "put":
                        found.append((key, entry))
            return found

    # -- other clients, faults ----------------------------------------------

    def put(self, key: str, value: bytes) -> int:
        with self._lock:
            return self._append(key, bytes(value), "put")

    def remove(self, key: str, operation: str = "delete") -> int:
        """An unconditional marker, as another client's delete or purge."""
        with self._lock:
            return self._append(key, b"", operation)

    def set_unavailable(self, message: str | None) -> None:
        """Make every kv call fail with `message` (None: answer again)."""
        with self._lock:
            self._unavailable = message

    @property
    def last_revision(self) -> int:
        return self._sequence

    # -- the watch -----------------------------------------------------------

    async def watch(self) -> AsyncIterator[WatchItem]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        watcher = (loop, queue)
        with self._lock:
            for key in list(self._entries):
                self._latest(key)  # drop what aged out
            current = sorted(self._entries.items(), key=lambda kv: kv[1].revision)
            self._watchers.append(watcher)
        try:
            for item in current:
                yield item
            yield CAUGHT_UP
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

    # -- internals (under the lock) ------------------------------------------

    def _check(self) -> None:
        if self._unavailable is not None:
            raise Unavailable(self._unavailable)

    def _latest(self, key: str) -> Entry:
        entry = self._entries.get(key)
        if entry is None:
            return Entry(False, b"", 0, "put")
        if self.max_age and time.time_ns() - entry.created > self.max_age:
            del self._entries[key]
            return Entry(False, b"", 0, "put")
        return entry

    def _append(self, key: str, value: bytes, operation: str) -> int:
        self._sequence += 1
        entry = Entry(True, value, self._sequence, operation, time.time_ns())  # type: ignore[arg-type]
        self._entries[key] = entry
        for loop, queue in list(self._watchers):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (key, entry))
            except RuntimeError:  # that loop is closed
                self._watchers.remove((loop, queue))
        return self._sequence
