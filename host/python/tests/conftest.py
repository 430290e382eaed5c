"""Session fixtures: one private nats-server for the whole run; a 3-node
cluster, started by the first test that asks for it."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.natsserver import NatsCluster, NatsServer  # noqa: E402


@pytest.fixture(scope="session")
def nats_server():
    """A nats-server for the session; fails (never skips) if none is found."""
    with NatsServer() as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def nats_cluster():
    """A 3-node JetStream cluster; fails (never skips) if no nats-server is found."""
    with NatsCluster(3) as cluster:
        yield cluster
