"""The three-runtime test runs in the Python package's environment; it reuses
that package's nats-server fixture helpers."""

import sys
from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PACKAGES / "python" / "tests"))
