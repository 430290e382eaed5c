"""A Python host for the holds component, on the PyPI `wasmtime` package.

It implements the component's imports (`kv`, `clock`, `observer`) in Python, over
an in-memory revisioned bucket with JetStream KV semantics, and wraps the exports
(`holds`, `subscribe`) in plain Python calls.

How wasmtime-py (50.0.1) maps WIT values to Python, as used below:

- records are `wasmtime.component.Record` objects whose attributes carry the WIT
  field names verbatim, hyphens included (`getattr(hold, "agent-id")`);
- enums are `str`; `list<u8>` is `bytes`; integers are `int`;
- `option<T>` is `None` or the value;
- a `variant` or `result` is a `Variant(tag, payload)` only when its cases cannot be
  told apart by Python type; otherwise it is untagged and the value's type picks
  the case. `kv-error` has two cases without a payload, so it is tagged: a host
  function returning `result<u64, kv-error>` returns an `int` for `ok` and a
  `Variant("wrong-revision")` (or `Variant("unavailable", message)`) for `err`;
  the exported `error` variant arrives tagged
  (`Variant("held-by-another", claim)`), the exported `release-outcome` untagged
  (`int` for `released`, `None` for `not-held`).
- A host function that raises traps the call, and a Store that has trapped
  refuses every later call: use one Store per instance and never raise from an
  import on purpose. Store failures are `kv-error` values, not exceptions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import wasmtime
from wasmtime.component import Component, Linker, Record, Variant

PACKAGE = "holds:core"
VERSION = "0.2.0"


def _iface(name: str) -> str:
    return f"{PACKAGE}/{name}@{VERSION}"


# ---------------------------------------------------------------------------
# The in-memory bucket (the `kv` import's semantics)
# ---------------------------------------------------------------------------


class KvError(Exception):
    """A failure of a kv import, turned into the `kv-error` variant for the guest."""


class WrongRevision(KvError):
    """The key's latest revision was not the expected one; nothing changed."""


class Unavailable(KvError):
    """The store could not answer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Unsupported(KvError):
    """The store cannot do this (an atomic batch); nothing changed."""


@dataclass(frozen=True)
class Entry:
    """A key's latest entry (WIT `kv.entry`). `found=False`: no entry at all."""

    found: bool
    value: bytes
    revision: int
    operation: str  # "put" | "delete" | "purge" | "expire"


MISSING = Entry(found=False, value=b"", revision=0, operation="put")


class MemoryKv:
    """A revisioned bucket as JetStream KV with history 1.

    One increasing revision sequence for the whole bucket; only a key's latest
    entry is kept; removing a key leaves a marker entry (operation `delete`,
    `purge` or `expire`; its value is the guest's note, e.g. who forced a release)
    with its own revision; a batch writes every entry or none; conditional writes
    and deletes succeed only if the key's latest revision (a marker's included)
    equals `expected`, 0 meaning "no entry at all". TTLs are recorded, not
    enforced: the guest judges expiry from the hold itself.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._entries: dict[str, Entry] = {}
        self._interposers: dict[str, list[Callable[[str], None]]] = {}
        #: Every import call, in order: (op, key, *args).
        self.calls: list[tuple] = []
        #: key -> `ttl-seconds` of the last successful write.
        self.ttl_seconds: dict[str, int] = {}

    # -- the imports --------------------------------------------------------

    def get(self, key: str) -> Entry:
        self.calls.append(("get", key))
        self._interpose("get", key)
        return self.entry(key)

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int:
        self.calls.append(("write_if_revision", key, expected, ttl_seconds))
        self._interpose("write_if_revision", key)
        self._check(key, expected)
        revision = self._store(key, bytes(value), "put")
        self.ttl_seconds[key] = ttl_seconds
        return revision

    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes = b"") -> int:
        """Leave a `delete` marker for `released`, an `expire` marker for `expired`,
        with `note` as its value."""
        self.calls.append(("delete_if_revision", key, expected, why))
        self._interpose("delete_if_revision", key)
        self._check(key, expected)
        operation = {"released": "delete", "expired": "expire"}[why]
        return self._store(key, bytes(note), operation)

    def get_many(self, keys: list[str]) -> list[Entry]:
        self.calls.append(("get_many", tuple(keys)))
        self._interpose("get_many", keys[0] if keys else "")
        return [self.entry(key) for key in keys]

    def write_batch(self, writes: list[tuple[str, bytes, int, int]]) -> list[int]:
        """(key, value, expected, ttl_seconds) each; all written or none."""
        self.calls.append(("write_batch", tuple(w[0] for w in writes)))
        self._interpose("write_batch", writes[0][0] if writes else "")
        for key, _value, expected, _ttl in writes:
            self._check(key, expected)
        revisions = []
        for key, value, _expected, ttl_seconds in writes:
            revisions.append(self._store(key, bytes(value), "put"))
            self.ttl_seconds[key] = ttl_seconds
        return revisions

    # -- what other clients of the bucket can do (unconditional) ------------

    def put(self, key: str, value: bytes) -> int:
        return self._store(key, bytes(value), "put")

    def remove(self, key: str, operation: str = "delete") -> int:
        return self._store(key, b"", operation)

    # -- inspection and fault injection --------------------------------------

    def entry(self, key: str) -> Entry:
        """The latest entry of `key`, without logging a call."""
        return self._entries.get(key, MISSING)

    @property
    def last_revision(self) -> int:
        return self._seq

    def interpose(self, op: str, fn: Callable[[str], None]) -> None:
        """Run `fn(key)` once, just before the next call of `op` does anything.

        `op` is "get", "write_if_revision", "delete_if_revision", "get_many" or
        "write_batch". `fn` may
        change the bucket (a racing client) or raise a KvError (a failing store).
        """
        self._interposers.setdefault(op, []).append(fn)

    def fail_next(self, op: str, error: KvError) -> None:
        """Make the next call of `op` fail with `error` and change nothing."""

        def fail(_key: str) -> None:
            raise error

        self.interpose(op, fail)

    def _interpose(self, op: str, key: str) -> None:
        queue = self._interposers.get(op)
        if queue:
            queue.pop(0)(key)

    def _check(self, key: str, expected: int) -> None:
        latest = self._entries[key].revision if key in self._entries else 0
        if latest != expected:
            raise WrongRevision(f"{key}: latest revision {latest}, expected {expected}")

    def _store(self, key: str, value: bytes, operation: str) -> int:
        self._seq += 1
        self._entries[key] = Entry(True, value, self._seq, operation)
        return self._seq


# ---------------------------------------------------------------------------
# Clock and observer
# ---------------------------------------------------------------------------


class ManualClock:
    """A clock the caller sets: nanoseconds since the Unix epoch (WIT `s64`)."""

    def __init__(self, now: int = 1_700_000_000_000_000_000):
        self.ns = now

    def now(self) -> int:
        return self.ns

    def set(self, ns: int) -> None:
        self.ns = ns

    def advance(self, ns: int) -> None:
        self.ns += ns


class SystemClock:
    """The wall clock, in nanoseconds since the Unix epoch."""

    def now(self) -> int:
        return time.time_ns()


class RecordingObserver:
    """Records every `cas-retry(key, attempt)` call."""

    def __init__(self) -> None:
        self.retries: list[tuple[str, int]] = []

    def cas_retry(self, key: str, attempt: int) -> None:
        self.retries.append((key, attempt))


# ---------------------------------------------------------------------------
# Python views of the exported types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    agent_id: str
    claimed_at: int
    expires_at: int
    checkout_path: str
    ttl: int


@dataclass(frozen=True)
class Claim:
    file: str
    hold: Hold
    revision: int


@dataclass(frozen=True)
class ReleaseOutcome:
    tag: str  # "released" | "not-held"
    revision: Optional[int] = None  # the marker's revision, when released


@dataclass(frozen=True)
class Event:
    file: str
    revision: int
    kind: str  # "announced" | "released" | "expired"
    hold: Optional[Hold] = None  # when announced
    forced_by: Optional[str] = None  # when force-released


@dataclass(frozen=True)
class Interpretation:
    event: Optional[Event]
    expiry_check_at: Optional[int]
    dropped: Optional[str]


class HoldsError(Exception):
    """An export returned `err(error)`: `tag` is the case, `payload` its value.

    Payloads: held-by-another -> Claim; invalid-input / corrupt-entry -> dict;
    cas-exhausted -> int (attempts); store -> str; closed -> None.
    """

    def __init__(self, tag: str, payload: Any = None):
        super().__init__(f"{tag}: {payload!r}")
        self.tag = tag
        self.payload = payload


def _record(**fields: Any) -> Record:
    """A WIT record; pass hyphenated names with underscores."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def _field(r: Record, name: str) -> Any:
    return getattr(r, name.replace("_", "-"))


def _entry_to_wit(e: Entry) -> Record:
    return _record(found=e.found, value=bytes(e.value), revision=e.revision, operation=e.operation)


def _hold_from_wit(r: Record) -> Hold:
    return Hold(*(_field(r, f) for f in ("agent_id", "claimed_at", "expires_at", "checkout_path", "ttl")))


def _claim_from_wit(r: Record) -> Claim:
    return Claim(file=r.file, hold=_hold_from_wit(r.hold), revision=r.revision)


def _error_from_wit(v: Variant) -> HoldsError:
    payload = v.payload
    if v.tag == "held-by-another":
        payload = _claim_from_wit(payload)
    elif v.tag == "held-by-others":
        payload = [_claim_from_wit(c) for c in payload]
    elif isinstance(payload, Record):
        payload = dict(vars(payload))
    return HoldsError(v.tag, payload)


def _ok(value: Any) -> Any:
    """The ok value of an exported `result<T, error>`, or raise its error.

    The `error` variant is always tagged (several cases carry records), while no
    ok type used here lifts to a `Variant`, so a `Variant` means `err`.
    """
    if isinstance(value, Variant):
        raise _error_from_wit(value)
    return value


# ---------------------------------------------------------------------------
# The host
# ---------------------------------------------------------------------------


def _kv_call(fn: Callable[[], Any]) -> Any:
    """Run a kv operation and lower its outcome as wasmtime-py expects for
    `result<T, kv-error>`: the ok value, or the tagged `kv-error`."""
    try:
        return fn()
    except WrongRevision:
        return Variant("wrong-revision")
    except Unavailable as e:
        return Variant("unavailable", e.message)
    except Unsupported:
        return Variant("unsupported")


class Holds:
    """One instance of the component in its own Store, with its own imports.

    `kv` has `get`, `write_if_revision`, `delete_if_revision`, `get_many` and
    `write_batch` as MemoryKv does (raising WrongRevision / Unavailable / Unsupported); `clock.now()` returns nanoseconds
    since the epoch; `observer.cas_retry(key, attempt)` is optional.
    """

    def __init__(self, engine: wasmtime.Engine, component: Component, kv: Any, clock: Any, observer: Any = None):
        self.store = wasmtime.Store(engine)
        linker = Linker(engine)
        with linker.root() as root:
            with root.add_instance(_iface("kv")) as i:
                i.add_func("get", lambda _s, key: _kv_call(lambda: _entry_to_wit(kv.get(key))))
                i.add_func(
                    "write-if-revision",
                    lambda _s, key, value, expected, ttl_seconds: _kv_call(
                        lambda: kv.write_if_revision(key, value, expected, ttl_seconds)
                    ),
                )
                i.add_func(
                    "delete-if-revision",
                    lambda _s, key, expected, why, note: _kv_call(
                        lambda: kv.delete_if_revision(key, expected, why, note)
                    ),
                )
                i.add_func(
                    "get-many",
                    lambda _s, keys: _kv_call(lambda: [_entry_to_wit(e) for e in kv.get_many(keys)]),
                )
                i.add_func(
                    "write-batch",
                    lambda _s, writes: _kv_call(
                        lambda: kv.write_batch(
                            [(w.key, w.value, w.expected, _field(w, "ttl_seconds")) for w in writes]
                        )
                    ),
                )
            with root.add_instance(_iface("clock")) as i:
                i.add_func("now", lambda _s: clock.now())
            with root.add_instance(_iface("observer")) as i:
                i.add_func(
                    "cas-retry",
                    lambda _s, key, attempt: observer.cas_retry(key, attempt) if observer else None,
                )
            # holds:core/types holds only types: nothing to define.
        self.instance = linker.instantiate(self.store, component)
        self._funcs: dict[str, Any] = {}

    def _call(self, iface: str, name: str, *args: Any) -> Any:
        func = self._funcs.get(name)
        if func is None:
            index = self.instance.get_export_index(self.store, _iface(iface))
            func = self.instance.get_func(self.store, self.instance.get_export_index(self.store, name, index))
            self._funcs[name] = func
        return func(self.store, *args)

    # -- holds:core/holds ------------------------------------------------------

    def announce(
        self, file: str, agent_id: str, ttl: int, checkout_path: str, ttl_max: int, observed: Optional[Entry] = None
    ) -> Claim:
        request = _record(file=file, agent_id=agent_id, ttl=ttl, checkout_path=checkout_path)
        out = self._call("holds", "announce", request, ttl_max, _observed(observed))
        return _claim_from_wit(_ok(out))

    def release(self, file: str, agent_id: str, observed: Optional[Entry] = None) -> ReleaseOutcome:
        revision = _ok(self._call("holds", "release", file, agent_id, _observed(observed)))
        return ReleaseOutcome("not-held") if revision is None else ReleaseOutcome("released", revision)

    def who_has(self, file: str, observed: Optional[Entry] = None) -> Optional[Claim]:
        claim = _ok(self._call("holds", "who-has", file, _observed(observed)))
        return None if claim is None else _claim_from_wit(claim)

    def claim_files(
        self, files: list[str], agent_id: str, ttl: int, checkout_path: str, ttl_max: int, max_files: int = 16
    ) -> tuple[list[Claim], bool]:
        """Every file or none: (claims in sorted order, whether it was one atomic write)."""
        request = _record(files=list(files), agent_id=agent_id, ttl=ttl, checkout_path=checkout_path)
        out = _ok(self._call("holds", "claim-files", request, ttl_max, max_files, []))
        return [_claim_from_wit(c) for c in out.claims], out.atomic

    def force_release(self, file: str, by: str, observed: Optional[Entry] = None) -> ReleaseOutcome:
        revision = _ok(self._call("holds", "force-release", file, by, _observed(observed)))
        return ReleaseOutcome("not-held") if revision is None else ReleaseOutcome("released", revision)

    def key_for_file(self, file: str) -> str:
        return _ok(self._call("holds", "key-for-file", file))

    def file_for_key(self, key: str) -> str:
        return _ok(self._call("holds", "file-for-key", key))

    # -- holds:core/subscribe --------------------------------------------------

    def interpret(self, key: str, entry: Entry, snapshot: bool, previous: Optional[Entry] = None) -> Interpretation:
        """`previous` is the key's entry before this change, as far as the host knows."""
        change = _record(
            key=key,
            entry=_entry_to_wit(entry),
            previous=_entry_to_wit(previous if previous is not None else MISSING),
            snapshot=snapshot,
        )
        out = self._call("subscribe", "interpret", change)
        event = None
        if out.event is not None:
            kind: Variant = out.event.kind
            hold = _hold_from_wit(kind.payload) if kind.tag == "announced" else None
            forced_by = kind.payload if kind.tag == "released" else None
            event = Event(out.event.file, out.event.revision, kind.tag, hold, forced_by)
        return Interpretation(event, _field(out, "expiry_check_at"), out.dropped)

    def sweep(self, key: str, observed: Entry) -> tuple[str, Optional[int]]:
        """("expired", marker revision), ("not-due", when to sweep again) or ("nothing", None)."""
        out = self._call("subscribe", "sweep", key, _entry_to_wit(observed))
        # The ok type is itself a variant, so wasmtime-py keeps the result tagged.
        if out.tag == "err":
            raise _error_from_wit(out.payload)
        return (out.payload.tag, out.payload.payload)


def _observed(entry: Optional[Entry]) -> Optional[Record]:
    return None if entry is None else _entry_to_wit(entry)


def load(engine: wasmtime.Engine, path: str) -> Component:
    """Compile the component file once; instantiate it as often as needed."""
    return Component.from_file(engine, path)
