"""Everything that knows the WIT contract `holds:core@0.1.0`, in one place.

The rest of the package speaks plain Python (`types.py`, `errors.py`); this module
turns those values into wasmtime-py's component values and back, defines the
component's imports on a Linker, and wraps its exports. A change of the WIT
(new imports, new exports, a case leaving the `error` variant) changes this
module and the stores, nothing else.

How wasmtime-py (50.0.1) maps WIT values, as used here:

- records are `wasmtime.component.Record` objects whose attributes carry the WIT
  field names verbatim, hyphens included (`getattr(r, "agent-id")`);
- enums are `str`, `list<u8>` is `bytes`, integers are `int`, `option<T>` is
  `None` or the value;
- a variant or result is a `Variant(tag, payload)` only when its cases cannot be
  told apart by Python type, otherwise it is untagged. So an import returning
  `result<u64, kv-error>` returns an `int` for ok, `None` for
  `err(wrong-revision)` and a `str` for `err(unavailable(message))`; the
  exported `error` variant arrives tagged; `release-outcome` arrives as `int`
  (released) or `None` (not-held); `sweep`'s result stays tagged (its ok type is
  itself a variant).
- An import that raises traps the call, and a Store that trapped refuses every
  later call. Store failures are therefore returned as `kv-error` values, never
  raised (see `_kv_result`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from wasmtime.component import Linker, Record, Variant

from . import errors
from .types import MISSING, Claim, Entry, Event, Hold, Release

PACKAGE = "holds:core"
VERSION = "0.1.0"

#: The store's answer to "is the key's latest revision the expected one?": no.
WRONG_REVISION = None


def interface(name: str) -> str:
    return f"{PACKAGE}/{name}@{VERSION}"


class WrongRevision(Exception):
    """A kv import's `wrong-revision`: the key's latest revision was not the
    expected one and nothing changed."""


class Unavailable(Exception):
    """A kv import's `unavailable(message)`: the store could not answer."""


class KvImports(Protocol):
    """The `kv` import's three functions, as a store implements them (raising
    WrongRevision / Unavailable)."""

    def get(self, key: str) -> Entry: ...

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int: ...

    def delete_if_revision(self, key: str, expected: int, why: str) -> int: ...


class Host(Protocol):
    """What one instance's imports call: the store, the clock, the observer,
    and `seen(key, entry)` for every entry an import learnt (reads and acks)."""

    kv: KvImports

    def now(self) -> int: ...

    def cas_retry(self, key: str, attempt: int) -> None: ...

    def seen(self, key: str, entry: Entry) -> None: ...


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def _record(**fields: Any) -> Record:
    """A WIT record; pass hyphenated field names with underscores."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def _field(r: Record, name: str) -> Any:
    return getattr(r, name.replace("_", "-"))


def entry_to_wit(e: Entry) -> Record:
    return _record(found=e.found, value=bytes(e.value), revision=e.revision, operation=e.operation)


def _hold(r: Record) -> Hold:
    return Hold(
        agent_id=_field(r, "agent_id"),
        claimed_at=_field(r, "claimed_at"),
        expires_at=_field(r, "expires_at"),
        checkout_path=_field(r, "checkout_path"),
        ttl=r.ttl,
    )


def _claim(r: Record) -> Claim:
    return Claim(file=r.file, hold=_hold(r.hold), revision=r.revision)


def _error(v: Variant) -> errors.HoldsError:
    """The exception for an exported `error` variant."""
    p = v.payload
    if v.tag == "held-by-another":
        return errors.HeldByAnother(_claim(p))
    if v.tag == "invalid-input":
        return errors.InvalidInput(p.field, p.reason)
    if v.tag == "cas-exhausted":
        return errors.CasExhausted(p)
    if v.tag == "corrupt-entry":
        return errors.CorruptEntry(p.key, p.revision, p.reason)
    if v.tag == "store":
        return errors.StoreError(p)
    if v.tag == "closed":
        return errors.Closed()
    return errors.GuestError(f"unknown error case {v.tag!r}: {p!r}")


def _ok(value: Any) -> Any:
    """The ok value of an exported `result<T, error>` (untagged: no ok type used
    here lifts to a Variant, so a Variant is the error)."""
    if isinstance(value, Variant):
        raise _error(value)
    return value


# ---------------------------------------------------------------------------
# Imports
# ---------------------------------------------------------------------------


def _kv_result(fn: Callable[[], Any]) -> Any:
    """Run a kv operation and lower its outcome for `result<T, kv-error>`: the ok
    value, None for wrong-revision, a str for unavailable. Never raises."""
    try:
        return fn()
    except WrongRevision:
        return WRONG_REVISION
    except Unavailable as e:
        return str(e) or "the store is unavailable"
    except BaseException as e:  # a bug or an interrupted bridge: still a value
        return f"store failure: {type(e).__name__}: {e}"


def define_imports(linker: Linker, host: Host) -> None:
    """Define the kv, clock and observer imports of one instance on `linker`."""

    def get(_store: Any, key: str) -> Any:
        def op() -> Record:
            entry = host.kv.get(key)
            host.seen(key, entry)
            return entry_to_wit(entry)

        return _kv_result(op)

    def write(_store: Any, key: str, value: bytes, expected: int, ttl_seconds: int) -> Any:
        def op() -> int:
            revision = host.kv.write_if_revision(key, bytes(value), expected, ttl_seconds)
            host.seen(key, Entry(True, bytes(value), revision, "put"))
            return revision

        return _kv_result(op)

    def delete(_store: Any, key: str, expected: int, why: str) -> Any:
        def op() -> int:
            revision = host.kv.delete_if_revision(key, expected, why)
            host.seen(key, Entry(True, b"", revision, "expire" if why == "expired" else "delete"))
            return revision

        return _kv_result(op)

    def cas_retry(_store: Any, key: str, attempt: int) -> None:
        with contextlib.suppress(Exception):  # an observer is for logs only
            host.cas_retry(key, attempt)

    with linker.root() as root:
        with root.add_instance(interface("kv")) as i:
            i.add_func("get", get)
            i.add_func("write-if-revision", write)
            i.add_func("delete-if-revision", delete)
        with root.add_instance(interface("clock")) as i:
            i.add_func("now", lambda _store: host.now())
        with root.add_instance(interface("observer")) as i:
            i.add_func("cas-retry", cas_retry)
        # holds:core/types holds only types: nothing to define.


# ---------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpretation:
    event: Optional[Event]
    #: When the change is a hold: the first instant (ns) at which it is expired.
    expiry_check_at: Optional[int]
    #: Why the change was dropped (an undecodable value, a foreign key).
    dropped: Optional[str]


@dataclass(frozen=True)
class SweepOutcome:
    #: "expired" (value: the marker's revision), "not-due" (value: when to sweep
    #: again, ns) or "nothing".
    tag: str
    value: Optional[int] = None


def _observed(entry: Optional[Entry]) -> Optional[Record]:
    return None if entry is None else entry_to_wit(entry)


class Exports:
    """The exported functions of one instance, in plain Python values."""

    def __init__(self, instance: Any, store: Any, fuel: Optional[int] = None):
        self._instance = instance
        self._store = store
        self._fuel = fuel
        self._funcs: dict[str, Any] = {}

    def _func(self, iface: str, name: str) -> Any:
        func = self._funcs.get(name)
        if func is None:
            index = self._instance.get_export_index(self._store, interface(iface))
            if index is None:
                raise errors.GuestError(f"the component does not export {interface(iface)}")
            export = self._instance.get_export_index(self._store, name, index)
            if export is None:
                raise errors.GuestError(f"the component does not export {iface}#{name}")
            func = self._instance.get_func(self._store, export)
            self._funcs[name] = func
        return func

    def _call(self, iface: str, name: str, *args: Any) -> Any:
        func = self._func(iface, name)
        if self._fuel is not None:
            self._store.set_fuel(self._fuel)  # the limit is per export call
        return func(self._store, *args)

    def announce(
        self, file: str, agent_id: str, ttl: int, checkout_path: str, ttl_max: int, observed: Optional[Entry]
    ) -> Claim:
        request = _record(file=file, agent_id=agent_id, ttl=ttl, checkout_path=checkout_path)
        return _claim(_ok(self._call("holds", "announce", request, ttl_max, _observed(observed))))

    def release(self, file: str, agent_id: str, observed: Optional[Entry]) -> Release:
        revision = _ok(self._call("holds", "release", file, agent_id, _observed(observed)))
        return Release(False) if revision is None else Release(True, revision)

    def who_has(self, file: str, observed: Optional[Entry]) -> Optional[Claim]:
        claim = _ok(self._call("holds", "who-has", file, _observed(observed)))
        return None if claim is None else _claim(claim)

    def key_for_file(self, file: str) -> str:
        return _ok(self._call("holds", "key-for-file", file))

    def file_for_key(self, key: str) -> str:
        return _ok(self._call("holds", "file-for-key", key))

    def interpret(self, key: str, entry: Entry, previous: Optional[Entry], snapshot: bool) -> Interpretation:
        change = _record(
            key=key,
            entry=entry_to_wit(entry),
            previous=entry_to_wit(previous if previous is not None else MISSING),
            snapshot=snapshot,
        )
        out = self._call("subscribe", "interpret", change)
        event = None
        if out.event is not None:
            kind: Variant = out.event.kind
            hold = _hold(kind.payload) if kind.tag == "announced" else None
            event = Event(out.event.file, out.event.revision, kind.tag, hold)
        return Interpretation(event, _field(out, "expiry_check_at"), out.dropped)

    def sweep(self, key: str, observed: Entry) -> SweepOutcome:
        out = self._call("subscribe", "sweep", key, entry_to_wit(observed))
        if out.tag == "err":
            raise _error(out.payload)
        return SweepOutcome(out.payload.tag, out.payload.payload)
