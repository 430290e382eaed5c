"""Small pieces: durations, the bridge, the memory store, the bundled component,
the JetStream store's reading of the server's answers, the pause import."""

import asyncio
import datetime as dt
import threading
import time

import nats.errors
import nats.js.errors as jserr
import pytest

import holds
from holds.bridge import BridgeError, LoopThread
from holds.component import Runtime, _CallHost, bundled_component, marker_headers
from holds.duration import to_nanos
from holds.stores import MemoryStore, NotStored, Unavailable, WrongRevision
from holds.stores.jetstream import operation_of, publish_failed, refused


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
