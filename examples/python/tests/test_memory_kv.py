"""The in-memory bucket itself keeps JetStream KV's rules; the component tests rely on them."""

import pytest

from holds_host import MISSING, Entry, MemoryKv, WrongRevision


def test_a_key_with_no_entry_reads_as_not_found_all_zero():
    assert MemoryKv().get("k") == Entry(found=False, value=b"", revision=0, operation="put") == MISSING


def test_one_revision_sequence_for_the_whole_bucket():
    kv = MemoryKv()
    assert kv.write_if_revision("a", b"1", 0, 0) == 1
    assert kv.write_if_revision("b", b"1", 0, 0) == 2
    assert kv.write_if_revision("a", b"2", 1, 0) == 3
    assert kv.last_revision == 3
    assert kv.get("a") == Entry(True, b"2", 3, "put")


def test_write_if_revision_zero_means_no_entry_else_the_latest_revision():
    kv = MemoryKv()
    kv.write_if_revision("k", b"v1", 0, 30)
    with pytest.raises(WrongRevision):
        kv.write_if_revision("k", b"v2", 0, 30)
    with pytest.raises(WrongRevision):
        kv.write_if_revision("k", b"v2", 2, 30)
    assert kv.get("k").value == b"v1", "a failed write changes nothing"
    assert kv.last_revision == 1, "a failed write takes no revision"
    assert kv.ttl_seconds["k"] == 30


def test_delete_if_revision_leaves_a_marker_with_its_own_revision_gated_like_a_write():
    kv = MemoryKv()
    kv.write_if_revision("k", b"v", 0, 0)
    kv.write_if_revision("other", b"v", 0, 0)
    with pytest.raises(WrongRevision):
        kv.delete_if_revision("k", 2, "released")
    assert kv.get("k").operation == "put", "a failed delete changes nothing"
    assert kv.delete_if_revision("k", 1, "released") == 3
    assert kv.get("k") == Entry(True, b"", 3, "delete")
    # The marker is the key's latest entry: a write over it names its revision, not 0.
    with pytest.raises(WrongRevision):
        kv.write_if_revision("k", b"v", 0, 0)
    assert kv.write_if_revision("k", b"v", 3, 0) == 4
    assert kv.delete_if_revision("k", 4, "expired") == 5
    assert kv.get("k").operation == "expire"


def test_fault_injection_fails_the_next_call_only_before_it_changes_anything():
    kv = MemoryKv()
    kv.fail_next("write_if_revision", WrongRevision())
    with pytest.raises(WrongRevision):
        kv.write_if_revision("k", b"v", 0, 0)
    assert not kv.get("k").found
    assert kv.write_if_revision("k", b"v", 0, 0) == 1
