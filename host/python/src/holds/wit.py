"""Everything that knows the WIT contract `holds:core@0.3.0`, in one place.

The rest of the package speaks plain Python (`types.py`, `errors.py`); this module
turns those values into wasmtime-py's component values and back, defines the
component's imports on a Linker, and wraps its exports. A change of the WIT
(new imports, new exports, a case leaving the `error` variant) changes this
module and the stores, nothing else.

How wasmtime-py (50.0.1) maps WIT values, as used here:

- records are `wasmtime.component.Record` objects whose attributes carry the WIT
  field names verbatim, hyphens included (`getattr(r, "agent-id")`);
- enums are `str` (a hold's `mode`: "exclusive" or "shared"; a claim's or
  event's `scope`: "file", "directory" or "glob"), `list<u8>` is `bytes`,
  integers are `int`, `option<T>` is `None` or the value;
- a variant or result is a `Variant(tag, payload)` only when its cases cannot be
  told apart by Python type, otherwise it is untagged. `kv-error` has two
  cases without a payload (`wrong-revision`, `unsupported`), so it is tagged:
  an import returning `result<u64, kv-error>` returns an `int` for ok and
  `Variant("wrong-revision")`, `Variant("not-stored", record)`,
  `Variant("unavailable", message)` or `Variant("unsupported")` for err. A
  record lowered is any object with the WIT field names as attributes (a
  `Record`, see `_record`). The exported `error` and `file-state`
  variants arrive tagged (`file-state`: `held`, `token-moved`,
  `held-by-another` and `shared` carry a claim, `vacant` nothing);
  `release-outcome` arrives as `int` (released) or `None` (not-held);
  `sweep`'s result stays tagged (its ok type is itself a variant). The `scan`
  import returns a `list` of `keyed-entry` records for ok: the host's view (its
  replica) when it has every change up to `through`, else a fresh read of the
  store (always for `through` the largest u64, `CURRENT`).
- An import that raises traps the call, and a Store that trapped refuses every
  later call. Store failures are therefore returned as `kv-error` values, never
  raised (see `_kv_result`).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Optional, Protocol

from wasmtime.component import Linker, Record, Variant

from . import errors
from .types import MISSING, Claim, Claimed, Entry, Event, FileCheck, Hold, Identity, Mode, Release

PACKAGE = "holds:core"
VERSION = "0.3.0"
#: A `scan`'s `through` asking for the store's current state (the largest u64).
CURRENT = (1 << 64) - 1


def interface(name: str) -> str:
    return f"{PACKAGE}/{name}@{VERSION}"


class WrongRevision(Exception):
    """A kv import's `wrong-revision`: the key's latest revision was not the
    expected one and nothing changed."""


class Unavailable(Exception):
    """A kv import's `unavailable(message)`: the store could not answer."""


class Unsupported(Exception):
    """A kv import's `unsupported`: the store cannot do this (an atomic batch);
    nothing changed."""


#: Why a store took nothing of a write (WIT `unsent`).
UNSENT = ("busy", "leader-changing", "no-stream")


class NotStored(Exception):
    """A kv import's `not-stored`: the store took nothing of a write, so it may
    be sent again; whether and when is the guest's call. `why` is one of
    UNSENT; `detail` is the store's answer."""

    def __init__(self, why: str, detail: str):
        if why not in UNSENT:
            raise ValueError(f"{why!r} is not one of {UNSENT}")
        super().__init__(f"{why}: {detail}")
        self.why = why
        self.detail = detail


@dataclass(frozen=True)
class BatchWrite:
    """One conditional write of a `write-batch` (WIT `kv.write`)."""

    key: str
    value: bytes
    #: The key's latest revision it expects (0: no entry).
    expected: int
    ttl_seconds: int


class KvImports(Protocol):
    """The `kv` import's functions, as a store implements them (raising
    WrongRevision / NotStored / Unavailable / Unsupported)."""

    def get(self, key: str) -> Entry: ...

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int: ...

    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes) -> int: ...

    def get_many(self, keys: list[str]) -> list[Entry]: ...

    def write_batch(self, writes: list[BatchWrite]) -> list[int]: ...

    def scan(self, prefix: str, through: int) -> list[tuple[str, Entry]]: ...


class Host(Protocol):
    """What one instance's imports call: the store, the clock, the observer,
    `seen(key, entry)` for every entry an import learnt from the store (reads and
    acks), and `view(prefix, through)`: a replica's answer to a `scan` (the
    value entries of the keys that start with `prefix`, from a view with every
    change up to revision `through`), or None to read the store."""

    kv: KvImports

    def now(self) -> int: ...

    def pause(self, after: int) -> bool: ...

    def cas_retry(self, key: str, attempt: int) -> None: ...

    def seen(self, key: str, entry: Entry) -> None: ...

    def view(self, prefix: str, through: int) -> Optional[list[tuple[str, Entry]]]: ...


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
        mode=r.mode,
    )


def _claim(r: Record) -> Claim:
    return Claim(file=r.file, hold=_hold(r.hold), revision=r.revision, scope=r.scope)


def _file_check(r: Record) -> FileCheck:
    """A `file-check`: its `file-state` case as the FileState name (hyphens
    become underscores), and the case's claim (none for `vacant`)."""
    state: Variant = r.state
    claim = None if state.payload is None else _claim(state.payload)
    return FileCheck(r.file, state.tag.replace("-", "_"), claim)  # type: ignore[arg-type]


def _error(v: Variant) -> errors.HoldsError:
    """The exception for an exported `error` variant."""
    p = v.payload
    if v.tag == "held-by-another":
        return errors.HeldByAnother(_claim(p))
    if v.tag == "held-by-others":
        return errors.HeldByOthers([_claim(c) for c in p])
    if v.tag == "lost":
        holder = None if p.holder is None else _claim(p.holder)
        return errors.Lost(p.file, p.revision, holder)
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
    value or the tagged kv-error. Never raises."""
    try:
        return fn()
    except WrongRevision:
        return Variant("wrong-revision")
    except NotStored as e:
        return Variant("not-stored", _record(why=e.why, detail=e.detail))
    except Unsupported:
        return Variant("unsupported")
    except Unavailable as e:
        return Variant("unavailable", str(e) or "the store is unavailable")
    except BaseException as e:  # a bug or an interrupted bridge: still a value
        return Variant("unavailable", f"store failure: {type(e).__name__}: {e}")


#: The largest git link file `read-link-file` reads (a `.git` file, `commondir`).
_MAX_LINK_FILE = 4096


def inspect(path: str) -> Variant:
    """The `fs.inspect` import: what is at `path`, a final symlink not followed."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return Variant("missing")
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
            target.encode("utf-8")  # a non-UTF-8 target decodes to surrogates
        except (OSError, UnicodeError):
            return Variant("other")
        return Variant("symlink", target)
    if stat.S_ISDIR(mode):
        return Variant("directory")
    if stat.S_ISREG(mode):
        return Variant("file")
    return Variant("other")


def read_link_file(path: str) -> Optional[str]:
    """The `fs.read-link-file` import: a small UTF-8 regular file's text."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            data = f.read(_MAX_LINK_FILE + 1)
        return data.decode("utf-8") if len(data) <= _MAX_LINK_FILE else None
    except (OSError, ValueError):
        return None


def define_imports(linker: Linker, host: Host) -> None:
    """Define the fs, kv, clock and observer imports of one instance on `linker`."""

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

    def delete(_store: Any, key: str, expected: int, why: str, note: bytes) -> Any:
        def op() -> int:
            revision = host.kv.delete_if_revision(key, expected, why, bytes(note))
            host.seen(key, Entry(True, bytes(note), revision, "expire" if why == "expired" else "delete"))
            return revision

        return _kv_result(op)

    def get_many(_store: Any, keys: list[str]) -> Any:
        def op() -> list[Record]:
            entries = host.kv.get_many(list(keys))
            for key, entry in zip(keys, entries, strict=True):
                host.seen(key, entry)
            return [entry_to_wit(e) for e in entries]

        return _kv_result(op)

    def write_batch(_store: Any, writes: list[Record]) -> Any:
        def op() -> list[int]:
            batch = [BatchWrite(w.key, bytes(w.value), w.expected, _field(w, "ttl_seconds")) for w in writes]
            revisions = host.kv.write_batch(batch)
            for w, revision in zip(batch, revisions, strict=True):
                host.seen(w.key, Entry(True, w.value, revision, "put"))
            return revisions

        return _kv_result(op)

    def scan(_store: Any, prefix: str, through: int) -> Any:
        def op() -> list[Record]:
            # `through` the largest u64: the store's current state, read fresh.
            found = None if through == CURRENT else host.view(prefix, through)
            if found is None:
                found = host.kv.scan(prefix, through)
                for key, entry in found:
                    host.seen(key, entry)
            return [_record(key=key, entry=entry_to_wit(entry)) for key, entry in found]

        return _kv_result(op)

    def pause(_store: Any, after: int) -> bool:
        try:
            return host.pause(after)
        except Exception:  # raising would trap the call: give up instead
            return False

    def cas_retry(_store: Any, key: str, attempt: int) -> None:
        with contextlib.suppress(Exception):  # an observer is for logs only
            host.cas_retry(key, attempt)

    with linker.root() as root:
        with root.add_instance(interface("fs")) as i:
            i.add_func("inspect", lambda _store, path: inspect(path))
            i.add_func("read-link-file", lambda _store, path: read_link_file(path))
        with root.add_instance(interface("kv")) as i:
            i.add_func("get", get)
            i.add_func("write-if-revision", write)
            i.add_func("delete-if-revision", delete)
            i.add_func("get-many", get_many)
            i.add_func("write-batch", write_batch)
            i.add_func("scan", scan)
        with root.add_instance(interface("clock")) as i:
            i.add_func("now", lambda _store: host.now())
            i.add_func("pause", pause)
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


@dataclass(frozen=True)
class Upkeep:
    """How a host keeps its replica and runs its sweeps (WIT `upkeep-plan`;
    durations in ns)."""

    #: Drop aged-out entries from the replica this often (0: never).
    prune_every: int
    #: How long a hold stays in the replica after it was written.
    keep_hold: int
    #: How long a marker stays in the replica after it was written.
    keep_marker: int
    #: A sweep the store failed is tried again this long after.
    sweep_retry: int
    #: Sweeps in flight at once.
    concurrent_sweeps: int
    #: A failed watcher is started again this long after.
    restart_after: int


@dataclass(frozen=True)
class MarkerHeader:
    """A header value that makes a stored message a marker (WIT `marker-header`)."""

    name: str
    value: str
    #: The operation a message carrying it records ("delete", "purge", "expire").
    operation: str


def _observed(entry: Optional[Entry]) -> Optional[Record]:
    return None if entry is None else entry_to_wit(entry)


class Exports:
    """The exported functions of one instance, in plain Python values.
    `begin()`, if given, runs as each export call starts (its deadline starts)."""

    def __init__(
        self, instance: Any, store: Any, fuel: Optional[int] = None, begin: Optional[Callable[[], None]] = None
    ):
        self._instance = instance
        self._store = store
        self._fuel = fuel
        self._begin = begin
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
        if self._begin is not None:
            self._begin()
        return func(self._store, *args)

    def announce(
        self,
        file: str,
        agent_id: str,
        ttl: int,
        checkout_path: str,
        ttl_max: int,
        observed: Optional[Entry],
        mode: Mode = "exclusive",
    ) -> Claim:
        request = _record(file=file, agent_id=agent_id, ttl=ttl, checkout_path=checkout_path, mode=mode)
        return _claim(_ok(self._call("holds", "announce", request, ttl_max, _observed(observed))))

    def release(self, file: str, agent_id: str, observed: Optional[Entry]) -> Release:
        revision = _ok(self._call("holds", "release", file, agent_id, _observed(observed)))
        return Release(False) if revision is None else Release(True, revision)

    def who_has(self, file: str, observed: Optional[Entry]) -> Optional[Claim]:
        claim = _ok(self._call("holds", "who-has", file, _observed(observed)))
        return None if claim is None else _claim(claim)

    def covering(self, file: str) -> list[Claim]:
        """Every live hold that covers `file`, oldest revision first."""
        return [_claim(c) for c in _ok(self._call("holds", "covering", file))]

    def claim_files(
        self,
        files: list[str],
        agent_id: str,
        ttl: int,
        checkout_path: str,
        ttl_max: int,
        max_files: int,
        observed: list[Optional[Entry]],
        mode: Mode = "exclusive",
    ) -> Claimed:
        request = _record(files=list(files), agent_id=agent_id, ttl=ttl, checkout_path=checkout_path, mode=mode)
        out = _ok(self._call("holds", "claim-files", request, ttl_max, max_files, [_observed(e) for e in observed]))
        return Claimed([_claim(c) for c in out.claims], out.atomic)

    def renew(
        self,
        file: str,
        agent_id: str,
        ttl: int,
        checkout_path: str,
        revision: int,
        ttl_max: int,
        mode: Mode = "exclusive",
    ) -> Claim:
        request = _record(file=file, agent_id=agent_id, ttl=ttl, checkout_path=checkout_path, mode=mode)
        return _claim(_ok(self._call("holds", "renew", request, revision, ttl_max)))

    def check(self, files: list[str], agent_id: str, tokens: list[int]) -> list[FileCheck]:
        out = _ok(self._call("holds", "check", list(files), agent_id, list(tokens)))
        return [_file_check(c) for c in out]

    def force_release(self, file: str, by: str, observed: Optional[Entry]) -> Release:
        revision = _ok(self._call("holds", "force-release", file, by, _observed(observed)))
        return Release(False) if revision is None else Release(True, revision)

    def key_for_file(self, file: str) -> str:
        return _ok(self._call("holds", "key-for-file", file))

    def file_for_key(self, key: str) -> str:
        return _ok(self._call("holds", "file-for-key", key))

    def check_bucket(self, bucket: str, max_age: int, limits: Any, ttl_max: int) -> None:
        """The guest's verdict on a bucket's settings (`limits`: a stores.base.BucketLimits)."""
        settings = _record(
            bucket=bucket,
            max_age=max_age,
            max_messages=limits.max_messages,
            max_bytes=limits.max_bytes,
            max_messages_per_key=limits.max_messages_per_key,
            discard_old=limits.discard_old,
            discard_new_per_key=limits.discard_new_per_key,
        )
        out = self._call("holds", "check-bucket", settings, ttl_max)
        if isinstance(out, Variant):
            raise _error(out)

    def identify(self, paths: list[str], cwd: str, workspace: str, checkout: str) -> list[Identity]:
        place = _record(cwd=cwd, workspace=workspace, checkout=checkout)
        out = _ok(self._call("holds", "identify", list(paths), place))
        return [Identity(i.file, i.checkout) for i in out]

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
            forced_by = kind.payload if kind.tag == "released" else None
            event = Event(out.event.file, out.event.revision, kind.tag, hold, forced_by, out.event.scope)
        return Interpretation(event, _field(out, "expiry_check_at"), out.dropped)

    def upkeep(self, max_age: int) -> Upkeep:
        """The upkeep plan of a replica of a bucket whose entries age out after
        `max_age` ns (0: never)."""
        out = self._call("subscribe", "upkeep", max_age)
        return Upkeep(**{f.name: _field(out, f.name) for f in fields(Upkeep)})

    def marker_headers(self) -> list[MarkerHeader]:
        """How a message's headers name its operation: the first rule whose
        header it carries with that value; none is a put."""
        return [MarkerHeader(r.name, r.value, r.operation) for r in self._call("subscribe", "marker-headers")]

    def sweep(self, key: str, observed: Entry) -> SweepOutcome:
        out = self._call("subscribe", "sweep", key, entry_to_wit(observed))
        if out.tag == "err":
            raise _error(out.payload)
        return SweepOutcome(out.payload.tag, out.payload.payload)
