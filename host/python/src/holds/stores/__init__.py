"""Stores the component's `kv` import runs on."""

from .base import CAUGHT_UP, BatchWrite, NotStored, Store, Unavailable, Unsupported, WatchItem, WrongRevision
from .jetstream import JetStreamStore
from .memory import MemoryStore

__all__ = [
    "CAUGHT_UP",
    "BatchWrite",
    "JetStreamStore",
    "MemoryStore",
    "NotStored",
    "Store",
    "Unavailable",
    "Unsupported",
    "WatchItem",
    "WrongRevision",
]
