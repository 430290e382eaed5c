"""A store that answers scripted writes `not-stored` (as a busy or leaderless
JetStream stream does), storing nothing, and counts the writes it is sent: the
conformance cases' `refuse_writes` and `writes_sent` steps."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable

from holds.stores import BatchWrite, NotStored, Store, WatchItem
from holds.stores.base import BucketLimits
from holds.types import Entry


class Refusing(Store):
    """Wraps a store; without a script it changes nothing."""

    def __init__(self, inner: Store):
        self.inner = inner
        self._lock = threading.Lock()  # writes arrive from instance-pool threads
        self._script: deque[str] = deque()
        self._sent = 0

    def refuse(self, answers: Iterable[str]) -> None:
        """Answer the next writes `not-stored` for these reasons, one each; the
        count of writes sent starts again."""
        with self._lock:
            self._script = deque(answers)
            self._sent = 0

    def sent(self) -> int:
        """Writes sent since the last `refuse`, refused ones included."""
        with self._lock:
            return self._sent

    def _send(self) -> None:
        """Count a write; raise its scripted refusal, if any."""
        with self._lock:
            self._sent += 1
            why = self._script.popleft() if self._script else None
        if why is not None:
            raise NotStored(why, f"scripted {why}")

    # -- writes: counted, perhaps refused ------------------------------------

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int:
        self._send()
        return self.inner.write_if_revision(key, value, expected, ttl_seconds)

    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes = b"") -> int:
        self._send()
        return self.inner.delete_if_revision(key, expected, why, note)

    def write_batch(self, writes: list[BatchWrite]) -> list[int]:
        self._send()
        return self.inner.write_batch(writes)

    # -- everything else: the inner store's ------------------------------------

    @property  # type: ignore[override]
    def expires_entries(self) -> bool:
        return self.inner.expires_entries

    @property  # type: ignore[override]
    def max_age(self) -> int:
        return self.inner.max_age

    @property  # type: ignore[override]
    def bucket(self) -> str:
        return self.inner.bucket

    @property  # type: ignore[override]
    def limits(self) -> BucketLimits:
        return self.inner.limits

    def describe(self) -> str:
        return self.inner.describe()

    def get(self, key: str) -> Entry:
        return self.inner.get(key)

    def get_many(self, keys: list[str]) -> list[Entry]:
        return self.inner.get_many(keys)

    def scan(self, prefix: str, through: int) -> list[tuple[str, Entry]]:
        return self.inner.scan(prefix, through)

    def put(self, key: str, value: bytes) -> int:
        return self.inner.put(key, value)

    def watch(self) -> AsyncIterator[WatchItem]:
        return self.inner.watch()

    async def close(self) -> None:
        await self.inner.close()
