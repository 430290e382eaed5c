"""Session fixtures: one private nats-server for the whole run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.natsserver import NatsServer  # noqa: E402


@pytest.fixture(scope="session")
def nats_server():
    """A nats-server for the session; fails (never skips) if none is found."""
    with NatsServer() as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server) -> str:
    return nats_server.url
