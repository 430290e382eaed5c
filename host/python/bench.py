"""Benchmarks of the Python package (see host/BENCHMARKS.md).

    .venv/bin/python bench.py [--nats URL] [--n 2000]

Without --nats it spawns a private nats-server (as the tests find one). Prints
p50/p90/p99 in microseconds of:

- raw: a revision-gated write with nats-py alone (`js.publish` with
  Nats-Expected-Last-Subject-Sequence), awaited on the caller's loop: the floor;
- announce on JetStream, vacant (a new file each time) and renew (one file),
  through the Manager with a warm replica (one write each);
- one component call on the memory store: straight into an instance (no
  bridge), and through the Manager (loop hop + pool thread);
- the bridge alone: an import's round trip from a pool thread to the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import nats

import holds
from holds.bridge import LoopThread
from holds.component import InstancePool, Runtime

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))


def summary(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100)
    return {"p50": round(q[49], 1), "p90": round(q[89], 1), "p99": round(q[98], 1), "n": len(samples)}


async def timed(n: int, fn) -> dict[str, float]:
    samples = []
    for i in range(n):
        t = time.perf_counter_ns()
        await fn(i)
        samples.append((time.perf_counter_ns() - t) / 1000)
    return summary(samples)


async def raw_write(url: str, n: int) -> dict[str, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    bucket = f"bench_raw_{uuid.uuid4().hex[:6]}"
    m = await holds.Manager.jetstream(url, bucket=bucket, ttl_max="5m", replica=False)  # creates the bucket
    await m.close()
    last = [0]
    value = (
        b'{"agent_id":"bench","claimed_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:00:30Z",'
        b'"checkout_path":"","ttl":30000000000}'
    )

    async def write(_i):
        headers = {"Nats-Expected-Last-Subject-Sequence": str(last[0]), "Nats-TTL": "30s"}
        last[0] = (await js.publish(f"$KV.{bucket}.raw", value, headers=headers)).seq

    for i in range(50):
        await write(i)
    out = await timed(n, write)
    await nc.close()
    return out


async def announces(url: str, n: int) -> dict[str, dict]:
    m = await holds.Manager.jetstream(url, bucket=f"bench_{uuid.uuid4().hex[:6]}", ttl_max="5m")
    try:
        await m.subscribe()  # the replica is warm once this returns
        for i in range(50):
            await m.announce(f"/warm/{i}", "bench", "30s")
        vacant = await timed(n, lambda i: m.announce(f"/bench/vacant/{i}", "bench", "30s"))
        await m.announce("/bench/renew", "bench", "30s")
        renew = await timed(n, lambda i: m.announce("/bench/renew", "bench", "30s"))
        # A two-file claim renewed: one atomic batch publish (two messages, one commit round trip).
        files = ["/bench/claim/a", "/bench/claim/b"]
        await m.claim(files, "bench", "30s")
        claim = await timed(n, lambda i: m.claim(files, "bench", "30s"))
        return {"announce_vacant": vacant, "announce_renew": renew, "claim_two_files_renew": claim}
    finally:
        await m.close()


async def memory_calls(n: int) -> dict[str, dict]:
    store = holds.MemoryStore()
    pool = InstancePool(Runtime.load(), store, holds.SystemClock(), op_timeout=5.0, size=1)

    def direct_setup(x):
        return x.announce("/bench/m", "bench", 30 * 10**9, "", 300 * 10**9, None)

    pool.submit(direct_setup).result()
    # Straight into the instance, on its own thread: the component call alone.
    samples = []

    def direct(x):
        for _ in range(n):
            t = time.perf_counter_ns()
            x.who_has("/bench/m", None)
            samples.append((time.perf_counter_ns() - t) / 1000)

    pool.submit(direct).result()
    out = {"component_call_direct_who_has": summary(samples)}
    samples = []

    def direct_announce(x):
        for _ in range(n):
            observed = store.get("=2Fbench=2Fm")
            t = time.perf_counter_ns()
            x.announce("/bench/m", "bench", 30 * 10**9, "", 300 * 10**9, observed)
            samples.append((time.perf_counter_ns() - t) / 1000)

    pool.submit(direct_announce).result()
    pool.shutdown()
    out["component_call_direct_announce_renew"] = summary(samples)
    m = await holds.Manager.open(store, ttl_max="5m", instances=1)
    try:
        out["manager_who_has_memory"] = await timed(n, lambda i: m.who_has("/bench/m"))
        out["manager_announce_renew_memory"] = await timed(n, lambda i: m.announce("/bench/m", "bench", "30s"))
    finally:
        await m.close()
    return out


def bridge_round_trip(n: int) -> dict[str, float]:
    lt = LoopThread("bench")

    async def nothing():
        return None

    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        lt.run(nothing(), 5)
        samples.append((time.perf_counter_ns() - t) / 1000)
    lt.stop()
    return summary(samples)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    server = None
    url = args.nats
    if url is None:
        from support.natsserver import NatsServer

        server = NatsServer().start()
        url = server.url
    try:
        results = {
            "raw_revision_gated_write_nats_py": await raw_write(url, args.n),
            **(await announces(url, args.n)),
            **(await memory_calls(args.n)),
            "bridge_round_trip_thread_to_loop": bridge_round_trip(args.n),
        }
    finally:
        if server is not None:
            server.stop()
    versions = {"python": platform.python_version(), "wasmtime": "50.0.1", "nats-py": "2.16.0"}
    print(json.dumps({**versions, **results}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
