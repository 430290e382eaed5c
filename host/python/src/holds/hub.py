"""The manager's watcher, on the manager's loop: one watch over the bucket, a
replica of every key's latest entry (`replica.py`: the calls' hints and the
`scan` import's view), fan-out of events to subscriptions, and expiry sweeps
for stores that do not expire entries themselves.

Each change is interpreted by the component once, with the key's previous entry
from the replica (so a marker that removes a hold is told from one replacing a
marker), then applied to the replica and fanned out in one step of the loop, so
a subscription's snapshot (taken from the replica) and its live events never
overlap or leave a gap. How often the replica is pruned, how long entries stay
in it, and when sweeps run are the guest's `upkeep` plan. Mirrors the Rust
host's `hub.rs`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import time
from collections.abc import Callable
from typing import Any, Optional

from . import wit
from .component import InstancePool
from .errors import Closed, HoldsError, StoreError
from .replica import Replica
from .stores.base import CAUGHT_UP, Store
from .subscription import Subscription
from .types import MISSING, Entry, Event

log = logging.getLogger("holds")


async def in_pool(pool: InstancePool, call: Callable[[wit.Exports], Any]) -> tuple[Any, list]:
    return await asyncio.wrap_future(pool.submit(call))


class Hub:
    def __init__(
        self,
        store: Store,
        pool: InstancePool,
        clock: Any,
        upkeep: wit.Upkeep,
        chan_buffer: int,
        start_timeout: float,
    ):
        self.store = store
        self.pool = pool
        self.clock = clock
        self.upkeep = upkeep
        self.chan_buffer = chan_buffer
        self.start_timeout = start_timeout
        self.phase = "idle"  # idle | starting | ready | failed | closed
        self.failure: Optional[HoldsError] = None
        self.replica = Replica()
        self.subscribers: list[Subscription] = []
        self._task: Optional[asyncio.Task] = None
        self._changed: Optional[asyncio.Condition] = None
        self._sweeps = _Sweeps()
        self._sweep_timer: Optional[asyncio.TimerHandle] = None
        self._sweeping: set[asyncio.Task] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    # -- lifecycle ---------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
            self._loop = asyncio.get_running_loop()
        return self._changed

    async def _set_phase(self, phase: str, failure: Optional[HoldsError] = None) -> None:
        self.phase, self.failure = phase, failure
        async with self._condition():
            self._condition().notify_all()

    async def ensure_running(self) -> None:
        """Start the watcher if needed and wait until it has replayed the bucket."""
        condition = self._condition()
        if self.phase == "closed":
            raise Closed()
        if self.phase in ("idle", "failed"):
            self.phase = "starting"  # the last failure is kept, for the log
            self.replica.clear()
            self._task = asyncio.ensure_future(self._run())
        async with condition:
            try:
                await asyncio.wait_for(condition.wait_for(lambda: self.phase != "starting"), self.start_timeout)
            except TimeoutError:
                raise StoreError(f"the watch did not replay the bucket within {self.start_timeout:g} s") from None
        if self.phase == "ready":
            return
        if self.phase == "failed" and self.failure is not None:
            raise self.failure
        raise Closed()

    async def keep_warm(self) -> None:
        """Keep the watcher (and so the replica) running until the hub closes."""
        condition = self._condition()
        while True:
            try:
                await self.ensure_running()
            except Closed:
                return
            except HoldsError:
                pass
            async with condition:
                await condition.wait_for(lambda: self.phase in ("failed", "closed"))
            if self.phase == "closed":
                return
            await asyncio.sleep(self.upkeep.restart_after / 1e9)

    def close(self) -> None:
        """End every subscription (cleanly) and stop the watcher. On the loop."""
        self.phase = "closed"
        for sub in self.subscribers:
            sub._finish()
        self.subscribers.clear()
        self.replica.clear()
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        for task in list(self._sweeping):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
        if self._changed is not None:
            asyncio.ensure_future(self._set_phase("closed"))

    def _fail(self, error: HoldsError) -> None:
        if self.phase == "closed":
            return
        if str(error) != str(self.failure):  # once per streak of the same failure
            log.warning("holds watcher stopped: %s", error)
        for sub in self.subscribers:
            sub._finish(error)
        self.subscribers.clear()
        self.replica.clear()
        asyncio.ensure_future(self._set_phase("failed", error))

    # -- subscriptions -------------------------------------------------------------

    async def subscribe(self) -> Subscription:
        await self.ensure_running()
        if self.phase != "ready":
            raise StoreError("the watch restarted; subscribe again")
        loop = asyncio.get_running_loop()
        sub = Subscription(self.chan_buffer, lambda s: _call_soon(loop, self._unsubscribe, s))
        # Registered and snapshotted in one step of the loop: no change between.
        self.subscribers.append(sub)
        current = self.replica.values()

        def interpret_all(exports: wit.Exports) -> list[Event]:
            events = []
            for key, entry in current:
                event = exports.interpret(key, entry, None, True).event
                if event is not None:
                    events.append(event)
            return events

        try:
            snapshot, _ = await in_pool(self.pool, interpret_all)
        except BaseException:
            self._unsubscribe(sub)
            raise
        sub._set_snapshot(snapshot)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)

    # -- the replica -----------------------------------------------------------------

    def replica_entry(self, key: str) -> Optional[Entry]:
        """The newest entry known for `key` once the replica is ready (`MISSING`
        when it has none); None while it is not (then the guest reads)."""
        if self.phase != "ready":
            return None
        newest = self.replica.newest(key)
        return newest if newest is not None else MISSING

    def scan_view(self, prefix: str, through: int) -> Optional[list[tuple[str, Entry]]]:
        """The value entries of the keys that start with `prefix`, when the
        replica has every change up to revision `through` (the `scan` import's
        view, asked on a pool thread); None when it has not (then the store is read)."""
        if self.phase != "ready":
            return None
        return self.replica.view(prefix, through)

    def observe_own(self, learnt: list[tuple[str, Entry]]) -> None:
        """Entries this manager's calls read or wrote, ahead of the watch."""
        if self.phase != "ready":
            return
        now = time.time_ns()
        for key, entry in learnt:
            if entry.found:
                self.replica.learn(key, dataclasses.replace(entry, created=entry.created or now))

    # -- the watcher -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            watch = self.store.watch()
        except Exception as e:
            return self._fail(StoreError(f"starting the watch: {e}"))
        sweeping = not self.store.expires_entries
        prune = asyncio.ensure_future(self._prune_forever()) if self.upkeep.prune_every else None
        ready = False
        try:
            async for item in watch:
                if item is CAUGHT_UP:
                    ready = True
                    self.replica.set_ready()
                    await self._set_phase("ready")
                    continue
                key, entry = item  # type: ignore[misc]
                await self._apply(key, entry, not ready, sweeping)
            self._fail(StoreError("the watch ended"))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._fail(StoreError(f"the watch failed: {e}"))
        finally:
            if prune is not None:
                prune.cancel()
            await watch.aclose()

    async def _apply(self, key: str, entry: Entry, replaying: bool, sweeping: bool) -> None:
        wanted = (sweeping or bool(self.subscribers)) and not (replaying and entry.operation != "put")
        meaning: Optional[wit.Interpretation] = None
        failed: Optional[HoldsError] = None
        if wanted:
            previous = self.replica.previous(key, entry.revision)
            try:
                meaning, _ = await in_pool(self.pool, lambda x: x.interpret(key, entry, previous, replaying))
            except HoldsError as e:
                if self.phase == "closed":
                    return
                log.error("interpreting a change of %s failed: %s", key, e)
                failed = e
            if meaning is not None and meaning.dropped:
                log.warning("ignoring a change: %s", meaning.dropped)
        if self.phase == "closed":
            return
        if sweeping and meaning is not None:
            if meaning.expiry_check_at is not None:
                self._schedule(key, meaning.expiry_check_at, entry)
            else:
                self._sweeps.cancel(key)
        self.replica.apply(key, entry)
        if failed is not None and not replaying:
            # Nobody may miss this change silently: subscribers end with the reason.
            for sub in self.subscribers:
                sub._finish(failed)
            self.subscribers.clear()
            return
        event = meaning.event if meaning is not None and not replaying else None
        if event is not None:
            self.subscribers = [s for s in self.subscribers if s._offer(event)]

    # -- sweeps --------------------------------------------------------------------------

    def _schedule(self, key: str, at: int, observed: Entry) -> None:
        self._sweeps.schedule(key, at, observed)
        self._arm()

    def _arm(self) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        at = self._sweeps.next()
        if at is None or len(self._sweeping) >= self.upkeep.concurrent_sweeps or self.phase == "closed":
            return
        delay = max(0.0, (at - self.clock.now()) / 1e9)
        self._sweep_timer = asyncio.get_running_loop().call_later(delay, self._sweep_due)

    def _sweep_due(self) -> None:
        self._sweep_timer = None
        room = self.upkeep.concurrent_sweeps - len(self._sweeping)
        for key, observed in self._sweeps.due(self.clock.now(), room):
            task = asyncio.ensure_future(self._sweep(key, observed))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)
        self._arm()

    async def _sweep(self, key: str, observed: Entry) -> None:
        try:
            outcome, _ = await in_pool(self.pool, lambda x: x.sweep(key, observed))
        except HoldsError as e:
            log.warning("sweep of %s failed: %s", key, e)
            outcome = None
        if self.phase == "closed" or self._sweeps.has(key):
            return  # a change since the sweep started rescheduled (or cancelled) it
        if outcome is None:
            self._sweeps.schedule(key, self.clock.now() + self.upkeep.sweep_retry, observed)
        elif outcome.tag == "not-due" and outcome.value is not None:
            self._sweeps.schedule(key, outcome.value, observed)
        # expired / nothing: the marker reaches the replica through the watch.
        self._arm()

    # -- pruning ---------------------------------------------------------------------------

    async def _prune_forever(self) -> None:
        """Drop entries the store has aged out: the replica never outgrows the bucket."""
        while True:
            await asyncio.sleep(self.upkeep.prune_every / 1e9)
            now = time.time_ns()
            self.replica.prune(lambda e, now=now: self._young(e, now))

    def _young(self, e: Entry, now: int) -> bool:
        """Still within the time the upkeep plan keeps a hold, or a marker."""
        keep = self.upkeep.keep_hold if e.operation == "put" else self.upkeep.keep_marker
        return not e.created or now - e.created <= keep


class _Sweeps:
    """Pending expiry checks by instant (ns), with the entry each was scheduled from."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._at: dict[str, tuple[int, int, Entry]] = {}
        self._seq = 0

    def schedule(self, key: str, at: int, observed: Entry) -> None:
        self._seq += 1
        self._at[key] = (at, self._seq, observed)
        heapq.heappush(self._heap, (at, self._seq, key))

    def cancel(self, key: str) -> None:
        self._at.pop(key, None)

    def has(self, key: str) -> bool:
        return key in self._at

    def _clean(self) -> None:
        while self._heap:
            at, seq, key = self._heap[0]
            current = self._at.get(key)
            if current is not None and current[1] == seq:
                return
            heapq.heappop(self._heap)

    def next(self) -> Optional[int]:
        self._clean()
        return self._heap[0][0] if self._heap else None

    def due(self, now: int, limit: int) -> list[tuple[str, Entry]]:
        out: list[tuple[str, Entry]] = []
        while len(out) < limit:
            self._clean()
            if not self._heap or self._heap[0][0] > now:
                break
            _, _, key = heapq.heappop(self._heap)
            _, _, observed = self._at.pop(key)
            out.append((key, observed))
        return out


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    try:
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass
