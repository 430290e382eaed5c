"""Stores the component's `kv` import runs on."""

from .base import CAUGHT_UP, Store, Unavailable, WatchItem, WrongRevision
from .jetstream import JetStreamStore
from .memory import MemoryStore

__all__ = ["CAUGHT_UP", "JetStreamStore", "MemoryStore", "Store", "Unavailable", "WatchItem", "WrongRevision"]
