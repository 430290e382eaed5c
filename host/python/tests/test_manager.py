"""Manager behaviour the language-neutral cases cannot stage: lost revision
races, traps, a release racing a take-over, subscriptions leaving."""

import asyncio
import sys
import threading

import pytest

import holds
from holds.clock import OffsetClock
from holds.stores import MemoryStore

F = "/work/a.txt"


class RacingWrites(MemoryStore):
    """Before each of the next `races` conditional writes, another client
    rewrites the key (a raw write), so the write loses the revision race."""

    def __init__(self, races: int):
        super().__init__()
        self.races = races

    def write_if_revision(self, key, value, expected, ttl_seconds):
        if self.races > 0:
            self.races -= 1
            self.put(key, self.get(key).value or value)
        return super().write_if_revision(key, value, expected, ttl_seconds)


class PausedDeletes(MemoryStore):
    """Conditional deletes wait until `go` is set (after `reached` is set)."""

    def __init__(self):
        super().__init__()
        self.reached = threading.Event()
        self.go = threading.Event()

    def delete_if_revision(self, key, expected, why, note=b""):
        self.reached.set()
        self.go.wait(10)
        return super().delete_if_revision(key, expected, why, note)


def run(coro):
    return asyncio.run(coro)


def test_one_lost_race_is_one_retry_at_attempt_two():
    async def main():
        store = RacingWrites(races=0)
        m = await holds.Manager.open(store, ttl_max="60s", replica=False)
        retries = []
        m.set_cas_retry_observer(lambda key, attempt: retries.append((key, attempt)))
        first = await m.announce(F, "a1", "30s")
        store.races = 1
        renewed = await m.announce(F, "a1", "30s")
        await m.close()
        return first, renewed, retries

    first, renewed, retries = run(main())
    assert retries == [("=2Fwork=2Fa.txt", 2)]
    assert renewed.revision >= first.revision + 2


def test_eight_lost_races_exhaust_the_attempts():
    async def main():
        store = RacingWrites(races=0)
        m = await holds.Manager.open(store, ttl_max="60s", replica=False)
        await m.announce(F, "a1", "30s")
        retries = []
        m.set_cas_retry_observer(lambda key, attempt: retries.append(attempt))
        store.races = 100
        with pytest.raises(holds.CasExhausted) as e:
            await m.announce(F, "a1", "30s")
        await m.close()
        return e.value.attempts, retries

    attempts, retries = run(main())
    assert attempts == 8
    assert retries == [2, 3, 4, 5, 6, 7, 8], "no retry after the final verdict"


def test_a_release_racing_a_take_over_leaves_the_new_hold():
    async def main():
        store = PausedDeletes()
        a1 = await holds.Manager.open(store, ttl_max="60s")
        late = OffsetClock()
        late.advance(2_000_000_000)
        a2 = await holds.Manager.open(store, ttl_max="60s", clock=late)
        store.go.set()
        await a1.announce(F, "a1", "1s")
        store.go.clear()
        store.reached.clear()
        release = asyncio.ensure_future(a1.release(F, "a1"))
        await asyncio.get_running_loop().run_in_executor(None, store.reached.wait, 10)
        taken = await a2.announce(F, "a2", "30s")  # a1's hold has expired for a2
        store.go.set()
        outcome = await release
        holder = await a1.who_has(F)
        await a1.close()
        await a2.close()
        return outcome, taken, holder

    outcome, taken, holder = run(main())
    assert outcome == holds.Release(False)
    assert holder == taken


class FailingClock:
    """Raises on the next `fail` reads: the import raises, so the call traps."""

    def __init__(self):
        self.fail = 0

    def now(self):
        if self.fail:
            self.fail -= 1
            raise RuntimeError("clock broke")
        import time

        return time.time_ns()


def test_a_trapped_instance_is_discarded_and_the_next_call_works():
    async def main():
        clock = FailingClock()
        m = await holds.Manager.memory(ttl_max="60s", clock=clock, instances=1, replica=False)
        await m.announce(F, "a", "30s")
        clock.fail = 1
        with pytest.raises(holds.GuestError, match="trapped"):
            await m.announce(F, "a", "30s")
        renewed = await m.announce(F, "a", "30s")
        discarded = m.pool.discarded
        await m.close()
        return renewed, discarded

    renewed, discarded = run(main())
    assert renewed.revision == 2
    assert discarded == 1


def test_a_closed_subscription_leaves_at_once_and_others_keep_going():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        kept = await m.subscribe()
        for _ in range(50):
            (await m.subscribe()).close()
        await asyncio.sleep(0.05)
        count = await m._loop.call(_count(m))
        await m.announce(F, "a", "30s")
        event = await kept.next(5)
        kept.close()
        await asyncio.sleep(0.05)
        after = await m._loop.call(_count(m))
        await m.close()
        return count, event, after

    async def _count(m):
        return len(m.hub.subscribers)

    count, event, after = run(main())
    assert count == 1
    assert event.kind == "announced"
    assert after == 0


def test_announce_rejects_a_malformed_ttl_as_invalid_input():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        try:
            with pytest.raises(holds.InvalidInput) as e:
                await m.announce(F, "a", "soon")
            return e.value.field
        finally:
            await m.close()

    assert run(main()) == "ttl"


def test_a_bad_bucket_name_is_a_config_error():
    with pytest.raises(holds.ConfigError, match="bucket"):
        run(holds.Manager.jetstream("nats://127.0.0.1:1", bucket="no.dots"))


def test_fuel_is_per_export_call_so_big_snapshots_and_lists_work():
    """A snapshot or a list interprets every hold in one pool job (~12.6 k
    instructions each): each interpretation gets the whole fuel limit (50 M),
    not a share of it, so 5000 holds are no trap."""

    async def main():
        store = MemoryStore()
        m = await holds.Manager.open(store, ttl_max="60s", instances=1, replica=False)
        try:
            await m.announce("/many/0", "a", "30s")
            value = store.get("=2Fmany=2F0").value
            for i in range(1, 5000):
                store.put(f"=2Fmany=2F{i}", value)  # as another client would write them
            claims = await m.list()
            watcher = await holds.Manager.open(store, ttl_max="60s", instances=1)
            try:
                snapshot = (await watcher.subscribe()).take_snapshot()
            finally:
                await watcher.close()
            return len(claims), len(snapshot)
        finally:
            await m.close()

    assert run(main()) == (5000, 5000)


def test_pool_threads_lowering_values_at_once_never_trap():
    """wasmtime-py lowers a `result<list<..>, kv-error>` through one scratch set
    shared by every thread: with it, 1 in 20 eight-agent claim races trapped
    ("expected list value"). One set per thread (holds.wasmtime_threads); a
    short GIL switch interval makes the threads interleave inside the lowering."""
    from wasmtime.component import _types

    from holds.wasmtime_threads import PerThreadSet

    assert isinstance(_types.case_test_cache, PerThreadSet)

    async def main():
        m = await holds.Manager.open(MemoryStore(), ttl_max="60s", instances=4)
        try:
            outcomes: dict[str, int] = {}
            for round_ in range(200):
                files = [f"/race/{round_}/a", f"/race/{round_}/b"]
                results = await asyncio.gather(
                    *(m.claim(files, f"agent-{i}", "30s") for i in range(8)), return_exceptions=True
                )
                for r in results:
                    kind = type(r).__name__
                    outcomes[kind] = outcomes.get(kind, 0) + 1
                    if isinstance(r, holds.GuestError):
                        raise AssertionError(f"round {round_}: {r}")
            return outcomes
        finally:
            await m.close()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        outcomes = run(main())
    finally:
        sys.setswitchinterval(interval)
    assert outcomes == {"Claimed": 200, "HeldByOthers": 1400}, outcomes


def test_a_check_of_many_long_paths_is_cut_into_calls_within_the_fuel():
    """256 paths near the key limit in one guest call ran out of fuel; the
    manager cuts a check (and identify) by bytes as well as by count."""

    async def main():
        m = await holds.Manager.open(MemoryStore(), ttl_max="60s")
        try:
            files = [f"/{'d' * 2900}/{i}" for i in range(256)]
            return await m.check(files, "a")
        finally:
            await m.close()

    checks = run(main())
    assert len(checks) == 256 and all(c.state == "vacant" for c in checks)


def test_a_mode_other_than_the_two_is_invalid_input_and_writes_nothing():
    async def main():
        store = MemoryStore()
        m = await holds.Manager.open(store, ttl_max="60s", replica=False)
        try:
            fields = []
            for call in (
                lambda: m.announce(F, "a", "30s", mode="both"),
                lambda: m.claim([F], "a", "30s", mode="Shared"),
                lambda: m.renew(F, "a", "30s", 1, mode=""),
            ):
                with pytest.raises(holds.InvalidInput) as e:
                    await call()
                fields.append(e.value.field)
            return fields, store.last_revision
        finally:
            await m.close()

    assert run(main()) == (["mode", "mode", "mode"], 0)


def test_shared_holds_carry_their_mode_and_holders_names_every_hold_covering_a_file():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        try:
            a = await m.announce(F, "a", "30s", mode="shared")
            alone = await m.check([F, "/other/b.txt"], "a")  # only its own shared hold covers F
            b = (await m.claim([F], "b", "30s", mode="shared")).claims[0]
            c = await m.announce("/work/", "c", "30s", mode="shared")
            holders = await m.holders(F)
            elsewhere = await m.holders("/other/b.txt")
            together = await m.check([F], "a")
            with pytest.raises(holds.HeldByOthers) as refused:
                await m.announce(F, "x", "30s")
            return a, b, c, holders, elsewhere, alone + together, refused.value
        finally:
            await m.close()

    a, b, c, holders, elsewhere, checks, refused = run(main())
    assert (a.hold.mode, b.hold.mode, c.hold.mode) == ("shared", "shared", "shared")
    assert (a.file, c.file) == (F, "/work/")
    assert holders == [a, b, c]  # oldest revision first
    assert elsewhere == []
    assert [(x.state, x.claim) for x in checks] == [("shared", a), ("vacant", None), ("held_by_another", b)]
    assert sorted(refused.holders) == ["a", "b", "c"]


def test_claims_and_events_carry_the_scope_the_component_gives_them():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        try:
            sub = await m.subscribe()
            announced = [
                await m.announce("/work/src/", "a", "30s"),
                await m.announce("/work/docs/**/*.md", "b", "30s"),
                await m.announce(F, "c", "30s"),
            ]
            events = [await sub.next(5) for _ in announced]
            listed = await m.list()
            holders = await m.holders("/work/src/lib.rs") + await m.holders("/work/docs/x/y.md")
            checked = await m.check(["/work/docs/a.md"], "b")
            await m.release("/work/src/", "a")
            released = await sub.next(5)
            sub.close()
            return announced, events, released, listed, holders, checked
        finally:
            await m.close()

    announced, events, released, listed, holders, checked = run(main())
    assert [(c.file, c.scope) for c in announced] == [
        ("/work/src/", "directory"),
        ("/work/docs/**/*.md", "glob"),
        (F, "file"),
    ]
    assert [(e.kind, e.file, e.scope) for e in events] == [("announced", c.file, c.scope) for c in announced]
    assert (released.kind, released.file, released.scope) == ("released", "/work/src/", "directory")
    assert listed == announced  # oldest revision first
    assert holders == announced[:2]
    assert [(c.state, c.claim) for c in checked] == [("held", announced[1])]


def test_an_exclusive_hold_shows_its_mode_and_is_held():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        try:
            claim = await m.announce(F, "a", "30s")
            return claim, await m.holders(F), await m.check([F], "a")
        finally:
            await m.close()

    claim, holders, checks = run(main())
    assert claim.hold.mode == "exclusive"
    assert holders == [claim]
    assert (checks[0].state, checks[0].claim) == ("held", claim)


def test_a_shared_lease_renews_in_its_mode():
    async def main():
        m = await holds.Manager.memory(ttl_max="60s")
        try:
            first = await m.announce(F, "a", "30s", mode="shared")
            renewed = await m.renew(F, "a", "30s", first.revision, mode="shared")
            return first, renewed, await m.holders(F)
        finally:
            await m.close()

    first, renewed, holders = run(main())
    assert renewed.revision > first.revision
    assert renewed.hold.mode == "shared"
    assert holders == [renewed]


class ScanCounting(MemoryStore):
    """Records the `through` of every scan that reaches the store; its watch
    delivers nothing new while `stalled` is set (a watch that fell behind)."""

    def __init__(self):
        super().__init__()
        self.scans: list[int] = []
        self.stalled = threading.Event()

    def scan(self, prefix, through):
        self.scans.append(through)
        return super().scan(prefix, through)

    async def watch(self):
        async for item in super().watch():
            while self.stalled.is_set():
                await asyncio.sleep(0.005)
            yield item


async def _settled(m, store):
    """Wait until the manager's watch delivered every revision of the store."""
    for _ in range(1000):
        if m.hub.replica.delivered >= store.last_revision:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the watch did not catch up")


def test_scans_are_answered_from_a_warm_replica_and_the_current_state_is_read():
    async def main():
        store = ScanCounting()
        m = await holds.Manager.open(store, ttl_max="60s")
        try:
            (await m.subscribe()).close()  # the replica is ready
            steps = [
                lambda: m.announce(F, "a", "30s"),
                lambda: m.announce("/work/dir/", "a", "30s"),
                lambda: m.announce("/shared/x", "a", "30s", mode="shared"),
                lambda: m.announce("/shared/x", "b", "30s", mode="shared"),
                # (A claim beside a pattern is announced file by file: each
                # file's judgement needs the one before it, which the watch may
                # not have delivered yet: a store read, as designed.)
                lambda: m.check([F, "/work/dir/f"], "a"),
                lambda: m.holders("/work/dir/f"),
                lambda: m.release(F, "a"),
            ]
            for step in steps:
                await _settled(m, store)
                await step()
            from_replica = list(store.scans)
            await _settled(m, store)
            with pytest.raises(holds.HeldByOthers) as refused:
                await m.announce("/work/dir/f", "b", "30s")  # in the way of a's directory
            return from_replica, store.scans[len(from_replica) :], refused.value.holders
        finally:
            await m.close()

    from_replica, refusal, holders = run(main())
    # Every scan answered by the replica, but the reads of the current state:
    # check's and holders' (as who_has reads the store).
    assert from_replica == [2**64 - 1, 2**64 - 1]
    assert refusal == [2**64 - 1]  # a refusal is confirmed on the store's current state
    assert holders == ["a"]


def test_without_a_replica_every_scan_reads_the_store():
    async def main():
        store = ScanCounting()
        m = await holds.Manager.open(store, ttl_max="60s", replica=False)
        try:
            first = await m.announce("/work/dir/", "a", "30s")
            await m.check([F], "a")
            return first.revision, store.scans
        finally:
            await m.close()

    revision, scans = run(main())
    # Before the write and after it, each of the shared and pattern holds and of
    # the files under the pattern; then the check's.
    assert scans == [0, 0, revision - 1, revision - 1, 2**64 - 1]


def test_a_scan_the_replica_has_not_caught_up_with_reads_the_store():
    async def main():
        store = ScanCounting()
        m = await holds.Manager.open(store, ttl_max="60s")
        other = await holds.Manager.open(store, ttl_max="60s", replica=False)
        try:
            (await m.subscribe()).close()
            store.stalled.set()  # m's watch falls behind
            theirs = await other.announce("/work/", "b", "30s")
            store.scans.clear()
            with pytest.raises(holds.HeldByOthers) as refused:
                # Before writing, m's replica does not know b's directory hold;
                # after writing, it has not delivered everything before its own
                # revision: the store is read, and the hold is withdrawn.
                await m.announce(F, "a", "30s")
            scans = list(store.scans)
            store.stalled.clear()
            await _settled(m, store)
            return theirs, scans, refused.value.holders, await other.who_has(F), store.last_revision
        finally:
            await other.close()
            await m.close()

    theirs, scans, holders, left, last = run(main())
    # a's write came next (revision theirs+1) and its withdrawal after it; only
    # the post-write scan (through the revision before a's write) read the store.
    assert last == theirs.revision + 2
    assert scans == [theirs.revision]
    assert holders == ["b"]
    assert left is None
    assert theirs.file == "/work/"
