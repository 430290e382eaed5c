"""holds: file-level holds (leases) for fleets of coding agents.

Every decision is made by the `holds:core` WebAssembly component shipped in this
package (run by wasmtime); this package implements its store on NATS JetStream
(nats-py) or in memory, and offers an asyncio API::

    import holds
    async with await holds.Manager.jetstream("nats://127.0.0.1:4222") as m:
        claim = await m.announce("/repo/src/lib.rs", "agent-1", "30s")
"""

from .clock import Clock, FrozenClock, OffsetClock, SystemClock
from .errors import (
    CasExhausted,
    Closed,
    ConfigError,
    CorruptEntry,
    GuestError,
    HeldByAnother,
    HeldByOthers,
    HoldsError,
    InvalidInput,
    Lagged,
    Lost,
    StoreError,
)
from .manager import Manager
from .stores import JetStreamStore, MemoryStore, Store
from .subscription import Subscription
from .types import Claim, Claimed, Entry, Event, FileCheck, Hold, Identity, Mode, Release, Scope

__version__ = "0.2.0"

__all__ = [
    "CasExhausted",
    "Claim",
    "Claimed",
    "Clock",
    "Closed",
    "ConfigError",
    "CorruptEntry",
    "Entry",
    "Event",
    "FileCheck",
    "FrozenClock",
    "GuestError",
    "HeldByAnother",
    "HeldByOthers",
    "Hold",
    "HoldsError",
    "Identity",
    "InvalidInput",
    "JetStreamStore",
    "Lagged",
    "Lost",
    "Manager",
    "MemoryStore",
    "Mode",
    "OffsetClock",
    "Release",
    "Scope",
    "Store",
    "StoreError",
    "Subscription",
    "SystemClock",
]
