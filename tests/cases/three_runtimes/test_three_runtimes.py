"""The Rust CLI, a Python agent and a Node agent race for one file on one
JetStream bucket, round after round, then for a two-file claim (every file or
none): exactly one winner per round, every loser names the winner (same agent,
same revisions), and a Python subscription and a Node subscription see every
announce, release and expiry with the same revisions.

Needs HOLDS_BIN (the Rust CLI), node with host/node installed (npm ci),
and a nats-server (NATS_SERVER_BIN, <repo>/.tools/bin or PATH)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid

from agents import NodeAgent, PythonAgent, RustAgent

import holds
from support.natsserver import NatsServer

ROUNDS = 20
#: A file name that must mean the same key to all three runtimes.
FILE = "/three/shared é file.txt"
#: Rounds whose winner holds for 1 s and lets the hold expire (else: releases).
EXPIRING = {4, 9, 14, 19}
#: Then rounds of a claim over FILE and a second file, each runtime favoured once.
CLAIM_ROUNDS = 3
FILES = ["/three/second file.txt", FILE]


async def _contend(contenders, favoured: int | None, ttl: str):
    """Every contender announces FILE; the favoured one (if any) gets a head
    start, so different runtimes win different rounds. None: all at once."""

    async def one(i, agent):
        if favoured is not None and i != favoured:
            await asyncio.sleep(
                0.03 if contenders[favoured].name == "rust-agent" else 0.002
            )
        return agent.name, await agent.announce(FILE, ttl)

    return await asyncio.gather(*(one(i, a) for i, a in enumerate(contenders)))


class _Collected:
    """Every event of a source, as it arrives, in a list."""

    def __init__(self, source, convert):
        self.items: list[tuple] = []
        self.changed = asyncio.Event()
        self.cursor = 0
        self.task = asyncio.ensure_future(self._pump(source, convert))

    async def _pump(self, source, convert):
        while True:
            self.items.append(convert(await source()))
            self.changed.set()

    async def _changed(self, deadline: float, what: str) -> None:
        self.changed.clear()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"{what}: not seen in {self.items}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), left)

    async def next_matching(self, predicate, what: str, timeout: float = 15) -> tuple:
        """The first item after the last one returned here that matches `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i in range(self.cursor, len(self.items)):
                if predicate(self.items[i]):
                    self.cursor = i + 1
                    return self.items[i]
            await self._changed(deadline, what)

    async def until(self, count: int, what: str, timeout: float = 15) -> list[tuple]:
        """The first `count` items, once they are all here."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.items) < count:
            await self._changed(deadline, what)
        return self.items[:count]


def _py_event(e: holds.Event) -> tuple:
    return (e.kind, e.file, e.revision, e.hold.agent_id if e.hold else None)


def _node_event(e: dict) -> tuple:
    return (e["kind"], e["file"], e["revision"], e.get("agent"))


async def _scenario(url: str) -> None:
    bucket = f"three_{uuid.uuid4().hex[:8]}"
    manager = await holds.Manager.jetstream(
        url, bucket=bucket, ttl_max="5m"
    )  # creates the bucket
    node = await NodeAgent.start(url, bucket)
    py_events = node_events = None
    try:
        py_sub = await manager.subscribe()
        py_events = _Collected(py_sub.next, _py_event)
        node_events = _Collected(node.events.get, _node_event)
        contenders = [RustAgent(url, bucket), PythonAgent(manager), node]
        by_name = {a.name: a for a in contenders}
        expected: list[tuple] = []
        wins = collections.Counter()
        #: The revision of each release's marker -> the agent that released.
        releasers: dict[int, str] = {}
        for r in range(ROUNDS):
            ttl = "1s" if r in EXPIRING else "30s"
            favoured = None if r % 4 == 3 else r % 3
            results = await _contend(contenders, favoured, ttl)
            winners = [
                (name, claim) for name, (status, claim) in results if status == "ok"
            ]
            assert len(winners) == 1, f"round {r}: {results}"
            winner, claim = winners[0]
            assert claim["agent"] == winner and claim["file"] == FILE
            for name, (status, holder) in results:
                if name != winner:
                    assert status == "held" and holder == claim, (
                        f"round {r}: {name} named {holder}, winner {claim}"
                    )
            wins[winner] += 1
            expected.append(("announced", FILE, claim["revision"], winner))
            if r in EXPIRING:
                # The server's expiry marker, before the next round starts.
                expired = await py_events.next_matching(
                    lambda e: e[0] == "expired", f"round {r}: the expiry"
                )
                assert expired[2] > claim["revision"]
                expected.append(expired)
            else:
                revision = await by_name[winner].release(FILE)
                assert revision > claim["revision"]
                expected.append(("released", FILE, revision, None))
                releasers[revision] = winner
        for r in range(CLAIM_ROUNDS):
            favoured = contenders[r]

            async def one(agent, favoured=favoured):
                if agent is not favoured:
                    await asyncio.sleep(
                        0.03 if favoured.name == "rust-agent" else 0.002
                    )
                return agent.name, await agent.claim(FILES, "30s")

            results = await asyncio.gather(*(one(a) for a in contenders))
            winners = [
                (name, claims) for name, (status, claims) in results if status == "ok"
            ]
            assert len(winners) == 1, f"claim round {r}: {results}"
            winner, claims = winners[0]
            assert sorted(c["file"] for c in claims) == sorted(FILES), claims
            assert all(c["agent"] == winner for c in claims), claims
            for name, (status, holders) in results:
                if name != winner:
                    assert status == "held" and holders == claims, (
                        f"claim round {r}: {name} named {holders}, winner {claims}"
                    )
            wins[f"claim:{winner}"] += 1
            for c in sorted(claims, key=lambda c: c["revision"]):
                expected.append(("announced", c["file"], c["revision"], winner))
            for file in FILES:
                revision = await by_name[winner].release(file)
                expected.append(("released", file, revision, None))
                releasers[revision] = winner
        seen_py = await py_events.until(len(expected), "python subscription")
        seen_node = await node_events.until(len(expected), "node subscription")
        assert seen_py == expected, (
            f"python subscription:\n{seen_py}\nexpected:\n{expected}"
        )
        assert seen_node == expected, (
            f"node subscription:\n{seen_node}\nexpected:\n{expected}"
        )
        await asyncio.sleep(0.5)
        assert len(py_events.items) == len(node_events.items) == len(expected), (
            "no event beyond the expected ones"
        )
        # Every release, whichever runtime made it, is in the bucket's release
        # log once, with whose hold it was and which kind of process asked.
        logged = {r["revision"]: r for r in await RustAgent(url, bucket).release_log()}
        assert sorted(logged) == sorted(releasers), (logged, releasers)
        process = {"rust-agent": "holds release (", "py-agent": "python ", "node-agent": "node "}
        for revision, agent in releasers.items():
            record = logged[revision]
            assert record["action"] == "released" and record["holder"] == agent, record
            assert record["process"].startswith(process[agent]), record
        print(
            f"\n{ROUNDS} + {CLAIM_ROUNDS} claim rounds on {bucket}: wins {dict(wins)}; {len(expected)} events agree"
        )
    finally:
        for collected in (py_events, node_events):
            if collected is not None:
                collected.task.cancel()
        await node.stop()
        await manager.close()


def test_rust_python_and_node_agents_race_on_one_bucket():
    with NatsServer() as server:
        asyncio.run(_scenario(server.url))
