"""What a store offers the manager, beyond the component's `kv` import."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator
from typing import Union

from ..types import Entry
from ..wit import BatchWrite, NotStored, Unavailable, Unsupported, WrongRevision

__all__ = [
    "CAUGHT_UP",
    "BatchWrite",
    "BucketLimits",
    "NotStored",
    "Store",
    "Unavailable",
    "Unsupported",
    "WatchItem",
    "WrongRevision",
]


class _CaughtUp:
    """Every entry present when the watch started has been replayed."""

    def __repr__(self) -> str:
        return "CAUGHT_UP"


CAUGHT_UP = _CaughtUp()

#: A watch yields `(key, entry)` pairs and, exactly once, `CAUGHT_UP`.
WatchItem = Union[tuple[str, Entry], _CaughtUp]


@dataclasses.dataclass(frozen=True)
class BucketLimits:
    """A bucket's limits besides its max age (WIT `bucket-settings`)."""

    #: Entries the bucket keeps (0 or less: no limit).
    max_messages: int = -1
    #: Bytes the bucket keeps (0 or less: no limit).
    max_bytes: int = -1
    #: Entries kept per key (0 or less: no limit).
    max_messages_per_key: int = -1
    #: At a limit the oldest entries are dropped (else new ones are refused).
    discard_old: bool = False
    #: A key at its per-key limit refuses new entries.
    discard_new_per_key: bool = False


class Store(abc.ABC):
    """A revisioned bucket with JetStream KV semantics (history 1).

    `get`, `write_if_revision`, `delete_if_revision`, `get_many`,
    `write_batch` and `scan` are the component's kv import: synchronous,
    called from instance-pool threads, raising WrongRevision / NotStored /
    Unavailable / Unsupported. A write is sent once: the guest decides whether to send it again.
    `watch` runs on the manager's loop.
    """

    #: The store removes an entry itself when its TTL elapses (else: sweeps).
    expires_entries: bool = False
    #: How long the bucket keeps an entry, in ns (0: forever).
    max_age: int = 0
    #: The bucket's name, as the guest's verdicts on it name it.
    bucket: str = "memory"
    #: The bucket's other limits (JetStream's stream settings), for the guest to
    #: judge: none by default.
    limits: BucketLimits = BucketLimits()

    @abc.abstractmethod
    def describe(self) -> str: ...

    @abc.abstractmethod
    def get(self, key: str) -> Entry: ...

    @abc.abstractmethod
    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int: ...

    @abc.abstractmethod
    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes = b"") -> int:
        """Leave a marker whose value is `note` (e.g. who forced a release)."""

    @abc.abstractmethod
    def get_many(self, keys: list[str]) -> list[Entry]:
        """The latest entries of `keys`, in order (one round trip where it can)."""

    @abc.abstractmethod
    def write_batch(self, writes: list[BatchWrite]) -> list[int]:
        """Every write or none (WrongRevision if any expectation failed);
        Unsupported when the store cannot write atomically."""

    @abc.abstractmethod
    def scan(self, prefix: str, through: int) -> list[tuple[str, Entry]]:
        """The latest entry of every key that starts with `prefix` and holds a
        value (operation put: markers and missing keys left out), in any order,
        from a view that includes every change up to revision `through` (0:
        any view; a fresh read always does)."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes) -> int:
        """An unconditional write, as another client of the bucket would make it
        (tests staging raw entries; holds never writes without a revision)."""

    @abc.abstractmethod
    def watch(self) -> AsyncIterator[WatchItem]:
        """Every key's latest entry, then CAUGHT_UP, then live changes in
        revision order. Iterated on the manager's loop; close it to stop."""

    async def close(self) -> None:  # noqa: B027 (a no-op unless the store holds something)
        """Release what the store holds (a connection)."""
