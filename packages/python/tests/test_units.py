"""Small pieces: durations, the bridge, the memory store, the bundled component."""

import asyncio
import datetime as dt
import threading
import time

import pytest

import holds
from holds.bridge import BridgeError, LoopThread
from holds.component import Runtime, bundled_component
from holds.duration import to_nanos
from holds.stores import MemoryStore, WrongRevision
from holds.stores.resend import Resend, Unsent


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


def _pauses(op_timeout: float, why) -> list[float]:
    """The pauses of sends that each stored nothing for `why(i)`, back to back."""
    now = 1000.0
    resend = Resend(op_timeout, now=now)
    pauses: list[float] = []
    while (pause := resend.next(why(len(pauses)), now)) is not None:
        pauses.append(pause)
        now += pause
    return pauses


def test_in_flight_pauses_double_up_to_16_ms_within_the_operations_time():
    micros = [round(p * 1e6) for p in _pauses(0.05, lambda _: Unsent.NOT_COMPARED)]
    assert micros == [250, 500, 1000, 2000, 4000, 8000, 16000, 16000]


def test_a_write_no_stream_took_waits_a_tenth_of_a_second_each_time():
    assert _pauses(0.35, lambda _: Unsent.NOT_TAKEN) == [0.1, 0.1, 0.1]
    assert _pauses(0.1, lambda _: Unsent.NOT_TAKEN) == []


def test_a_missing_stream_between_in_flight_refusals_keeps_the_doubling():
    def why(i: int) -> Unsent:
        return Unsent.NOT_TAKEN if i == 1 else Unsent.NOT_COMPARED

    micros = [round(p * 1e6) for p in _pauses(0.105, why)]
    assert micros == [250, 100_000, 500, 1000, 2000]
