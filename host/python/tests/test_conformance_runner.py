"""The conformance runner itself: its matcher rejects what it must, and a case
whose expectation is wrong fails."""

import asyncio

import pytest

from support.conformance import CaseFailed, CaseRunner, evaluate, match

SCOPE = {"c": {"revision": 3, "hold": {"claimed_at": 10, "ttl": 30_000_000_000}}}


@pytest.mark.parametrize(
    ("pattern", "actual"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"b": 1}),
        ({"exactly": {"a": 1}}, {"a": 1, "b": 2}),
        ({"gt": {"$": "c.revision"}}, 3),
        ({"ge": 4}, 3),
        ({"lt": 3}, 3),
        ({"ne": "announced"}, "announced"),
        ({"$": "c.hold.claimed_at", "plus": "1ns"}, 10),
        ({"duration": "30s"}, 30_000_000),
        ([{"f": 1}], [{"f": 1}, {"f": 2}]),
        ({"len": 2}, [1]),
        ({"matches": "^[a-z]+$"}, "A"),
        (None, {"file": "/x"}),
        (False, 0),
        (1, True),
    ],
)
def test_mismatches_are_reported(pattern, actual):
    assert match(pattern, actual, SCOPE) != []


@pytest.mark.parametrize(
    ("pattern", "actual"),
    [
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"exactly": {"a": {"gt": 0}}}, {"a": 1}),
        ({"gt": {"$": "c.revision"}}, 4),
        ({"$": "c.hold.claimed_at", "plus": "1ns"}, 11),
        ({"ttl": {"duration": "30s"}}, {"ttl": 30_000_000_000}),
        ({"len": 1}, [7]),
        (None, None),
    ],
)
def test_matches_are_accepted(pattern, actual):
    assert match(pattern, actual, SCOPE) == []


def test_a_wrong_expectation_fails_the_case():
    case = {
        "name": "wrong",
        "agents": [{"name": "a"}, {"name": "b"}],
        "steps": [
            {"agent": "a", "do": "announce", "file": "/w/a", "ttl": "30s"},
            {"agent": "b", "do": "announce", "file": "/w/a", "ttl": "30s", "expect": {"ok": {}}},
        ],
    }
    with pytest.raises(CaseFailed, match="held-by-another"):
        asyncio.run(CaseRunner(case, {}, "memory").run())


def test_an_unexpected_success_fails_the_case():
    case = {
        "name": "wrong",
        "agents": [{"name": "a"}],
        "steps": [{"do": "announce", "file": "/w/a", "ttl": "30s", "expect": {"error": "held-by-another"}}],
    }
    with pytest.raises(CaseFailed, match="expected error"):
        asyncio.run(CaseRunner(case, {}, "memory").run())


def test_a_missing_event_times_out_and_fails():
    case = {
        "name": "wrong",
        "agents": [{"name": "a"}],
        "steps": [
            {"do": "subscribe", "name": "s"},
            {"do": "wait_event", "sub": "s", "within": "200ms", "expect": {"ok": {"kind": "announced"}}},
        ],
    }
    with pytest.raises(CaseFailed, match="timeout"):
        asyncio.run(CaseRunner(case, {}, "memory").run())


def test_array_arguments_are_evaluated_item_by_item():
    assert evaluate([{"$": "c.revision"}, 7, {"duration": "1s"}], SCOPE) == [3, 7, 10**9]


def test_a_case_runs_only_on_the_stores_it_names():
    case = {"name": "js-only", "stores": ["jetstream"], "agents": [{"name": "a"}], "steps": []}
    with pytest.raises(CaseFailed, match="not about the memory store"):
        CaseRunner(case, {}, "memory")


def test_headers_on_a_store_without_them_fail_the_case():
    case = {
        "name": "wrong",
        "agents": [{"name": "a"}],
        "steps": [{"do": "put_raw", "key": "k", "value": "", "headers": {"KV-Operation": "DEL"}}],
    }
    with pytest.raises(CaseFailed, match="JetStream"):
        asyncio.run(CaseRunner(case, {}, "memory").run())


def test_announce_and_claim_steps_pass_their_mode_and_holders_lists_the_holds():
    case = {
        "name": "modes",
        "agents": [{"name": "a"}, {"name": "b"}],
        "steps": [
            {"agent": "a", "do": "announce", "file": "/w/a", "ttl": "30s", "mode": "shared", "save": "x"},
            {"agent": "b", "do": "claim", "files": ["/w/a"], "ttl": "30s", "mode": "shared", "save": "y"},
            {
                "do": "announce",
                "file": "/w/b",
                "ttl": "30s",
                "mode": "both",
                "expect": {"error": "invalid-input", "field": "mode"},
            },
            {
                "agent": "b",
                "do": "holders",
                "file": "/w/a",
                "expect": {"ok": [{"$": "x"}, {"$": "y.claims.0"}]},
            },
            {"do": "holders", "file": "/w/b", "expect": {"ok": []}},
        ],
    }
    asyncio.run(CaseRunner(case, {}, "memory").run())
    case["steps"][-1]["expect"] = {"ok": [{"file": "/w/b"}]}
    with pytest.raises(CaseFailed, match="expected 1 items"):
        asyncio.run(CaseRunner(case, {}, "memory").run())
