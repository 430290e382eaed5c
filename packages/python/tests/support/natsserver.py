"""A private nats-server for tests: a free 127.0.0.1 port, a temporary store
directory, JetStream on, killed afterwards.

The binary: $NATS_SERVER_BIN, else <repo>/.tools/bin/nats-server (the repository
this package lives in; `scripts/install-nats-server` puts it there), else
`nats-server` on PATH. None of these is a test failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
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
