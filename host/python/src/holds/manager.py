"""The holds manager: the async public API over one bucket.

Every public method may be awaited from any asyncio loop (or several). It hops
onto the manager's private loop (see `bridge.py`), where the store connection,
the watcher and the bookkeeping live; component calls run on the instance pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Union

from . import wit
from .bridge import BridgeError, LoopThread
from .clock import Clock, SystemClock
from .component import InstancePool, Runtime
from .duration import Duration, to_nanos
from .errors import Closed, ConfigError, HoldsError, InvalidInput, StoreError
from .hub import Hub, in_pool
from .stores.base import CAUGHT_UP, Store, Unavailable
from .stores.jetstream import JetStreamStore
from .stores.memory import MemoryStore
from .subscription import Subscription
from .types import MODES, Claim, Claimed, Entry, FileCheck, Identity, Mode, Release

_BUCKET = re.compile(r"^[A-Za-z0-9_-]+$")
#: Cached answers of key-for-file (cleared when full).
_KEY_CACHE = 4096
#: Paths per `check` or `identify` guest call, at most, and bytes of paths (a
#: path's cost grows with its length; a longer one goes alone), as the Rust host.
_BATCH_PATHS = 256
_BATCH_BYTES = 64 << 10


def _batches(paths: list[str]) -> list[range]:
    """Consecutive ranges of `paths`, each one guest call's worth."""
    ranges, start, size = [], 0, 0
    for i, path in enumerate(paths):
        length = len(path.encode())
        if i > start and (i - start == _BATCH_PATHS or size + length > _BATCH_BYTES):
            ranges.append(range(start, i))
            start, size = i, 0
        size += length
    if start < len(paths):
        ranges.append(range(start, len(paths)))
    return ranges


#: The most files one `claim` may take by default (bones' default, as the Rust host).
MAX_CLAIM_FILES = 16


class Manager:
    """Holds on one bucket. Open with `Manager.jetstream(...)`, `Manager.memory(...)`
    or `Manager.open(store, ...)`; close with `await manager.close()` (or
    `async with`). Safe to share between tasks, loops and threads."""

    def __init__(
        self,
        loop: LoopThread,
        store: Store,
        *,
        ttl_max: int,
        clock: Clock,
        replica: bool,
        chan_buffer: int,
        op_timeout: float,
        pool: InstancePool,
        upkeep: wit.Upkeep,
        owns_store: bool,
        max_claim_files: int = MAX_CLAIM_FILES,
    ):
        self._loop = loop
        self.max_claim_files = max_claim_files
        self.store = store
        self.ttl_max = ttl_max
        self.clock = clock
        self.op_timeout = op_timeout
        self._replica = replica
        self._owns_store = owns_store
        self._closed = False
        self._keys: dict[str, str] = {}
        self.pool = pool
        self.hub = Hub(store, pool, clock, upkeep, chan_buffer, op_timeout * 2)
        # Eight attempts of a read and a write each, plus slack.
        self._call_timeout = op_timeout * 17 + 1
        if replica:
            # Calls' scans are answered from the replica when it is current enough.
            pool.view = self.hub.scan_view
            loop.submit(self.hub.keep_warm())

    # -- opening -----------------------------------------------------------------

    @classmethod
    async def jetstream(
        cls,
        servers: Union[str, list[str]] = "nats://127.0.0.1:4222",
        *,
        bucket: str = "holds",
        ttl_max: Duration = "5m",
        replicas: int = 1,
        op_timeout: float = 5.0,
        clock: Optional[Clock] = None,
        replica: bool = True,
        chan_buffer: int = 32,
        instances: int = 4,
        component: Union[str, Path, None] = None,
        **nats_options: Any,
    ) -> Manager:
        """Connect to NATS and open (or create) the JetStream bucket `bucket`.

        A new bucket gets history 1, file storage, max age `ttl_max` and, on
        nats-server >= 2.11, limit markers (per-hold TTLs). An existing bucket is
        used as it is; one whose settings could drop a live hold (a max age under
        `ttl_max`, a limit that drops the oldest entries) is refused (ConfigError).
        `nats_options` go to `nats.connect` (user, password, token, tls, ...).
        """
        max_age = _config(bucket, ttl_max, chan_buffer, instances)
        loop = LoopThread(f"holds-{bucket}")
        try:
            store = await loop.call(
                JetStreamStore.open(loop, servers, bucket, max_age, replicas, op_timeout, **nats_options)
            )
        except Unavailable as e:
            loop.stop()
            raise StoreError(str(e)) from None
        except BaseException:
            loop.stop()
            raise
        return await cls._finish(
            loop, store, max_age, clock, replica, chan_buffer, op_timeout, instances, component, True
        )

    @classmethod
    async def memory(cls, *, ttl_max: Duration = "5m", **options: Any) -> Manager:
        """A manager on a fresh in-process bucket (max age `ttl_max`)."""
        store = MemoryStore(max_age=to_nanos(ttl_max))
        return await cls.open(store, ttl_max=ttl_max, **options)

    @classmethod
    async def open(
        cls,
        store: Store,
        *,
        ttl_max: Duration = "5m",
        op_timeout: float = 5.0,
        clock: Optional[Clock] = None,
        replica: bool = True,
        chan_buffer: int = 32,
        instances: int = 4,
        component: Union[str, Path, None] = None,
    ) -> Manager:
        """A manager on an existing store, e.g. one `MemoryStore` shared by
        several managers. The store stays open when the manager closes."""
        max_age = _config("memory", ttl_max, chan_buffer, instances)
        loop = LoopThread("holds-memory")
        return await cls._finish(
            loop, store, max_age, clock, replica, chan_buffer, op_timeout, instances, component, False
        )

    @classmethod
    async def _finish(
        cls,
        loop: LoopThread,
        store: Store,
        ttl_max: int,
        clock: Optional[Clock],
        replica: bool,
        chan_buffer: int,
        op_timeout: float,
        instances: int,
        component: Union[str, Path, None],
        owns_store: bool,
    ) -> Manager:
        async def release(pool: Optional[InstancePool] = None) -> None:
            if pool is not None:
                pool.shutdown()
            if owns_store:
                await loop.call(store.close())
            loop.stop()

        try:
            runtime = await asyncio.get_running_loop().run_in_executor(None, Runtime.load, component)
        except Exception as e:
            await release()
            raise ConfigError(f"loading the component: {e}") from None
        clock = clock or SystemClock()
        pool = InstancePool(runtime, store, clock, op_timeout, instances)
        try:
            # A bucket whose settings could drop a live hold (a max age under the
            # maximum TTL, a limit that drops the oldest entries) is refused.
            await in_pool(pool, lambda x: x.check_bucket(store.bucket, store.max_age, store.limits, ttl_max))
            # The replica is kept by the guest's plan for the bucket's max age.
            upkeep, _ = await in_pool(pool, lambda x: x.upkeep(store.max_age))
        except InvalidInput as e:
            await release(pool)
            raise ConfigError(e.reason) from None
        except BaseException:
            await release(pool)
            raise
        return cls(
            loop,
            store,
            ttl_max=ttl_max,
            clock=clock,
            replica=replica,
            chan_buffer=chan_buffer,
            op_timeout=op_timeout,
            pool=pool,
            upkeep=upkeep,
            owns_store=owns_store,
        )

    # -- plumbing -------------------------------------------------------------------

    async def _on_loop(self, coro: Any) -> Any:
        if self._closed:
            coro.close()
            raise Closed()
        try:
            return await self._loop.call(coro)
        except BridgeError:
            raise Closed() from None

    async def _guest(self, call: Callable[[wit.Exports], Any]) -> Any:
        """Run `call` on the pool (from the loop); record what it learnt."""
        try:
            result, learnt = await asyncio.wait_for(in_pool(self.pool, call), self._call_timeout)
        except TimeoutError:
            raise StoreError(f"the call took over {self._call_timeout:g} s") from None
        except RuntimeError as e:  # the pool was shut down by close()
            raise Closed() from e
        if self._replica and learnt:
            self.hub.observe_own(learnt)
        return result

    def _hint(self, exports: wit.Exports, file: str) -> Optional[Entry]:
        """The replica's entry for `file`'s key (on a pool thread), if it is warm."""
        if not self._replica or self.hub.phase != "ready":
            return None
        key = self._keys.get(file)
        if key is None:
            try:
                key = exports.key_for_file(file)
            except HoldsError:
                return None  # the call itself reports the bad input
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            self._keys[file] = key
        return self.hub.replica_entry(key)

    def _check(self) -> None:
        if self._closed:
            raise Closed()

    # -- the API -----------------------------------------------------------------------

    async def announce(
        self, file: str, agent: str, ttl: Duration, checkout: str = "", *, mode: Mode = "exclusive"
    ) -> Claim:
        """Place or renew a hold on `file` (absolute; it is cleaned), or on a
        pattern: a directory ending in `/` (every path beneath it) or a glob
        (`*`, `?`, `[...]`, `**`).

        Vacant -> created; the same agent's -> renewed; another agent's that
        expired strictly before now -> taken over; otherwise HeldByAnother
        (carrying the holder's claim). `ttl`: "30s", seconds, or a timedelta.
        `mode`: "exclusive" (nobody else may hold what it covers) or "shared"
        (other shared holds may cover it too). A pattern or a shared hold that
        conflicts with other agents' holds raises HeldByOthers, naming every
        holder.
        """
        ttl_ns = _ttl(ttl)
        mode = _mode(mode)

        async def run() -> Claim:
            self._check()
            return await self._guest(
                lambda x: x.announce(file, agent, ttl_ns, checkout, self.ttl_max, self._hint(x, file), mode)
            )

        return await self._on_loop(run())

    async def claim(
        self, files: list[str], agent: str, ttl: Duration, checkout: str = "", *, mode: Mode = "exclusive"
    ) -> Claimed:
        """Claim every file (or pattern) or none (bones' coord semantics): the
        files are cleaned, deduplicated and taken in sorted order, at most
        `max_claim_files`; each is decided as `announce` decides, all in `mode`.
        On any refusal nothing stays held and HeldByOthers names every holder.
        One atomic write where the store can (memory; a JetStream bucket with
        atomic batches), else announced one by one with revision-gated rollback
        (`Claimed.atomic` says which)."""
        ttl_ns = _ttl(ttl)
        mode = _mode(mode)
        files = list(files)

        async def run() -> Claimed:
            self._check()
            return await self._guest(
                lambda x: x.claim_files(
                    files,
                    agent,
                    ttl_ns,
                    checkout,
                    self.ttl_max,
                    self.max_claim_files,
                    [self._hint(x, f) for f in files] if self._replica and self.hub.phase == "ready" else [],
                    mode,
                )
            )

        return await self._on_loop(run())

    async def renew(
        self, file: str, agent: str, ttl: Duration, revision: int, checkout: str = "", *, mode: Mode = "exclusive"
    ) -> Claim:
        """Renew the hold `agent` wrote on `file` at `revision` (a lease's
        renewal; `mode`: the hold's): written only over that revision, so a hold
        released, force-released, expired or taken over meanwhile is never
        re-taken (Lost)."""
        ttl_ns = _ttl(ttl)
        mode = _mode(mode)

        async def run() -> Claim:
            self._check()
            return await self._guest(lambda x: x.renew(file, agent, ttl_ns, checkout, revision, self.ttl_max, mode))

        return await self._on_loop(run())

    async def check(self, files: list[str], agent: str, tokens: Optional[list[int]] = None) -> list[FileCheck]:
        """Does `agent` hold every file live, at these fencing tokens if given
        (one per file)? One fresh read of all the files (of each batch of 256 files
        and 64 KiB of paths, for more),
        for commit gates. Each file is judged against every hold that covers it
        (see `holders`): `held` only when the agent's own exclusive hold covers
        it; `shared` when only shared holds do, the agent's among them."""
        files, tokens = list(files), list(tokens or [])

        async def run() -> list[FileCheck]:
            self._check()
            if not files or (tokens and len(tokens) != len(files)):
                # One guest call, which judges the empty or mismatched list.
                return await self._guest(lambda x: x.check(files, agent, tokens))
            # A bounded batch per guest call keeps thousands of files far below its fuel.
            checks: list[FileCheck] = []
            for r in _batches(files):
                batch = files[r.start : r.stop]
                marks = tokens[r.start : r.stop]
                checks += await self._guest(lambda x, b=batch, t=marks: x.check(b, agent, t))
            return checks

        return await self._on_loop(run())

    async def force_release(self, file: str, by: str) -> Release:
        """Remove whoever's live hold on `file` (an operator's tool), gated on
        the revision judged. Subscribers see `released` with `forced_by=by`."""

        async def run() -> Release:
            self._check()
            return await self._guest(lambda x: x.force_release(file, by, self._hint(x, file)))

        return await self._on_loop(run())

    async def release(self, file: str, agent: str) -> Release:
        """Remove `agent`'s live hold on `file`; a no-op (`released=False`) for a
        missing, expired or another agent's hold. Gated on the revision judged,
        so a take-over racing it survives."""

        async def run() -> Release:
            self._check()
            return await self._guest(lambda x: x.release(file, agent, self._hint(x, file)))

        return await self._on_loop(run())

    async def who_has(self, file: str) -> Optional[Claim]:
        """The live hold on `file`, read fresh from the store."""

        async def run() -> Optional[Claim]:
            self._check()
            return await self._guest(lambda x: x.who_has(file, None))

        return await self._on_loop(run())

    async def holders(self, file: str) -> list[Claim]:
        """Every live hold that covers `file` (absolute): its exclusive hold,
        its shared holds, and each directory and glob hold over it, oldest
        revision first, read fresh from the store."""

        async def run() -> list[Claim]:
            self._check()
            return await self._guest(lambda x: x.covering(file))

        return await self._on_loop(run())

    async def key_for_file(self, file: str) -> str:
        """The store key of `file` (Go-compatible where Go's keys are valid)."""

        async def run() -> str:
            self._check()
            return await self._guest(lambda x: x.key_for_file(file))

        return await self._on_loop(run())

    async def identify(
        self, paths: list[str], *, cwd: Optional[str] = None, workspace: str = "", checkout: str = ""
    ) -> list[Identity]:
        """Name `paths` as holds keys them, wherever they are seen from: relative
        paths start at `cwd` (default: the working directory); symlinks are
        resolved for the longest existing prefix; a path under `checkout` is named
        under `workspace` (both set, for checkouts git does not link); otherwise a
        path in a git worktree is named under the repository's main worktree, so
        agents in different worktrees contend for one key. Each Identity also
        says which checkout the path was seen through. Reads the filesystem only."""
        where = os.getcwd() if cwd is None else cwd

        async def run() -> list[Identity]:
            self._check()
            named: list[Identity] = []
            # A bounded batch per guest call keeps each call far below its fuel.
            every = list(paths)
            for r in _batches(every):
                batch = every[r.start : r.stop]
                named += await self._guest(lambda x, b=batch: x.identify(b, where, workspace, checkout))
            return named

        return await self._on_loop(run())

    async def file_for_key(self, key: str) -> str:
        """The file a store key names (InvalidInput for a key holds would not write)."""

        async def run() -> str:
            self._check()
            return await self._guest(lambda x: x.file_for_key(key))

        return await self._on_loop(run())

    async def list(self) -> list[Claim]:
        """Every live hold, oldest revision first, from a fresh replay of the bucket."""

        async def run() -> list[Claim]:
            self._check()
            current: list[tuple[str, Entry]] = []
            watch = self.store.watch()
            try:
                async with asyncio.timeout(self.op_timeout * 2):
                    async for item in watch:
                        if item is CAUGHT_UP:
                            break
                        current.append(item)  # type: ignore[arg-type]
            except TimeoutError:
                raise StoreError(f"listing the bucket took over {self.op_timeout * 2:g} s") from None
            except Unavailable as e:
                raise StoreError(f"listing the bucket: {e}") from None
            finally:
                await watch.aclose()

            def interpret(exports: wit.Exports) -> list[Claim]:
                claims = []
                for key, entry in current:
                    if entry.operation != "put":
                        continue
                    event = exports.interpret(key, entry, None, True).event
                    if event is not None and event.hold is not None:
                        claims.append(Claim(event.file, event.hold, event.revision, event.scope))
                return sorted(claims, key=lambda c: c.revision)

            return await self._guest(interpret)

        return await self._on_loop(run())

    async def subscribe(self) -> Subscription:
        """Current holds as `announced` events, then live changes (see Subscription)."""

        async def run() -> Subscription:
            self._check()
            return await self.hub.subscribe()

        return await self._on_loop(run())

    async def probe(self) -> None:
        """Check the bucket answers (a read of the never-written `_probe` key)."""

        async def run() -> None:
            self._check()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.store.get, "_probe")
            except Unavailable as e:
                raise StoreError(f"probe failed: {e}") from None

        await self._on_loop(run())

    def set_cas_retry_observer(self, observer: Optional[Callable[[str, int], None]]) -> None:
        """`observer(key, attempt)` runs on every CAS retry (never for a first
        attempt, never after the final verdict); for logs and tests."""
        self.pool.observer = observer

    async def close(self) -> None:
        """End every subscription; every later call raises Closed. Idempotent."""
        if self._closed:
            return
        self._closed = True

        async def shut() -> None:
            self.hub.close()
            if self._owns_store:
                await self.store.close()

        with contextlib.suppress(BridgeError):
            await self._loop.call(shut())
        self.pool.shutdown()
        await asyncio.get_running_loop().run_in_executor(None, self._loop.stop)

    async def __aenter__(self) -> Manager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed


def _ttl(ttl: Duration) -> int:
    try:
        ns = to_nanos(ttl)
    except ValueError as e:
        raise InvalidInput("ttl", str(e)) from None
    if ns >= 1 << 64:
        raise InvalidInput("ttl", "too long")
    return ns


def _mode(mode: object) -> Mode:
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidInput("mode", f"{mode!r} is not one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def _config(bucket: str, ttl_max: Duration, chan_buffer: int, instances: int) -> int:
    if not _BUCKET.match(bucket):
        raise ConfigError(f"bucket name {bucket!r} must match [A-Za-z0-9_-]+")
    try:
        ns = to_nanos(ttl_max)
    except ValueError as e:
        raise ConfigError(f"ttl_max: {e}") from None
    if ns <= 0:
        raise ConfigError("ttl_max must be positive")
    if chan_buffer < 1:
        raise ConfigError("chan_buffer must be at least 1")
    if instances < 1:
        raise ConfigError("instances must be at least 1")
    return ns
