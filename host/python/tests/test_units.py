"""Small pieces: durations, the bridge, the memory store, the bundled component,
the JetStream store's reading of the server's answers, the pause import, the
WIT values (modes, check states), the scan import and the replica's view."""

import asyncio
import datetime as dt
import threading
import time

import nats.errors
import nats.js.errors as jserr
import pytest
from wasmtime.component import Record, Variant

import holds
from holds import wit
from holds.bridge import BridgeError, LoopThread
from holds.component import InstancePool, Runtime, _CallHost, bundled_component, marker_headers
from holds.duration import to_nanos
from holds.manager import _mode
from holds.replica import Replica
from holds.stores import MemoryStore, NotStored, Unavailable, WrongRevision
from holds.stores.jetstream import operation_of, publish_failed, refused, scan_filter
from holds.types import Entry


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("30s", 30 * 10**9),
        ("250ms", 250 * 10**6),
        ("1m30s", 90 * 10**9),
        ("1.5s", 1_500_000_000),
        ("60000000001ns", 60_000_000_001),
        (2, 2 * 10**9),
        (0.25, 250_000_000),
        (dt.timedelta(minutes=5), 300 * 10**9),
        ("0s", 0),
    ],
)
def test_durations(value, ns):
    assert to_nanos(value) == ns


@pytest.mark.parametrize("value", ["", "30", "5 parsecs", "-1s", -1, True, None])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        to_nanos(value)


def test_bridge_refuses_to_block_its_own_thread_and_times_out():
    lt = LoopThread("test")
    try:
        assert lt.run(asyncio.sleep(0, "x"), 1) == "x"

        async def on_loop():
            return lt.run(asyncio.sleep(0), 1)

        with pytest.raises(BridgeError, match="deadlock"):
            lt.run(on_loop(), 1)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            lt.run(asyncio.sleep(10), 0.2)
        assert time.monotonic() - started < 2
    finally:
        lt.stop()
    with pytest.raises(BridgeError):
        lt.run(asyncio.sleep(0), 1)


def test_memory_store_semantics():
    s = MemoryStore()
    assert not s.get("k").found
    r1 = s.write_if_revision("k", b"v1", 0, 30)
    assert r1 == 1
    with pytest.raises(WrongRevision):
        s.write_if_revision("k", b"v2", 0, 30)
    m = s.delete_if_revision("k", r1, "released")
    e = s.get("k")
    assert (e.found, e.value, e.revision, e.operation) == (True, b"", m, "delete")
    with pytest.raises(WrongRevision):
        s.write_if_revision("k", b"v3", 0, 30)  # over a marker: its revision, not 0
    assert s.write_if_revision("k", b"v3", m, 30) == m + 1
    x = s.delete_if_revision("k", m + 1, "expired")
    assert s.get("k").operation == "expire" and s.get("k").revision == x
    assert s.put("other", b"raw") == x + 1  # one sequence for the bucket


def test_memory_store_ages_entries_out_without_a_marker():
    s = MemoryStore(max_age=50_000_000)
    s.write_if_revision("k", b"v", 0, 0)
    time.sleep(0.08)
    assert not s.get("k").found
    assert s.write_if_revision("k", b"v", 0, 0) == 2


def test_the_bundled_component_loads_once_per_process():
    assert bundled_component().stat().st_size > 100_000
    assert Runtime.load() is Runtime.load()


def test_memory_store_unavailable_is_a_store_error():
    async def main():
        store = MemoryStore()
        m = await holds.Manager.open(store, ttl_max="60s", replica=False)
        try:
            store.set_unavailable("disk on fire")
            with pytest.raises(holds.StoreError, match="disk on fire"):
                await m.announce("/w/a", "a", "30s")
            store.set_unavailable(None)
            assert (await m.announce("/w/a", "a", "30s")).revision == 1
        finally:
            await m.close()

    asyncio.run(main())


def test_calls_from_several_event_loops_share_one_manager():
    async def open_it():
        return await holds.Manager.memory(ttl_max="60s")

    m = asyncio.run(open_it())
    errors = []

    def agent(i):
        async def main():
            for j in range(20):
                await m.announce(f"/w/{i}/{j}", f"agent-{i}", "30s")

        try:
            asyncio.run(main())
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    async def check():
        claims = await m.list()
        await m.close()
        return claims

    assert errors == []
    assert len(asyncio.run(check())) == 80


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (jserr.APIError(code=400, err_code=10164, description="wrong last sequence"), "busy"),
        (jserr.APIError(code=503, err_code=10163, description="last sequence not ready"), "leader-changing"),
        (jserr.NoStreamResponseError(), "no-stream"),
        (nats.errors.NoRespondersError(), "no-stream"),
    ],
)
def test_server_answers_that_stored_nothing_are_not_stored_with_the_servers_text(error, why):
    out = publish_failed(error, "k", 1.0)
    assert isinstance(out, NotStored)
    assert out.why == why
    assert out.detail == (error.description if isinstance(error, jserr.APIError) else str(error))


def test_other_server_answers_are_conflicts_or_failures():
    def answer(code: int) -> jserr.APIError:
        return jserr.APIError(code=400, err_code=code, description="refused")

    assert isinstance(publish_failed(answer(10071), "k", 1.0), WrongRevision)
    assert isinstance(publish_failed(answer(10999), "k", 1.0), Unavailable)
    assert isinstance(publish_failed(nats.errors.TimeoutError(), "k", 1.0), Unavailable)
    assert isinstance(publish_failed(nats.errors.ConnectionClosedError(), "k", 1.0), Unavailable)
    # A batch's commit answers with the code in its reply.
    busy = refused(10164, "in flight", "k")
    assert isinstance(busy, NotStored) and (busy.why, busy.detail) == ("busy", "in flight")
    assert isinstance(refused(10071, "wrong last sequence", "k"), WrongRevision)


@pytest.mark.parametrize(
    ("headers", "operation"),
    [
        ({"KV-Operation": "DEL", "Holds-Removal": "expired"}, "expire"),  # a sweep's delete
        ({"KV-Operation": "DEL"}, "delete"),
        ({"KV-Operation": "PURGE"}, "purge"),
        ({"Nats-Marker-Reason": "MaxAge"}, "expire"),
        ({"Nats-Marker-Reason": "Remove"}, "delete"),
        ({"Nats-Marker-Reason": "Purge"}, "purge"),
        ({"Nats-Marker-Reason": "Other"}, "put"),
        ({"kv-operation": "DEL"}, "put"),  # header names are exact
        ({"Holds-Removal": "released"}, "put"),
        ({"Nats-TTL": "30s"}, "put"),
        ({}, "put"),
        (None, "put"),
    ],
)
def test_a_messages_headers_name_its_operation_by_the_guests_table(headers, operation):
    assert operation_of(headers) == operation


def test_the_guests_marker_table_is_asked_once():
    table = marker_headers()
    assert table is marker_headers()
    assert {rule.operation for rule in table} == {"delete", "purge", "expire"}


def _call_host(op_timeout: float) -> _CallHost:
    host = _CallHost(MemoryStore(), holds.SystemClock(), op_timeout, None)
    host.begin()
    return host


def test_a_pause_past_the_calls_deadline_returns_false_at_once():
    host = _call_host(0.2)
    started = time.monotonic()
    assert host.pause(300_000_000) is False
    assert time.monotonic() - started < 0.05


def test_a_pause_that_fits_waits_and_returns_true():
    host = _call_host(0.5)
    started = time.monotonic()
    assert host.pause(100_000_000) is True
    assert time.monotonic() - started >= 0.1


def test_the_deadline_is_each_export_calls_own():
    host = _call_host(0.15)
    assert host.pause(100_000_000) is True
    assert host.pause(100_000_000) is False  # 0.2 s of the call's 0.15 s
    host.begin()  # the next call
    assert host.pause(100_000_000) is True


def test_memory_store_scan_finds_the_values_under_a_prefix():
    s = MemoryStore()
    a = s.write_if_revision("_hx.a", b"A", 0, 30)
    b = s.put("_hx.b", b"B")
    gone = s.put("_hx.gone", b"G")
    s.delete_if_revision("_hx.gone", gone, "released")
    s.put("_hx.purged", b"P")
    s.remove("_hx.purged", "purge")
    s.put("=2Fwork=2Fa.txt", b"F")
    s.put("_hy.c", b"C")
    found = dict(s.scan("_hx.", b))
    assert set(found) == {"_hx.a", "_hx.b"}  # markers and other prefixes left out
    assert (found["_hx.a"].value, found["_hx.a"].revision, found["_hx.a"].operation) == (b"A", a, "put")
    assert found["_hx.b"] == s.get("_hx.b")
    assert {k for k, _ in s.scan("_h", 0)} == {"_hx.a", "_hx.b", "_hy.c"}  # not a whole token
    assert len(s.scan("", 0)) == 4
    assert s.scan("_hz.", 0) == []


def test_memory_store_scan_leaves_out_what_aged_out_and_fails_unavailable():
    s = MemoryStore(max_age=50_000_000)
    s.put("_hx.old", b"O")
    time.sleep(0.08)
    s.put("_hx.new", b"N")
    assert [k for k, _ in s.scan("_hx.", 0)] == ["_hx.new"]
    s.set_unavailable("down")
    with pytest.raises(Unavailable, match="down"):
        s.scan("_hx.", 0)


@pytest.mark.parametrize(
    ("prefix", "subject"),
    [
        ("_hx.", "$KV.b._hx.>"),
        ("_hx.s.", "$KV.b._hx.s.>"),
        ("_hx", "$KV.b.>"),  # not whole tokens: every key, kept by prefix
        ("", "$KV.b.>"),
        (".", "$KV.b.>"),
        ("a..", "$KV.b.>"),
        ("*.", "$KV.b.>"),
        ("a.>.", "$KV.b.>"),
    ],
)
def test_a_scan_filters_the_keys_subjects_only_by_whole_tokens(prefix, subject):
    assert scan_filter("$KV.b.", prefix) == subject


@pytest.mark.parametrize("mode", ["exclusive", "shared"])
def test_the_two_modes_pass(mode):
    assert _mode(mode) == mode


@pytest.mark.parametrize("mode", ["", "Shared", "both", None, 1, b"shared"])
def test_any_other_mode_is_invalid_input_naming_the_field(mode):
    with pytest.raises(holds.InvalidInput) as e:
        _mode(mode)
    assert e.value.field == "mode"


def _wit_claim(file: str, agent: str, mode: str, revision: int, scope: str = "file") -> Record:
    hold = wit._record(agent_id=agent, claimed_at=1, expires_at=2, checkout_path="/co", ttl=3, mode=mode)
    return wit._record(file=file, scope=scope, hold=hold, revision=revision)


def test_a_hold_carries_its_mode_and_shows_it():
    claim = wit._claim(_wit_claim("/w/", "a", "shared", 7, "directory"))
    assert claim == holds.Claim("/w/", holds.Hold("a", 1, 2, "/co", 3, "shared"), 7, "directory")
    assert "mode='shared'" in repr(claim)
    assert holds.Hold("a", 1, 2, "", 3).mode == "exclusive"


@pytest.mark.parametrize("scope", ["file", "directory", "glob"])
def test_a_claim_takes_its_scope_from_the_component_not_from_its_text(scope):
    # A file's own name may hold `*`, and a pattern's text is not re-read: the
    # scope is the component's.
    claim = wit._claim(_wit_claim("/w/a*.txt", "a", "exclusive", 7, scope))
    assert (claim.file, claim.scope) == ("/w/a*.txt", scope)
    assert f"scope='{scope}'" in repr(claim)


@pytest.mark.parametrize(
    ("tag", "state"),
    [("held", "held"), ("token-moved", "token_moved"), ("held-by-another", "held_by_another"), ("shared", "shared")],
)
def test_each_file_state_with_a_claim_maps_to_its_name(tag, state):
    check = wit._file_check(wit._record(file="/w/a", state=Variant(tag, _wit_claim("/w/**", "a", "shared", 5, "glob"))))
    assert (check.file, check.state) == ("/w/a", state)
    assert check.claim == holds.Claim("/w/**", holds.Hold("a", 1, 2, "/co", 3, "shared"), 5, "glob")
    assert check.is_held == (state == "held")


def test_a_vacant_file_state_has_no_claim():
    check = wit._file_check(wit._record(file="/w/a", state=Variant("vacant")))
    assert check == holds.FileCheck("/w/a", "vacant", None)


class _Imports:
    """A Linker stand-in that keeps the functions `define_imports` adds."""

    def __init__(self) -> None:
        self.funcs: dict[str, object] = {}
        self._at = ""

    def root(self) -> "_Imports":
        return self

    def add_instance(self, name: str) -> "_Imports":
        self._at = name
        return self

    def add_func(self, name: str, func: object) -> None:
        self.funcs[f"{self._at}#{name}"] = func

    def __enter__(self) -> "_Imports":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _ScanHost:
    def __init__(self, kv: MemoryStore, view: Replica | None = None) -> None:
        self.kv = kv
        self.learnt: list[tuple[str, Entry]] = []
        self.replica = view

    def seen(self, key: str, entry: Entry) -> None:
        self.learnt.append((key, entry))

    def view(self, prefix: str, through: int) -> list[tuple[str, Entry]] | None:
        return None if self.replica is None else self.replica.view(prefix, through)


def test_the_scan_import_lowers_keyed_entries_and_records_what_it_learnt():
    store = MemoryStore()
    store.put("_hx.a", b"A")
    store.put("other", b"O")
    host = _ScanHost(store)
    imports = _Imports()
    wit.define_imports(imports, host)  # type: ignore[arg-type]
    scan = imports.funcs[f"{wit.interface('kv')}#scan"]
    assert wit.interface("kv") == "holds:core/kv@0.3.0"
    out = scan(None, "_hx.", 1)  # type: ignore[operator]
    assert [(r.key, r.entry.value, r.entry.revision, r.entry.operation, r.entry.found) for r in out] == [
        ("_hx.a", b"A", 1, "put", True)
    ]
    assert host.learnt == [("_hx.a", store.get("_hx.a"))]
    store.set_unavailable("down")
    failed = scan(None, "_hx.", 1)  # type: ignore[operator]
    assert (failed.tag, failed.payload) == ("unavailable", "down")  # a kv-error value, never raised


def _scan_import(host: _ScanHost):
    imports = _Imports()
    wit.define_imports(imports, host)  # type: ignore[arg-type]
    scan = imports.funcs[f"{wit.interface('kv')}#scan"]
    return lambda prefix, through: [(r.key, r.entry.value) for r in scan(None, prefix, through)]  # type: ignore[operator]


def test_the_scan_import_answers_from_the_view_unless_asked_for_the_current_state():
    store = MemoryStore()
    store.put("_hx.a", b"A")  # revision 1: in the store, not in the view
    replica = Replica()
    replica.apply("_hx.v", _entry(1, b"V"))
    replica.set_ready()
    host = _ScanHost(store, replica)
    scan = _scan_import(host)
    assert scan("_hx.", 0) == scan("_hx.", 1) == [("_hx.v", b"V")]
    assert host.learnt == []  # the view's entries were not learnt from the store
    assert scan("_hx.", 2) == [("_hx.a", b"A")]  # the view has not seen revision 2: the store
    assert scan("_hx.", wit.CURRENT) == [("_hx.a", b"A")]  # the current state: always the store
    assert wit.CURRENT == 2**64 - 1
    assert [k for k, _ in host.learnt] == ["_hx.a", "_hx.a"]
    assert _scan_import(_ScanHost(store))("_hx.", 0) == [("_hx.a", b"A")]  # no view: the store
    always = _ScanHost(store)
    always.view = lambda prefix, through: [("_hx.v", _entry(1, b"V"))]  # type: ignore[method-assign]
    assert _scan_import(always)("_hx.", 2**64 - 2) == [("_hx.v", b"V")]
    assert _scan_import(always)("_hx.", wit.CURRENT) == [("_hx.a", b"A")]  # never asks the view


def test_a_pools_scans_ask_its_view_once_one_is_set():
    pool = InstancePool(Runtime.load(), MemoryStore(), holds.SystemClock(), op_timeout=5.0, size=1)
    try:
        host = _CallHost(MemoryStore(), holds.SystemClock(), 5.0, None, pool._view)
        assert host.view("_hx.", 0) is None
        pool.view = lambda prefix, through: [(prefix + "k", _entry(through, b"x"))]
        assert host.view("_hx.", 3) == [("_hx.k", _entry(3, b"x"))]
    finally:
        pool.shutdown()


def _entry(revision: int, value: bytes = b"v", operation: str = "put") -> Entry:
    return Entry(True, value, revision, operation, 1)  # type: ignore[arg-type]


def _keys(found: list[tuple[str, Entry]] | None) -> list[str] | None:
    return None if found is None else sorted(k for k, _ in found)


def test_a_replica_answers_no_scan_until_the_watch_has_replayed_the_bucket():
    r = Replica()
    r.apply("_hx.a", _entry(3))
    assert r.view("_hx.", 0) is None  # still replaying
    r.set_ready()
    assert _keys(r.view("_hx.", 0)) == ["_hx.a"]
    r.clear()  # a watcher restart
    assert (r.view("_hx.", 0), r.delivered, len(r)) == (None, 0, 0)
    r.apply("_hx.b", _entry(1))
    assert r.view("_hx.", 0) is None
    r.set_ready()
    assert _keys(r.view("_hx.", 0)) == ["_hx.b"]


def test_a_replica_answers_a_scan_only_through_the_revision_the_watch_delivered():
    r = Replica()
    r.apply("_hx.a", _entry(4))
    r.apply("_hx.b", _entry(2))  # delivered only grows
    r.set_ready()
    assert r.delivered == 4
    assert _keys(r.view("_hx.", 4)) == ["_hx.a", "_hx.b"]
    assert r.view("_hx.", 5) is None
    r.learn("_hx.c", _entry(9))  # learnt ahead of the watch: known, but not delivered
    assert r.delivered == 4
    assert r.view("_hx.", 5) is None
    assert _keys(r.view("_hx.", 3)) == ["_hx.a", "_hx.b", "_hx.c"]
    r.apply("_hx.c", _entry(9))
    assert r.delivered == 9
    assert _keys(r.view("_hx.", 9)) == ["_hx.a", "_hx.b", "_hx.c"]


def test_a_replicas_scan_has_the_newest_values_under_the_prefix_and_no_markers():
    r = Replica()
    r.apply("_hx.a", _entry(1, b"old"))
    r.apply("_hx.a", _entry(5, b"new"))
    r.apply("_hx.a", _entry(3, b"older"))  # the watch never moves a key back
    r.apply("_hx.gone", _entry(2))
    r.apply("_hx.gone", _entry(6, b"", "delete"))
    r.apply("_hx.expired", _entry(7, b"", "expire"))
    r.apply("_hx.released", _entry(8))
    r.learn("_hx.released", _entry(10, b"", "delete"))  # its own release, ahead of the watch
    r.apply("_hx.renewed", _entry(9, b"watched"))
    r.learn("_hx.renewed", _entry(11, b"ahead"))
    r.learn("_hx.stale", _entry(4, b"ahead"))
    r.apply("_hx.stale", _entry(12, b"watched"))  # the watch caught up and passed it
    r.apply("=2Fw=2Fa", _entry(13))
    r.apply("_hy.c", _entry(14))
    r.apply("_hx", _entry(15))
    r.set_ready()
    found = dict(r.view("_hx.", 0) or [])
    assert {k: e.value for k, e in found.items()} == {
        "_hx.a": b"new",
        "_hx.renewed": b"ahead",
        "_hx.stale": b"watched",
    }
    assert _keys(r.view("_h", 0)) == ["_hx", "_hx.a", "_hx.renewed", "_hx.stale", "_hy.c"]
    assert _keys(r.view("", 0)) == ["=2Fw=2Fa", "_hx", "_hx.a", "_hx.renewed", "_hx.stale", "_hy.c"]
    assert r.view("_hz.", 0) == []
    assert r.view("_hx.a", 0) == [("_hx.a", _entry(5, b"new"))]


def test_a_pruned_replica_forgets_the_keys_it_dropped():
    r = Replica()
    r.apply("_hx.a", _entry(1, b"drop"))
    r.apply("_hx.b", _entry(2, b"keep"))
    r.learn("_hx.c", _entry(3, b"drop"))
    r.set_ready()
    r.prune(lambda e: e.value == b"keep")
    assert (len(r), _keys(r.view("", 0)), r.newest("_hx.a")) == (1, ["_hx.b"], None)
    r.learn("_hx.a", _entry(4))  # indexed again
    assert _keys(r.view("_hx.", 0)) == ["_hx.a", "_hx.b"]
