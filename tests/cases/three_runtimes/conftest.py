"""The three-runtime test runs in the Python package's environment; it reuses
that package's nats-server fixture helpers."""

import sys
from pathlib import Path

HOST = Path(__file__).resolve().parents[3] / "host"
sys.path.insert(0, str(HOST / "python" / "tests"))
