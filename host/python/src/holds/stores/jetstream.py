"""A JetStream KV bucket over nats-py, written to directly so every conditional
write and delete is one publish and carries a per-message TTL.

Mirrors the Rust host (`host/src/kv/jetstream.rs`): raw publishes to
`$KV.<bucket>.<key>` gated by `Nats-Expected-Last-Subject-Sequence`, `Nats-TTL`
on holds when the bucket allows per-message TTLs, `KV-Operation: DEL` markers
(plus `Holds-Removal: expired` for a sweep's), reads and the watch keep the raw
headers and read them by the guest's marker-header table, so a server `MaxAge`
marker reads as `expire` (nats-py's KV layer would report it as a purge, or as
an entry with no operation at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Optional

import nats
import nats.errors
import nats.js.errors as jserr
from nats.js import api

from ..bridge import BridgeError, LoopThread
from ..component import marker_headers
from ..types import MISSING, Entry
from . import release_log
from .base import (
    CAUGHT_UP,
    BatchWrite,
    BucketLimits,
    NotStored,
    Store,
    Unavailable,
    Unsupported,
    WatchItem,
    WrongRevision,
)

log = logging.getLogger("holds")

KV_OPERATION = "KV-Operation"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
TTL = "Nats-TTL"
BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
#: The server's default limit of messages in one atomic batch.
MAX_BATCH = 1000
#: Our own marker header: a sweep (not the server) expired the hold.
HOLDS_REMOVAL = "Holds-Removal"
#: One entry per key, as the Go package (see the Rust host's HISTORY).
HISTORY = 1
#: An idle watch checks its consumer still exists this often (s).
WATCH_LIVENESS = 5.0
#: How long the server keeps a watch's consumer once nobody listens (s).
WATCH_INACTIVE = 300.0
#: The same for a scan's consumer, which is dropped as soon as it caught up (s).
SCAN_INACTIVE = 5.0


class ServerCodes:
    """nats-server `JSStream...` error codes a publish can meet."""

    #: The expected last subject sequence did not match.
    WRONG_LAST_SEQUENCE = 10071
    #: A replicated stream's leader refused a conditional write WITHOUT
    #: comparing: another write to the subject is in flight (one that will land,
    #: or one that landed, often the caller's own, whose mark is not cleared).
    #: Nothing written, nothing decided: never a lost race.
    WRONG_LAST_SEQUENCE_CONSTANT = 10164
    #: The check cannot be made yet (right after a leader election): nothing written.
    LAST_SUBJECT_SEQUENCE_NOT_READY = 10163
    #: The stream was not created with `allow_atomic`.
    ATOMIC_PUBLISH_DISABLED = 10174


def refused(code: Optional[int], detail: str, key: str) -> Exception:
    """The error for a write the server refused with error `code`: a lost race,
    a write it took nothing of (the guest may send it again), or a failure."""
    if code == ServerCodes.WRONG_LAST_SEQUENCE:
        return WrongRevision(key)
    if code == ServerCodes.WRONG_LAST_SEQUENCE_CONSTANT:
        return NotStored("busy", detail)
    if code == ServerCodes.LAST_SUBJECT_SEQUENCE_NOT_READY:
        return NotStored("leader-changing", detail)
    return Unavailable(f"write refused: {detail} (error {code})")


def publish_failed(e: Exception, key: str, op_timeout: float) -> Exception:
    """The error for a publish of `key` that raised `e` (nats-py's)."""
    if isinstance(e, jserr.APIError):
        return refused(e.err_code, str(e.description or e), key)
    if isinstance(e, (jserr.NoStreamResponseError, nats.errors.NoRespondersError)):
        # No stream listens on the subject (for a moment after a bucket is
        # created, or while none has a leader): nothing was written.
        return NotStored("no-stream", str(e))
    if isinstance(e, (TimeoutError, nats.errors.TimeoutError)):
        return Unavailable(f"publish got no answer within {op_timeout:g} s")
    return Unavailable(f"publish failed: {type(e).__name__}: {e}")


def _server_at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = version.lstrip("v").replace("-", ".").split(".")
    nums = [int(p) if p.isdigit() else 0 for p in parts[:2]] + [0, 0]
    return (nums[0], nums[1]) >= wanted


def server_supports_ttl(version: str) -> bool:
    """2.11.0 and later accept `Nats-TTL` and limit markers."""
    return _server_at_least(version, (2, 11))


def server_supports_atomic(version: str) -> bool:
    """2.12.0 and later take atomic batch publishes (on streams with `allow_atomic`)."""
    return _server_at_least(version, (2, 12))


def operation_of(headers: Optional[dict]) -> str:
    """The operation a stored message records: that of the guest's first
    marker-header rule whose header (name exact) it carries with that value; a
    message matching none is a put."""
    if headers:
        for rule in marker_headers():
            if headers.get(rule.name) == rule.value:
                return rule.operation
    return "put"


_TOKEN = re.compile(r"[^.*>\s]+")


def scan_filter(subjects: str, prefix: str) -> str:
    """The filter subject of a scan of the keys that start with `prefix`, in a
    bucket whose subjects start with `subjects` (`$KV.<bucket>.`): only those
    keys' subjects when `prefix` is whole tokens (`_hx.`), else every key (the
    scan keeps those that start with `prefix`)."""
    if prefix.endswith(".") and all(_TOKEN.fullmatch(t) for t in prefix[:-1].split(".")):
        return f"{subjects}{prefix}>"
    return f"{subjects}>"


def _server_version(nc: Any) -> str:
    """The connected server's version string (`2.15.1`)."""
    return str(nc.connected_server_version._server_version)


def _ns(at: Optional[_dt.datetime]) -> int:
    if at is None:
        return time.time_ns()
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact(servers: Any) -> str:
    """Server URLs (one, or a list) with every `user:password@` replaced by `***@`."""
    text = ", ".join(servers) if isinstance(servers, (list, tuple)) else str(servers)
    return _USERINFO.sub("***@", text)


class JetStreamStore(Store):
    """A bucket on one nats-py connection that lives on `loop`'s thread."""

    def __init__(self, loop: LoopThread, nc: Any, bucket: str, info: Any, op_timeout: float):
        config = info.config
        self._loop = loop
        self.nc = nc
        self.js = nc.jetstream(timeout=op_timeout)
        self.bucket = bucket
        self.stream = f"KV_{bucket}"
        self.prefix = f"$KV.{bucket}."
        self.op_timeout = op_timeout
        version = _server_version(nc)
        url = nc.connected_url
        # host:port only: the URL's netloc may carry user:password@.
        self.server = f"nats-server {version} at {f'{url.hostname}:{url.port}' if url else '?'}"
        self.expires_entries = bool(
            server_supports_ttl(version) and config.allow_msg_ttl and config.max_msgs_per_subject == 1
        )
        self.max_age = int((config.max_age or 0) * 1_000_000_000)
        self.limits = BucketLimits(
            max_messages=config.max_msgs if config.max_msgs is not None else -1,
            max_bytes=config.max_bytes if config.max_bytes is not None else -1,
            max_messages_per_key=config.max_msgs_per_subject,
            discard_old=config.discard in (None, "old"),
            discard_new_per_key=bool(config.discard_new_per_subject),
        )
        self.replicas = config.num_replicas or 1
        replicated = self.replicas > 1
        #: Multi-file claims are one atomic batch publish; cleared if the server
        #: says the stream does not take them (a bucket made by the Go package).
        self.atomic = bool(server_supports_atomic(version) and config.allow_atomic)
        # A direct get may be answered by a lagging follower: read through the
        # leader on a replicated bucket.
        self._direct = bool(config.allow_direct) and not replicated
        #: One event per running watch, set when the client reconnects.
        self._reconnected: set[asyncio.Event] = set()

    # -- opening ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        loop: LoopThread,
        servers: Any,
        bucket: str,
        max_age: int,
        replicas: int = 1,
        op_timeout: float = 5.0,
        **connect_options: Any,
    ) -> JetStreamStore:
        """Connect (on `loop`) and create the bucket, or attach to it as it is."""
        # Every read needs the guest's table; asking may compile the component: off the loop.
        await asyncio.to_thread(marker_headers)
        # Reconnect forever once connected (a server restart is an outage, not
        # the end); but the first connection must succeed within the timeout:
        # nats-py would otherwise retry it forever too.
        options = {"connect_timeout": op_timeout, "max_reconnect_attempts": -1, **connect_options}
        holder: list[JetStreamStore] = []
        user_reconnected = options.get("reconnected_cb")

        async def reconnected() -> None:
            for store in holder:
                for event in store._reconnected:
                    event.set()
            if user_reconnected is not None:
                await user_reconnected()

        options["reconnected_cb"] = reconnected
        try:
            nc = await asyncio.wait_for(nats.connect(servers, **options), op_timeout * 2)
        except TimeoutError:
            raise Unavailable(
                f"connecting to {redact(servers)}: no server answered within {op_timeout * 2:g} s"
            ) from None
        except Exception as e:
            raise Unavailable(f"connecting to {redact(servers)}: {redact(str(e))}") from e
        try:
            info = await cls._create_or_attach(nc, bucket, max_age, replicas, op_timeout)
        except BaseException:
            await nc.close()
            raise
        store = cls(loop, nc, bucket, info, op_timeout)
        holder.append(store)
        return store

    @staticmethod
    async def _create_or_attach(nc: Any, bucket: str, max_age: int, replicas: int, op_timeout: float) -> Any:
        js = nc.jetstream(timeout=op_timeout)
        name = f"KV_{bucket}"
        try:
            return await js.stream_info(name)
        except jserr.NotFoundError:
            pass
        except Exception as e:
            raise Unavailable(f"opening bucket {bucket}: {e}") from e
        seconds = max_age / 1_000_000_000
        ttl_capable = server_supports_ttl(_server_version(nc))
        atomic_capable = server_supports_atomic(_server_version(nc))
        # The configuration the Rust host (async-nats) creates, field for field.
        config = api.StreamConfig(
            name=name,
            subjects=[f"$KV.{bucket}.>"],
            retention=api.RetentionPolicy.LIMITS,
            max_consumers=-1,
            max_msgs=-1,
            max_bytes=-1,
            max_age=seconds,
            max_msgs_per_subject=HISTORY,
            max_msg_size=-1,
            discard=api.DiscardPolicy.NEW,
            storage=api.StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=min(120.0, seconds) if seconds else 120.0,
            allow_direct=True,
            mirror_direct=False,
            sealed=False,
            deny_delete=True,
            deny_purge=False,
            allow_rollup_hdrs=True,
            allow_msg_ttl=True if ttl_capable else None,
            subject_delete_marker_ttl=max(seconds, 1.0) if ttl_capable else None,
            # Atomic batches for multi-file claims (what the Rust host sets too).
            allow_atomic=True if atomic_capable else None,
        )
        try:
            return await js.add_stream(config)
        except Exception as create:
            # Another process may have created it first.
            try:
                return await js.stream_info(name)
            except Exception:
                raise Unavailable(f"creating bucket {bucket}: {create}") from create

    def describe(self) -> str:
        return f"JetStream bucket {self.bucket} on {self.server}"

    def subject(self, key: str) -> str:
        return self.prefix + key

    # -- the kv import (sync, from pool threads) -------------------------------

    def _run(self, coro: Any) -> Any:
        try:
            return self._loop.run(coro, self.op_timeout + 1.0)
        except TimeoutError as e:
            raise Unavailable(f"{self.describe()}: {e}") from None
        except BridgeError as e:
            raise Unavailable(str(e)) from None

    def get(self, key: str) -> Entry:
        return self._run(self.aget(key))

    def write_if_revision(self, key: str, value: bytes, expected: int, ttl_seconds: int) -> int:
        headers = {EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected)}
        if self.expires_entries and ttl_seconds > 0:
            headers[TTL] = f"{max(ttl_seconds, 1)}s"
        return self._run(self.apublish(key, value, headers))

    def delete_if_revision(self, key: str, expected: int, why: str, note: bytes = b"") -> int:
        headers = {KV_OPERATION: "DEL", EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected)}
        if why == "expired":
            headers[HOLDS_REMOVAL] = "expired"
        # KV readers (Go's too) ignore a delete marker's payload.
        revision = self._run(self.apublish(key, bytes(note), headers))
        if why == "released":
            # After the marker, so only releases that happened are recorded; a
            # failed record does not undo (or fail) the release: it is logged.
            try:
                self._run(release_log.record(self.js, self.bucket, self.replicas, key, revision, bytes(note)))
            except Exception as e:
                log.warning("release of %s (revision %d) not recorded in the release log: %s", key, revision, e)
        return revision

    def get_many(self, keys: list[str]) -> list[Entry]:
        """Every read at once on the loop: one bridge hop, the round trips overlap."""
        return self._run(self.aget_many(keys))

    def write_batch(self, writes: list[BatchWrite]) -> list[int]:
        if not self.atomic:
            raise Unsupported(f"bucket {self.bucket} takes no atomic batches")
        if not writes:
            return []
        if len(writes) > MAX_BATCH:
            raise Unsupported(f"{len(writes)} writes are more than a batch of {MAX_BATCH}")
        return self._run(self.awrite_batch(writes))

    def scan(self, prefix: str, through: int) -> list[tuple[str, Entry]]:
        """A fresh replay of the bucket (as `Manager.list` reads it), so every
        revision up to `through` is in view."""
        return self._run(self.ascan(prefix))

    def put(self, key: str, value: bytes) -> int:
        return self._run(self.apublish(key, value, {}))

    # -- on the loop -----------------------------------------------------------

    def _require_connection(self, what: str) -> None:
        # While disconnected nats-py buffers a publish and sends it on reconnect,
        # long after the call reported failure: refuse instead.
        if not self.nc.is_connected:
            state = "closed" if self.nc.is_closed else "reconnecting" if self.nc.is_reconnecting else "disconnected"
            raise Unavailable(f"not connected to {self.server} ({state}); {what}")

    async def aget(self, key: str) -> Entry:
        self._require_connection("nothing was read")
        try:
            if self._direct:
                msg = await self.js.get_msg(self.stream, subject=self.subject(key), direct=True)
            else:
                msg = await self.js.get_msg(self.stream, subject=self.subject(key))
        except jserr.NotFoundError:
            return MISSING
        except Exception as e:
            raise Unavailable(f"get failed: {type(e).__name__}: {e}") from None
        return Entry(True, msg.data or b"", msg.seq, operation_of(msg.headers), _ns(msg.time))  # type: ignore[arg-type]

    async def aget_many(self, keys: list[str]) -> list[Entry]:
        return list(await asyncio.gather(*(self.aget(k) for k in keys)))

    async def ascan(self, prefix: str) -> list[tuple[str, Entry]]:
        """The latest entry of every key that starts with `prefix` and holds a
        value: an ordered consumer delivering the last message per subject,
        read until it caught up. Markers are left out."""
        self._require_connection("nothing was read")
        queue: asyncio.Queue = asyncio.Queue()
        state = {"caught_up": False, "last": 0}
        latest: dict[str, Entry] = {}
        sub = None
        try:
            async with asyncio.timeout(self.op_timeout):
                sub = await self._subscribe(
                    queue, state, resume=False, subject=scan_filter(self.prefix, prefix), inactive=SCAN_INACTIVE
                )
                while (item := await queue.get()) is not CAUGHT_UP:
                    key, entry = item
                    if key.startswith(prefix) and entry.revision > latest.get(key, MISSING).revision:
                        latest[key] = entry
        except TimeoutError:
            raise Unavailable(f"scanning {prefix!r} took over {self.op_timeout:g} s") from None
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        return [(key, entry) for key, entry in latest.items() if entry.operation == "put"]

    async def awrite_batch(self, writes: list[BatchWrite]) -> list[int]:
        """One atomic batch publish (ADR-50): each message carries its own
        `Nats-Expected-Last-Subject-Sequence` (and `Nats-TTL`), checked by the
        server at the commit, all or none. All but the commit are plain core
        publishes (nats-py has no batch API; a JetStream publish would wait for
        an ack the server does not send), so the batch is one round trip."""
        self._require_connection("nothing was written")
        batch = f"holds-{uuid.uuid4().hex}"
        last = len(writes) - 1
        try:
            for i, w in enumerate(writes):
                headers = {
                    BATCH_ID: batch,
                    BATCH_SEQUENCE: str(i + 1),
                    EXPECTED_LAST_SUBJECT_SEQUENCE: str(w.expected),
                }
                if self.expires_entries and w.ttl_seconds > 0:
                    headers[TTL] = f"{max(w.ttl_seconds, 1)}s"
                if i < last:
                    await self.nc.publish(self.subject(w.key), w.value, headers=headers)
                else:
                    headers[BATCH_COMMIT] = "1"
                    reply = await self.nc.request(self.subject(w.key), w.value, self.op_timeout, headers=headers)
        except Exception as e:
            # With no stream answering, what it took of an uncommitted batch is dropped.
            raise publish_failed(e, writes[0].key, self.op_timeout) from None
        try:
            ack = json.loads(reply.data)
        except ValueError:
            raise Unavailable(f"the batch's commit answered no PubAck: {reply.data[:200]!r}") from None
        error = ack.get("error")
        if error:
            code = error.get("err_code")
            if code == ServerCodes.ATOMIC_PUBLISH_DISABLED:
                self.atomic = False
                raise Unsupported(f"bucket {self.bucket}: {error.get('description')}")
            raise refused(code, str(error.get("description")), writes[0].key)
        seq, count = ack.get("seq"), ack.get("count")
        if not isinstance(seq, int) or count != len(writes) or seq < count:
            raise Unavailable(f"the batch's commit answered {ack!r} for {len(writes)} writes")
        # A committed batch is stored as consecutive messages.
        return list(range(seq - count + 1, seq + 1))

    async def apublish(self, key: str, payload: bytes, headers: dict) -> int:
        """One send of a write: its revision, or the error saying why it failed
        (NotStored: the guest decides whether to send it again)."""
        self._require_connection("nothing was written")
        try:
            ack = await self.js.publish(self.subject(key), payload, timeout=self.op_timeout, headers=dict(headers))
        except Exception as e:
            raise publish_failed(e, key, self.op_timeout) from None
        return ack.seq

    async def watch(self) -> AsyncIterator[WatchItem]:
        """An ordered push consumer over `$KV.<bucket>.>`, last entry per key first.

        nats-py does not recreate an ordered consumer the server lost (a
        restart, the loss of the node serving it), so this watch does: after
        the client reconnects, or when an idle check finds the consumer gone,
        it resumes from the last revision it delivered. Changes of a key
        superseded meanwhile are coalesced into its latest entry (the bucket
        keeps one per key), as in the Rust host."""
        self._require_connection("cannot watch")
        queue: asyncio.Queue = asyncio.Queue()
        state = {"caught_up": False, "last": 0}
        reconnected = asyncio.Event()
        self._reconnected.add(reconnected)
        sub = None
        try:
            sub = await self._subscribe(queue, state, resume=False)
            idle_since = time.monotonic()
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    item = None
                if item is not None:
                    idle_since = time.monotonic()
                    yield item
                    continue
                due = time.monotonic() - idle_since >= WATCH_LIVENESS
                if not reconnected.is_set() and not (due and self.nc.is_connected):
                    continue
                idle_since = time.monotonic()
                if not reconnected.is_set() and await self._consumer_alive(sub):
                    continue
                reconnected.clear()
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                try:
                    sub = await self._subscribe(queue, state, resume=True)
                except Unavailable:
                    reconnected.set()  # try again at the next idle second
        finally:
            self._reconnected.discard(reconnected)
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _consumer_alive(self, sub: Any) -> bool:
        try:
            await sub.consumer_info()
            return True
        except jserr.NotFoundError:
            return False
        except Exception:
            return True  # unknown (a slow server): check again later

    async def _subscribe(
        self,
        queue: asyncio.Queue,
        state: dict,
        resume: bool,
        subject: Optional[str] = None,
        inactive: float = WATCH_INACTIVE,
    ) -> Any:
        """Start (or resume after `state["last"]`) the watch's ordered consumer
        over `subject` (default: every key)."""
        ready = asyncio.get_running_loop().create_future()

        async def on_message(msg: Any) -> None:
            if not ready.done():
                await ready
            meta = msg.metadata
            seq = meta.sequence.stream
            if seq <= state["last"]:
                return  # from a consumer this watch replaced
            state["last"] = seq
            entry = Entry(True, msg.data or b"", seq, operation_of(msg.headers), _ns(meta.timestamp))  # type: ignore[arg-type]
            queue.put_nowait((msg.subject[len(self.prefix) :], entry))
            if not state["caught_up"] and meta.num_pending == 0:
                state["caught_up"] = True
                queue.put_nowait(CAUGHT_UP)

        if resume:
            policy = {
                "config": api.ConsumerConfig(
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=state["last"] + 1
                )
            }
        else:
            policy = {"deliver_policy": api.DeliverPolicy.LAST_PER_SUBJECT}
        try:
            sub = await self.js.subscribe(
                subject or self.prefix + ">", stream=self.stream, cb=on_message, ordered_consumer=True,
                inactive_threshold=inactive, **policy,
            )  # fmt: skip
        except Exception as e:
            ready.cancel()
            raise Unavailable(f"creating the watch consumer failed: {e}") from None
        try:
            info = await sub.consumer_info()
        except Exception as e:
            ready.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise Unavailable(f"starting the watch failed: {e}") from None
        # Caught up at once only if the server delivered nothing: the client's own
        # count can still be 0 while delivered messages wait for `ready` below.
        delivered = info.delivered.consumer_seq if info.delivered else 0
        if not state["caught_up"] and info.num_pending == 0 and not delivered:
            state["caught_up"] = True
            queue.put_nowait(CAUGHT_UP)
        ready.set_result(True)
        return sub

    async def close(self) -> None:
        """Drain and close the connection (on its own loop, whoever awaits this)."""
        await self._loop.call(self._close())

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nc.drain(), self.op_timeout)
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.close()
