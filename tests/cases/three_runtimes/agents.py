"""The three contenders, each behind the same three calls: announce (answering
`("ok", claim)` or `("held", holder_claim)`), claim over several files
(`("ok", [claims])` or `("held", [holder claims])`) and release, with claims as
plain dicts `{"file", "revision", "agent"}`."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import holds

HOST = Path(__file__).resolve().parents[3] / "host"
NODE_AGENT = HOST / "node" / "bin" / "holds-agent.mjs"


def _claim(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "file": c["file"],
        "revision": c["revision"],
        "agent": c["hold"]["agent_id"],
    }


def rust_cli() -> str:
    path = os.environ.get("HOLDS_BIN")
    if not path:
        raise RuntimeError(
            "HOLDS_BIN is not set: point it at the holds CLI (e.g. HOLDS_BIN=/work/notes/holds-cli-0.1, "
            "or a build of `cargo build --release -p holds`)"
        )
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"HOLDS_BIN={path} is not an executable file")
    return path


class RustAgent:
    """The Rust CLI, one process per call (as a hook or a script would run it)."""

    name = "rust-agent"

    def __init__(self, url: str, bucket: str):
        self.base = [rust_cli(), "--nats", url, "--bucket", bucket, "--json"]

    async def _lines(self, *args: str) -> tuple[int, list[dict[str, Any]]]:
        """Run `holds --json ARGS`: its exit code and its JSON lines."""
        proc = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        try:
            return proc.returncode, [
                json.loads(line) for line in out.decode().splitlines()
            ]
        except json.JSONDecodeError:
            raise AssertionError(
                f"holds {' '.join(args)}: exit {proc.returncode}, {out!r} {err!r}"
            ) from None

    async def _run(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, lines = await self._lines(*args)
        if not lines:
            raise AssertionError(f"holds {' '.join(args)}: exit {code}, no JSON line")
        return code, lines[-1]

    async def announce(self, file: str, ttl: str) -> tuple[str, dict[str, Any]]:
        code, out = await self._run(
            "announce", file, "--agent", self.name, "--ttl", ttl
        )
        if code == 0:
            return "ok", _claim(out)
        if code == 3 and out["error"]["kind"] == "held-by-another":
            return "held", _claim(out["error"]["holder"])
        raise AssertionError(f"rust announce: exit {code}: {out}")

    async def claim(
        self, files: list[str], ttl: str
    ) -> tuple[str, list[dict[str, Any]]]:
        code, out = await self._run(
            "announce", *files, "--agent", self.name, "--ttl", ttl
        )
        if code == 0:
            return "ok", [_claim(c) for c in out["claims"]]
        if code == 3 and out["error"]["kind"] == "held-by-others":
            return "held", [_claim(c) for c in out["error"]["holders"]]
        raise AssertionError(f"rust claim: exit {code}: {out}")

    async def release(self, file: str) -> int:
        code, out = await self._run("release", file, "--agent", self.name)
        assert code == 0 and out["released"], out
        return out["revision"]

    async def release_log(self) -> list[dict[str, Any]]:
        """`holds log`: every release any runtime recorded in the bucket's log."""
        code, lines = await self._lines("log", "--limit", "1000")
        assert code == 0, f"holds log: exit {code}"
        return lines


class PythonAgent:
    """A manager of this package, in this process."""

    name = "py-agent"

    def __init__(self, manager: holds.Manager):
        self.manager = manager

    async def announce(self, file: str, ttl: str) -> tuple[str, dict[str, Any]]:
        try:
            c = await self.manager.announce(file, self.name, ttl)
            return "ok", {
                "file": c.file,
                "revision": c.revision,
                "agent": c.hold.agent_id,
            }
        except holds.HeldByAnother as e:
            return "held", {
                "file": e.claim.file,
                "revision": e.claim.revision,
                "agent": e.holder,
            }

    async def claim(
        self, files: list[str], ttl: str
    ) -> tuple[str, list[dict[str, Any]]]:
        def plain(c: holds.Claim) -> dict[str, Any]:
            return {"file": c.file, "revision": c.revision, "agent": c.hold.agent_id}

        try:
            return "ok", [
                plain(c)
                for c in (await self.manager.claim(files, self.name, ttl)).claims
            ]
        except holds.HeldByOthers as e:
            return "held", [plain(c) for c in e.claims]

    async def release(self, file: str) -> int:
        r = await self.manager.release(file, self.name)
        assert r.released, r
        return r.revision


class NodeAgent:
    """The Node package's holds-agent script: one long-lived process with its
    own manager and subscription, driven by JSON lines."""

    name = "node-agent"

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.events: asyncio.Queue = asyncio.Queue()
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)

    @classmethod
    async def start(cls, url: str, bucket: str) -> NodeAgent:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node (>= 20) is not on PATH")
        if not (HOST / "node" / "node_modules").is_dir():
            raise RuntimeError(
                f"{HOST / 'node'} has no node_modules: run `npm ci` there (host/node/run-tests)"
            )
        agent = cls()
        agent.proc = await asyncio.create_subprocess_exec(
            node, str(NODE_AGENT), "--servers", url, "--bucket", bucket, "--agent", cls.name, "--subscribe",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        ready = json.loads(await asyncio.wait_for(agent.proc.stdout.readline(), 30))
        assert ready == {"ready": True}, ready
        agent.reader = asyncio.ensure_future(agent._read())
        return agent

    async def _read(self) -> None:
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if "event" in message:
                self.events.put_nowait(message["event"])
            elif "id" in message:
                self.pending.pop(message["id"]).set_result(message)
            else:
                raise AssertionError(f"holds-agent said {message}")

    async def _call(self, **command: Any) -> dict[str, Any]:
        command["id"] = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[command["id"]] = future
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        return await asyncio.wait_for(future, 30)

    async def announce(self, file: str, ttl: str) -> tuple[str, dict[str, Any]]:
        out = await self._call(do="announce", file=file, ttl=ttl)
        if "ok" in out:
            return "ok", _claim(out["ok"])
        if out["error"]["kind"] == "HeldByAnother":
            return "held", _claim(out["error"]["holder"])
        raise AssertionError(f"node announce: {out}")

    async def claim(
        self, files: list[str], ttl: str
    ) -> tuple[str, list[dict[str, Any]]]:
        out = await self._call(do="claim", files=files, ttl=ttl)
        if "ok" in out:
            return "ok", [_claim(c) for c in out["ok"]["claims"]]
        if out["error"]["kind"] == "HeldByOthers":
            return "held", [_claim(c) for c in out["error"]["holders"]]
        raise AssertionError(f"node claim: {out}")

    async def release(self, file: str) -> int:
        out = await self._call(do="release", file=file)
        assert out.get("ok", {}).get("released"), out
        return out["ok"]["revision"]

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.stdin.write(b'{"do": "quit"}\n')
        await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
