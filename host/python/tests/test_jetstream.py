"""The JetStream store on a real nats-server: the bucket it creates, the headers
it writes, markers it reads, buckets it attaches to, and an unreachable server."""

import asyncio
import json
import os
import time
import uuid

import nats
import nats.js.errors as jserr
import pytest
from nats.js import api

import holds
from holds.stores import BatchWrite, NotStored, Unavailable, Unsupported, WrongRevision
from holds.stores.jetstream import JetStreamStore
from support.natsserver import NatsServer

F = "/work/a.txt"
KEY = "=2Fwork=2Fa.txt"


def bucket() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


async def raw_message(url, name, key):
    nc = await nats.connect(url)
    try:
        return await nc.jetstream().get_msg(f"KV_{name}", subject=f"$KV.{name}.{key}", direct=True)
    finally:
        await nc.close()


async def stream_config(url, name):
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(f"KV_{name}")).config
    finally:
        await nc.close()


def test_a_new_bucket_is_created_as_the_rust_host_creates_it(nats_url):
    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="90s")
        try:
            assert m.store.expires_entries
            return await stream_config(nats_url, name)
        finally:
            await m.close()

    c = asyncio.run(main())
    assert c.max_msgs_per_subject == 1
    assert c.max_age == 90
    assert c.storage == api.StorageType.FILE
    assert c.allow_msg_ttl is True
    assert c.subject_delete_marker_ttl == 90
    assert c.allow_direct is True and c.allow_rollup_hdrs is True and c.deny_delete is True
    assert c.discard == api.DiscardPolicy.NEW
    assert c.subjects == [f"$KV.{c.name[3:]}.>"]


def test_holds_carry_their_ttl_and_a_server_expiry_reads_as_expire(nats_url):
    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            await m.announce(F, "a", "30s")
            held = await raw_message(nats_url, name, KEY)
            await m.announce("/w/short", "a", "1s")
            await asyncio.sleep(1.6)
            short_key = await m.key_for_file("/w/short")
            marker = await raw_message(nats_url, name, short_key)
            entry = await asyncio.to_thread(m.store.get, short_key)
            return held, marker, entry
        finally:
            await m.close()

    held, marker, entry = asyncio.run(main())
    assert held.headers["Nats-TTL"] == "30s"
    assert held.headers["Nats-Expected-Last-Subject-Sequence"] == "0"
    assert marker.headers.get("Nats-Marker-Reason") == "MaxAge"
    assert (entry.found, entry.operation, entry.value) == (True, "expire", b"")


def test_a_bucket_without_per_message_ttls_is_used_as_is_and_swept(nats_url):
    """As the Go package creates it: no limit markers, no TTLs. Holds then expire
    by the guest's verdict, and a watching manager's sweep leaves the marker."""

    async def main():
        name = bucket()
        nc = await nats.connect(nats_url)
        await nc.jetstream().add_stream(
            api.StreamConfig(
                name=f"KV_{name}",
                subjects=[f"$KV.{name}.>"],
                max_msgs_per_subject=1,
                max_age=120,
                discard=api.DiscardPolicy.NEW,
                allow_direct=True,
                allow_rollup_hdrs=True,
                deny_delete=True,
                storage=api.StorageType.FILE,
            )
        )
        await nc.close()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            assert not m.store.expires_entries
            sub = await m.subscribe()
            claim = await m.announce(F, "a", "1s")
            assert "Nats-TTL" not in (await raw_message(nats_url, name, KEY)).headers
            events = [await sub.next(5), await sub.next(5)]
            marker = await raw_message(nats_url, name, KEY)
            return claim, events, marker
        finally:
            await m.close()

    claim, events, marker = asyncio.run(main())
    assert [e.kind for e in events] == ["announced", "expired"]
    assert events[1].revision > claim.revision
    assert marker.headers["KV-Operation"] == "DEL"
    assert marker.headers["Holds-Removal"] == "expired"


def test_a_hold_as_long_as_the_buckets_max_age_is_accepted(nats_url):
    async def main():
        m = await holds.Manager.jetstream(nats_url, bucket=bucket(), ttl_max="60s")
        try:
            return await m.announce(F, "a", "60s")
        finally:
            await m.close()

    assert asyncio.run(main()).hold.ttl == 60 * 10**9


def test_conditional_writes_are_revision_gated(nats_url):
    async def main():
        m = await holds.Manager.jetstream(nats_url, bucket=bucket(), ttl_max="60s")
        try:
            s = m.store
            r = await asyncio.to_thread(s.write_if_revision, "k", b"v", 0, 0)
            with pytest.raises(WrongRevision):
                await asyncio.to_thread(s.write_if_revision, "k", b"v", 0, 0)
            with pytest.raises(WrongRevision):
                await asyncio.to_thread(s.delete_if_revision, "k", r + 7, "released")
            d = await asyncio.to_thread(s.delete_if_revision, "k", r, "released")
            e = await asyncio.to_thread(s.get, "k")
            return r, d, e
        finally:
            await m.close()

    r, d, e = asyncio.run(main())
    assert d > r
    assert (e.revision, e.operation) == (d, "delete")


def test_a_new_bucket_takes_atomic_batches_all_or_nothing(nats_url):
    """write-batch is one atomic batch publish: consecutive revisions when every
    expectation holds, WrongRevision and nothing written when one does not."""

    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            s = m.store
            assert s.atomic and (await stream_config(nats_url, name)).allow_atomic is True
            a = await asyncio.to_thread(s.write_if_revision, "a", b"a0", 0, 0)
            revs = await asyncio.to_thread(
                s.write_batch, [BatchWrite("a", b"a1", a, 30), BatchWrite("b", b"b1", 0, 30)]
            )
            with pytest.raises(WrongRevision):
                # b expects "no entry", but it has one: a must not be written either.
                await asyncio.to_thread(
                    s.write_batch, [BatchWrite("a", b"a2", revs[0], 30), BatchWrite("b", b"b2", 0, 30)]
                )
            after = await asyncio.to_thread(s.get_many, ["a", "b", "c"])
            ttl = (await raw_message(nats_url, name, "b")).headers.get("Nats-TTL")
            return a, revs, after, ttl
        finally:
            await m.close()

    a, revs, after, ttl = asyncio.run(main())
    assert revs == [a + 1, a + 2]
    assert [(e.found, e.value, e.revision) for e in after] == [
        (True, b"a1", a + 1),
        (True, b"b1", a + 2),
        (False, b"", 0),
    ]
    assert ttl == "30s"


def test_a_bucket_without_atomic_batches_claims_one_by_one_and_rolls_back(nats_url):
    """A bucket made without allow_atomic (as the Go package makes it): write-batch
    is Unsupported, so a claim announces file by file (atomic False) and a refusal
    rolls back what it wrote, naming the holder."""

    async def main():
        name = bucket()
        nc = await nats.connect(nats_url)
        await nc.jetstream().add_stream(
            api.StreamConfig(
                name=f"KV_{name}",
                subjects=[f"$KV.{name}.>"],
                max_msgs_per_subject=1,
                max_age=120,
                discard=api.DiscardPolicy.NEW,
                allow_direct=True,
                allow_rollup_hdrs=True,
                deny_delete=True,
                allow_msg_ttl=True,
                storage=api.StorageType.FILE,
            )
        )
        await nc.close()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            assert not m.store.atomic
            with pytest.raises(Unsupported):
                await asyncio.to_thread(m.store.write_batch, [BatchWrite("x", b"x", 0, 0)])
            took = await m.claim(["/w/b", "/w/a"], "a", "30s")
            await m.announce("/w/d", "b", "30s")
            with pytest.raises(holds.HeldByOthers) as refused:
                await m.claim(["/w/c", "/w/d"], "a", "30s")
            return took, refused.value, await m.who_has("/w/c")
        finally:
            await m.close()

    took, refused, c = asyncio.run(main())
    assert not took.atomic and [x.file for x in took.claims] == ["/w/a", "/w/b"]
    assert refused.holders == ["b"]
    assert c is None, "the file written before the refusal was rolled back"


async def _on_jetstream(nats_url, use):
    """`use(js)` on a connection of its own, as another client reads the server."""
    nc = await nats.connect(nats_url)
    try:
        return await use(nc.jetstream())
    finally:
        await nc.close()


def test_a_force_release_marker_carries_who_forced_it_and_the_release_log_records_it(nats_url):
    async def log_record(name):
        return await _on_jetstream(
            nats_url, lambda js: js.get_last_msg(f"HOLDS_RELEASES_{name}", f"$HOLDS.releases.{name}")
        )

    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            sub = await m.subscribe()
            await m.announce(F, "a", "30s")
            with pytest.raises(jserr.NotFoundError):
                await log_record(name)
            released = await m.force_release(F, "ops")
            events = [await sub.next(5), await sub.next(5)]
            return released, events, await raw_message(nats_url, name, KEY), await log_record(name)
        finally:
            await m.close()

    released, events, marker, record = asyncio.run(main())
    assert events[1].kind == "released" and events[1].forced_by == "ops" and events[1].revision == released.revision
    assert marker.headers["KV-Operation"] == "DEL"
    assert json.loads(marker.data) == {"released_by": "ops", "agent_id": "a", "checkout_path": "", "revision": 1}
    assert record.data == marker.data
    assert record.headers["Holds-Key"] == KEY and record.headers["Holds-Revision"] == str(released.revision)
    assert record.headers["Holds-Process"].startswith("python ")
    assert f"(pid {os.getpid()}, user " in record.headers["Holds-Process"]


def test_a_publish_that_wrote_nothing_is_sent_once_and_the_guest_sends_it_again(nats_url):
    """10163 (the check cannot be made yet), no responders and 10164 (a
    replicated leader's refusal without comparing) wrote nothing: the store
    sends once and says why; the guest sends the write again."""

    async def main():
        m = await holds.Manager.jetstream(nats_url, bucket=bucket(), ttl_max="60s", replica=False)
        store: JetStreamStore = m.store
        real = store.js.publish
        failures = []
        sent = []

        async def flaky(*args, **kwargs):
            sent.append(args[0])
            if failures:
                raise failures.pop(0)
            return await real(*args, **kwargs)

        store.js.publish = flaky
        try:
            failures.append(jserr.APIError(code=400, err_code=10164, description="wrong last sequence"))
            with pytest.raises(NotStored) as busy:
                await asyncio.to_thread(store.write_if_revision, "k", b"v", 0, 0)
            once = len(sent)
            failures.extend(
                [
                    jserr.APIError(code=503, err_code=10163, description="not ready"),
                    jserr.NoStreamResponseError(),
                    jserr.APIError(code=400, err_code=10164, description="wrong last sequence"),
                ]
            )
            claim = await m.announce(F, "a", "30s")
            return busy.value, once, len(sent) - once, failures, claim
        finally:
            store.js.publish = real
            await m.close()

    busy, once, announced, left, claim = asyncio.run(main())
    assert (busy.why, busy.detail, once) == ("busy", "wrong last sequence", 1)
    assert (announced, left, claim.revision) == (4, [], 1)


def test_a_write_no_stream_takes_is_not_stored_at_once(nats_url):
    """With the bucket's stream gone, a write and a batch's commit meet no
    responders: each is sent once and stored nothing (a batch's commit too: the
    Rust host's once failed a CI run on a just-created R3 bucket). Once the
    stream is back, the same writes land."""

    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s", replica=False)
        s = m.store
        nc = await nats.connect(nats_url)
        try:
            batch = [BatchWrite("b", b"b", 0, 30), BatchWrite("c", b"c", 0, 30)]
            await nc.jetstream().delete_stream(f"KV_{name}")
            unsent = []
            started = time.monotonic()
            for write in (lambda: s.write_if_revision("a", b"a", 0, 0), lambda: s.write_batch(batch)):
                with pytest.raises(NotStored) as refused:
                    await asyncio.to_thread(write)
                unsent.append(refused.value)
            waited = time.monotonic() - started
            other = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s", replica=False)
            await other.close()
            single = await asyncio.to_thread(s.write_if_revision, "a", b"a", 0, 0)
            revisions = await asyncio.to_thread(s.write_batch, batch)
            return unsent, waited, single, revisions
        finally:
            await nc.close()
            await m.close()

    unsent, waited, single, revisions = asyncio.run(main())
    assert [u.why for u in unsent] == ["no-stream", "no-stream"]
    assert all("no respon" in u.detail for u in unsent), [u.detail for u in unsent]
    assert waited < 1.0, f"sent once, not again: {waited:.2f} s"
    assert [single, *revisions] == [1, 2, 3]


def test_an_unreachable_server_is_a_store_error_at_once_and_the_manager_recovers():
    """Calls during the outage fail fast; afterwards the manager answers again,
    acknowledged holds are there, and a subscription opened before the outage
    resumes (nats-py would leave its lost consumer dead)."""
    with NatsServer() as server:

        async def main():
            m = await holds.Manager.jetstream(server.url, bucket="outage", ttl_max="60s", op_timeout=2.0)
            try:
                sub = await m.subscribe()
                claim = await m.announce(F, "a", "30s")
                assert (await sub.next(5)).revision == claim.revision
                server.stop()
                await asyncio.sleep(0.3)
                timings = []
                for call in (
                    lambda: m.announce(F, "a", "30s"),
                    lambda: m.who_has(F),
                    lambda: m.release(F, "a"),
                    lambda: m.list(),
                ):
                    started = time.monotonic()
                    with pytest.raises(holds.StoreError):
                        await call()
                    timings.append(time.monotonic() - started)
                server.start()
                deadline = time.monotonic() + 15
                while True:
                    try:
                        holder = await m.who_has(F)
                        break
                    except holds.StoreError:
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.2)
                after = await m.announce("/w/after", "a", "30s")
                resumed = await sub.next(10)
                assert (resumed.file, resumed.revision) == ("/w/after", after.revision)
                return claim, timings, holder
            finally:
                await m.close()

        claim, timings, holder = asyncio.run(main())
    assert max(timings[:3]) < 0.5, timings
    assert timings[3] < 5, timings
    assert holder == claim, "the acknowledged hold survived the restart"


def test_connecting_to_nothing_fails_fast():
    started = time.monotonic()
    with pytest.raises(holds.StoreError):
        asyncio.run(holds.Manager.jetstream("nats://127.0.0.1:1", bucket="x", op_timeout=1.0))
    assert time.monotonic() - started < 10


def test_unavailable_store_calls_never_raise_into_the_component(nats_url):
    async def main():
        m = await holds.Manager.jetstream(nats_url, bucket=bucket(), ttl_max="60s")
        await m.store.close()  # the connection is gone under the manager
        try:
            with pytest.raises(Unavailable):
                await asyncio.to_thread(m.store.get, "k")
            with pytest.raises(holds.StoreError):
                await m.announce(F, "a", "30s")
            assert (await m.key_for_file(F)) == KEY  # the instance survived
            return m.pool.discarded
        finally:
            await m.close()

    assert asyncio.run(main()) == 0


def test_a_bucket_that_drops_its_oldest_entries_is_refused_naming_the_setting(nats_url):
    """A stream made by another tool with max_msgs 1 and discard old would drop a live hold: the guest's
    check-bucket refuses it at open (ConfigError naming the setting) and nothing is written."""

    async def main():
        name = bucket()
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(
                api.StreamConfig(
                    name=f"KV_{name}",
                    subjects=[f"$KV.{name}.>"],
                    max_msgs=1,
                    discard=api.DiscardPolicy.OLD,
                    max_msgs_per_subject=1,
                    allow_direct=True,
                )
            )
            with pytest.raises(holds.ConfigError) as refused:
                await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
            assert "max_msgs with discard old" in str(refused.value)
            assert (await js.stream_info(f"KV_{name}")).state.messages == 0
        finally:
            await nc.close()

    asyncio.run(main())


def test_a_password_in_the_url_appears_in_no_description_or_error(nats_url):
    secret = "S3cretPW-planted"
    with_userinfo = nats_url.replace("nats://", f"nats://alice:{secret}@")

    async def main():
        # The test server takes any credentials: the description must not show them.
        m = await holds.Manager.jetstream(with_userinfo, bucket=bucket(), ttl_max="60s")
        try:
            assert secret not in m.store.describe()
        finally:
            await m.close()
        # A server that is not there: the error names it without the password.
        with pytest.raises(holds.StoreError) as failed:
            await holds.Manager.jetstream(f"nats://alice:{secret}@127.0.0.1:1", bucket=bucket(), op_timeout=0.5)
        assert secret not in str(failed.value) and "***@127.0.0.1:1" in str(failed.value)

    asyncio.run(main())


def test_a_scan_reads_the_latest_values_under_a_prefix_fresh(nats_url):
    async def main():
        m = await holds.Manager.jetstream(nats_url, bucket=bucket(), ttl_max="60s")
        try:
            s = m.store
            empty = await asyncio.to_thread(s.scan, "_hx.", 0)
            await asyncio.to_thread(s.put, "_hx.a", b"A1")
            a = await asyncio.to_thread(s.put, "_hx.a", b"A2")
            gone = await asyncio.to_thread(s.put, "_hx.gone", b"G")
            await asyncio.to_thread(s.delete_if_revision, "_hx.gone", gone, "released")
            await asyncio.to_thread(s.put, "_hy.b", b"B")
            last = await asyncio.to_thread(s.put, KEY, b"F")
            by_token = await asyncio.to_thread(s.scan, "_hx.", last)
            by_text = await asyncio.to_thread(s.scan, "_h", last)
            everything = await asyncio.to_thread(s.scan, "", last)
            return empty, a, by_token, by_text, everything
        finally:
            await m.close()

    empty, a, by_token, by_text, everything = asyncio.run(main())
    assert empty == []
    assert [(k, e.value, e.revision, e.operation) for k, e in by_token] == [("_hx.a", b"A2", a, "put")]
    assert sorted(k for k, _ in by_text) == ["_hx.a", "_hy.b"]
    assert sorted(k for k, _ in everything) == sorted(["_hx.a", "_hy.b", KEY])


def test_shared_and_pattern_holds_on_jetstream(nats_url):
    async def main():
        name = bucket()
        a = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        b = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            mine = await a.announce("/work/", "a", "30s", mode="shared")
            theirs = await b.announce(F, "b", "30s", mode="shared")
            with pytest.raises(holds.HeldByOthers) as refused:
                await b.announce("/work/**", "b2", "30s")
            return mine, theirs, await b.holders(F), refused.value.holders
        finally:
            await a.close()
            await b.close()

    mine, theirs, holders, refused = asyncio.run(main())
    assert holders == [mine, theirs]
    assert sorted(refused) == ["a", "b"]


def test_a_warm_replica_answers_the_scans_so_announces_create_no_consumers(nats_url):
    async def consumers(name):
        info = await _on_jetstream(nats_url, lambda js: js.stream_info(f"KV_{name}"))
        return info.state.consumer_count

    async def main():
        name = bucket()
        m = await holds.Manager.jetstream(nats_url, bucket=name, ttl_max="60s")
        try:
            (await m.subscribe()).close()  # the replica is ready
            before, last = await consumers(name), 0
            for i in range(10):
                while m.hub.replica.delivered < last:  # each scan asks for the revision before a write
                    await asyncio.sleep(0.005)
                last = (await m.announce(f"/work/{i}/", "a", "30s", mode="shared")).revision
            return before, await consumers(name), await m.holders("/work/3/x")
        finally:
            await m.close()

    before, after, holders = asyncio.run(main())
    assert before == after == 1  # the watch's alone
    assert [c.file for c in holders] == ["/work/3/"]
