"""The holds component in Python, through wasmtime-py, over the in-memory bucket."""

from dataclasses import dataclass

import pytest

from holds_host import (
    Claim,
    Entry,
    Event,
    Hold,
    Holds,
    HoldsError,
    ManualClock,
    MemoryKv,
    RecordingObserver,
    ReleaseOutcome,
    Unavailable,
    WrongRevision,
)

S = 1_000_000_000
TTL_MAX = 60 * S
T0 = 1_764_130_866_500_000_000  # 2025-11-26T04:21:06.5Z
FILE = "/work/a.txt"
KEY = "=2Fwork=2Fa.txt"


@dataclass
class Agent:
    """One agent's host: its own instance, clock and observer, over a (shared) bucket."""

    kv: MemoryKv
    clock: ManualClock
    observer: RecordingObserver
    holds: Holds

    def announce(self, agent, ttl=S, file=FILE, observed=None):
        return self.holds.announce(file, agent, ttl, f"/co/{agent}", TTL_MAX, observed)


@pytest.fixture
def make_host(engine, component):
    def make(kv=None, now=T0):
        kv = kv if kv is not None else MemoryKv()
        clock = ManualClock(now)
        observer = RecordingObserver()
        return Agent(kv, clock, observer, Holds(engine, component, kv, clock, observer))

    return make


@pytest.fixture
def h(make_host):
    return make_host()


def calls(kv, op):
    return [c for c in kv.calls if c[0] == op]


def test_happy_path_announce_who_has_release(h):
    claim = h.announce("a", ttl=30 * S)
    assert claim == Claim(FILE, Hold("a", T0, T0 + 30 * S, "/co/a", 30 * S), 1)
    assert calls(h.kv, "write_if_revision") == [("write_if_revision", KEY, 0, 30)]
    # The stored value is the Go package's JSON.
    assert h.kv.entry(KEY).value == (
        b'{"agent_id":"a","claimed_at":"2025-11-26T04:21:06.5Z","expires_at":"2025-11-26T04:21:36.5Z",'
        b'"checkout_path":"/co/a","ttl":30000000000}'
    )

    assert h.holds.who_has(FILE) == claim
    assert h.holds.who_has("/work/./x/..//a.txt") == claim, "paths are cleaned"

    assert h.holds.release(FILE, "a") == ReleaseOutcome("released", 2)
    assert h.kv.entry(KEY) == Entry(True, b"", 2, "delete")
    assert h.holds.who_has(FILE) is None

    # A released file is vacant: the next announce writes over the marker's revision.
    assert h.announce("b").revision == 3
    assert calls(h.kv, "write_if_revision")[-1][2] == 2


def test_held_by_another_is_refused_with_the_holders_claim_and_the_holder_renews(h):
    first = h.announce("a", ttl=30 * S)
    h.clock.advance(S)
    with pytest.raises(HoldsError) as err:
        h.announce("b", ttl=30 * S)
    assert (err.value.tag, err.value.payload) == ("held-by-another", first)
    assert len(calls(h.kv, "write_if_revision")) == 1, "nothing written for b"

    renewed = h.announce("a", ttl=30 * S)
    assert renewed.revision == 2
    assert renewed.hold.claimed_at == T0 + S, "renewal moves claimed-at"


def test_release_by_the_wrong_agent_is_a_no_op_and_leaves_the_hold(h):
    claim = h.announce("a", ttl=30 * S)
    assert h.holds.release(FILE, "b") == ReleaseOutcome("not-held")
    assert h.holds.who_has(FILE) == claim
    assert h.kv.entry(KEY).operation == "put"
    assert calls(h.kv, "delete_if_revision") == []
    # Missing files too.
    assert h.holds.release("/work/none", "a") == ReleaseOutcome("not-held")
    assert h.holds.who_has("/work/none") is None


def test_take_over_after_expiry_and_a_hold_expiring_exactly_now_is_live(h):
    a = h.announce("a", ttl=S)
    assert a.hold.expires_at == T0 + S

    h.clock.set(T0 + S)  # exactly the expiry instant
    assert h.holds.who_has(FILE) == a
    with pytest.raises(HoldsError) as err:
        h.announce("b")
    assert err.value.tag == "held-by-another"

    h.clock.advance(1)  # one nanosecond past it
    assert h.holds.who_has(FILE) is None
    b = h.announce("b")
    assert (b.hold.agent_id, b.revision) == ("b", 2)
    assert calls(h.kv, "write_if_revision")[-1][2] == 1, "written over a's revision"
    assert h.holds.release(FILE, "a") == ReleaseOutcome("not-held"), "a no longer holds it"
    assert h.holds.who_has(FILE) == b


def test_a_release_racing_a_take_over_keeps_the_new_hold_stale_observed_entry(make_host):
    # Two agents' hosts share one bucket; B's clock is past A's expiry, A's is not.
    kv = MemoryKv()
    A = make_host(kv, T0)
    B = make_host(kv, T0 + 2 * S)
    A.announce("a")
    seen_by_a = kv.entry(KEY)  # A's view: its own live hold at revision 1

    b = B.announce("b")
    assert b.revision == 2

    # A releases on its stale view: the delete is gated on revision 1, loses, and
    # the fresh read shows B's hold, which is not A's to release.
    assert A.holds.release(FILE, "a", observed=seen_by_a) == ReleaseOutcome("not-held")
    assert calls(kv, "delete_if_revision") == [("delete_if_revision", KEY, 1, "released")]
    # Losing on a stale observed entry is a re-read, not a lost race: no retry.
    assert A.observer.retries == []
    assert kv.entry(KEY).operation == "put"
    assert B.holds.who_has(FILE) == b


def test_a_release_racing_a_take_over_keeps_the_new_hold_interposed_in_the_kv(make_host):
    kv = MemoryKv()
    A = make_host(kv, T0)
    B = make_host(kv, T0 + 2 * S)
    A.announce("a")

    # Between A's read and A's delete, B takes the hold over.
    taken = []
    kv.interpose("delete_if_revision", lambda _key: taken.append(B.announce("b")))
    assert A.holds.release(FILE, "a") == ReleaseOutcome("not-held")
    assert taken[0].revision == 2
    assert A.observer.retries == [(KEY, 2)]
    assert B.holds.who_has(FILE) == taken[0]


def test_cas_retry_a_lost_write_is_retried_from_a_fresh_read(h):
    h.kv.fail_next("write_if_revision", WrongRevision())
    assert h.announce("a").revision == 1
    assert h.observer.retries == [(KEY, 2)]
    assert len(calls(h.kv, "write_if_revision")) == 2
    assert len(calls(h.kv, "get")) == 2


def test_cas_retry_a_racing_raw_write_of_the_same_agents_hold_then_a_renewal(h):
    # The same agent's hold as a Go agent writes it (claimed at T0, for 1 s).
    raced = (
        b'{"agent_id":"a","claimed_at":"2025-11-26T04:21:06.5Z","expires_at":"2025-11-26T04:21:07.5Z",'
        b'"checkout_path":"/elsewhere","ttl":1000000000}'
    )
    h.kv.interpose("write_if_revision", lambda key: h.kv.put(key, raced))
    claim = h.announce("a")
    assert (claim.revision, claim.hold.checkout_path) == (2, "/co/a")
    assert h.observer.retries == [(KEY, 2)]
    assert [c[2] for c in calls(h.kv, "write_if_revision")] == [0, 1]


def test_two_agents_racing_for_a_vacant_file_exactly_one_wins(make_host):
    kv = MemoryKv()
    A = make_host(kv)
    B = make_host(kv)
    # A read the file as vacant; B's announce lands before A's write.
    won = []
    kv.interpose("write_if_revision", lambda _key: won.append(B.announce("b")))
    with pytest.raises(HoldsError) as err:
        A.announce("a")
    assert (err.value.tag, err.value.payload) == ("held-by-another", won[0])
    assert A.observer.retries == [(KEY, 2)]
    assert kv.last_revision == 1, "one write landed"
    assert A.holds.who_has(FILE) == won[0]


def test_cas_exhausted_after_8_attempts_7_retries(h):
    for _ in range(8):
        h.kv.fail_next("write_if_revision", WrongRevision())
    with pytest.raises(HoldsError) as err:
        h.announce("a")
    assert (err.value.tag, err.value.payload) == ("cas-exhausted", 8)
    assert [attempt for _, attempt in h.observer.retries] == [2, 3, 4, 5, 6, 7, 8]
    assert not h.kv.entry(KEY).found


def test_an_unavailable_store_is_a_store_error(h):
    h.kv.fail_next("get", Unavailable("timed out"))
    with pytest.raises(HoldsError) as err:
        h.announce("a")
    assert (err.value.tag, err.value.payload) == ("store", "timed out")


@pytest.mark.parametrize(
    "file,agent,ttl,field",
    [
        (FILE, "", S, "agent-id"),
        (FILE, "a", 0, "ttl"),
        (FILE, "a", TTL_MAX + 1, "ttl"),
        ("work/a.txt", "a", S, "file"),
    ],
)
def test_invalid_input_is_refused_before_the_store_is_touched(h, file, agent, ttl, field):
    with pytest.raises(HoldsError) as err:
        h.holds.announce(file, agent, ttl, "/co", TTL_MAX)
    assert err.value.tag == "invalid-input"
    assert err.value.payload["field"] == field
    assert h.kv.calls == []


def test_observed_hints_are_judged_without_a_read_and_a_stale_refusal_is_confirmed(h):
    claim = h.announce("a")
    hint = h.kv.entry(KEY)
    h.kv.calls.clear()
    assert h.holds.who_has(FILE, observed=hint) == claim
    assert h.kv.calls == [], "who-has with a hint reads nothing"

    # The hint says a holds it, but a released it meanwhile: b's announce reads before refusing.
    h.holds.release(FILE, "a")
    h.kv.calls.clear()
    assert h.announce("b", observed=hint).hold.agent_id == "b"
    assert len(calls(h.kv, "get")) == 1


@pytest.mark.parametrize(
    "file,key",
    [
        ("/work/a.txt", "=2Fwork=2Fa.txt"),
        ("/work/with space/foo.txt", "=2Fwork=2Fwith=20space=2Ffoo.txt"),
        ("/w/é.txt", "=2Fw=2F=C3=A9.txt"),
    ],
)
def test_key_codec_vectors(h, file, key):
    assert h.holds.key_for_file(file) == key
    assert h.holds.file_for_key(key) == file


def test_a_relative_path_has_no_key(h):
    with pytest.raises(HoldsError) as err:
        h.holds.key_for_file("relative/a.txt")
    assert err.value.tag == "invalid-input"


def test_interpret_put_delete_and_expire(h):
    claim = h.announce("a")
    put = h.kv.entry(KEY)
    i = h.holds.interpret(KEY, put, snapshot=False)
    assert i.event == Event(FILE, 1, "announced", claim.hold)
    assert i.expiry_check_at == claim.hold.expires_at + 1, "the first expired instant"
    assert i.dropped is None

    h.holds.release(FILE, "a")
    marker = h.kv.entry(KEY)
    assert h.holds.interpret(KEY, marker, snapshot=False, previous=put).event == Event(FILE, 2, "released")
    # While replaying the bucket, markers are not events; nor is a marker replacing
    # a marker (the server's MaxAge marker once a release marker aged out).
    assert h.holds.interpret(KEY, marker, snapshot=True).event is None
    max_age = Entry(True, b"", 3, "expire")
    assert h.holds.interpret(KEY, max_age, snapshot=False, previous=marker).event is None

    # A store that cannot expire entries itself: the host sweeps at expiry-check-at.
    again = h.announce("a")
    hold = h.kv.entry(KEY)
    assert h.holds.sweep(KEY, hold) == ("not-due", again.hold.expires_at + 1), "still live"
    h.clock.advance(2 * S)
    assert h.holds.sweep(KEY, hold) == ("expired", 4)
    assert h.kv.entry(KEY).operation == "expire"
    assert h.holds.interpret(KEY, h.kv.entry(KEY), snapshot=False, previous=hold).event == Event(FILE, 4, "expired")
    assert h.holds.sweep(KEY, hold) == ("nothing", None)

    junk = h.holds.interpret(KEY, Entry(True, b"garbage", 9, "put"), snapshot=False)
    assert junk.event is None
    assert "not a hold" in junk.dropped


def test_claim_files_is_all_or_nothing_in_one_write_batch_and_names_every_holder(make_host):
    kv = MemoryKv()
    a = make_host(kv)
    b = make_host(kv)
    claims, atomic = a.holds.claim_files(["/work/c.txt", FILE, "/work/b.txt"], "a", 30 * S, "", TTL_MAX)
    assert atomic
    assert [c.file for c in claims] == ["/work/a.txt", "/work/b.txt", "/work/c.txt"]
    assert len(calls(kv, "write_batch")) == 1
    assert calls(kv, "write_if_revision") == []
    before = kv.last_revision
    with pytest.raises(HoldsError) as refused:
        b.holds.claim_files(["/work/d.txt", FILE], "b", 30 * S, "", TTL_MAX)
    assert refused.value.tag == "held-by-others"
    assert [c.hold.agent_id for c in refused.value.payload] == ["a"]
    assert kv.last_revision == before, "a refusal writes nothing"


def test_force_release_notes_who_forced_it_and_interpret_reports_it(h):
    kv = h.kv
    h.announce("a", ttl=30 * S)
    put = kv.entry(KEY)
    assert h.holds.force_release(FILE, "ops") == ReleaseOutcome("released", 2)
    marker = kv.entry(KEY)
    assert marker.operation == "delete"
    event = h.holds.interpret(KEY, marker, snapshot=False, previous=put).event
    assert (event.kind, event.forced_by) == ("released", "ops")
