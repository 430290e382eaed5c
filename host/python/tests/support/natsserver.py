"""A private nats-server for tests: a free 127.0.0.1 port, a temporary store
directory, JetStream on, killed afterwards. `NatsCluster`: three (or n) of them
routed into one JetStream cluster.

The binary: $NATS_SERVER_BIN, else <repo>/.tools/bin/nats-server (the repository
this package lives in; `scripts/install-nats-server` puts it there), else
`nats-server` on PATH. None of these is a test failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

HOW_TO_GET_ONE = (
    "nats-server (>= 2.11) was not found: set NATS_SERVER_BIN to its path, or run "
    f"{REPO}/scripts/install-nats-server (installs 2.15.1 into {REPO}/.tools/bin), "
    "or put nats-server on PATH"
)


def find_nats_server() -> str:
    given = os.environ.get("NATS_SERVER_BIN")
    if given:
        if not os.access(given, os.X_OK):
            raise RuntimeError(f"NATS_SERVER_BIN={given} is not an executable file")
        return given
    tools = REPO / ".tools" / "bin" / "nats-server"
    if os.access(tools, os.X_OK):
        return str(tools)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError(HOW_TO_GET_ONE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free ports (each held until all are picked: one at a time,
    the kernel can hand out the same port twice)."""
    held: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class _PortTaken(Exception):
    """A node could not bind a port (taken after it was picked)."""


class NatsServer:
    """`with NatsServer() as server: server.url`. Restartable on the same store."""

    def __init__(self, binary: str | None = None):
        self.binary = binary or find_nats_server()
        self._dir = tempfile.TemporaryDirectory(prefix="holds-nats-")
        self.store_dir = Path(self._dir.name) / "store"
        self.port = free_port()
        self.monitor_port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = Path(self._dir.name) / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        args = ["-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(self.port)]
        args += ["-m", str(self.monitor_port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary, *args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(health, timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server on port {self.port} was not healthy within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()


class NatsCluster:
    """`with NatsCluster(3) as cluster: cluster.urls`: n nats-servers on
    127.0.0.1 (servers n0, n1, ...), each with its own client, monitor and
    cluster ports and temporary store directory, routes to all the others,
    JetStream on, cluster name `holds-test-<random>` (a route to another test's
    server, on a port taken after it was picked, is refused). Ready once every node is healthy
    (which, clustered, includes knowing the JetStream meta leader), has routes
    to all the others, and names the meta leader in its `/jsz`."""

    #: Starts with new ports after a node found one taken.
    ATTEMPTS = 3

    def __init__(self, n: int = 3, binary: str | None = None):
        self.binary = binary or find_nats_server()
        self.n = n
        self.name = f"holds-test-{os.urandom(4).hex()}"
        self._dir = tempfile.TemporaryDirectory(prefix="holds-nats-cluster-")
        self.processes: list[subprocess.Popen] = []
        self._pick_ports()

    def _pick_ports(self) -> None:
        ports = free_ports(3 * self.n)
        self.ports = ports[: self.n]
        self.monitor_ports = ports[self.n : 2 * self.n]
        self.cluster_ports = ports[2 * self.n :]

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.ports]

    def _node_dir(self, i: int) -> Path:
        return Path(self._dir.name) / f"n{i}"

    def _log(self, i: int) -> str:
        path = self._node_dir(i) / "nats.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self, i: int) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(self.cluster_ports) if j != i)
        store = json.dumps(str(self._node_dir(i) / "store"))
        return (
            f"server_name: n{i}\n"
            f"listen: 127.0.0.1:{self.ports[i]}\n"
            f"http: 127.0.0.1:{self.monitor_ports[i]}\n"
            f"jetstream {{ store_dir: {store} }}\n"
            f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{self.cluster_ports[i]}\n"
            f"  routes: [{routes}]\n}}\n"
        )

    def _monitor(self, i: int, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_ports[i]}{path}", timeout=1) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, {"error": e.read().decode(errors="replace")}

    def _not_ready(self, i: int) -> str | None:
        """Why node i is not ready yet, or None."""
        process = self.processes[i]
        if process.poll() is not None:
            if "address already in use" in self._log(i):
                raise _PortTaken(f"n{i}: {self._log(i)}")
            raise RuntimeError(f"nats-server n{i} exited with {process.returncode}:\n{self._log(i)}")
        try:
            status, body = self._monitor(i, "/healthz")
            if status != 200:
                return f"n{i}: /healthz {status} {body}"
            _, routez = self._monitor(i, "/routez")
            peers = {r.get("remote_name") for r in routez.get("routes") or []}
            want = {f"n{j}" for j in range(self.n) if j != i}
            if peers != want:
                return f"n{i} has routes to {sorted(p for p in peers if p)}, not {sorted(want)}"
            _, jsz = self._monitor(i, "/jsz")
            leader = (jsz.get("meta_cluster") or {}).get("leader")
            if not leader:
                return f"n{i} knows no JetStream meta leader"
            return None
        except OSError as e:
            return f"n{i}: monitor port {self.monitor_ports[i]}: {e}"

    def start(self, timeout: float = 20.0) -> NatsCluster:
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                return self._start(timeout)
            except _PortTaken as e:
                self.stop()
                if attempt == self.ATTEMPTS:
                    raise RuntimeError(f"a port stayed taken after {attempt} attempts: {e}") from None
                for i in range(self.n):
                    shutil.rmtree(self._node_dir(i), ignore_errors=True)
                self._pick_ports()
        raise AssertionError("the last attempt returns or raises")

    def _start(self, timeout: float) -> NatsCluster:
        for i in range(self.n):
            self._node_dir(i).mkdir()
            config = self._node_dir(i) / "nats.conf"
            config.write_text(self._config(i))
            with open(self._node_dir(i) / "nats.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen([self.binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + timeout
        while True:
            waiting = [why for i in range(self.n) if (why := self._not_ready(i))]
            if not waiting:
                return self
            if time.monotonic() >= deadline:
                logs = "\n".join(f"--- log of n{i} ---\n{self._log(i)}" for i in range(self.n))
                self.stop()
                raise RuntimeError(f"the nats cluster was not ready within {timeout} s: {'; '.join(waiting)}\n{logs}")
            time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(10)
        self.processes = []

    def __enter__(self) -> NatsCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            self._dir.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
