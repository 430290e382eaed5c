"""`holds mcp` driven by the official MCP Python SDK (mcp==2.3.0, hash-pinned in requirements.txt):
real `holds mcp` processes over stdio sharing one embedded SQLite store.

    python test_mcp.py /path/to/holds

Exits non-zero on the first failed check (scripts/test-mcp runs it).
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import warnings

import mcp.types as types
from mcp import ClientSession, StdioServerParameters, stdio_client

TOOLS = {"announce", "release", "who_has", "list", "check", "renew"}
# A hang is a failure, not a wait.
STEP = 30


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Client:
    """One MCP session with its own `holds mcp` process."""

    def __init__(self, session, updates):
        self.s = session
        self.updates = updates

    async def call(self, tool, args):
        return await asyncio.wait_for(self.s.call_tool(tool, args), STEP)

    async def ok(self, tool, args):
        r = await self.call(tool, args)
        check(not r.is_error, f"{tool} {args} failed: {r.content}")
        return r.structured_content


@contextlib.asynccontextmanager
async def client(holds, env, cwd, name, extra_env=None, args=None):
    updates = asyncio.Queue()

    async def on_message(msg):
        if isinstance(msg, types.ResourceUpdatedNotification):
            await updates.put(msg.params.uri)

    params = StdioServerParameters(command=holds, args=args or ["mcp"], env={**env, **(extra_env or {})}, cwd=cwd)
    async with stdio_client(params) as (read, write):
        async with ClientSession(
            read, write, message_handler=on_message,
            client_info=types.Implementation(name=name, version="0.1"),
        ) as s:
            await asyncio.wait_for(s.initialize(), STEP)
            yield Client(s, updates)


async def main(holds):
    tmp = tempfile.mkdtemp(prefix="holds-mcp-")
    work = os.path.realpath(os.path.join(tmp, "work"))
    os.makedirs(work)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tmp,
        "HOLDS_STORE": os.path.join(tmp, "holds.db"),
        "HOLDS_CACHE_DIR": os.path.join(tmp, "cache"),
        "XDG_DATA_HOME": os.path.join(tmp, "data"),
    }
    a_rs, b_rs, c_rs = (os.path.join(work, f) for f in ("src/a.rs", "src/b.rs", "src/c.rs"))

    # Each session's agent is set here; the default (the agent tool's process) is checked at the end.
    async with client(holds, env, work, "agent-b", {"HOLDS_AGENT": "agent-b"}) as b:
        async with client(holds, env, work, "agent-a", {"HOLDS_AGENT": "agent-a"}) as a:
            # The tools, with JSON-schema inputs and structured outputs.
            tools = {t.name: t for t in (await a.s.list_tools()).tools}
            check(set(tools) == TOOLS, f"tools: {sorted(tools)}")
            check(tools["announce"].input_schema["properties"].keys() >= {"files", "ttl_seconds", "wait_seconds"},
                  f"announce input: {tools['announce'].input_schema}")
            check(tools["announce"].input_schema.get("required") == ["files"], "files is required")
            for name in TOOLS:
                check(tools[name].output_schema is not None, f"{name} has an output schema")

            # The resource and its updates.
            res = await a.s.list_resources()
            check([str(r.uri) for r in res.resources] == ["holds://list"], f"resources: {res.resources}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resources/subscribe is deprecated in the 2026 protocol
                await a.s.subscribe_resource("holds://list")

            # A takes a.rs and c.rs (relative paths: the server's working directory).
            out = await a.ok("announce", {"files": ["src/a.rs", "src/c.rs"], "ttl_seconds": 60})
            claims = out["claims"]
            check([c["file"] for c in claims] == [a_rs, c_rs], f"claims: {claims}")
            check(all(c["holder"] == "agent-a" and c["fencing_token"] > 0 for c in claims), f"{claims}")
            check(out["atomic"] is True, f"{out}")
            uri = await asyncio.wait_for(a.updates.get(), STEP)
            check(uri == "holds://list", f"update for {uri}")
            listed = (await a.s.read_resource("holds://list")).contents[0].text
            check(a_rs in listed and "agent-a" in listed, f"holds://list: {listed}")

            # B contends: all or nothing, refused as a tool result naming the holder and expiry.
            r = await b.call("announce", {"files": ["src/a.rs", "src/b.rs"]})
            check(r.is_error is True, f"B's announce should be refused: {r}")
            body = r.structured_content
            check(body["error"] == "held-by-another", f"{body}")
            check([(h["file"], h["holder"]) for h in body["holders"]] == [(a_rs, "agent-a")], f"{body}")
            a_claim = next(c for c in claims if c["file"] == a_rs)
            check(body["holders"][0]["expires_at"] == a_claim["expires_at"], f"{body} vs {a_claim}")
            check("agent-a" in body["message"] and a_claim["expires_at"] in body["message"], body["message"])
            nobody = await b.ok("who_has", {"file": "src/b.rs"})
            check(nobody["claim"] is None, f"b.rs stays free after the refusal: {nobody}")
            gate = await b.ok("check", {"files": [a_rs]})
            check(gate["held"] is False and gate["files"][0]["state"] == "held-by-another", f"{gate}")
            gate = await a.ok("check", {"files": [a_rs], "tokens": [a_claim["fencing_token"]]})
            check(gate["held"] is True and gate["agent"] == "agent-a", f"{gate}")

            # Renewal keeps the hold: renew now moves the token and the expiry forward.
            renewed = (await a.ok("renew", {"files": [a_rs]}))["claims"][0]
            check(renewed["fencing_token"] > a_claim["fencing_token"], f"{renewed}")
            check(renewed["expires_at"] >= a_claim["expires_at"], f"{renewed}")
            r = await b.call("renew", {"files": [a_rs]})
            check(r.is_error and "not held by this session" in r.structured_content["message"], f"{r}")

            # Bad input is a tool error, not a protocol error.
            r = await a.call("announce", {"files": []})
            check(r.is_error and r.structured_content["error"] == "invalid-input", f"{r}")

            # B waits for a.rs; A's session ends (stdin closes) while it waits.
            waiting = asyncio.create_task(b.call("announce", {"files": ["src/a.rs"], "wait_seconds": 25}))
            await asyncio.sleep(0)
        # A's process is gone: its holds were released, so B's wait ends with the file.
        r = await waiting
        check(not r.is_error, f"B's wait: {r.content}")
        got = r.structured_content["claims"][0]
        check(got["file"] == a_rs and got["holder"] == "agent-b", f"{got}")
        free = await b.ok("who_has", {"file": c_rs})
        check(free["claim"] is None, f"A's c.rs is free after A's session ended: {free}")

        # Release by the caller.
        rel = await b.ok("release", {"files": [a_rs]})
        check(rel["files"] == [{"file": a_rs, "released": True, "fencing_token": got["fencing_token"]}], f"{rel}")
        rel = await b.ok("release", {"files": [a_rs]})
        check(rel["files"][0]["released"] is False, f"{rel}")

    # HOLDS_AGENT names the agent; kept holds are renewed in the background (the 3 s sleep is the
    # subject: a 1.5 s TTL outlived twice).
    async with client(holds, env, work, "ignored-name", {"HOLDS_AGENT": "env-agent"}) as d:
        first = (await d.ok("announce", {"files": [b_rs], "ttl_seconds": 2}))["claims"][0]
        check(first["holder"] == "env-agent", f"{first}")
        await asyncio.sleep(3)
        now = (await d.ok("who_has", {"file": b_rs}))["claim"]
        check(now is not None and now["holder"] == "env-agent", f"renewed, still held: {now}")
        check(now["fencing_token"] > first["fencing_token"], f"renewed in the background: {first} -> {now}")
        lst = await d.ok("list", {})
        check([c["file"] for c in lst["claims"]] == [b_rs], f"{lst}")

    await worktrees(holds, env, tmp)
    await patterns(holds, env, work)
    await default_agents(holds, env, work)
    print("mcp: all checks passed")


async def patterns(holds, env, work):
    """Directory and glob holds, and shared ones: what they cover is refused to others, naming the
    pattern, its scope and mode; shared holds coexist; who_has names every hold over a file."""
    src, docs = os.path.join(work, "src/"), os.path.join(work, "docs/**/*.md")
    async with client(holds, env, work, "p-a", {"HOLDS_AGENT": "pa"}) as a:
        async with client(holds, env, work, "p-b", {"HOLDS_AGENT": "pb"}) as b:
            out = await a.ok("announce", {"files": ["src/", "docs/**/*.md"], "ttl_seconds": 60})
            scopes = sorted((c["file"], c["scope"], c["mode"]) for c in out["claims"])
            check(scopes == [(docs, "glob", "exclusive"), (src, "directory", "exclusive")], f"{out}")
            r = await b.call("announce", {"files": ["src/deep/x.rs"]})
            check(r.is_error, f"a file under a's directory hold: {r}")
            held = [(h["file"], h["scope"], h["holder"]) for h in r.structured_content["holders"]]
            check(held == [(src, "directory", "pa")], f"{r.structured_content}")
            check(src in r.structured_content["message"], r.structured_content["message"])
            gate = await b.ok("check", {"files": ["docs/guide/intro.md"]})
            check(gate["files"][0]["state"] == "held-by-another", f"{gate}")
            gate = await a.ok("check", {"files": ["src/deep/x.rs"]})
            check(gate["held"] is True, f"a holds it through its directory hold: {gate}")
            await a.ok("release", {"files": ["src/", "docs/**/*.md"]})
            # Shared holds coexist; an exclusive one is refused naming both.
            await a.ok("announce", {"files": ["lib/"], "mode": "shared"})
            await b.ok("announce", {"files": ["lib/api.rs"], "mode": "shared"})
            who = await a.ok("who_has", {"file": "lib/api.rs"})
            modes = sorted((c["holder"], c["scope"], c["mode"]) for c in who["claims"])
            check(modes == [("pa", "directory", "shared"), ("pb", "file", "shared")], f"{who}")
            r = await a.call("announce", {"files": ["lib/api.rs"]})
            check(r.is_error and [h["holder"] for h in r.structured_content["holders"]] == ["pb"], f"{r}")
            r = await a.call("announce", {"files": ["lib/x.rs"], "mode": "sole"})
            check(r.is_error and r.structured_content["error"] == "invalid-input", f"a bad mode: {r}")


async def default_agents(holds, env, work):
    """Without HOLDS_AGENT the agent is the agent tool that started the server: two tools (each a
    `timeout` process here) with one client name are two agents, never one."""
    async with client("timeout", env, work, "claude-code", args=["600", holds, "mcp"]) as a:
        async with client("timeout", env, work, "claude-code", args=["600", holds, "mcp"]) as b:
            mine = (await a.ok("announce", {"files": ["src/default.rs"]}))["claims"][0]
            check(mine["holder"].startswith("timeout-"), f"the agent tool names the agent: {mine}")
            r = await b.call("announce", {"files": ["src/default.rs"]})
            check(r.is_error and r.structured_content["holders"][0]["holder"] == mine["holder"], f"{r}")


def git(cwd, *args):
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": cwd}
    subprocess.run(["git", "-C", cwd, *args], check=True, capture_output=True, env=env)


async def worktrees(holds, env, tmp):
    """Servers started in two worktrees of one repository name a file alike: by its path in the main
    worktree, with the worktree each holder works in."""
    main = os.path.realpath(os.path.join(tmp, "repo"))
    wt2 = os.path.join(os.path.dirname(main), "wt2")
    os.makedirs(os.path.join(main, "src"))
    git(main, "init", "-q", "-b", "main")
    git(main, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first")
    git(main, "worktree", "add", "-q", "-b", "wt2", wt2)
    lib = os.path.join(main, "src/lib.rs")
    async with client(holds, env, main, "main-agent", {"HOLDS_AGENT": "wa"}) as a:
        async with client(holds, env, wt2, "wt2-agent", {"HOLDS_AGENT": "wb"}) as b:
            claim = (await a.ok("announce", {"files": ["src/lib.rs"]}))["claims"][0]
            check(claim["file"] == lib and claim["checkout"] == main, f"{claim}")
            r = await b.call("announce", {"files": ["src/lib.rs"]})
            check(r.is_error and r.structured_content["holders"][0]["holder"] == "wa", f"{r}")
            check(f"(in {main})" in r.structured_content["message"], r.structured_content["message"])
            who = await b.ok("who_has", {"file": "src/lib.rs"})
            check(who["file"] == lib and who["claim"]["holder"] == "wa", f"{who}")
            gate = await b.ok("check", {"files": ["src/lib.rs"]})
            check(gate["files"][0]["state"] == "held-by-another", f"{gate}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: test_mcp.py /path/to/holds")
    # The servers start in other working directories: a relative path would not resolve there.
    asyncio.run(main(os.path.abspath(sys.argv[1])))
